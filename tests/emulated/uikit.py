"""What the browser tests of `switchyard ui` share: the server as a user runs it, real headless Chromium (Debian's,
driven by Playwright with the system executable), a page that fails its test when it throws, and screenshots
into docs/img/. A test module takes the fixtures by assigning them (`browser = uikit.browser`).
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from switchyard.sandbox.jobsim import Outcome, SimJob
from switchyard.sandbox.process import free_port
from tests.emulated.conftest import wait_for

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KUBECTL = shutil.which("kubectl")
DOCS_IMG = pathlib.Path(__file__).resolve().parents[2] / "docs" / "img"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000

expect = playwright_api.expect
expect.set_options(timeout=WAIT_MS)
skip_without_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)


@contextlib.contextmanager
def running_ui(kubeconfig: pathlib.Path, log_path: pathlib.Path, *options: str) -> Iterator[str]:
    """`switchyard ui` as a user runs it, with the session kubeconfig, on a free port; its URL."""
    port = free_port()
    log = log_path.open("wb")
    command = [sys.executable, "-m", "switchyard.cli.main", "--kubeconfig", str(kubeconfig), "ui", "--port", str(port)]
    proc = subprocess.Popen([*command, *options], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, "switchyard ui exited"
        try:
            with urllib.request.urlopen(f"{url}/static/app.js", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_for(answers, 30, interval=0.1, what="switchyard ui answering")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def ui_url(kubeconfig: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_ui(kubeconfig, tmp_path_factory.mktemp("ui") / "ui.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1300, "height": 850})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"the page threw: {errors}"


class Gate:
    """A simulator rule holding the Jobs of chosen nodes (no Pod yet, node Running) until released."""

    def __init__(self, *held: str, delay: float | None = None) -> None:
        self.held = set(held)
        self.delay = delay
        self.open = threading.Event()

    def __call__(self, job: SimJob) -> Outcome | None:
        if job.node in self.held:
            self.open.wait(60)
        return Outcome(delay=self.delay) if self.delay is not None else None


def chain(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "component": "proc", **({"dependsOn": [names[i - 1]]} if i else {})} for i, n in enumerate(names)
    ]


def shot(page: Any, name: str) -> None:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / name))
