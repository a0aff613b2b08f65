"""The Lease rules of `switchyard.k8s.leader` against an in-memory Lease API and a fake monotonic clock."""

from __future__ import annotations

import copy
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from switchyard.k8s.leader import HealthWhileWaiting, LeaderLease, LeaseLost, LeaseSettings
from switchyard.sandbox.process import free_port


class FakeLeases:
    """create/read/replace of Leases with resourceVersion conflicts, as the API server does them."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], client.V1Lease] = {}
        self.version = 0
        self.fail_next = 0

    def _bump(self, lease: client.V1Lease) -> client.V1Lease:
        self.version += 1
        lease.metadata.resource_version = str(self.version)
        return copy.deepcopy(lease)

    def _trouble(self) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ApiException(status=503)

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> client.V1Lease:
        self._trouble()
        if (namespace, name) not in self.stored:
            raise ApiException(status=404)
        return copy.deepcopy(self.stored[(namespace, name)])

    def create_namespaced_lease(self, namespace: str, body: client.V1Lease, **_: Any) -> client.V1Lease:
        self._trouble()
        key = (namespace, body.metadata.name)
        if key in self.stored:
            raise ApiException(status=409)
        self.stored[key] = copy.deepcopy(body)
        return self._bump(self.stored[key])

    def replace_namespaced_lease(self, name: str, namespace: str, body: client.V1Lease, **_: Any) -> client.V1Lease:
        self._trouble()
        current = self.stored[(namespace, name)]
        if body.metadata.resource_version != current.metadata.resource_version:
            raise ApiException(status=409)
        self.stored[(namespace, name)] = copy.deepcopy(body)
        return self._bump(self.stored[(namespace, name)])

    def holder(self) -> str | None:
        (lease,) = self.stored.values()
        return lease.spec.holder_identity  # type: ignore[no-any-return]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replica(api: FakeLeases, clock: Clock, identity: str) -> LeaderLease:
    settings = LeaseSettings(name="op", namespace="ns", identity=identity, duration=15, renew_every=5)
    return LeaderLease(api, settings, monotonic=clock)  # type: ignore[arg-type]


def test_first_replica_creates_the_lease_second_waits_until_it_expires_unrenewed() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = replica(api, clock, "a"), replica(api, clock, "b")
    assert a.try_acquire() and api.holder() == "a"
    assert not b.try_acquire()
    clock.now += 14
    assert not b.try_acquire(), "unchanged for less than the lease duration"
    a.renew()  # a renewal restarts b's wait, whatever the wall clocks say
    clock.now += 14
    assert not b.try_acquire()
    clock.now += 15.5
    assert b.try_acquire() and api.holder() == "b"
    with pytest.raises(LeaseLost, match="now held by b"):
        a.renew()
    assert api.stored[("ns", "op")].spec.lease_transitions == 1


def test_released_lease_is_taken_at_once_and_own_lease_is_taken_back() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = replica(api, clock, "a"), replica(api, clock, "b")
    assert a.try_acquire()
    assert not b.try_acquire()
    a.release()
    assert api.holder() == "" and api.stored[("ns", "op")].spec.lease_duration_seconds == 1
    assert b.try_acquire() and api.holder() == "b"
    restarted_b = replica(api, clock, "b")  # same identity (POD_NAME) after a container restart
    assert restarted_b.try_acquire()


def test_a_lost_race_is_not_an_acquisition() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = replica(api, clock, "a"), replica(api, clock, "b")
    assert a.try_acquire()
    a.release()
    lease = api.read_namespaced_lease("op", "ns")
    original = api.read_namespaced_lease

    def read_then_someone_writes(name: str, namespace: str, **kw: Any) -> client.V1Lease:
        seen = original(name, namespace)
        api.replace_namespaced_lease(name, namespace, lease)  # c takes it between b's read and write
        return seen

    api.read_namespaced_lease = read_then_someone_writes  # type: ignore[method-assign]
    assert not b.try_acquire()


def test_renewer_gives_up_after_the_renew_deadline_and_on_another_holder() -> None:
    api, clock = FakeLeases(), Clock()
    a = replica(api, clock, "a")
    assert a.try_acquire()
    reasons: list[str] = []

    def pause(timeout: float | None = None) -> bool:  # the renewer's sleep, on the fake clock
        clock.now += timeout or 0
        return False

    a.stopping.wait = pause  # type: ignore[method-assign]
    api.fail_next = 10**6  # the API is unreachable from now on
    a.keep_renewing(reasons.append)
    assert len(reasons) == 1 and reasons[0].startswith("could not renew leader lease ns/op for 10.0s")
    assert a.settings.renew_deadline == 10 < a.settings.duration

    api.fail_next = 0
    lease = api.read_namespaced_lease("op", "ns")
    lease.spec.holder_identity = "b"
    api.replace_namespaced_lease("op", "ns", lease)
    reasons.clear()
    a.keep_renewing(reasons.append)
    assert reasons == ["leader lease ns/op is now held by b"]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="shorter than two thirds"):
        LeaseSettings(identity="x", duration=15, renew_every=10).check()
    with pytest.raises(ValueError, match="must not be empty"):
        LeaseSettings(identity="").check()


def test_standby_answers_the_liveness_probe_and_frees_the_port_for_kopf() -> None:
    port = free_port()
    with HealthWhileWaiting(port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    with socket.socket() as sock:  # kopf binds it next
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
