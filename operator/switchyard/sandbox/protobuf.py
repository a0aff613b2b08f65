"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) for the kinds kubectl's generators
send that way: ``kubectl create namespace``, ``kubectl create configmap``, ``kubectl create secret generic``.

The body is the ``k8s\\0`` magic + a ``runtime.Unknown`` envelope (typeMeta, raw bytes of the object). The
messages are declared here with the field numbers of k8s.io/api's ``generated.proto`` (a subset: what these
generators set; other fields are ignored) and decoded with the ``protobuf`` library into the JSON form.
Responses stay JSON (client-go reads the response's Content-Type).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

MAGIC = b"k8s\x00"
_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "switchyard.k8s"


class ProtobufError(ValueError):
    pass


def _field(message: Any, name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> None:
    field = message.field.add(name=name, number=number, type=kind, json_name=name)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = f".{_PACKAGE}.{type_name}"


def _map(message: Any, name: str, number: int, value_kind: int) -> None:
    entry_name = name[0].upper() + name[1:] + "Entry"
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, value_kind)
    _field(message, name, number, _F.TYPE_MESSAGE, f"{message.name}.{entry_name}", repeated=True)


def _build() -> dict[str, type[Any]]:
    file = descriptor_pb2.FileDescriptorProto(name="switchyard_k8s_subset.proto", package=_PACKAGE, syntax="proto2")
    type_meta = file.message_type.add(name="TypeMeta")
    _field(type_meta, "apiVersion", 1, _F.TYPE_STRING)
    _field(type_meta, "kind", 2, _F.TYPE_STRING)
    unknown = file.message_type.add(name="Unknown")
    _field(unknown, "typeMeta", 1, _F.TYPE_MESSAGE, "TypeMeta")
    _field(unknown, "raw", 2, _F.TYPE_BYTES)
    _field(unknown, "contentEncoding", 3, _F.TYPE_STRING)
    _field(unknown, "contentType", 4, _F.TYPE_STRING)
    meta = file.message_type.add(name="ObjectMeta")
    _field(meta, "name", 1, _F.TYPE_STRING)
    _field(meta, "generateName", 2, _F.TYPE_STRING)
    _field(meta, "namespace", 3, _F.TYPE_STRING)
    _map(meta, "labels", 11, _F.TYPE_STRING)
    _map(meta, "annotations", 12, _F.TYPE_STRING)
    _field(meta, "finalizers", 14, _F.TYPE_STRING, repeated=True)
    namespace = file.message_type.add(name="Namespace")
    _field(namespace, "metadata", 1, _F.TYPE_MESSAGE, "ObjectMeta")
    configmap = file.message_type.add(name="ConfigMap")
    _field(configmap, "metadata", 1, _F.TYPE_MESSAGE, "ObjectMeta")
    _map(configmap, "data", 2, _F.TYPE_STRING)
    _map(configmap, "binaryData", 3, _F.TYPE_BYTES)
    _field(configmap, "immutable", 4, _F.TYPE_BOOL)
    secret = file.message_type.add(name="Secret")
    _field(secret, "metadata", 1, _F.TYPE_MESSAGE, "ObjectMeta")
    _map(secret, "data", 2, _F.TYPE_BYTES)
    _field(secret, "type", 3, _F.TYPE_STRING)
    _map(secret, "stringData", 4, _F.TYPE_STRING)
    _field(secret, "immutable", 5, _F.TYPE_BOOL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    names = ("Unknown", "Namespace", "ConfigMap", "Secret")
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{n}")) for n in names}


_MESSAGES = _build()
KINDS = ("Namespace", "ConfigMap", "Secret")


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Namespace, ConfigMap or Secret; ``ProtobufError`` otherwise."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the protobuf body lacks the k8s magic prefix")
    envelope = _MESSAGES["Unknown"]()
    try:
        envelope.ParseFromString(body[len(MAGIC) :])
    except Exception as e:  # the library's DecodeError and friends
        raise ProtobufError(f"the protobuf envelope could not be decoded: {e}") from e
    kind = envelope.typeMeta.kind
    if kind not in KINDS:
        raise ProtobufError(f"protobuf bodies of kind {kind or '?'} are not supported by the emulator: send JSON")
    obj = _MESSAGES[kind]()
    try:
        obj.ParseFromString(envelope.raw)
    except Exception as e:
        raise ProtobufError(f"the protobuf {kind} could not be decoded: {e}") from e
    result = json_format.MessageToDict(obj)  # camelCase names, bytes as base64: the JSON encoding of the API
    # Go writes every non-pointer string, empty ones included; JSON omits them (omitempty).
    result["metadata"] = {k: v for k, v in (result.get("metadata") or {}).items() if v != ""}
    if result.get("type") == "":
        del result["type"]
    return {"apiVersion": envelope.typeMeta.apiVersion or "v1", "kind": kind, **result}
