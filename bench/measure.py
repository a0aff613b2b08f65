"""What the benches read from a process and its metrics: Prometheus histogram quantiles and counters, a
process's RSS peak and CPU from /proc, percentiles of a sample (bench/e2e.py and the benches built on it)."""

from __future__ import annotations

import collections
import math
import os
import pathlib
import statistics

from prometheus_client.parser import text_string_to_metric_families


def histogram_quantiles(metrics_text: str, name: str, qs: tuple[float, ...]) -> dict[str, float]:
    buckets: dict[float, float] = collections.defaultdict(float)
    count = total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets[float(sample.labels["le"])] += sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
    out = {"count": count, "mean": total / count if count else math.nan}
    bounds = sorted(buckets)
    for q in qs:
        rank, lower, below, value = q * count, 0.0, 0.0, math.nan
        for upper in bounds:
            if buckets[upper] >= rank and count:
                if math.isinf(upper):
                    value = lower  # beyond the last finite bucket: report its bound (a floor)
                else:
                    in_bucket = buckets[upper] - below
                    value = lower + (upper - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)
                break
            lower, below = upper, buckets[upper]
        out[f"p{round(q * 100)}"] = value
    return out


def job_reads(metrics_text: str) -> dict[str, int]:
    """switchyard_job_reads by reason (unseen: not in the watch yet; quiet: an Active Job confirmed)."""
    return {
        s.labels["reason"]: int(s.value)
        for f in text_string_to_metric_families(metrics_text)
        if f.name == "switchyard_job_reads"
        for s in f.samples
        if s.name.endswith("_total")
    }


def counter_value(metrics_text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(metrics_text) if f.name == name for s in f.samples)


def proc_status(pid: int) -> tuple[float, float]:
    """(VmHWM MiB, user+system CPU seconds) of a process."""
    fields = dict(line.split(":", 1) for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines())
    hwm = int(fields["VmHWM"].split()[0]) / 1024
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return hwm, cpu


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]  # noqa: E731
    return {
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(values),
    }
