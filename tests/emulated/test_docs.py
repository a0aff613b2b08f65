"""Every shell recipe of README.md and manifests/examples/README.md runs against the sandbox (issue 19.10).

The fenced ``bash``/``sh``/``shell`` blocks run whole (``bash -e -o pipefail``), ``console`` blocks their
``$ `` lines, in a directory laid out like the repository (its entries linked) where ``switchyard dev
--keep-running`` runs with its ``.sandbox/``, and with ``KUBECONFIG`` and ``PATH`` set as the quick start
tells a user to (``.venv/bin`` first). ``127.0.0.1:PORT`` is the sandbox's ingest port. A block that cannot
run here says so on the line above its fence: ``<!-- doc-test: skip: WHY -->`` (a real cluster, a command
that never returns, illustrative output); every other block must exit 0, so a stale command fails here.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest
from markdown_it import MarkdownIt

from switchyard.logic.naming import UID_FRAGMENT
from switchyard.sandbox.process import free_port
from tests.emulated.conftest import wait_for

pytestmark = pytest.mark.emulated

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCS = ("README.md", "manifests/examples/README.md")
SHELLS = {"bash", "sh", "shell", "console"}
SKIP = re.compile(r"<!--\s*doc-test:\s*skip:\s*(?P<why>[^>]*?)\s*-->\s*$")
READY_LINE = "The sandbox keeps running until Ctrl-C"


@dataclasses.dataclass(frozen=True)
class Recipe:
    doc: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None  # the marker's reason, or None: it runs

    def script(self) -> str:
        if self.lang != "console":
            return self.text
        return "\n".join(line[2:] for line in self.text.splitlines() if line.startswith("$ "))


def recipes(doc: str) -> list[Recipe]:
    """The shell blocks of one Markdown file, each with the skip marker right above it (if any)."""
    tokens = MarkdownIt().parse((REPO / doc).read_text())
    found = []
    for i, token in enumerate(tokens):
        lang = token.info.split()[0] if token.info else ""
        if token.type != "fence" or lang not in SHELLS or token.map is None:
            continue
        previous = tokens[i - 1] if i > 0 else None
        above = previous is not None and previous.type == "html_block" and (previous.map or [0, -1])[1] == token.map[0]
        marker = SKIP.search(previous.content.strip()) if above and previous is not None else None
        found.append(Recipe(doc, token.map[0] + 1, lang, token.content, marker.group("why") if marker else None))
    return found


ALL = [recipe for doc in DOCS for recipe in recipes(doc)]


def test_every_skipped_recipe_says_why_and_most_run() -> None:
    assert ALL, "no shell recipes found: the extraction is broken"
    assert all(recipe.skip for recipe in ALL if recipe.skip is not None)
    assert len([r for r in ALL if r.skip is None]) >= 3, [(r.doc, r.line, r.skip) for r in ALL]


# `<workflow>-<node>-<index>-<attempt>-<hash>` (switchyard.logic.naming.job_name), as a sample in the docs spells it
JOB_NAME = re.compile(r"\b[a-z][a-z0-9-]*-[0-9]+-[0-9]+-(?P<hash>[0-9a-f]{4,})\b")


def test_job_names_in_the_docs_have_the_operators_shape() -> None:
    """A sample Job name has the hash of its Workflow's uid as job_name writes it: UID_FRAGMENT hex characters,
    one hash for every Job of one Workflow (one sample block shows one Workflow)."""
    wrong = []
    for doc in DOCS:
        for token in MarkdownIt().parse((REPO / doc).read_text()):
            if token.type not in ("fence", "inline", "code_block") or token.map is None:
                continue
            hashes = {m["hash"]: m[0] for m in JOB_NAME.finditer(token.content)}
            wrong += [f"{doc}:{token.map[0] + 1}: {name}" for h, name in hashes.items() if len(h) != UID_FRAGMENT]
            if token.type == "fence" and len(hashes) > 1:
                wrong.append(f"{doc}:{token.map[0] + 1}: one Workflow's Jobs with hashes {sorted(hashes)}")
    assert wrong == [], f"sample Job names unlike job_name's (hash of {UID_FRAGMENT} hex characters):\n" + "\n".join(
        wrong
    )


@dataclasses.dataclass(frozen=True)
class Sandbox:
    workdir: pathlib.Path
    ingest_port: int
    env: dict[str, str]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """`switchyard dev --keep-running` in a copy of the repository's layout, once its examples are done."""
    missing = [tool for tool in ("kubectl", "curl", "make") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the recipes need {', '.join(missing)}, not installed on this machine")
    workdir = tmp_path_factory.mktemp("docs")
    for entry in REPO.iterdir():
        if entry.name not in (".sandbox", ".git"):
            (workdir / entry.name).symlink_to(entry)
    port = free_port()
    venv_bin = REPO / ".venv" / "bin"
    log = workdir / "dev.log"
    with log.open("w") as out:
        dev = subprocess.Popen(
            [str(venv_bin / "switchyard"), "dev", "--keep-running", "--ingest-port", str(port)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: READY_LINE in log.read_text() or dev.poll() is not None, 300, what="the sandbox up")
        assert dev.poll() is None, log.read_text()[-4000:]
        env = {
            **os.environ,
            "KUBECONFIG": str(workdir / ".sandbox" / "kubeconfig"),
            # as the quick start's `export PATH=$PWD/.venv/bin:$PATH` (the same directory, so no plugin is doubled)
            "PATH": f"{workdir / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        yield Sandbox(workdir, port, env)
    finally:
        dev.send_signal(signal.SIGTERM)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=10)


@pytest.mark.parametrize(
    "recipe",
    [pytest.param(r, id=f"{r.doc}:{r.line}", marks=[pytest.mark.skip(reason=r.skip)] if r.skip else []) for r in ALL],
)
def test_recipe_runs_against_the_sandbox(recipe: Recipe, sandbox: Sandbox) -> None:
    script = recipe.script().replace("127.0.0.1:PORT", f"127.0.0.1:{sandbox.ingest_port}")
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=sandbox.workdir,
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{recipe.doc}:{recipe.line} failed:\n{script}\n---\n{done.stdout}\n{done.stderr}"
