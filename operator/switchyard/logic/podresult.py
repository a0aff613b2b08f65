"""What a node's Pod tells about its attempt, under the kubelet's rules: is its output whole, whose failure is it.

The kubelet keeps the *last* 4096 bytes of a container's termination-log file (less when several containers
share the Pod's 12 KiB), so a message that fills that budget may have lost its head: it is never passed on as
a whole output. Pure: the observer (`k8s/observer.py`) feeds it what the Pod status says.
"""

from __future__ import annotations

MAX_CONTAINER_MESSAGE_BYTES = 4096  # kubelet: per container
MAX_POD_MESSAGE_BYTES = 12 * 1024  # kubelet: shared by all the Pod's containers


def message_budget(containers: int) -> int:
    """Bytes of termination message the kubelet keeps for each of a Pod's `containers`."""
    return min(MAX_CONTAINER_MESSAGE_BYTES, MAX_POD_MESSAGE_BYTES // max(1, containers))


def truncation(message: str, containers: int) -> str | None:
    """Why `message` may not be whole (None: it is): it fills the kubelet's budget, so its head may be gone."""
    size = len(message.encode())
    budget = message_budget(containers)
    if size < budget:
        return None
    return (
        f"the termination message is {size} bytes, the kubelet's limit for a Pod of {containers} container(s) "
        f"({budget}): it may have been cut (the kubelet keeps the last bytes), so it is not used as the output; "
        f"a result must stay under {budget} bytes"
    )
