"""Every command's --help reads as a kubectl user expects: metavars (WORKFLOW, FILE, SECONDS), no Python types."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
import typer.main

from switchyard.cli.main import app, main

# What typer prints for Python types (`<str>`, `<bool>`, `<list[Path]>`, `TEXT`, `FLOAT`...) and for defaults.
PYTHON_WORDS = re.compile(
    r"<(?:str|int|float|bool|path|file|dir|list\[[^\]]*\]|[a-z]+\|[a-z|]+)>|\b(?:TEXT|INTEGER|FLOAT|BOOLEAN|PosixPath|Path)\b"
    r"|\bNone\b|\[default: [0-9]+\.0\]|\{[A-Za-z|_]+\}"
)


def commands(group: Any = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path (`()` the root, `("get",)`, and a sub-group's own commands)."""
    group = typer.main.get_command(app) if group is None else group
    found = [path]
    for name, command in sorted(getattr(group, "commands", {}).items()):
        found += commands(command, (*path, name))
    return found


@pytest.mark.parametrize("command", commands(), ids=lambda path: " ".join(path) or "switchyard")
def test_help_names_no_python_type(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage:" in text
    assert PYTHON_WORDS.findall(text) == [], text


def test_help_shows_kubectl_style_metavars(capsys: pytest.CaptureFixture[str]) -> None:
    main(["stop", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Usage: switchyard stop [OPTIONS] WORKFLOW" in text
    assert "--timeout SECONDS" in text and "[default: 120]" in text
    assert "--reason REASON" in text
    main(["logs", "--help"])
    assert "Usage: switchyard logs [OPTIONS] WORKFLOW [NODE]" in " ".join(capsys.readouterr().out.split())
    main(["get", "--help"])
    assert "--output -o json|yaml" in " ".join(capsys.readouterr().out.split())
    main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--kubeconfig FILE" in text and "--namespace -n NAME" in text


def test_a_missing_argument_is_named_as_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get"]) == 2
    assert "Missing argument 'WORKFLOW'" in capsys.readouterr().err


def test_the_root_help_summary_names_every_command() -> None:
    """The one line above the command list says what the program does: it leaves none of its commands out."""
    summary = typer.main.get_command(app).help or ""
    names = sorted(getattr(typer.main.get_command(app), "commands", {}))
    assert [name for name in names if not re.search(rf"\b{name}\b", summary)] == [], summary


def test_the_readme_command_table_has_a_row_for_every_command() -> None:
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = set(re.findall(r"^\| `switchyard ([a-z]+)", readme, re.MULTILINE))
    names = sorted(getattr(typer.main.get_command(app), "commands", {}))
    assert [name for name in names if name not in rows] == []
