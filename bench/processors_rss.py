"""Peak RSS and throughput of the built-in processors on large inputs, against `cp` of the same file.

Generates a JSON Lines input of each size (default 256 MiB and 1 GiB) in a temporary directory, runs each
processor as the Job runs it (`python -m switchyard.processors NAME`, a real subprocess) on a rooted copy
of the file contract (`SWITCHYARD_ROOT`, with an `outputs/` directory), and reports the process's peak RSS
(`ru_maxrss` from wait4, taken by a small launcher process), its throughput in MB/s of wall time and
per CPU second (user + system: less moved by other load on the machine). `cp` of the same file on the
same disk, measured the same way, is the baseline.
json-processor also runs on the same records as one JSON array document (the ijson path), at the smallest
size only. Everything generated is deleted afterwards.

    .venv/bin/python bench/processors_rss.py [--sizes 256,1024] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1 << 20
PROCESSORS: dict[str, dict[str, Any]] = {
    # 8 Mi characters a chunk: 128 chunk files for 1 GiB, cut at line ends
    "chunking-processor": {"chunkSize": 8 * MIB, "lines": True},
    "json-processor": {"fields": ["id", "amount", "tags"]},
    "numeric-processor": {},
    "data-validator": {"requireJson": True},
}
NOTE = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt " * 8


def record(index: int) -> str:
    """One ~850-byte JSON Lines record, a few numbers among text, like an export of orders."""
    return json.dumps(
        {
            "id": index,
            "kind": "order",
            "amount": round(index * 0.37 % 1000, 2),
            "qty": index % 17,
            "tags": ["a", "b", f"t{index % 100}"],
            "customer": {"name": f"customer-{index % 5000}", "region": "eu-west"},
            "note": NOTE,
        },
        separators=(",", ":"),
    )


def generate(path: Path, size: int, as_array: bool = False) -> int:
    """Write records to `path` until it holds at least `size` bytes; the number of records."""
    count = written = 0
    with path.open("w", encoding="utf-8") as handle:
        if as_array:
            handle.write("[")
        while written < size:
            lines = [record(count + i) for i in range(1000)]
            text = ("," if as_array else "\n").join(lines)
            if as_array and count:
                text = "," + text
            elif not as_array:
                text += "\n"
            handle.write(text)
            written += len(text)
            count += 1000
        if as_array:
            handle.write("]")
    return count


# A small launcher starts the measured process and prints its ru_maxrss: the peak of a process forked from a
# big parent (pytest) counts the parent's pages it had before exec; forked from this launcher it does not.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(proc.pid, 0)\n"
    "print(usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[int, int, str]:
    """(exit code, peak RSS in bytes, stderr) of `argv` run as a real subprocess."""
    code, peak, _, stderr = run_measured_cpu(argv, env)
    return code, peak, stderr


def run_measured_cpu(argv: list[str], env: dict[str, str]) -> tuple[int, int, float, str]:
    """(exit code, peak RSS in bytes, CPU seconds (user + system), stderr) of `argv` as a real subprocess."""
    completed = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv], env=env, capture_output=True, text=True, check=False
    )
    fields = completed.stdout.split()
    if len(fields) < 2:
        return completed.returncode, 0, 0.0, completed.stderr
    return completed.returncode, int(fields[-2]), float(fields[-1]), completed.stderr


def processor_env(root: Path, termination_log: Path, node: str = "bench") -> dict[str, str]:
    """The environment the Job gives a processor, rooted at `root` instead of /switchyard."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "operator"),
        "SWITCHYARD_ROOT": str(root),
        "SWITCHYARD_TERMINATION_LOG": str(termination_log),
        "SWITCHYARD_WORKFLOW": "bench",
        "SWITCHYARD_NODE": node,
        "SWITCHYARD_ATTEMPT": "1",
    }


def run_cp(source: Path, work: Path) -> dict[str, Any]:
    target = work / "copy"
    started = time.perf_counter()
    code, peak, cpu, stderr = run_measured_cpu(["cp", "--reflink=never", str(source), str(target)], dict(os.environ))
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"cp failed: {stderr}")
    target.unlink()
    return {"name": "cp", "seconds": seconds, "rss_mib": peak / MIB, "cpu_seconds": cpu}


def run_processor(name: str, config: dict[str, Any], source: Path, work: Path) -> dict[str, Any]:
    root = work / "switchyard"
    shutil.rmtree(root, ignore_errors=True)
    (root / "outputs").mkdir(parents=True)
    os.link(source, root / "input")
    (root / "config.json").write_text(json.dumps(config))
    started = time.perf_counter()
    code, peak, cpu, stderr = run_measured_cpu(
        [sys.executable, "-m", "switchyard.processors", name], processor_env(root, work / "termination-log", name)
    )
    seconds = time.perf_counter() - started
    result = json.loads((work / "termination-log").read_text())
    if code != 0:
        raise SystemExit(f"{name} failed ({code}): {result.get('error')} {stderr[-2000:]}")
    outputs = result.get("outputs") or {}
    shutil.rmtree(root)
    return {
        "name": name,
        "seconds": seconds,
        "rss_mib": peak / MIB,
        "cpu_seconds": cpu,
        "outputs": outputs.get("count"),
        "output_mib": (outputs.get("bytes") or 0) / MIB,
    }


def bench_size(size_mib: int, work: Path, json_array: bool) -> list[dict[str, Any]]:
    source = work / "input.jsonl"
    generate(source, size_mib * MIB)
    size = source.stat().st_size
    rows = [run_cp(source, work)]
    for name, config in PROCESSORS.items():
        rows.append(run_processor(name, config, source, work))
    source.unlink()
    if json_array:
        array = work / "input.json"
        generate(array, size_mib * MIB, as_array=True)
        row = run_processor("json-processor", PROCESSORS["json-processor"], array, work)
        row["name"] = "json-processor (one JSON array)"
        rows.append(row)
        array.unlink()
    for row in rows:
        row["size_mib"] = size / MIB
        row["mb_per_s"] = size / 1e6 / row["seconds"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024", help="input sizes in MiB, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="processors-rss-") as tmp:
        for size in sizes:
            rows.extend(bench_size(size, Path(tmp), json_array=size == min(sizes)))
    header = f"{'input':>9}  {'what':<32} {'seconds':>8} {'MB/s':>7} {'CPU s':>6} {'MB/CPU-s':>8}"
    print(f"{header} {'peak RSS':>9} {'outputs':>7}")
    for row in rows:
        rss = f"{row['rss_mib']:.1f} MiB" if row["rss_mib"] is not None else "-"
        outputs = f"{row['outputs']}" if row.get("outputs") is not None else "-"
        cpu = row["cpu_seconds"]
        cpu_text = f"{cpu:>6.2f} {row['size_mib'] * MIB / 1e6 / cpu:>8.1f}" if cpu else f"{'-':>6} {'-':>8}"
        print(
            f"{row['size_mib']:>5.0f} MiB  {row['name']:<32} {row['seconds']:>8.2f} {row['mb_per_s']:>7.1f} "
            f"{cpu_text} {rss:>9} {outputs:>7}"
        )
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
