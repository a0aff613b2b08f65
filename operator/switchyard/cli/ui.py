"""`switchyard ui`: the web UI on 127.0.0.1 (`switchyard.ui`), with the same kubeconfig and context as the other
commands, so every read and write is the caller's own.

Registered on the `switchyard` app by `switchyard.cli.main`.
"""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from switchyard.cli.main import _settings, app, fail, out


@app.command("ui")
def ui_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="port on 127.0.0.1 (0: a free one)")] = 8080,
    open_browser: Annotated[bool, typer.Option("--open", help="open the page in the default browser")] = False,
) -> None:
    """Serve the web UI on 127.0.0.1: live Workflows and their DAGs, node logs, stop and retry, Components,
    RoutingRules and Triggers, all with your kubeconfig's credentials (Kubernetes RBAC decides)."""
    from switchyard.ui import server
    from switchyard.ui.kube import Kube, KubeError

    settings = _settings(ctx)
    try:
        kube = Kube.connect(settings.kubeconfig, settings.context)
    except KubeError as error:
        raise fail(error.message) from error
    if settings.namespace:
        kube.default_namespace = settings.namespace

    def ready(url: str) -> None:
        out.print(f"switchyard ui: serving {url} (Ctrl-C stops)", highlight=False)
        if open_browser:
            webbrowser.open(url)

    try:
        server.serve(kube, port, ready)
    except OSError as error:
        raise fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from error
