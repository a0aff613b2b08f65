"""Switchyard: a Kubernetes operator that routes data and runs workflow DAGs as Jobs."""

import sys
import types

__version__ = "0.1.0"
GROUP = "switchyard.dev"
VERSION = "v1alpha1"

# The `cel` library (common-expression-language) imports its interactive command-line tool in its
# `__init__` (`from . import cli`): typer, rich, prompt_toolkit and pygments, ~24 MiB of RSS in every process
# that evaluates CEL (the operator and each rule-evaluating worker process), none of it ever used here. An
# empty placeholder stands in for `cel.cli` unless `cel` was already imported; `cel.compile`/`cel.evaluate`
# and the rest are untouched (tests/unit/test_cel_import.py).
if "cel" not in sys.modules:
    sys.modules.setdefault("cel.cli", types.ModuleType("cel.cli", "cel's REPL, not loaded by switchyard"))
