"""Static checks of CEL against its declared variables (pure): a RoutingRule's `when` over `input`, `params` and
`components` (used by logic.routing), a node's `when` over `input`, `upstream` (its dependencies) and `params`
(logic.when), and a Trigger's `arguments` over `event` (and, batched, `events` and `batch`: logic.triggerargs).

The `cel` runtime compiles without declarations, so a rule reading `payload` or `input.sizee`, or yielding a
number, compiles and then never matches. This module parses the expression with cel-python's CEL grammar (lark)
and infers types bottom-up, reporting only what is certain: anything it cannot know is `dyn` and passes.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from celpy.celparser import CELParseError, CELParser
from lark import Token, Tree

from switchyard.models.routing import MAX_WHEN_NESTING

# Documented limits (README, "RoutingRule"). Each nesting level multiplies the work by the size of the list
# it iterates: 7 nested `.all()` over 10 items took 6.5 s on the event loop before these limits existed.
MAX_MACRO_NESTING = MAX_WHEN_NESTING
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})

# The declared fields of `input` (see logic.routing.cel_input); `dyn` is any value (the parsed JSON).
INPUT_FIELDS: Mapping[str, str] = {
    "data": "string",
    "size": "int",
    "isJson": "bool",
    "json": "dyn",
    "hasDigits": "bool",
    "contentType": "string",
    "labels": "map",
}
VARIABLE = "input"
_INPUT = "input"  # the type of the `input` variable itself: a map with the fields above
_DYN = "dyn"
# A node's `when` also sees `upstream.NODE` (its dependencies only) with these fields, and `params` (a map).
UPSTREAM = "upstream"
PARAMS = "params"
UPSTREAM_FIELDS: Mapping[str, str] = {"result": "dyn", "phase": "string"}
_UPSTREAM = "upstream"  # the type of `upstream`: a map keyed by dependency names
_UPSTREAM_NODE = "upstream node"  # the type of `upstream.NODE`: a map with UPSTREAM_FIELDS
# A RoutingRule's `when` also sees `components.NAME` (any name: which Components exist is known only when a
# Workflow is routed, see logic.health) with these fields.
COMPONENTS = "components"
COMPONENT_FIELDS: Mapping[str, str] = {"breaker": "string", "failureRate": "double", "duration": "component duration"}
DURATION_FIELDS: Mapping[str, str] = {"p50": "double", "p90": "double", "p99": "double"}
_COMPONENTS = "components"  # the type of `components`: a map keyed by Component names
_COMPONENT = "component"  # the type of `components.NAME`
_DURATION = "component duration"  # the type of `components.NAME.duration`
# A Trigger's `arguments` see `event` (a CloudEvent, as its `filter` does); a batched Trigger's also `events` (the
# batch's events, in arrival order) and `batch` (see logic.triggerargs).
EVENT = "event"
EVENTS = "events"
BATCH = "batch"
EVENT_FIELDS: Mapping[str, str] = {
    "id": "string",
    "source": "string",
    "type": "string",
    "subject": "string",
    "time": "string",
    "datacontenttype": "string",
    "data": "dyn",
    "extensions": "map",
}
BATCH_FIELDS: Mapping[str, str] = {"size": "int", "id": "string", "openedAt": "string"}
_EVENT = "event"  # the type of `event` and of `events[i]`
_EVENTS = "event list"  # the type of `events`
_BATCH = "batch"  # the type of `batch`
ANY = "any"  # `yields` of an expression whose value may be of any type (an argument, made a string)
# Identifiers that CEL resolves without a declaration: type names (`type(x) == int`).
_BUILTIN_IDENTS: Mapping[str, str] = {
    name: "type" for name in ("int", "uint", "double", "bool", "string", "bytes", "list", "map", "type", "null_type")
} | {"null": "null"}
_LITERALS: Mapping[str, str] = {
    "INT_LIT": "int",
    "UINT_LIT": "uint",
    "FLOAT_LIT": "double",
    "STRING_LIT": "string",
    "MLSTRING_LIT": "string",
    "BYTES_LIT": "bytes",
    "BOOL_LIT": "bool",
    "NULL_LIT": "null",
}
_FUNCTIONS: Mapping[str, str] = {  # global functions whose result type is fixed
    "size": "int",
    "int": "int",
    "uint": "uint",
    "double": "double",
    "string": "string",
    "bytes": "bytes",
    "bool": "bool",
    "has": "bool",
    "matches": "bool",
    "type": "type",
}
_METHODS: Mapping[str, str] = {  # receiver methods whose result type is fixed
    "contains": "bool",
    "startsWith": "bool",
    "endsWith": "bool",
    "matches": "bool",
    "size": "int",
    "all": "bool",
    "exists": "bool",
    "exists_one": "bool",
    "map": "list",
    "filter": "list",
}
_BOOLISH = frozenset({"bool", _DYN})
_SAME_TYPE_ARITHMETIC = frozenset({"int", "uint", "double", "string", "bytes", "list"})


@dataclass(frozen=True)
class _Visit:
    node: Tree[Token]
    scope: frozenset[str]  # comprehension variables bound here
    depth: int  # how many macro bodies enclose this node


@functools.cache
def _parser() -> CELParser:
    return CELParser()


@functools.lru_cache(maxsize=1024)
def check_arguments(expression: str, batched: bool) -> str | None:
    """`check_static` for a Trigger's argument: over `event`, and when `batched` also `events` and `batch`;
    any value type (it is made a string). The same nesting bound as a RoutingRule's `when`."""
    declared = {EVENT: _EVENT, EVENTS: _EVENTS, BATCH: _BATCH} if batched else {EVENT: _EVENT}
    try:
        tree = _parser().parse(expression)
    except (CELParseError, RecursionError):
        return None
    return _Checker(None, ANY, declared).run(tree)


@functools.lru_cache(maxsize=1024)  # the operator recompiles every rule each time it routes a Workflow
def check_static(when: str, upstream: frozenset[str] | None = None, yields: str = "bool") -> str | None:
    """None when nothing is certainly wrong with `when`, else the first problem, e.g.
    "unknown field input.sizee (did you mean input.size?)".

    Call it after the `cel` library compiled `when`: an expression this grammar cannot parse is left to the
    runtime (never reported), so a rule the runtime accepts is only refused for a certain fault.

    `upstream`: check a node's `when` instead, whose dependencies are these nodes (see the module's doc).
    `yields`: the type the expression must give ("list": a `forEach.expression`).
    """
    try:
        tree = _parser().parse(when)
    except (CELParseError, RecursionError):
        return None
    return _Checker(upstream, yields).run(tree)


class _Checker:
    def __init__(
        self, upstream: frozenset[str] | None = None, yields: str = "bool", declared: Mapping[str, str] | None = None
    ) -> None:
        self.upstream = upstream
        self.yields = yields
        self.declared = declared  # the variables and their types, instead of a rule's or a node's
        self.variables = [VARIABLE, PARAMS, COMPONENTS] if upstream is None else [VARIABLE, UPSTREAM, PARAMS]
        if declared is not None:
            self.variables = list(declared)
        self.types: dict[int, str] = {}
        self.problems: list[str] = []
        self.nesting = 0

    def run(self, root: Tree[Token]) -> str | None:
        # Iterative post-order walk: deeply parenthesised input must not exhaust Python's recursion limit.
        stack: list[tuple[_Visit, bool]] = [(_Visit(root, frozenset(), 0), False)]
        while stack:
            visit, children_done = stack.pop()
            if children_done:
                self.types[id(visit.node)] = self._type_of(visit)
                continue
            stack.append((visit, True))
            stack.extend((child, False) for child in reversed(list(self._children(visit))))
        if self.nesting > MAX_MACRO_NESTING:
            self.problems.append(
                f"comprehensions (all/exists/exists_one/map/filter) are nested {self.nesting} deep; "
                f"at most {MAX_MACRO_NESTING} are allowed"
            )
        result = self.types[id(root)]
        if not self.problems and self.yields not in ("bool", ANY) and result not in (self.yields, _DYN):
            self.problems.append(f"the expression yields {_describe(result)}, not {self.yields}")
        elif not self.problems and self.yields == "bool" and result not in _BOOLISH:
            self.problems.append(f"the expression yields {_describe(result)}, not bool: it can never match")
        return self.problems[0] if self.problems else None

    def _children(self, visit: _Visit) -> Iterator[_Visit]:
        node = visit.node
        if node.data == "member_dot_arg" and _method(node) in MACROS:
            depth = visit.depth + 1
            self.nesting = max(self.nesting, depth)
            target, args = node.children[0], _args(node)
            bound = _bound_variables(_method(node), args)
            yield _Visit(_tree(target), visit.scope, visit.depth)
            for arg in args[len(bound) :]:
                yield _Visit(arg, visit.scope | bound, depth)
            return
        for child in node.children:
            if isinstance(child, Tree):
                yield _Visit(child, visit.scope, visit.depth)

    def _type(self, node: Tree[Token] | Token) -> str:
        return self.types.get(id(node), _DYN) if isinstance(node, Tree) else _DYN

    def _type_of(self, visit: _Visit) -> str:  # one branch per grammar rule
        node, kind = visit.node, visit.node.data
        trees = [child for child in node.children if isinstance(child, Tree)]
        if kind in ("expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication"):
            if len(trees) == 1:
                return self._type(trees[0])
            return self._operator(kind, trees)
        if kind in ("member", "primary", "paren_expr"):
            return self._type(trees[0]) if trees else _DYN
        if kind == "unary":
            if len(trees) == 1:
                return self._type(trees[0])
            operator, operand = trees[0].data, self._type(trees[1])
            if operator == "unary_not":
                self._require_bool(operand, "the operand of !")
                return "bool"
            return operand if operand in ("int", "double") else _DYN
        if kind in ("ident", "dot_ident"):
            return self._identifier(str(node.children[-1]), visit.scope)
        if kind == "literal":
            token = node.children[0]
            return _LITERALS.get(token.type, _DYN) if isinstance(token, Token) else _DYN
        if kind == "member_dot":
            return self._field(self._type(node.children[0]), str(node.children[1]))
        if kind == "member_index":
            return self._index(self._type(node.children[0]), node.children[1])
        if kind == "member_dot_arg":
            return _METHODS.get(_method(node), _DYN)
        if kind in ("ident_arg", "dot_ident_arg"):
            return _FUNCTIONS.get(str(node.children[0]), _DYN)
        if kind == "list_lit":
            return "list"
        if kind == "map_lit":
            return "map"
        return _DYN  # exprlist, member_object, relation_*, ...: no value of their own

    def _operator(self, kind: str, trees: list[Tree[Token]]) -> str:
        if kind == "expr":  # condition ? a : b
            condition, then, otherwise = (self._type(tree) for tree in trees)
            self._require_bool(condition, "the condition of ?:")
            return then if then == otherwise else _DYN
        if kind in ("conditionalor", "conditionaland"):
            symbol = "||" if kind == "conditionalor" else "&&"
            for operand in trees:
                self._require_bool(self._type(operand), f"an operand of {symbol}")
            return "bool"
        if kind == "relation":
            return "bool"
        # addition / multiplication: trees[0] is e.g. addition_add holding the left operand
        left_holder = trees[0]
        left = self._type(left_holder.children[0]) if left_holder.children else _DYN
        right = self._type(trees[1])
        return left if left == right and left in _SAME_TYPE_ARITHMETIC else _DYN

    def _identifier(self, name: str, scope: frozenset[str]) -> str:
        if name in scope:
            return _DYN
        if self.declared is not None and name in self.declared:
            return self.declared[name]
        if self.declared is None and name == VARIABLE:
            return _INPUT
        if self.declared is None and self.upstream is not None and name == UPSTREAM:
            return _UPSTREAM
        if self.declared is None and name == PARAMS:
            return "map"
        if self.declared is None and self.upstream is None and name == COMPONENTS:
            return _COMPONENTS
        if name in _BUILTIN_IDENTS:
            return _BUILTIN_IDENTS[name]
        suggestion = _suggest(name, [*self.variables, *sorted(scope)])
        if len(self.variables) == 1:
            self.problems.append(f"unknown variable {name}{suggestion}: the only variable is {self.variables[0]}")
        else:
            self.problems.append(f"unknown variable {name}{suggestion}: the variables are {', '.join(self.variables)}")
        return _DYN

    def _field(self, receiver: str, name: str) -> str:
        if receiver in (_EVENT, _BATCH):
            fields, what = (EVENT_FIELDS, "an event") if receiver == _EVENT else (BATCH_FIELDS, "batch")
            if name in fields:
                return fields[name]
            suggestion = _suggest(name, list(fields))
            self.problems.append(f"unknown field {name} of {what}{suggestion}: it has {', '.join(fields)}")
            return _DYN
        if receiver == _INPUT:
            if name in INPUT_FIELDS:
                return INPUT_FIELDS[name]
            suggestion = _suggest(name, list(INPUT_FIELDS), prefix=f"{VARIABLE}.")
            self.problems.append(f"unknown field {VARIABLE}.{name}{suggestion}")
            return _DYN
        if receiver == _UPSTREAM:
            known = sorted(self.upstream or ())
            if name in known:
                return _UPSTREAM_NODE
            suggestion = _suggest(name, known, prefix=f"{UPSTREAM}.")
            deps = ", ".join(known) if known else "none"
            self.problems.append(f"{UPSTREAM}.{name} is not a dependency of this node{suggestion} (dependsOn: {deps})")
            return _DYN
        if receiver == _UPSTREAM_NODE:
            if name in UPSTREAM_FIELDS:
                return UPSTREAM_FIELDS[name]
            suggestion = _suggest(name, list(UPSTREAM_FIELDS))
            self.problems.append(f"unknown field {name} of an upstream node{suggestion}: it has result and phase")
            return _DYN
        if receiver == _COMPONENTS:
            return _COMPONENT
        if receiver in (_COMPONENT, _DURATION):
            fields = COMPONENT_FIELDS if receiver == _COMPONENT else DURATION_FIELDS
            if name in fields:
                return fields[name]
            suggestion = _suggest(name, list(fields))
            what = "a component" if receiver == _COMPONENT else "a component's duration"
            self.problems.append(f"unknown field {name} of {what}{suggestion}: it has {', '.join(fields)}")
            return _DYN
        if receiver not in (_DYN, "map"):
            self.problems.append(f"cannot select field {name!r} of {_describe(receiver)}")
        return _DYN

    def _index(self, receiver: str, key: Tree[Token] | Token) -> str:
        if receiver == _EVENTS:
            return _EVENT
        if receiver in (_EVENT, _BATCH, _INPUT, _UPSTREAM, _UPSTREAM_NODE, _COMPONENTS, _COMPONENT, _DURATION):
            literal = _string_literal(key)
            if literal is not None:
                return self._field(receiver, literal)
        return _DYN

    def _require_bool(self, found: str, what: str) -> None:
        if found not in _BOOLISH:
            self.problems.append(f"{what} is {_describe(found)}, not bool")


def _describe(kind: str) -> str:
    named = {
        _INPUT: "the input map",
        "null": "null",
        _UPSTREAM: "the upstream map",
        _UPSTREAM_NODE: "an upstream node",
        _COMPONENTS: "the components map",
        _COMPONENT: "a component",
        _DURATION: "a component's duration",
        _EVENT: "an event",
        _EVENTS: "the events list",
        _BATCH: "the batch",
    }
    if kind in named:
        return named[kind]
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _suggest(name: str, known: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def _tree(node: Tree[Token] | Token) -> Tree[Token]:
    return node if isinstance(node, Tree) else Tree("token", [node])


def _method(node: Tree[Token]) -> str:
    return str(node.children[1])


def _args(node: Tree[Token]) -> list[Tree[Token]]:
    if len(node.children) < 3 or not isinstance(node.children[2], Tree):
        return []
    return [arg for arg in node.children[2].children if isinstance(arg, Tree)]


def _bound_variables(macro: str, args: list[Tree[Token]]) -> frozenset[str]:
    """The comprehension variables a macro binds: `x` of `l.all(x, p)`, `k, v` of `m.all(k, v, p)`."""
    binders = 1 if macro == "map" or len(args) < 3 else 2
    names = [_bare_identifier(arg) for arg in args[:binders]] if len(args) > 1 else []
    return frozenset(name for name in names if name is not None)


def _bare_identifier(node: Tree[Token]) -> str | None:
    """`x` when the expression is nothing but the identifier x."""
    while isinstance(node, Tree):
        trees = [child for child in node.children if isinstance(child, Tree)]
        if node.data == "ident":
            return str(node.children[0])
        if len(node.children) != 1 or len(trees) != 1:
            return None
        node = trees[0]
    return None


def _string_literal(node: Tree[Token] | Token) -> str | None:
    """The value of a plain string literal key (`input["size"]`), else None."""
    while isinstance(node, Tree) and len(node.children) == 1:
        child = node.children[0]
        if isinstance(child, Token):
            if child.type == "STRING_LIT" and child.value[:1] in "\"'" and "\\" not in child.value:
                return str(child.value[1:-1])
            return None
        node = child
    return None
