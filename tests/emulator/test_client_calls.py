"""`Api.call` and `Api.write` against the emulated API: they reach the server without pydantic's argument
check of the generated client methods (`client.direct`), and keep the client's behaviour."""

from __future__ import annotations

import asyncio
import pathlib
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
