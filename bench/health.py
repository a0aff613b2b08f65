"""Health-aware routing under a degrading component (issue 24 item 5, second half), in one run of the e2e harness.

The real operator process, the emulated API server and the job simulator (bench/e2e.py's pieces). Two
alternative components do the same work: `ocr-a` (1.0 s a run) and `ocr-b` (1.6 s, `--b-seconds`). From
`--degrade-at` to `--recover-at` seconds into the run, half of ocr-a's runs fail (seeded random); before and
after, none do. Three namespaces run side by side on the same timeline, each keeping `--in-flight` routed
Workflows going (a new one as each finishes), so completions per minute reflect what routing costs:

- `static`: one RoutingRule, always `[ocr-a]`.
- `breaker`: a rule `components["ocr-a"].breaker == "Open"` -> `[ocr-b]` above the static one (item 2).
- `cost`: one rule with `alternatives: [[ocr-a], [ocr-b]]`, the cheaper by the statistics (item 3).

Every component: its true run time as `runtimeEstimateSeconds`, 2 retries (0.5 s apart), a breaker opening after
3 consecutive failures for 10 s, no fallback.
Measured per namespace and phase (healthy / degraded / recovered): Workflows Succeeded per minute, Workflows
Failed, failed ocr-a attempts (failures seen), and which component ran. Run: `python bench/health.py`.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import random
import sys
import tempfile
import threading
import time
from typing import Any

import e2e
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.jobsim import JobSimulator, Outcome, SimJob
from switchyard.sandbox.process import OperatorProcess

MODES = ("static", "breaker", "cost")
SECONDS = {"ocr-a": 1.0, "ocr-b": 1.6}
API = "switchyard.dev/v1alpha1"


def component(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Component",
        "metadata": {"name": name},
        "spec": {
            "image": "example.com/ocr:1",
            "runtimeEstimateSeconds": SECONDS[name],  # what costs use before the first statistics
            "retry": {"limit": 2, "backoff": {"initialSeconds": 0.5, "factor": 1, "maxSeconds": 0.5}},
            "circuitBreaker": {"failureThreshold": 3, "openSeconds": 10},
        },
    }


def rule(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "RoutingRule", "metadata": {"name": name}, "spec": spec}


def rules(mode: str) -> list[dict[str, Any]]:
    static = rule("static", {"when": "true", "path": ["ocr-a"]})
    if mode == "static":
        return [static]
    if mode == "breaker":
        down = {"priority": 10, "when": 'components["ocr-a"].breaker == "Open"', "path": ["ocr-b"]}
        return [rule("a-down", down), static]
    return [rule("cheapest", {"when": "true", "alternatives": [{"path": ["ocr-a"]}, {"path": ["ocr-b"]}]})]


class Degrading:
    """The simulator's rule: ocr-a fails half its runs between `degrade` and `recover` s after `start`."""

    def __init__(self, degrade: float, recover: float, seed: int) -> None:
        self.degrade, self.recover = degrade, recover
        self.start = time.monotonic()
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.runs: list[tuple[str, str, float, bool]] = []  # (namespace, component, at, succeeded)

    def phase(self, at: float) -> str:
        return "healthy" if at < self.degrade else "degraded" if at < self.recover else "recovered"

    def __call__(self, job: SimJob) -> Outcome:
        at = time.monotonic() - self.start
        component = job.component or "?"
        with self.lock:
            fails = component == "ocr-a" and self.phase(at) == "degraded" and self.random.random() < 0.5
            self.runs.append((job.namespace, component, at, not fails))
        return Outcome(succeed=not fails, delay=SECONDS.get(component, 0.1), message='{"ok": true}')


def workflow(name: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Workflow", "metadata": {"name": name}, "spec": {"input": {"data": "page"}}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the run")
    parser.add_argument("--degrade-at", type=float, default=40.0)
    parser.add_argument("--recover-at", type=float, default=80.0)
    parser.add_argument("--in-flight", type=int, default=3, help="routed Workflows kept running per namespace")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--b-seconds", type=float, default=1.6, help="ocr-b's run time (ocr-a: 1.0 s)")
    args = parser.parse_args()
    SECONDS["ocr-b"] = args.b_seconds
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="switchyard-health-"))
    # (phase, at, phase of the Workflow, reason of its failed node) per finished Workflow
    finished: dict[str, list[tuple[str, float, str, str | None]]] = {m: [] for m in MODES}
    with EmulatedCluster(crd_paths=e2e.CRDS, namespaces=list(MODES)) as cluster:
        kubeconfig = cluster.write_kubeconfig(workdir / "kubeconfig", namespace=MODES[0])
        operator = OperatorProcess(kubeconfig, workdir / "operator.log", namespaces=MODES).start()
        degrading = Degrading(args.degrade_at, args.recover_at, args.seed)
        sim = JobSimulator(kubeconfig, rule=degrading, delay=0.0)
        sampled: dict[str, dict[str, Any]] = {}  # ocr-a's health in each namespace as the degradation ends
        try:
            operator.wait_ready(timeout=60)
            for mode in MODES:
                for doc in [component("ocr-a"), component("ocr-b"), *rules(mode)]:
                    plural = "components" if doc["kind"] == "Component" else "routingrules"
                    cluster.create(f"{API}/{plural}", doc, namespace=mode)
            time.sleep(2.0)  # the operator's watch caches see the rules before the first Workflow
            sim.start()
            degrading.start = started = time.monotonic()
            serial = collections.Counter[str]()
            running: dict[str, set[str]] = {m: set() for m in MODES}
            while time.monotonic() - started < args.seconds and operator.alive:
                if not sampled and time.monotonic() - started >= args.recover_at:
                    for mode in MODES:
                        status = (cluster.get(f"{API}/components", "ocr-a", mode) or {}).get("status") or {}
                        stats = status.get("stats") or {}
                        sampled[mode] = {
                            "failureRate": stats.get("failureRate"),
                            "runs": stats.get("runs"),
                            "breaker": (status.get("breaker") or {}).get("state"),
                        }
                for mode in MODES:
                    for name in list(running[mode]):
                        obj = cluster.get(f"{API}/workflows", name, mode) or {}
                        status = obj.get("status") or {}
                        if status.get("phase") in ("Succeeded", "Failed", "Invalid"):
                            at = time.monotonic() - started
                            nodes = (status.get("nodes") or {}).values()
                            why = next((n.get("reason") for n in nodes if n.get("phase") == "Failed"), None)
                            finished[mode].append((degrading.phase(at), at, status["phase"], why))
                            running[mode].discard(name)
                    while len(running[mode]) < args.in_flight:
                        serial[mode] += 1
                        name = f"wf-{serial[mode]:05d}"
                        e2e.create_as_kubectl(cluster, mode, workflow(name))
                        running[mode].add(name)
                time.sleep(0.1)
        finally:
            sim.stop()
            operator.stop()
    report(finished, degrading, args)
    print(f"ocr-a at {args.recover_at:.0f} s (end of the degradation): {json.dumps(sampled)}")
    return 0


def report(finished: dict[str, list[tuple[str, float, str, str | None]]], degrading: Degrading, args: Any) -> None:
    spans = {
        "healthy": args.degrade_at,
        "degraded": args.recover_at - args.degrade_at,
        "recovered": args.seconds - args.recover_at,
    }
    print(f"run {args.seconds:.0f} s: healthy 0-{args.degrade_at:.0f} s, ocr-a fails 50% to {args.recover_at:.0f} s")
    print(f"{'mode':8} {'phase':10} {'ok/min':>7} {'failed wf':>9} {'a failed':>8} {'runs a':>6} {'runs b':>6}")
    totals: dict[str, dict[str, float]] = {}
    for mode in MODES:
        for phase, span in spans.items():
            done = [f for f in finished[mode] if f[0] == phase]
            ok = sum(1 for f in done if f[2] == "Succeeded")
            failed = sum(1 for f in done if f[2] != "Succeeded")
            runs = [r for r in degrading.runs if r[0] == mode and degrading.phase(r[2]) == phase]
            a_failed = sum(1 for r in runs if r[1] == "ocr-a" and not r[3])
            ran = collections.Counter(r[1] for r in runs)
            counts = f"{failed:9d} {a_failed:8d} {ran['ocr-a']:6d} {ran['ocr-b']:6d}"
            print(f"{mode:8} {phase:10} {ok / span * 60:7.1f} {counts}")
        ok = sum(1 for f in finished[mode] if f[2] == "Succeeded")
        failed = sum(1 for f in finished[mode] if f[2] != "Succeeded")
        a_failed = sum(1 for r in degrading.runs if r[0] == mode and r[1] == "ocr-a" and not r[3])
        reasons = collections.Counter(f[3] or "?" for f in finished[mode] if f[2] != "Succeeded")
        totals[mode] = {"ok_per_min": round(ok / args.seconds * 60, 1), "failed": failed, "a_failed": a_failed}
        print(f"{mode:8} {'all':10} {totals[mode]['ok_per_min']:7.1f} {failed:9d} {a_failed:8d}  {dict(reasons)}")
    print(json.dumps(totals))


if __name__ == "__main__":
    sys.exit(main())
