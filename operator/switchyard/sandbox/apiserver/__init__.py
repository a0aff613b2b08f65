"""An in-memory Kubernetes API server on loopback for tests and benchmarks: kmock 0.8 made closer to real.

Built on ``kmock.KubernetesEmulator`` (pinned: this package touches its internals). kmock gives the HTTP
server (``kmock.Server``), request parsing and response rendering, the object store with history
(``ApiServer.objects``, behind ``store.Store``), the discovery registry (``ApiServer.resources``, seeded from
kmock's bundled builtin discovery), ``/version`` and the user-defined DSL reactions for non-API paths. ``ApiServer``
overrides ``_handle`` for ``/api`` and ``/apis`` because kmock 0.8 falls short of a real API server there.
What the extension adds, each covered by ``tests/emulator/``:

- metadata: ``uid``, ``creationTimestamp``, ``generation`` (1, then +1 on any change outside
  metadata/status), ``resourceVersion`` from one global counter (a string); no-op writes keep the RV;
- errors as ``kind: Status`` with code/reason: NotFound 404, AlreadyExists 409, Conflict 409 (stale
  ``metadata.resourceVersion`` in PATCH/PUT, failed delete preconditions), Invalid 422 (failed JSON-patch
  ``test``, missing name), BadRequest 400 (bad selectors), UnsupportedMediaType 415 (protobuf bodies);
- paths: ``/api/v1/namespaces[/NAME[/status]]``; namespace taken from the URL on create; a namespaced
  create in a missing namespace is 404; core discovery says ``v1``; lists carry kind/apiVersion/RV;
- label selectors (=, ==, !=, in, notin, exists, !key) and field selectors (any dotted path);
- watches as ``application/json`` lines, resumed after ``?resourceVersion=`` without replay (410 Gone in an
  ERROR event when older than the retained window), ``timeoutSeconds``, ``sendInitialEvents`` with the
  initial-events-end bookmark, periodic bookmarks (``bookmarks.py``); objects moving in/out of a selector
  appear as ADDED/DELETED; lists in pages with ``limit``/``continue`` (``paging.py``);
- CustomResourceDefinitions: create/update/delete (un)registers the resource in discovery with
  namespaced/kind/verbs/shortNames/categories/subresources; the CRD gets Established/NamesAccepted;
  custom resources are pruned, defaulted and validated against the version's schema, CEL rules included
  (``crdschema.py``; ``schema_validation=False`` turns it off);
- ``generateName``; the status subresource (main-resource writes keep ``.status``, ``/status`` writes change
  only ``.status`` and never bump generation; status is dropped on create); PUT; server-side apply (create
  or merge); ``dryRun=All``; strategic merge patch treated as merge patch plus merge-by-name for lists of
  named dicts (see ``patching.py``);
- garbage collection: background cascade over ownerReference uids (Foreground treated as Background);
  Orphan removes the deleted owner's references from its dependents, as the real collector does before it
  lets the owner go; ``metadata.finalizers`` (DELETE sets deletionTimestamp; removing the last finalizer
  deletes); ``EmulatedCluster.garbage_collector_paused()`` holds the cascade back, as a busy collector does;
  deleting a Namespace deletes its contents, deleting a CRD deletes its objects;
- ``meta.k8s.io/v1 Table`` for ``kubectl get`` (CRD additionalPrinterColumns, else NAME + AGE);
- fault injection (``ApiServer.faults``, see ``faults.py``).

``EmulatedCluster`` runs it: ``await cluster.start()``/``stop()`` (or ``async with``) in the current loop, or
``with EmulatedCluster(...) as cluster:`` in a background thread with its own loop. Differences from a real
API server that remain are listed in ``tests/README.md``.

The parts, as kmock splits its own: ``registry`` (served types, addressing), ``store`` (objects, resourceVersions,
history, garbage collection), ``kinds`` (per-kind defaults and hooks), ``watch`` (the event log and streams),
``discovery`` (discovery and OpenAPI documents), ``verbs`` and ``server`` (HTTP), ``cluster`` (running it).
This package is the emulator library tests import; ``switchyard dev`` (``sandbox/dev.py``) is a product on top.
"""

from switchyard.sandbox.apiserver.cluster import EmulatedCluster, main, write_kubeconfig
from switchyard.sandbox.apiserver.errors import ApiError
from switchyard.sandbox.apiserver.kinds import now_rfc3339
from switchyard.sandbox.apiserver.registry import (
    BUILTINS,
    CRD_GROUP,
    CRD_PLURAL,
    Address,
    ResourceType,
    VersionInfo,
)
from switchyard.sandbox.apiserver.server import MAX_REQUEST_BYTES, ApiServer
from switchyard.sandbox.apiserver.watch import WatchEvent

__all__ = [
    "BUILTINS",
    "CRD_GROUP",
    "CRD_PLURAL",
    "MAX_REQUEST_BYTES",
    "Address",
    "ApiError",
    "ApiServer",
    "EmulatedCluster",
    "ResourceType",
    "VersionInfo",
    "WatchEvent",
    "main",
    "now_rfc3339",
    "write_kubeconfig",
]
