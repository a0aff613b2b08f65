"""`Api.call` and `Api.write` against the emulated API: they reach the server without pydantic's argument
check of the generated client methods (`client.direct`), and keep the client's behaviour."""

from __future__ import annotations

import asyncio
import math
import pathlib
import socket
from typing import Any

import pydantic._internal._validate_call as validate_call
import pytest
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.client import Api, direct, load_config
from switchyard.sandbox.apiserver import EmulatedCluster


def test_calls_skip_the_argument_check_and_still_read_write_and_raise(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    check = validate_call.ValidateCallWrapper.__call__

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        checked.append(getattr(self, "__name__", "?"))
        return check(self, *args, **kwargs)

    monkeypatch.setattr(validate_call.ValidateCallWrapper, "__call__", counting)

    with EmulatedCluster(namespaces=["calls"]) as cluster:
        api = Api(load_config(str(cluster.write_kubeconfig(tmp_path / "config"))))

        async def scenario() -> dict[str, Any]:
            await api.write(api.core.create_namespaced_config_map, "calls", {"metadata": {"name": "cm"}})
            await api.write(api.core.patch_namespaced_config_map, "cm", "calls", {"data": {"k": "v"}})
            read = await api.call(api.core.read_namespaced_config_map, "cm", "calls")
            with pytest.raises(ApiException) as missing:
                await api.call(api.core.read_namespaced_config_map, "nothing", "calls")
            assert missing.value.status == 404
            return {"data": read.data, "name": read.metadata.name}

        try:
            assert asyncio.run(scenario()) == {"data": {"k": "v"}, "name": "cm"}
        finally:
            api.close()
    assert checked == []  # no call went through pydantic's check
    assert direct(len) is len  # what is not a generated client method is called as it is


def test_a_stalled_call_times_out_and_is_retried_on_sockets_kept_alive(tmp_path: pathlib.Path) -> None:
    """A black-holed request (accepted, never answered) must not hold a runner forever: the call's read
    timeout ends it and the retry gets an answer. The pool's sockets probe a silent peer (TCP keepalive)."""
    with EmulatedCluster(namespaces=["calls"]) as cluster:
        api = Api(load_config(str(cluster.write_kubeconfig(tmp_path / "config"))), read_timeout=1.0)
        cluster.create("configmaps", {"metadata": {"name": "cm"}, "data": {"k": "v"}}, namespace="calls")
        fault = cluster.faults.inject(method="GET", path_regex=r"/configmaps/cm$", stall=math.inf, times=1)
        patch = cluster.faults.inject(method="PATCH", path_regex=r"/configmaps/cm$", stall=math.inf, times=1)

        async def scenario() -> Any:
            read = await api.call(api.core.read_namespaced_config_map, "cm", "calls")
            await api.write(api.core.patch_namespaced_config_map, "cm", "calls", {"data": {"k": "w"}})
            return read

        try:
            read = asyncio.run(asyncio.wait_for(scenario(), 30))
            options = api.api_client.rest_client.pool_manager.connection_pool_kw["socket_options"]
        finally:
            api.close()
        assert read.data == {"k": "v"} and fault.hits == 1 and patch.hits == 1 and api.retries == 2
        assert cluster.get("configmaps", "cm", namespace="calls")["data"] == {"k": "w"}
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
