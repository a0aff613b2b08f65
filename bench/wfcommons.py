"""WfCommons benchmark DAGs (../shared/benchdata) as Switchyard Workflow nodes, for bench/engine.py and bench/e2e.py.

Task ids become DNS-1123 labels with `switchyard.logic.naming.dns_label` (lowercase, <= 63 chars, a short
hash whenever the id had to change). A node's `dependsOn` is capped at 256 by the CRD (MAX_DEPENDS_ON); four
of the twelve DAGs have larger fan-ins (blast 300, montage-dss 630, bwa and seismology 1000), so those
dependencies are split over zero-runtime join nodes (`<node>-join-<k>`), which keeps every dependency
(transitively) and the critical path, at the price of one extra Job per join.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

from switchyard.logic.naming import MAX_LABEL, dns_label, fit
from switchyard.models.common import MAX_DEPENDS_ON

BENCHDATA = pathlib.Path(
    os.environ.get("SWITCHYARD_BENCHDATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "benchdata")
)
WFCOMMONS = BENCHDATA / "wfcommons"


@dataclass(frozen=True)
class BenchDag:
    """A benchmark DAG in Workflow terms: nodes in dependency order and each node's runtime in seconds."""

    name: str
    nodes: list[dict[str, Any]]  # Workflow spec nodes: {"name", "component", "dependsOn"}
    runtime: dict[str, float]  # node name -> runtime_s (0 for join nodes)
    names: dict[str, str]  # task id -> node name
    joins: int = 0  # join nodes added to respect MAX_DEPENDS_ON

    @property
    def deps(self) -> dict[str, list[str]]:
        return {node["name"]: node["dependsOn"] for node in self.nodes}

    @property
    def edges(self) -> int:
        return sum(len(node["dependsOn"]) for node in self.nodes)

    def critical_path(self) -> float:
        """The longest runtime-weighted path: the makespan lower bound with unlimited parallelism."""
        finish: dict[str, float] = {}
        for node in self.nodes:  # dependency order
            finish[node["name"]] = self.runtime[node["name"]] + max(
                (finish[dep] for dep in node["dependsOn"]), default=0.0
            )
        return max(finish.values())

    def total_work(self) -> float:
        return sum(self.runtime.values())


def files() -> list[pathlib.Path]:
    return sorted(WFCOMMONS.glob("*.json"))


def node_name(task_id: str) -> str:
    """A DNS-1123 label for a task id: unchanged when already valid, else sanitized + a short hash."""
    return dns_label(task_id)


def translate(
    doc: dict[str, Any], *, component: str = "bench", max_deps: int = MAX_DEPENDS_ON, name: str | None = None
) -> BenchDag:
    """A compact WfCommons document -> Workflow nodes; raises ValueError on a name collision or unknown dep."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for task in doc["tasks"]:
        if task["id"] in names:
            raise ValueError(f"duplicate task id {task['id']!r}")
        node = node_name(task["id"])
        if node in taken:
            raise ValueError(f"task id {task['id']!r} collides with another as node name {node!r}")
        names[task["id"]] = node
        taken.add(node)

    nodes: list[dict[str, Any]] = []
    runtime: dict[str, float] = {}
    joins = 0
    for task in doc["tasks"]:
        node = names[task["id"]]
        deps = [names[dep] for dep in dict.fromkeys(task["deps"])]  # KeyError: unknown dep
        if len(deps) > max_deps:
            chunks = [deps[i : i + max_deps] for i in range(0, len(deps), max_deps)]
            if len(chunks) > max_deps:
                raise ValueError(f"task {task['id']!r}: {len(deps)} deps need more than one level of joins")
            deps = []
            for k, chunk in enumerate(chunks):
                join = fit(node, f"-join-{k}", MAX_LABEL)
                if join in taken:
                    raise ValueError(f"join node {join!r} collides with another node name")
                taken.add(join)
                nodes.append({"name": join, "component": component, "dependsOn": chunk})
                runtime[join] = 0.0
                deps.append(join)
                joins += 1
        nodes.append({"name": node, "component": component, "dependsOn": deps})
        runtime[node] = float(task["runtime_s"])
    return BenchDag(name=name or doc["name"], nodes=nodes, runtime=runtime, names=names, joins=joins)


def load(path: str | pathlib.Path, **kwargs: Any) -> BenchDag:
    path = pathlib.Path(path)
    return translate(json.loads(path.read_text()), name=path.stem, **kwargs)


def load_all(**kwargs: Any) -> list[BenchDag]:
    return [load(path, **kwargs) for path in files()]


def synthetic_layered(
    total: int, width: int, *, seed: int = 1, max_fan_in: int = 3, component: str = "bench"
) -> BenchDag:
    """A random layered DAG: `total` nodes in layers of `width`, each node 1..max_fan_in deps on the layer
    above, runtimes uniform in [1, 100] s (seeded, so every run builds the same DAG)."""
    import random

    rng = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    runtime: dict[str, float] = {}
    previous: list[str] = []
    for layer in range((total + width - 1) // width):
        current = []
        for i in range(min(width, total - layer * width)):
            name = f"l{layer}-n{i}"
            deps = rng.sample(previous, min(len(previous), rng.randint(1, max_fan_in))) if previous else []
            nodes.append({"name": name, "component": component, "dependsOn": deps})
            runtime[name] = round(rng.uniform(1, 100), 1)
            current.append(name)
        previous = current
    return BenchDag(
        name=f"synthetic-layered-{total}", nodes=nodes, runtime=runtime, names={n["name"]: n["name"] for n in nodes}
    )


def synthetic_wide(total: int, roots: int = 50, *, runtime_s: float = 1.0, component: str = "bench") -> BenchDag:
    """`roots` roots, each fanning out to an equal share of the middle nodes, then one final join over
    `roots` per-root collectors (keeps every dependsOn <= 256): roots + middle + roots + 1 = `total` nodes."""
    middle = total - 2 * roots - 1
    nodes: list[dict[str, Any]] = []
    runtime: dict[str, float] = {}

    def add(name: str, deps: list[str]) -> None:
        nodes.append({"name": name, "component": component, "dependsOn": deps})
        runtime[name] = runtime_s

    for r in range(roots):
        add(f"root-{r}", [])
    for i in range(middle):
        add(f"work-{i}", [f"root-{i % roots}"])
    for r in range(roots):
        add(f"collect-{r}", [f"work-{i}" for i in range(r, middle, roots)])
    add("final", [f"collect-{r}" for r in range(roots)])
    if max(len(n["dependsOn"]) for n in nodes) > MAX_DEPENDS_ON:
        raise ValueError("too many nodes per root for dependsOn <= 256: raise `roots`")
    return BenchDag(
        name=f"synthetic-wide-{total}", nodes=nodes, runtime=runtime, names={n["name"]: n["name"] for n in nodes}
    )
