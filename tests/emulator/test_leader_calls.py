"""The leader Lease's calls through the real client against the emulator: a renewal that cannot complete
(the stall fault: the request is never answered) ends the leadership in time instead of hanging or dying."""

from __future__ import annotations

import math
import pathlib
import threading

from kubernetes import client

from switchyard.k8s.client import load_config
from switchyard.k8s.leader import LeaderLease, LeaseSettings
from switchyard.sandbox.apiserver import EmulatedCluster
from switchyard.sandbox.waiting import wait_for


def test_a_stalled_renewal_gives_the_lease_up_before_others_may_take_it(tmp_path: pathlib.Path) -> None:
    with EmulatedCluster() as cluster:
        api = client.CoordinationV1Api(load_config(str(cluster.write_kubeconfig(tmp_path / "config"))))
        lease = LeaderLease(api, LeaseSettings(name="stalls", identity="me", duration=3, renew_every=0.5))
        lease.acquire()
        lost: list[str] = []
        done = threading.Event()

        def on_lost(reason: str) -> None:
            lost.append(reason)
            done.set()

        cluster.faults.inject(method="GET", path_regex=r"/leases/stalls$", stall=math.inf, times=None)
        lease.start_renewing(on_lost)
        try:
            wait_for(done.is_set, 15, what="the renewer gave up")
        finally:
            lease.stopping.set()
            cluster.faults.clear()
        assert lease.thread is not None
        lease.thread.join(5)
        assert not lease.thread.is_alive()
    (reason,) = lost
    assert reason.startswith("could not renew leader lease default/stalls for ")
