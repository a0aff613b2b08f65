"""The WfCommons -> Workflow translation of bench/wfcommons.py: valid, collision-free names; no dependency lost."""

from __future__ import annotations

import re

import pytest
from bench import wfcommons

from switchyard.models.common import DNS_LABEL, MAX_DEPENDS_ON
from switchyard.models.workflow import NodeSpec

FILES = wfcommons.files()
pytestmark = pytest.mark.skipif(not FILES, reason=f"no benchdata in {wfcommons.WFCOMMONS}")


def _reachable(deps: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(deps[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


def test_all_twelve_files_are_there() -> None:
    assert len(FILES) == 12


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_translation(path) -> None:  # type: ignore[no-untyped-def]
    doc = wfcommons.json.loads(path.read_text())
    dag = wfcommons.translate(doc)

    names = [node["name"] for node in dag.nodes]
    assert len(names) == len(set(names)), "node names collide"
    assert len(set(dag.names.values())) == len(doc["tasks"])
    for name in names:
        assert len(name) <= 63 and re.fullmatch(DNS_LABEL, name), name
    for node in dag.nodes:
        NodeSpec.model_validate(node)  # the Workflow schema accepts every node
        assert len(node["dependsOn"]) <= MAX_DEPENDS_ON

    # Every task dependency survives: directly, or through join nodes that only wait (runtime 0).
    deps = dag.deps
    for task in doc["tasks"]:
        node = dag.names[task["id"]]
        direct = {d for d in deps[node] if d in dag.names.values()}
        via_joins = {d for j in deps[node] if j not in direct for d in deps[j]}
        assert direct | via_joins == {dag.names[d] for d in task["deps"]}
    assert dag.joins == sum(1 for n in names if n not in set(dag.names.values()))
    assert all(dag.runtime[n] == 0 for n in names if n not in set(dag.names.values()))

    # Dependency order is kept (the engine and e2e benchmarks rely on it).
    position = {name: i for i, name in enumerate(names)}
    assert all(position[d] < position[n] for n, ds in deps.items() for d in ds)


def test_names_unchanged_when_valid_and_hashed_when_not() -> None:
    assert wfcommons.node_name("mproject-id0000001") == "mproject-id0000001"
    a, b = wfcommons.node_name("A_B"), wfcommons.node_name("a.b")
    assert a != b and a.startswith("a-b-") and b.startswith("a-b-")
    long = wfcommons.node_name("NFCORE_AIRRFLOW." + "X" * 80)
    assert len(long) <= 63 and re.fullmatch(DNS_LABEL, long)


def test_critical_path_matches_the_readme() -> None:
    dag = wfcommons.load(wfcommons.WFCOMMONS / "montage-chameleon-2mass-005d-001.json")
    assert dag.critical_path() == pytest.approx(21.4, abs=0.05)


def test_synthetic_shapes() -> None:
    wide = wfcommons.synthetic_wide(5000)
    assert len(wide.nodes) == 5000 and wide.critical_path() == 4.0  # root, work, collect, final
    layered = wfcommons.synthetic_layered(5000, 100)
    assert len(layered.nodes) == 5000 and len(layered.deps) == 5000
