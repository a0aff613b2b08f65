"""`switchyard validate`: checks of Switchyard YAML (schema, DAG, components, CEL), with no cluster needed.

Schema checks use the pydantic models the CRDs are generated from; DAG, component and CEL checks are the
operator's own (`switchyard.logic`), so a file that passes here is not rejected by the operator for these reasons.
Component names are checked against the files' Components, the built-in ones and (when the caller read them)
the cluster's; an unknown component or field says which one was probably meant (difflib).
"""

from __future__ import annotations

import difflib
import pathlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from switchyard.logic.analysis import CHUNKING_PROCESSOR, DATA_VALIDATOR, JSON_PROCESSOR, NUMERIC_PROCESSOR
from switchyard.logic.dag import Dag, check_components
from switchyard.logic.errors import InvalidSpec
from switchyard.logic.routing import compile_rule, path_to_nodes
from switchyard.logic.templates import check_template
from switchyard.logic.triggerargs import check_arguments
from switchyard.logic.triggers import compile_filter
from switchyard.logic.when import check_when
from switchyard.models.common import DNS_SUBDOMAIN
from switchyard.models.component import ComponentSpec
from switchyard.models.crd import API_VERSION, GROUP
from switchyard.models.routing import RoutingRuleSpec
from switchyard.models.template import WorkflowTemplateSpec
from switchyard.models.trigger import TriggerSpec
from switchyard.models.workflow import NodeSpec, WorkflowObjectSpec, WorkflowSpec
from switchyard.schema.structural import structural

SPECS: dict[str, type[BaseModel]] = {
    "Workflow": WorkflowObjectSpec,
    "WorkflowTemplate": WorkflowTemplateSpec,
    "Component": ComponentSpec,
    "RoutingRule": RoutingRuleSpec,
    "Trigger": TriggerSpec,
}
YAML_SUFFIXES = (".yaml", ".yml")
# The chart's default Components (`defaultComponents.enabled`) and `switchyard dev` create these.
BUILTIN_COMPONENTS = (JSON_PROCESSOR, CHUNKING_PROCESSOR, NUMERIC_PROCESSOR, DATA_VALIDATOR)
_NAME = re.compile(DNS_SUBDOMAIN)
TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")
NOT_CONSULTED = (
    "the cluster's Components were not consulted ({why}): a component that exists only there counts as unknown "
    "(name its YAML with --components, or check with a reachable cluster)"
)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@cache
def _spec_schema(model: type[BaseModel]) -> dict[str, Any]:
    return structural(model.model_json_schema(mode="validation", by_alias=True))


def fields_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names the schema of `model` allows at `loc` (a pydantic error location, without the field)."""
    node: Any = _spec_schema(model)
    for part in loc:
        if isinstance(part, int):
            node = node.get("items") or {}
        elif part in (node.get("properties") or {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return []
    return list(node.get("properties") or {})


@dataclass(frozen=True)
class Problem:
    """One finding, located as precisely as known: file, document (1-based), object, field."""

    file: str
    message: str
    doc: int | None = None
    obj: str = ""
    field: str = ""

    def __str__(self) -> str:
        where = self.file if self.doc is None else f"{self.file}: doc {self.doc}"
        parts = [where, self.obj, self.field, self.message]
        return ": ".join(part for part in parts if part)


@dataclass
class Document:
    file: str
    index: int
    body: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name or '?'}"

    def problem(self, message: str, field: str = "") -> Problem:
        return Problem(self.file, message, self.index, self.label, field)


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def yaml_files(paths: Iterable[pathlib.Path]) -> list[pathlib.Path]:
    """The files named, with directories expanded to their *.yaml/*.yml files (recursively, sorted)."""
    files: list[pathlib.Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def load(path: pathlib.Path, report: Report) -> list[Document]:
    """The documents of a (multi-document) YAML file; problems for unreadable files and YAML errors."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        report.problems.append(Problem(name, f"cannot read: {error.strerror or error}"))
        return []
    try:
        bodies = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        problem = getattr(error, "problem", None) or str(error)
        report.problems.append(Problem(where, f"invalid YAML: {problem}"))
        return []
    documents: list[Document] = []
    for index, body in enumerate(bodies, start=1):
        if body is None:  # an empty document (`---` at the end)
            continue
        if not isinstance(body, Mapping):
            report.problems.append(Problem(name, f"expected a mapping, got {type(body).__name__}", index))
            continue
        documents.append(Document(name, index, body))
    return documents


def field_path(loc: Sequence[int | str], root: str = "spec") -> str:
    """pydantic's error location as a field path: ("nodes", 0, "dependsOn") -> "spec.nodes[0].dependsOn"."""
    text = root
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _schema(document: Document, report: Report) -> BaseModel | None:
    """Check apiVersion, metadata.name and the spec against the kind's model; the parsed spec when valid."""
    body = document.body
    for key in body:
        if key not in TOP_LEVEL:
            report.problems.append(document.problem("unknown field" + did_you_mean(str(key), TOP_LEVEL), str(key)))
    if body.get("apiVersion") != API_VERSION:
        report.problems.append(document.problem(f"apiVersion must be {API_VERSION!r}", "apiVersion"))
        return None
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        report.problems.append(document.problem("metadata is required", "metadata"))
        return None
    name = metadata.get("name")
    if name is None and not metadata.get("generateName"):
        report.problems.append(document.problem("metadata.name is required", "metadata.name"))
    elif name is not None and (not isinstance(name, str) or len(name) > 253 or not _NAME.match(name)):
        report.problems.append(
            document.problem(
                f"{name!r} is not a valid name (lowercase letters, digits, '-' and '.', at most 253)", "metadata.name"
            )
        )
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        report.problems.append(document.problem("spec is required and must be a mapping", "spec"))
        return None
    model = SPECS[document.kind]
    try:
        return model.model_validate(spec)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                field_name = str(item["loc"][-1])
                message = "unknown field" + did_you_mean(field_name, fields_at(model, item["loc"][:-1]))
            report.problems.append(document.problem(message, field_path(item["loc"])))
        return None


def _check_components(
    document: Document, nodes: Sequence[NodeSpec], known: set[str], at: str, suffix: str = ".component"
) -> list[Problem]:
    problems = []
    for index, node in enumerate(nodes):
        try:
            check_components([node], known)
        except InvalidSpec as invalid:
            message = invalid.message
            if suffix == "":  # a path entry: the node name is generated, name the component only
                message = f"unknown component {node.component!r}"
            message += did_you_mean(node.component, known)
            problems.append(document.problem(message, f"{at}[{index}]{suffix}"))
    return problems


def _check_workflow(document: Document, spec: WorkflowSpec, known: set[str] | None, report: Report) -> None:
    # without nodes it is routed at run time: `switchyard route` explains which path it would take
    _check_dag(document, spec.nodes, known, "spec.nodes", report)


def _check_dag(document: Document, nodes: Sequence[NodeSpec], known: set[str] | None, at: str, report: Report) -> None:
    """An explicit DAG (if any) is valid and names known components."""
    if not nodes:
        return
    try:
        dag = Dag.build(nodes)
    except InvalidSpec as invalid:
        report.problems.append(document.problem(invalid.message, at))
        return
    for index, node in enumerate(nodes):  # `when`: the operator's own check (logic.when)
        if node.when is not None and (problem := check_when(node.when, dag.deps[node.name])) is not None:
            report.problems.append(document.problem(f"node {node.name!r}: when: {problem}", f"{at}[{index}].when"))
    if known is not None:
        report.problems.extend(_check_components(document, nodes, known, at))


def _check_template(document: Document, spec: WorkflowTemplateSpec, known: set[str] | None, report: Report) -> None:
    """Its placeholders name declared parameters; its DAG is valid and names known components."""
    problem = check_template(spec)
    if problem is not None and problem.reason == "UndeclaredParameter":
        report.problems.append(document.problem(problem.message, "spec.workflow"))
    _check_dag(document, spec.workflow.nodes, known, "spec.workflow.nodes", report)


def _check_trigger(document: Document, spec: TriggerSpec, known: set[str] | None, report: Report) -> None:
    """The filter and the arguments compile (arguments checked against their variables); the template's DAG
    is valid and names known components."""
    problem = compile_filter(spec.filter).error
    if problem is not None:
        report.problems.append(document.problem(problem, "spec.filter"))
    if spec.workflow_template is not None:
        _check_dag(document, spec.workflow_template.nodes, known, "spec.workflowTemplate.nodes", report)
    problem = check_arguments(spec.arguments, spec.batch is not None)
    if problem is not None:
        report.problems.append(document.problem(problem, "spec.arguments"))


def _check_rule(document: Document, spec: RoutingRuleSpec, known: set[str] | None, report: Report) -> None:
    compiled = compile_rule(document.name, spec)
    if compiled.error is not None:
        at = "spec.when" if compiled.error.startswith("CEL") else "spec.nodes"
        if compiled.error.startswith("invalid alternative"):
            at = "spec.alternatives"
        report.problems.append(document.problem(compiled.error, at))
        return
    if known is None:
        return
    if spec.nodes:
        report.problems.extend(_check_components(document, spec.nodes, known, "spec.nodes"))
    elif spec.alternatives:
        for index, alternative in enumerate(spec.alternatives):
            where = f"spec.alternatives[{index}]"
            nodes = alternative.nodes or path_to_nodes(alternative.path or [])
            report.problems.extend(_check_components(document, nodes, known, f"{where}.nodes"))
    else:
        chain = path_to_nodes(spec.path or [])
        report.problems.extend(_check_components(document, chain, known, "spec.path", suffix=""))


def validate(
    paths: Sequence[pathlib.Path],
    components: Sequence[pathlib.Path] = (),
    builtins: bool = True,
    cluster_components: Collection[str] | None = None,
    not_consulted: str = "none were given",
) -> Report:
    """Validate every Switchyard object in `paths`.

    Known components: the Components in `paths` and `components`, the built-in ones when `builtins`, and
    `cluster_components` (the cluster's, when the caller could read them; else `not_consulted` says why, in a
    note shown when a component was unknown).
    """
    report = Report()
    documents = [doc for path in yaml_files(paths) for doc in load(path, report)]
    extra = [doc for path in yaml_files(components) for doc in load(path, report)]
    parsed: list[tuple[Document, BaseModel]] = []
    for document in documents:
        api_version = str(document.body.get("apiVersion", ""))
        if document.kind not in SPECS or not api_version.startswith(f"{GROUP}/"):
            if api_version.startswith(f"{GROUP}/"):
                report.problems.append(document.problem(f"unknown kind {document.kind!r}", "kind"))
            else:
                report.notes.append(f"{document.file}: doc {document.index}: skipped {api_version} {document.label}")
            continue
        report.checked += 1
        spec = _schema(document, report)
        if spec is not None:
            parsed.append((document, spec))
    names = {doc.name for doc in [*documents, *extra] if doc.kind == "Component" and doc.name}
    known = names | (set(BUILTIN_COMPONENTS) if builtins else set()) | set(cluster_components or ())
    before = len(report.problems)
    for document, spec in parsed:
        if isinstance(spec, WorkflowSpec):
            _check_workflow(document, spec, known, report)
        elif isinstance(spec, RoutingRuleSpec):
            _check_rule(document, spec, known, report)
        elif isinstance(spec, TriggerSpec):
            _check_trigger(document, spec, known, report)
        elif isinstance(spec, WorkflowTemplateSpec):
            _check_template(document, spec, known, report)
    unknown = any("unknown component" in problem.message for problem in report.problems[before:])
    if unknown and cluster_components is None:
        report.notes.append(NOT_CONSULTED.format(why=not_consulted))
    report.problems.sort(key=lambda problem: (problem.file, problem.doc or 0))  # stable: by file, then document
    return report
