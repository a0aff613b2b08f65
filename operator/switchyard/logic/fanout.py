"""The engine's half of `forEach` (`logic.foreach`): expand a ready node into instances, start them within
`maxParallel`, and end the node when its instances have ended (pure, a base of `logic.scheduler.WorkflowRun`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from switchyard.logic.dag import DagNode
from switchyard.logic.features import Expand, satisfies_dependents
from switchyard.logic.foreach import (
    INDEX_BASE,
    FanOut,
    instance_name,
    is_artifact_item,
    item_key,
    output_key,
    shortfall,
)
from switchyard.logic.nodestate import NodeState, implied_attempts
from switchyard.logic.runstate import TERMINAL, RunState
from switchyard.logic.steps import Plan, preview, whole_seconds
from switchyard.models.workflow import MAX_STATUS_NODES


class FanOuts(RunState):
    """forEach in the engine: instances are nodes of the run (`NODE[i]`), the node itself their summary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended_instances: list[str] = []  # instances that ended since the last `_close_fan_outs`
        self.item_data: dict[str, Sequence[object]] = {}  # forEach node -> its artifact items (`Expand.data`)
        for node, spec in list(self.dag.nodes.items()):  # a forEach node ended before a restart keeps its instances
            if spec.for_each is not None and self.nodes[node].phase in TERMINAL:
                self._keep_instances(node, spec)

    def _keep_instances(self, node: str, spec: DagNode) -> None:
        """The recorded instances of an ended forEach node, as records (counted, shown, never run again)."""
        count = self.recorded_instances(node)
        for i in range(count):
            name = instance_name(node, i)
            if name not in self.recorded:
                continue  # not recorded (a gap `spec.reuse` left): nothing to show
            self.dag.nodes[name] = DagNode(name, spec.component, self.dag.deps[node], spec.config)
            self.index[name] = (self.index[node] + 1) * INDEX_BASE + i
            self.parent_of[name] = node
            self.nodes[name] = NodeState.of(self.recorded[name])
            self.done += self.nodes[name].phase in TERMINAL

    def _node_done(self, node: str) -> None:  # the engine's (WorkflowRun)
        raise NotImplementedError

    def _finish_failed(self, node: str, reason: str, message: str, now: datetime, plan: Plan) -> None:
        raise NotImplementedError

    def _instance_ended(self, node: str) -> None:
        """Called by the engine when a node reaches a terminal phase: an instance is counted at the next close."""
        if node in self.parent_of:
            self.ended_instances.append(node)

    def _expand(self, node: str, verdict: Expand, now: datetime, plan: Plan) -> None:
        """Add one instance per item (each item's JSON to the outputs, read by its Job), keeping the states a
        restart found recorded; the node is Running (or Succeeded at once for an empty list)."""
        spec = self.dag.nodes[node]
        assert spec.for_each is not None
        status = self.nodes[node]
        status.started_at = status.started_at or whole_seconds(now)
        items: Sequence[object] = verdict.items
        if len(self.nodes) + len(items) > MAX_STATUS_NODES:  # the status could not hold them (`status.nodes`)
            message = (
                f"forEach over {len(items)} items: the Workflow would hold {len(self.nodes) + len(items)} nodes and "
                f"instances; at most {MAX_STATUS_NODES}"
            )
            self._finish_failed(node, "ForEachItems", message, now, plan)
            return
        limit = min(spec.for_each.max_parallel or self.parallelism, self.parallelism)
        fan = FanOut(len(items), limit, spec.for_each.min_success_ratio)
        self.fan_outs[node] = fan
        if verdict.data:
            self.item_data[node] = items
        plan.changed.add(node)
        if not items:
            self._end_fan_out(node, now, plan)
            return
        start = self.priority.get(node, (0.0, 0))[0]
        base = (self.index[node] + 1) * INDEX_BASE
        deps = self.dag.deps[node]
        for i, item in enumerate(items):
            name = instance_name(node, i)
            self.dag.nodes[name] = DagNode(name, spec.component, deps, spec.config)
            self.dag.deps[name] = deps
            self.dag.dependents[name] = ()
            self.index[name] = base + i
            self.priority[name] = (start, base + i)
            self.parent_of[name] = node
            self.remaining[name] = 0
            self.offered.add(name)
            plan.outputs[item_key(node, i)] = json.dumps(item, separators=(",", ":"))
            recorded = self.recorded.get(name)
            state = self.nodes[name] = NodeState() if recorded is None else NodeState.of(recorded)
            if recorded is not None and "attempts" not in recorded.model_fields_set:  # left out: the usual count
                state.attempts = implied_attempts(state.phase, state.reason)
            if state.phase in TERMINAL:
                self.done += 1
                fan.ended += 1
                if satisfies_dependents(state):
                    fan.succeeded += 1
                    if i in verdict.outputs:
                        fan.outputs[i] = verdict.outputs[i]
            elif state.phase == "Running":
                self.running.add(name)
                plan.restored.add(name)
                fan.active += 1
            elif state.phase == "Retrying":
                self.retrying.add(name)
                fan.active += 1
            else:
                fan.waiting.append(name)
                plan.changed.add(name)
        status.phase = "Running"
        status.reason = "Expanded"
        status.message = f"{len(items)} instances"
        status.progress = fan.progress
        plan.events.append(("Normal", "Expanded", f"node {node}: forEach over {len(items)} items"))
        for name in fan.release():
            self.ready.append(name)
        if fan.ended == fan.total:
            self._end_fan_out(node, now, plan)

    def item_artifact(self, node: str) -> dict[str, object] | None:
        """The artifact a forEach instance's item describes (`Expand.data`: staged at `item.data`), else None."""
        parent = self.parent_of.get(node)
        items = self.item_data.get(parent) if parent is not None else None
        if items is None:
            return None
        item = items[self.index[node] % INDEX_BASE]
        return dict(item) if is_artifact_item(item) else None

    def _instance_of(self, name: str, node: str) -> bool:
        """Whether `name` is an instance of one of `node`'s forEach dependencies."""
        return self.parent_of.get(name) in self.dag.deps[node]

    def _reopen_instance(self, name: str, plan: Plan) -> bool:
        """A succeeded instance runs again (a fan-in found its artifacts bad): its forEach node, Succeeded, is
        Running again until it has (its dependents wait for it again); the caller makes the instance ready.
        False when the fan-out is not in memory (a node that had ended before a restart: `_keep_instances`)."""
        node = self.parent_of[name]
        fan = self.fan_outs.get(node)
        status = self.nodes[node]
        if fan is None or status.phase != "Succeeded":
            return False
        index = self.index[name] % INDEX_BASE
        fan.ended -= 1
        fan.succeeded -= 1
        fan.active += 1  # it runs outside `fan.waiting`: counted as started
        fan.outputs.pop(index, None)
        status.phase = "Running"
        status.finished_at = None
        status.reason = "Expanded"
        status.message = f"instance {index} runs again: its artifacts were bad"
        status.progress = fan.progress
        plan.changed.add(node)
        self.done -= 1
        for child in self.dag.dependents[node]:
            self.remaining[child] += 1
        return True

    def _close_fan_outs(self, now: datetime, plan: Plan) -> bool:
        """Count the instances that ended since the last call; start waiting ones, end finished fan-outs.
        True when an instance became ready."""
        ended, self.ended_instances = self.ended_instances, []
        if not ended:
            return False
        released = False
        for name in ended:
            node = self.parent_of[name]
            fan = self.fan_outs[node]
            state = self.nodes[name]
            fan.ended += 1
            fan.active = max(0, fan.active - 1)
            if satisfies_dependents(state):
                fan.succeeded += 1
                index = self.index[name] % INDEX_BASE
                if (output := plan.outputs.get(output_key(name))) is not None:
                    fan.outputs[index] = output
            for started in fan.release():
                self.ready.append(started)
                released = True
            parent = self.nodes[node]
            parent.progress = fan.progress
            plan.changed.add(node)
            if fan.ended == fan.total and parent.phase not in TERMINAL:
                self._end_fan_out(node, now, plan)
        return released

    def _end_fan_out(self, node: str, now: datetime, plan: Plan) -> None:
        fan = self.fan_outs[node]
        status = self.nodes[node]
        status.progress = fan.progress
        ok, message = fan.verdict(node)
        if not ok:
            self._finish_failed(node, "MinSuccessRatio", message, now, plan)
            return
        results = fan.results_json()
        status.phase = "Succeeded"
        status.finished_at = whole_seconds(now)
        status.reason = None
        status.message = message
        status.output = preview(results)
        plan.outputs[node] = results
        plan.changed.add(node)
        self._node_done(node)

    def shortfalls(self) -> list[str]:
        """For each forEach node that succeeded although some of its instances did not (`minSuccessRatio` < 1):
        `18/20 instances of process succeeded (minSuccessRatio 0.9)`, in DAG order. What the Workflow's
        message says instead of "all N nodes succeeded"."""
        counts: dict[str, list[int]] = {}
        for instance, node in self.parent_of.items():
            count = counts.setdefault(node, [0, 0])
            count[0] += satisfies_dependents(self.nodes[instance])
            count[1] += 1
        found: list[str] = []
        for node, (ok, total) in sorted(counts.items(), key=lambda item: self.index[item[0]]):
            spec = self.dag.nodes[node].for_each
            if ok < total and spec is not None and self.nodes[node].phase == "Succeeded":
                found.append(shortfall(node, ok, total, spec.min_success_ratio))
        return found

    def _halt_fan_outs(self, reason: str, why: str, now: datetime, plan: Plan) -> None:
        """The run was halted: a forEach node still summarizing fails with the halt's reason."""
        for node in sorted(self.fan_outs):
            status = self.nodes[node]
            if status.phase == "Running" and node not in self.exit_nodes:
                status.phase = "Failed"
                status.reason = reason
                status.message = why
                status.finished_at = whole_seconds(now)
                plan.changed.add(node)
                self.done += 1


__all__ = ["FanOuts"]
