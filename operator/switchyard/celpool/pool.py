"""The CEL worker processes: RoutingRules evaluated off the event loop, each rule within a time budget.

The `cel` library holds the GIL while it evaluates (a 1.6 s rule in a thread stopped a 10 ms asyncio ticker for
1.6 s), so threads cannot bound it: a small pool of spawned processes does, killing a worker whose rule runs out
of budget and starting a fresh one. The operator's default pool is sized by `configure()`, started ahead by
`warm()`, stopped by `close()` on shutdown.
The same pool evaluates nodes' `when` conditions (`evaluate_when`), with all their variables bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import multiprocessing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import cel

from switchyard.logic.routing import cel_context, evaluate

DEFAULT_BUDGET_SECONDS = 1.0
# Each worker is capped at DEFAULT_WORKER_MEMORY_MIB of address space, so the workers together never use more
# than workers x that: the chart budgets it with the operator's own RSS under the container's memory limit
# (cgroup v2 OOM-kills the whole container, operator included). Measured: an idle worker maps ~55 MiB; a rule
# mapping over a 544 KiB JSON input of 9,000 objects peaked at ~80 MiB.
DEFAULT_WORKERS = 2  # --cel-workers
DEFAULT_WORKER_MEMORY_MIB = 128  # --cel-worker-memory
STARTUP_TIMEOUT_SECONDS = 60.0  # a spawned interpreter importing cel + pydantic; slow on a loaded node
_COMPILED_CACHE = 512


# --- the worker process -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=_COMPILED_CACHE)
def _program(when: str) -> cel.Program:
    return cel.compile(when)


def _limit_memory(memory_bytes: int) -> None:
    """Cap the worker's address space (a runaway rule gets MemoryError or dies alone, never the container)."""
    with contextlib.suppress(ImportError, ValueError, OSError):  # not on every platform; best effort
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _context(variables: Mapping[str, Any]) -> cel.Context | str:
    """A context binding each of `variables` (a node's `when`: input, upstream, params)."""
    try:
        return cel.Context(variables=dict(variables))
    except Exception as error:  # a value the library cannot convert
        return f"CEL evaluation error: cannot convert the variables: {error}"


def _serve(connection: Connection, memory_bytes: int) -> None:
    """Worker loop: receive (variables, [(name, when), ...], whole); send (matched, problem) per rule, in
    order, stopping after the first match. `whole`: `variables` are every variable (else the `input` alone).
    Ends when the operator closes its end of the pipe (or dies)."""
    _limit_memory(memory_bytes)
    connection.send("ready")
    while True:
        try:
            variables, rules, whole = connection.recv()
        except (EOFError, OSError):
            return
        context = _context(variables) if whole else cel_context(variables)
        for name, when in rules:
            try:
                outcome = (
                    evaluate_value(name, _program(when), context)
                    if whole == VALUE
                    else evaluate(name, _program(when), context)
                )
            except Exception as error:  # compiled in the operator already; never let the worker die on a rule
                outcome = (False, f"rule {name!r}: CEL evaluation error: {error}")
            connection.send(outcome)
            if outcome[0]:
                break


VALUE = "value"  # `whole` of a request whose one expression's value is wanted (JSON), not a match


def evaluate_value(name: str, program: cel.Program, context: cel.Context | str) -> tuple[bool, str | None]:
    """(True, the value as JSON) of one expression, or (False, the problem)."""
    if isinstance(context, str):
        return False, context
    try:
        result = program.execute(context)
        return True, json.dumps(result, default=str)
    except Exception as error:  # the library maps CEL errors to TypeError/KeyError/ValueError/...
        detail = f"no such key: {error}" if isinstance(error, KeyError) else str(error)
        return False, f"CEL evaluation error: {detail}"


# --- the operator side --------------------------------------------------------------------------------


class Expression(Protocol):
    """A named CEL expression to evaluate (a `CompiledRule`, or a node's `when`)."""

    @property
    def name(self) -> str: ...

    @property
    def when(self) -> str: ...


@dataclass(frozen=True)
class NodeWhen:
    name: str
    when: str


class _WorkerGone(Exception):
    """The worker process exited (killed, crashed, out of memory) before answering."""


class _Worker:
    def __init__(self, memory_bytes: int) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded operator
        self.connection, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child, memory_bytes), name="switchyard-cel", daemon=True
        )
        self.process.start()
        child.close()
        self.started = False

    async def receive(self, timeout: float) -> Any:
        """The next message; TimeoutError when none came within `timeout` s, _WorkerGone when the worker died."""
        if not self.connection.poll():
            loop = asyncio.get_running_loop()
            readable: asyncio.Future[None] = loop.create_future()
            descriptor = self.connection.fileno()

            def wake() -> None:
                if not readable.done():
                    readable.set_result(None)

            loop.add_reader(descriptor, wake)
            try:
                await asyncio.wait_for(readable, timeout)
            finally:
                loop.remove_reader(descriptor)
        try:
            return self.connection.recv()
        except (EOFError, OSError) as error:
            raise _WorkerGone(str(error) or "end of file") from error

    async def start(self) -> None:
        if not self.started:
            await self.receive(STARTUP_TIMEOUT_SECONDS)
            self.started = True

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.connection.close()


@dataclass
class _Slots:
    loop: asyncio.AbstractEventLoop
    semaphore: asyncio.Semaphore


class RuleEvaluatorPool:
    """At most `size` worker processes, started on first use and reused."""

    def __init__(self, size: int = DEFAULT_WORKERS, memory_mib: int = DEFAULT_WORKER_MEMORY_MIB) -> None:
        self.size = size
        self.memory_bytes = memory_mib * 1024**2
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._slots: _Slots | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots.loop is not loop:  # asyncio primitives belong to one loop
            self._slots = _Slots(loop, asyncio.Semaphore(self.size))
        return self._slots.semaphore

    def _take(self) -> _Worker:
        if self._idle:
            return self._idle.pop()
        worker = _Worker(self.memory_bytes)
        self._all.add(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        worker.kill()

    @property
    def processes(self) -> list[BaseProcess]:
        """The live worker processes (for tests and metrics)."""
        return [worker.process for worker in self._all if worker.process.is_alive()]

    async def run(
        self,
        variables: Mapping[str, Any],
        rules: Sequence[Expression],
        budget_seconds: float,
        *,
        whole: bool | str = False,
    ) -> list[tuple[bool, str | None]]:
        """(matched, problem) per rule in order, up to and including the first match; a rule over budget
        is (False, "... exceeded the budget") and the rules after it still run, on a fresh worker."""
        outcomes: list[tuple[bool, str | None]] = []
        async with self._semaphore():
            worker = self._take()
            try:
                fresh_tries = 0
                while len(outcomes) < len(rules):
                    pending = rules[len(outcomes) :]
                    problem = await self._send(worker, variables, pending, whole)
                    if problem is not None:  # dead before it got the rules: none of them ran
                        await asyncio.to_thread(self._discard, worker)
                        fresh_tries += 1
                        if fresh_tries > 1:  # a fresh worker failed too: give up on this input
                            outcomes.extend((False, f"rule {rule.name!r}: {problem}") for rule in pending)
                            return outcomes
                        worker = self._take()
                        continue
                    lost = await self._collect(worker, pending, budget_seconds, outcomes)
                    if not lost:
                        break
                    await asyncio.to_thread(self._discard, worker)
                    worker = self._take()
            except BaseException:  # cancelled (or worse) mid-evaluation: the worker's state is unknown
                self._discard(worker)
                raise
            self._idle.append(worker)
        return outcomes

    @staticmethod
    async def _send(
        worker: _Worker, variables: Mapping[str, Any], pending: Sequence[Expression], whole: bool | str
    ) -> str | None:
        """Hand `pending` to the worker (started first if new); the reason it could not take them, else None."""
        try:
            await worker.start()
            worker.connection.send((dict(variables), [(rule.name, rule.when) for rule in pending], whole))
        except TimeoutError:
            return f"the CEL evaluator process did not start within {STARTUP_TIMEOUT_SECONDS:g} s"
        except (_WorkerGone, OSError) as gone:
            return f"the CEL evaluator process exited ({gone})"
        return None

    @staticmethod
    async def _collect(
        worker: _Worker,
        pending: Sequence[Expression],
        budget_seconds: float,
        outcomes: list[tuple[bool, str | None]],
    ) -> bool:
        """Read the outcomes of `pending` into `outcomes`; True when the worker must be replaced."""
        for rule in pending:
            try:
                outcome = await worker.receive(budget_seconds)
            except TimeoutError:
                outcomes.append((False, f"rule {rule.name!r}: evaluation exceeded the {budget_seconds:g} s budget"))
                return True
            except _WorkerGone as gone:
                outcomes.append((False, f"rule {rule.name!r}: the CEL evaluator process exited ({gone})"))
                return True
            outcomes.append(outcome)
            if outcome[0]:
                return False
        return False

    async def warm(self) -> None:
        """Start one worker now (the first routing need not wait ~1 s for an interpreter to import cel)."""
        async with self._semaphore():
            worker = self._take()
            try:
                await worker.start()
            except BaseException:
                self._discard(worker)
                raise
            self._idle.append(worker)

    def close(self) -> None:
        """Stop every worker (idle or busy). The pool starts new ones if used again."""
        for worker in list(self._all):
            self._discard(worker)
        self._idle.clear()


_POOL = RuleEvaluatorPool()


def default_pool() -> RuleEvaluatorPool:
    """The operator's pool (the one `configure()` sized)."""
    return _POOL


async def evaluate_when(
    node: str,
    when: str,
    variables: Mapping[str, Any],
    *,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    pool: RuleEvaluatorPool | None = None,
) -> tuple[bool, str | None]:
    """(value, problem) of a node's `when` over its variables, in the worker pool within `budget_seconds`.
    A problem (an evaluation error, not a bool, over budget) comes with value False."""
    [(value, problem)] = await (pool or _POOL).run(variables, [NodeWhen(node, when)], budget_seconds, whole=True)
    prefix = f"rule {node!r}: "
    if problem is not None and problem.startswith(prefix):
        problem = problem[len(prefix) :]
    return value, problem


async def evaluate_json(
    node: str,
    expression: str,
    variables: Mapping[str, Any],
    *,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    pool: RuleEvaluatorPool | None = None,
) -> tuple[Any, str | None]:
    """(value, None) of an expression over all its variables (a `forEach.expression`), in the worker pool
    within `budget_seconds`; (None, problem) when it cannot be evaluated."""
    [(ok, text)] = await (pool or _POOL).run(variables, [NodeWhen(node, expression)], budget_seconds, whole=VALUE)
    if not ok or text is None:
        problem = text or "no value"
        prefix = f"rule {node!r}: "
        return None, problem[len(prefix) :] if problem.startswith(prefix) else problem
    return json.loads(text), None


def configure(workers: int, memory_mib: int) -> None:
    """Size the default pool (`--cel-workers`, `--cel-worker-memory`); call before the first routing."""
    global _POOL
    _POOL.close()
    _POOL = RuleEvaluatorPool(workers, memory_mib)


async def warm() -> None:
    """Start a worker of the default pool ahead of the first routing (optional; call on operator startup)."""
    await _POOL.warm()


def close() -> None:
    """Stop the default pool's worker processes (call on operator cleanup)."""
    _POOL.close()
