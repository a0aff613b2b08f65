"""Contract tests of the Dockerfile and .dockerignore, without a Docker engine: the image runs as the UID
the chart's securityContext names, on a read-only root, from a multi-stage build.
"""

from __future__ import annotations

import json
import pathlib
import re

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def test_multi_stage_on_python_311_slim() -> None:
    args = dict(rest.split("=", 1) for keyword, rest in instructions()[:1] if keyword == "ARG")
    assert args.get("PYTHON_IMAGE") == "python:3.11-slim"
    all_stages = stages()
    assert len(all_stages) == 2
    builder, final = all_stages
    assert builder[0][1].endswith("AS builder")
    assert final[0][1] == "${PYTHON_IMAGE}"
    builder_runs = " ".join(rest for keyword, rest in builder if keyword == "RUN")
    assert "pip wheel" in builder_runs


def test_final_stage_holds_only_the_installed_venv() -> None:
    final = stages()[-1]
    copies = [rest for keyword, rest in final if keyword in ("COPY", "ADD")]
    assert copies == ["--from=builder /opt/switchyard /opt/switchyard"]
    runs = [rest for keyword, rest in final if keyword == "RUN"]
    # Only the passwd entry of UID 10001: no build steps (or tools) in the final image.
    assert len(runs) == 1
    assert re.fullmatch(r"groupadd .*--gid 10001 switchyard +&& useradd .*--uid 10001 .*switchyard", runs[0])


def test_runs_as_the_chart_uid_with_the_operator_entrypoint() -> None:
    final = dict(stages()[-1])
    assert final["USER"] == "10001:10001"
    assert json.loads(final["ENTRYPOINT"]) == ["python", "-m", "switchyard"]
    assert "PYTHONDONTWRITEBYTECODE=1" in final["ENV"].split()
    helpers = (REPO / "charts" / "switchyard" / "templates" / "_helpers.tpl").read_text()
    assert re.findall(r"runAsUser: (\d+)", helpers) == ["10001", "10001"]


def test_dockerignore_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "operator/"}
    copied = " ".join(rest for keyword, rest in stages()[0] if keyword == "COPY")
    for name in ("pyproject.toml", "README.md", "operator/"):
        assert name in copied


def test_image_version_matches_chart_app_version() -> None:
    chart = yaml.safe_load((REPO / "charts" / "switchyard" / "Chart.yaml").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE)
    assert version
    assert chart["appVersion"] == version[1]
    final = dict(stages()[-1])
    assert final["ARG"] == f"VERSION={version[1]}"
