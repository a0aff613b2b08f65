"""`switchyard ui`: the web UI on 127.0.0.1 (`switchyard.ui`), with the same kubeconfig and context as the other
commands, so every read and write is the caller's own.

Registered on the `switchyard` app by `switchyard.cli.main`.
"""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from switchyard.cli.main import _settings, app, fail


@app.command("ui")
def ui_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="port on 127.0.0.1 (0: a free one)")] = 8080,
    open_browser: Annotated[bool, typer.Option("--open", help="open the page in the default browser")] = False,
    auth: Annotated[
        str,
        typer.Option(
            "--auth",
            help="kubeconfig: act with your own credentials (default); token: in a cluster, every request brings a "
            "Kubernetes bearer token (TokenReview) and each action is authorized for its user (SubjectAccessReview)",
        ),
    ] = "kubeconfig",
    host: Annotated[
        str, typer.Option("--host", help="address to bind; other than 127.0.0.1 only with --auth token")
    ] = "127.0.0.1",
) -> None:
    """Serve the web UI on 127.0.0.1: live Workflows and their DAGs, node logs, stop and retry, Components,
    RoutingRules and Triggers, all with your kubeconfig's credentials (Kubernetes RBAC decides)."""
    from switchyard.ui import server
    from switchyard.ui.auth import Reviewer
    from switchyard.ui.kube import Kube, KubeError

    if auth not in ("kubeconfig", "token"):
        raise fail(f"--auth must be kubeconfig or token, not {auth!r}", code=2)
    if auth == "kubeconfig" and host != server.HOST:
        raise fail("--host other than 127.0.0.1 needs --auth token: anyone reaching it would act as you", code=2)
    settings = _settings(ctx)
    try:
        kube = Kube.connect(settings.kubeconfig, settings.context)
    except KubeError as error:
        raise fail(error.message) from error
    reviewer = Reviewer(kube.api) if auth == "token" else None
    if settings.namespace:
        kube.default_namespace = settings.namespace

    def ready(url: str) -> None:
        print(f"switchyard ui: serving {url} (Ctrl-C stops)", flush=True)
        if open_browser:
            webbrowser.open(url)

    try:
        server.serve(kube, port, ready, host=host, reviewer=reviewer)
    except OSError as error:
        raise fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from error
