"""Importing the operator does not load the `cel` library's command-line tool, and CEL still works."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from switchyard.logic import routing  # imports cel
import cel
program = cel.compile("input.size > 3 && input.kind == 'json'")
print(json.dumps({
    "loaded": sorted(m for m in ("typer", "rich", "prompt_toolkit", "pygments") if m in sys.modules),
    "result": cel.evaluate("input.size > 3 && input.kind == 'json'", {"input": {"size": 4, "kind": "json"}}),
}))
"""


def test_the_cel_cli_and_its_dependencies_stay_unloaded() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    found = json.loads(out)
    assert found["loaded"] == []
    assert found["result"] is True
