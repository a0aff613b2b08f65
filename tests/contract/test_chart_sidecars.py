"""The chart's allowSidecarInjection value reaches the operator's command line."""

from __future__ import annotations

from tests.contract.test_chart import operator_container, render


def test_allow_sidecar_injection_value_becomes_the_flag() -> None:
    from switchyard.config import Options

    assert "--allow-sidecar-injection" not in operator_container(render())["args"]
    args = operator_container(render(sets=("allowSidecarInjection=true",)))["args"]
    assert "--allow-sidecar-injection" in args and Options.from_args(args).allow_sidecar_injection is True
