"""The API client setup: credentials are refreshed on a timer, not re-read before every request."""

from __future__ import annotations

import asyncio
import pathlib

import pytest
import yaml
from kubernetes import client

from switchyard.k8s.client import Api, ThrottledRefresh, load_config


def test_the_refresh_hook_runs_at_most_once_per_interval() -> None:
    now = [100.0]
    seen: list[float] = []
    hook = ThrottledRefresh(lambda _: seen.append(now[0]), interval=10.0, clock=lambda: now[0])
    for at in (100.0, 101.0, 109.9, 110.0, 110.5, 125.0):
        now[0] = at
        hook(None)
    assert seen == [100.0, 110.0, 125.0]
    assert hook.runs == 3


def test_a_kubeconfig_token_is_sent_and_its_loader_hook_is_throttled(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "secret-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    configuration = load_config(str(kubeconfig)).configuration
    hook = configuration.refresh_api_key_hook
    assert isinstance(hook, ThrottledRefresh)
    for _ in range(50):  # what the client does before each request
        settings = configuration.auth_settings()
    assert settings["BearerToken"]["value"] == "Bearer secret-token"
    assert configuration.refresh_api_key_hook is hook  # the loader's hook re-installs itself when it runs
    assert hook.runs == 1


def test_a_call_after_close_is_cancelled_not_an_error() -> None:
    """At shutdown kopf may still run a daemon when the cleanup handler has closed the client: its next call
    stops it as a cancellation (no traceback in the log), where the pool's refusal was a RuntimeError."""
    api = Api(client.ApiClient(client.Configuration()), workers=1)
    assert asyncio.run(api.call(lambda: "answered")) == "answered"
    api.close()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(api.call(lambda: "never"))
