"""The operator's options: one frozen object from the command line, each default written once."""

from __future__ import annotations

import dataclasses

import kopf
import pytest

from switchyard.config import Options
from switchyard.handlers import register
from switchyard.kopfcompat import Insights


def test_no_flags_give_the_declared_defaults() -> None:
    assert Options.from_args([]) == Options()


def test_flags_become_options() -> None:
    flags = ["-n", "a", "--namespace", "b-*", "--shard-label", "tier=batch", "--ingest-audience", "x"]
    flags += ["--max-node-output-bytes", "0", "--cel-worker-memory", "256", "--no-allow-sidecar-injection"]
    options = Options.from_args(flags)
    assert options.namespaces == ("a", "b-*")
    assert dict(options.shard_labels) == {"tier": "batch"}
    assert options.ingest_audiences == ("x",)
    assert options.max_node_output_bytes is None, "0: no cap"
    assert options.max_workflow_output_bytes == Options().max_workflow_output_bytes
    assert (options.cel_worker_memory_mib, options.allow_sidecar_injection) == (256, False)


def test_options_are_frozen() -> None:
    options = Options.from_args(["--shard-label", "tier=batch"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.metrics_port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        options.shard_labels["tier"] = "other"  # type: ignore[index]


def test_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_STAGING_IMAGE", "registry.example/switchyard:9")
    monkeypatch.setenv("KUBECONFIG", "/tmp/kc")
    options = Options.from_args([])
    assert (options.staging_image, options.kubeconfig) == ("registry.example/switchyard:9", "/tmp/kc")
    assert Options.from_args(["--staging-image", "own:1"]).staging_image == "own:1"


def shard_filters(registry: kopf.OperatorRegistry) -> list[object]:
    handlers = registry._spawning.get_all_handlers() + registry._watching.get_all_handlers()
    return [handler.labels for handler in handlers if handler.id in ("run_workflow", "workflow_changed")]


def test_each_registry_gets_the_shard_filter_of_its_options() -> None:
    """The handlers are registered for given options, so the order of imports and option parsing is moot."""
    sharded, everything = kopf.OperatorRegistry(), kopf.OperatorRegistry()
    register(sharded, Options.from_args(["--shard-label", "tier=batch"]), Insights())
    register(everything, Options(), Insights())
    assert shard_filters(sharded) == [{"tier": "batch"}] * 2
    assert shard_filters(everything) == [None] * 2
