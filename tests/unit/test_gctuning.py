"""The collector setup at operator start: the startup heap is frozen out of every later collection."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
import switchyard.k8s.runner, kopf  # a heap like the operator's at startup
before = len(gc.get_objects(generation=2))
from switchyard.gctuning import freeze_startup_heap, YOUNG_THRESHOLD
frozen = freeze_startup_heap()
print(json.dumps({"before": before, "frozen": frozen, "old_after": len(gc.get_objects(generation=2)),
                  "threshold": gc.get_threshold()[0], "young": YOUNG_THRESHOLD}))
"""


def test_the_startup_heap_is_frozen_and_collections_are_rarer() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    found = json.loads(out)
    assert found["before"] > 50_000  # what every full collection used to walk
    # all of it, less the cyclic garbage the collection before the freeze frees (minio's imports leave some)
    assert found["frozen"] >= found["before"] * 0.95
    assert found["old_after"] < 1_000  # what a full collection walks now
    assert found["threshold"] == found["young"] > 700
