"""kopf's private modules (`kopf._...`) are imported in `switchyard/kopfcompat.py` only (issue 20 item 2).

import-linter sees an external package as one module (`kopf`), so it cannot tell `kopf._cogs` from `kopf`:
this test reads every module's imports instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "switchyard"
COMPAT = PACKAGE / "kopfcompat.py"


def private_kopf_imports(path: Path, root: Path = PACKAGE) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [f"{path.relative_to(root)}:{node.lineno}: {n}" for n in names if n.startswith("kopf._")]
    return found


def test_kopfs_private_modules_are_imported_in_the_compat_module_only() -> None:
    assert private_kopf_imports(COMPAT), "the compat module is where kopf's private imports live"
    elsewhere = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != COMPAT for hit in private_kopf_imports(path)]
    assert elsewhere == [], "import these through switchyard.kopfcompat"


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import kopf\nfrom kopf._cogs.structs import bodies\nimport kopf._core.reactor\n")
    assert private_kopf_imports(module, tmp_path) == ["m.py:2: kopf._cogs.structs", "m.py:3: kopf._core.reactor"]
