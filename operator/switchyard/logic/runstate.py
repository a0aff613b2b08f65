"""The state of one workflow run: per-node records, counters, the ready queue, and the queries callers make.

`logic.scheduler.WorkflowRun` adds the transitions (the engine); this module holds what a restart rebuilds
from status and what the runner, the status writer and the features read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from switchyard.logic.compact import COMPACT_THRESHOLD, compact_wire
from switchyard.logic.dag import Dag, DagNode
from switchyard.logic.features import NodeFeature, satisfies_dependents
from switchyard.logic.foreach import (
    MAX_MOUNTED_INSTANCES,
    FanOut,
    instance_name,
    item_key,
    output_key,
    parse_instance,
)
from switchyard.logic.naming import job_name
from switchyard.logic.nodestate import NodeState, implied_attempts
from switchyard.logic.plan import plan_keys
from switchyard.logic.priority import node_runtimes
from switchyard.logic.readyqueue import ReadyQueue
from switchyard.models.workflow import FailurePolicy, NodeStatus

DONE_OK = frozenset({"Succeeded", "FellBack"})
TERMINAL = frozenset({"Succeeded", "FellBack", "Failed", "Skipped"})
HALT_REASONS = frozenset({"Stopped", "DeadlineExceeded"})  # the run was halted (`WorkflowRun._halt`)


def _state(status: NodeStatus | None) -> NodeState:
    return NodeState() if status is None else NodeState.of(status)


class RunningComponents(Mapping[str, str]):
    """`WorkflowRun.running_components()`: running node -> component, read through to the run."""

    def __init__(self, run: RunState) -> None:
        self.run = run

    def __getitem__(self, node: str) -> str:
        if node not in self.run.running:
            raise KeyError(node)
        return self.run.component_of(node)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.run.running))

    def __len__(self) -> int:
        return len(self.run.running)


class RunState:
    """The live state of one workflow run, rebuilt from its status after a restart, and what the caller asks
    of it; the transitions are the engine's (`logic.scheduler.WorkflowRun`)."""

    def __init__(
        self,
        name: str,
        dag: Dag,
        nodes: Mapping[str, NodeStatus],
        *,
        parallelism: int,
        failure_policy: FailurePolicy,
        started_at: datetime,
        deadline_seconds: int | None = None,
        uid: str = "",
        runtime_estimates: Mapping[str, float] | None = None,
        keys: Mapping[str, tuple[float, int]] | None = None,
        features: Sequence[NodeFeature] = (),
        exit_nodes: Collection[str] = (),
    ) -> None:
        """`runtime_estimates` (component -> seconds, default 1 each) set the order in which ready nodes
        start when more are ready than `parallelism` allows: a list schedule planned on them (`logic.plan`),
        never longer than longest-remaining-path-first. `keys` is that plan made beforehand (`plan_keys`).
        `features` are offered each ready node, in order, before its Job is planned (`logic.features`).
        `exit_nodes` (`spec.onExit`, part of `dag`) are held back until every other node is finished."""
        self.name = name
        self.uid = uid
        self.dag = dag
        self.index = {node: i for i, node in enumerate(dag.nodes)}  # position in the immutable DAG
        self.rejections: dict[str, int] = {}  # node -> transient refusals in a row (backoff)
        self.store_troubles: dict[str, int] = {}  # node -> attempts lost to store trouble (not charged)
        # node -> retries after infrastructure failures, not charged to the retry budget (not kept across restarts)
        self.free_retries: dict[str, int] = {}
        self.messages_kept = 0  # compact status: failed nodes that kept a message
        self.with_message: set[str] = set()
        self.features = tuple(features)
        self.facts: dict[str, dict[str, object]] = {}  # feature -> node -> what the runner's observe half found
        self.deferred: dict[str, str] = {}  # node -> the feature waiting for facts about it
        self.offered: set[str] = set()  # nodes every feature let through (their retries are not offered again)
        self.parallelism = parallelism
        self.failure_policy = failure_policy
        self.started_at = started_at
        self.deadline = started_at + timedelta(seconds=deadline_seconds) if deadline_seconds else None
        self.nodes: dict[str, NodeState] = {n: _state(nodes.get(n)) for n in dag.order}
        self.recorded = nodes  # the status read at start: a forEach node's instances are taken from it on expansion
        self._recorded_counts: dict[str, int] | None = None  # forEach node -> `recorded_instances` (read once)
        self.fan_outs: dict[str, FanOut] = {}  # running forEach node -> its instances (`logic.foreach`)
        self.parent_of: dict[str, str] = {}  # instance -> its forEach node
        self.failed_reason: str | None = None
        self.remaining: dict[str, int] = {}
        # The ready queue: a heap of (planned start, spec position, node).
        # (a copy: forEach instances add their keys, `logic.foreach`)
        self.priority = (
            dict(keys)
            if keys is not None
            else plan_keys(dag, node_runtimes(dag, runtime_estimates, parallelism), parallelism)
        )
        self.ready = ReadyQueue(self.priority)
        self.running: set[str] = set()
        self.retrying: set[str] = set()
        self.done = 0
        self.exit_nodes = frozenset(exit_nodes)
        self.exits_released = False  # the DAG ended and the exit nodes may start (`logic.exits`)
        held: list[str] = []
        for name_ in dag.order:
            status = self.nodes[name_]
            self.remaining[name_] = sum(1 for d in dag.deps[name_] if not satisfies_dependents(self.nodes[d]))
            if status.phase in TERMINAL:
                self.done += 1
                if status.phase == "Failed" and name_ not in self.exit_nodes:
                    halted = status.reason if status.reason in HALT_REASONS else None
                    self.failed_reason = halted or self.failed_reason or "NodeFailed"
            elif status.phase == "Running" and dag.nodes[name_].for_each is None:
                self.running.add(name_)
            elif status.phase == "Retrying":
                self.retrying.add(name_)
            elif self.remaining[name_] == 0:
                (held if name_ in self.exit_nodes else self.ready).append(name_)
        self.held_exits = held  # exit nodes ready once released

    # -- what the caller asks ---------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.nodes)

    @property
    def progress(self) -> str:
        """`ok/total`: the nodes that ended well (Succeeded, FellBack, or Skipped by their `when`), as `argo`
        counts; a Failed run whose other nodes were Skipped after a failure does not read `5/5`."""
        ok = sum(1 for status in self.nodes.values() if satisfies_dependents(status))
        return f"{ok}/{self.total}"

    @property
    def finished(self) -> bool:
        return self.done == self.total

    def main_finished(self) -> bool:
        """Whether every node but the exit nodes is finished (the DAG has ended)."""
        if not self.exit_nodes:
            return self.finished
        if self.done < self.total - len(self.exit_nodes):
            return False
        exits_done = sum(1 for node in self.exit_nodes if self.nodes[node].phase in TERMINAL)
        return self.done - exits_done == self.total - len(self.exit_nodes)

    @property
    def succeeded(self) -> bool:
        # a forEach instance that failed is its node's to judge (`minSuccessRatio`)
        return self.finished and all(satisfies_dependents(s) for n, s in self.nodes.items() if n not in self.parent_of)

    def deps_of(self, node: str) -> tuple[str, ...]:
        return self.dag.deps[node]

    def inputs_of(self, node: str) -> tuple[str, ...]:
        """The dependencies whose outputs the node reads: all but those skipped by their `when` (no output)."""
        deps = self.dag.deps[node]
        if not any(self.nodes[dep].phase == "Skipped" for dep in deps):
            return deps
        return tuple(dep for dep in deps if self.nodes[dep].phase != "Skipped")

    def spec_of(self, node: str) -> DagNode:
        return self.dag.nodes[node]

    def recorded_instances(self, node: str) -> int:
        """How many instances of forEach `node` the status read at start covers (0: it had not expanded): one
        past its highest recorded index (`spec.reuse` records only the reused instances, so there may be gaps)."""
        if self._recorded_counts is None:
            counts: dict[str, int] = {}
            for name in self.recorded:
                if (parsed := parse_instance(name)) is not None:
                    counts[parsed[0]] = max(counts.get(parsed[0], 0), parsed[1] + 1)
            self._recorded_counts = counts
        return self._recorded_counts.get(node, 0)

    def fan_in_of(self, node: str) -> dict[str, tuple[int, ...]]:
        """The node's forEach inputs and their instances that succeeded (the first MAX_MOUNTED_INSTANCES):
        what its Job mounts of them besides `results.json`."""
        found: dict[str, tuple[int, ...]] = {}
        for dep in self.inputs_of(node):
            if self.dag.nodes[dep].for_each is None:
                continue
            fan = self.fan_outs.get(dep)
            total = fan.total if fan is not None else self.recorded_instances(dep)
            kept: list[int] = []
            for i in range(total):
                name = instance_name(dep, i)
                status = self.nodes.get(name) or self.recorded.get(name)
                if status is not None and status.phase in DONE_OK:
                    kept.append(i)
                    if len(kept) == MAX_MOUNTED_INSTANCES:
                        break
            found[dep] = tuple(kept)
        return found

    def fan_in_artifacts(self, node: str) -> dict[str, tuple[tuple[int, str], ...]]:
        """The node's forEach inputs with instances that passed artifacts: (index, manifest key) of every such
        succeeded instance, in index order (all of them: the fan-in manifest, not the Pod spec, lists them). An
        instance whose artifact list is known to be empty is left out; inputs without any are not keys."""
        found: dict[str, tuple[tuple[int, str], ...]] = {}
        for dep in self.inputs_of(node):
            if self.dag.nodes[dep].for_each is None:
                continue
            fan = self.fan_outs.get(dep)
            total = fan.total if fan is not None else self.recorded_instances(dep)
            kept: list[tuple[int, str]] = []
            for i in range(total):
                name = instance_name(dep, i)
                state = self.nodes.get(name)
                status = state if state is not None else self.recorded.get(name)
                if status is None or status.phase not in DONE_OK or status.artifact_manifest is None:
                    continue
                if status.artifacts is not None and len(status.artifacts) == 0:
                    continue  # it wrote no files (a compact status keeps no list: then the manifest tells)
                kept.append((i, status.artifact_manifest))
            if kept:
                found[dep] = tuple(kept)
        return found

    def item_of(self, node: str) -> tuple[str, int] | None:
        """A forEach instance's item: (its outputs key, its index); None for any other node."""
        parsed = parse_instance(node) if node in self.parent_of else None
        return None if parsed is None else (item_key(*parsed), parsed[1])

    def reads_of(self, node: str) -> list[str]:
        """The outputs ConfigMap keys a node's Job mounts: its inputs' outputs (with the succeeded instances' of
        a forEach dependency) and, for an instance, its item."""
        keys: list[str] = list(self.inputs_of(node))
        for dep, indices in self.fan_in_of(node).items():
            keys.extend(output_key(instance_name(dep, i)) for i in indices)
        if (parsed := parse_instance(node)) is not None and node in self.parent_of:
            keys.append(item_key(*parsed))
        return keys

    def job_name(self, node: str, attempt: int) -> str:
        return job_name(self.name, self.uid, node, self.index[node], attempt)

    def running_jobs(self) -> dict[str, tuple[int, str]]:
        """Node -> (attempt, Job name) of every running node: the Jobs the caller should observe."""
        return {
            n: (self.nodes[n].attempts, self.nodes[n].job or self.job_name(n, self.nodes[n].attempts))
            for n in self.running
        }

    def running_components(self) -> Mapping[str, str]:
        """Node -> the component its running Job runs (the node's own, or its fallback): a live view,
        O(1) to take and to look up, so a pass that touches a few nodes does not pay for all running ones."""
        return RunningComponents(self)

    def component_of(self, node: str) -> str:
        """The component a node runs now: its own, or the fallback it fell back to."""
        return self.nodes[node].fallback or self.dag.nodes[node].component

    def compact(self) -> bool:
        return self.total > COMPACT_THRESHOLD

    def node_wire(self, node: str) -> dict[str, object]:
        """A node's status as written. A compact status (large workflows) stays bounded for any outcome:
        finished nodes lose Job name, output preview and start time; reasons are cut to `COMPACT_REASON`;
        only the first `COMPACT_MESSAGES` nodes with a message keep one, cut to `COMPACT_TEXT`.
        Nulls remove what an earlier write stored (merge patch)."""
        status = self.nodes[node]
        wire = status.wire()
        if not self.compact():
            return wire
        if node in self.parent_of:  # a forEach instance (there may be 10,000): only what a restart needs
            # no times, no Job name (derived from node and attempt: `job_name`, the CLI finds its Pod by labels),
            # and no attempts when they are the usual (`implied_attempts`)
            wire.update(job=None, startedAt=None, finishedAt=None)
            if status.attempts == implied_attempts(status.phase, status.reason):
                wire["attempts"] = None
        return compact_wire(node, status, wire, self.with_message)
