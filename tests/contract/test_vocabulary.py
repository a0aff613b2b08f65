"""Every `switchyard.dev/...` label and annotation key is spelled once, in `switchyard/models/labels.py`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "switchyard"
VOCABULARY = PACKAGE / "models" / "labels.py"
KEY = re.compile(r"switchyard\.dev/[a-z][-a-z]*")  # a whole key (an API version has digits)


def spelled_keys(path: Path, root: Path = PACKAGE) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(root)}:{node.lineno}: {node.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.fullmatch(node.value)
    ]


def test_label_and_annotation_keys_are_spelled_in_the_vocabulary_only() -> None:
    paths = sorted(PACKAGE.rglob("*.py"))
    elsewhere = [hit for path in paths if path != VOCABULARY for hit in spelled_keys(path)]
    assert elsewhere == [], "import the key from switchyard.models.labels"


def test_the_check_sees_a_spelled_key(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Docs on switchyard.dev/stop."""\nA = "switchyard.dev/node"\nB = "switchyard.dev/v1alpha1"\n')
    assert spelled_keys(module, tmp_path) == ["m.py:2: switchyard.dev/node"]
