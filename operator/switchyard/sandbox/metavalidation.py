"""What a real API server validates on every object, mirrored for the emulator: names, labels, annotations,
MicroTime fields and core/v1 Events.

The rules and their messages follow Kubernetes (apimachinery ``util/validation``, ``ValidateObjectMeta``,
``pkg/apis/core/validation/events.go``, ``metav1.MicroTime``). Each function returns field errors as
``(path, message)`` pairs (``metadata.labels: Invalid value: "x": ...``), or raises ``BadTime`` for a body a
real server could not even decode (a MicroTime without exactly six fractional digits is a 400 there).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

FieldError = tuple[str, str]  # (field path, "Invalid value: ...: why")

DNS1123_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_LABEL_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_QUALIFIED = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
# metav1.MicroTime's wire form (RFC3339Micro, "2006-01-02T15:04:05.000000Z07:00"): exactly six digits
_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
MICRO_TIME_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # bytes: keys + values
MAX_CONFIGMAP_BYTES = 1024 * 1024  # data + binaryData (decoded), as for Secrets
EVENT_NOTE_LIMIT = 1024  # bytes (Go's len), core/v1 `message` of an Event with eventTime, events.k8s.io `note`
EVENT_FIELD_LIMIT = 128  # reason, action, reportingInstance


class BadTime(ValueError):
    """A time field the API server cannot decode: the request is a 400 ``... cannot be handled as a ...``."""


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _invalid(path: str, value: Any, why: str) -> FieldError:
    return path, f"Invalid value: {json.dumps(value, ensure_ascii=False)}: {why}"


def dns1123_subdomain(value: str) -> list[str]:
    errors = [_max_len(253)] if len(value) > 253 else []
    if not _SUBDOMAIN.match(value):
        errors.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character",
                DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errors


def dns1123_label(value: str) -> list[str]:
    errors = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL.match(value):
        errors.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errors


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63."""
    qualified = (
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character"
    )
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(qualified, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend(f"prefix part {msg}" for msg in dns1123_subdomain(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append(f"name part {_max_len(63)}")
    if not _QUALIFIED.match(name):
        errors.append("name part " + _regex_error(qualified, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errors


def label_value(value: str) -> list[str]:
    errors = [_max_len(63)] if len(value) > 63 else []
    if not _LABEL_VALUE.match(value):
        errors.append(
            _regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errors


def label_errors(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, Mapping):
        return []
    errors: list[FieldError] = []
    for key, val in sorted(value.items()):
        errors.extend(_invalid(path, key, msg) for msg in qualified_name(str(key)))
        if not isinstance(val, str):
            errors.append(_invalid(path, val, "must be a string"))
            continue
        errors.extend(_invalid(path, val, msg) for msg in label_value(val))
    return errors


def annotation_errors(value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, Mapping):
        return []
    errors: list[FieldError] = []
    for key in sorted(value):
        errors.extend(_invalid(path, key, msg) for msg in qualified_name(str(key).lower()))
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in value.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append((path, f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"))
    return errors


def object_meta(body: Mapping[str, Any], dns_label_name: bool = False) -> list[FieldError]:
    """``ValidateObjectMeta``: the name (a DNS-1123 label for namespaces, else a subdomain), labels, annotations."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        return []
    errors: list[FieldError] = []
    name = meta.get("name")
    if isinstance(name, str) and name:
        check = dns1123_label if dns_label_name else dns1123_subdomain
        errors.extend(_invalid("metadata.name", name, msg) for msg in check(name))
    errors.extend(label_errors(meta.get("labels"), "metadata.labels"))
    errors.extend(annotation_errors(meta.get("annotations"), "metadata.annotations"))
    return errors


def job_template_labels(body: Mapping[str, Any]) -> list[FieldError]:
    """A Job's Pod template labels (``spec.template.labels``), where the job-name label makes a name over 63 fail."""
    spec = body.get("spec")
    template = spec.get("template") if isinstance(spec, Mapping) else None
    meta = template.get("metadata") if isinstance(template, Mapping) else None
    if not isinstance(meta, Mapping):
        return []
    return label_errors(meta.get("labels"), "spec.template.labels") + annotation_errors(
        meta.get("annotations"), "spec.template.annotations"
    )


def configmap_size(body: Mapping[str, Any]) -> list[FieldError]:
    """``ValidateConfigMap``: keys and values of ``data`` and (decoded) ``binaryData`` together at most 1 MiB."""
    total = 0
    for key, value in (body.get("data") or {}).items():
        total += len(str(key).encode()) + len(str(value).encode())
    for key, value in (body.get("binaryData") or {}).items():
        try:
            total += len(str(key).encode()) + len(base64.b64decode(str(value)))
        except (binascii.Error, ValueError):
            total += len(str(key).encode()) + len(str(value))
    if total > MAX_CONFIGMAP_BYTES:
        return [("[]", f"Too long: must have at most {MAX_CONFIGMAP_BYTES} bytes")]
    return []


def check_micro_time(kind: str, version: str, value: Any) -> None:
    """Raise BadTime unless `value` is a MicroTime as Go's ``time.Parse(RFC3339Micro, ...)`` accepts it."""
    if value is None:
        return
    text = str(value)
    if _MICRO_TIME.match(text):
        return
    seconds = re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", text)
    rest = text[seconds.end() :] if seconds else text
    element = ".000000" if seconds else MICRO_TIME_LAYOUT
    raise BadTime(
        f'{kind} in version "{version}" cannot be handled as a {kind}: parsing time "{text}" as '
        f'"{MICRO_TIME_LAYOUT}": cannot parse "{rest}" as "{element}"'
    )


def _object(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def micro_times(group: str, plural: str, body: Mapping[str, Any]) -> list[Any]:
    """The MicroTime fields of a body: Lease acquire/renew times, Event eventTime and series lastObservedTime."""
    if group == "coordination.k8s.io" and plural == "leases":
        spec = _object(body, "spec")
        return [spec.get("acquireTime"), spec.get("renewTime")]
    if plural == "events" and group in ("", "events.k8s.io"):
        series = _object(body, "series")
        return [body.get("eventTime"), series.get("lastObservedTime")]
    return []


def _too_long(path: str, limit: int) -> FieldError:
    return path, f'Invalid value: "": can have at most {limit} characters'


def core_event(body: Mapping[str, Any]) -> list[FieldError]:
    """``legacyValidateEvent`` for a core/v1 Event: an Event with ``eventTime`` (a "new" Event, as kopf and
    client-go's new recorder post) needs reportingComponent/reportingInstance/action/reason, and its message is
    at most 1024 **bytes** (Go's ``len``); an Event without eventTime has no length rules."""
    return _legacy_event(body, "reportingComponent", body.get("reportingComponent"), "involvedObject")


def events_v1_event(body: Mapping[str, Any]) -> list[FieldError]:
    """events.k8s.io/v1: the legacy rules on the internal Event (``note`` is ``message`` there, so the error
    names ``message``), then the strict ones: eventTime required, type Normal/Warning, deprecated fields unset."""
    errors = _legacy_event(
        {**body, "message": body.get("note")}, "reportingController", body.get("reportingController"), "regarding"
    )
    if not body.get("eventTime"):
        errors.append(("eventTime", "Required value"))
    if body.get("type") not in ("Normal", "Warning"):
        errors.append(("type", f'Invalid value: "": has invalid value: {body.get("type") or ""}'))
    for wire, internal in (
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("deprecatedSource", "source"),
    ):
        if body.get(wire):
            errors.append((internal, 'Invalid value: "": needs to be unset'))
    return errors


def _legacy_event(body: Mapping[str, Any], component_path: str, component: Any, involved_path: str) -> list[FieldError]:
    meta = _object(body, "metadata")
    namespace = str(meta.get("namespace") or "")
    involved = _object(body, involved_path)
    involved_ns = str(involved.get("namespace") or "")
    mismatch = _invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    errors: list[FieldError] = []
    if not body.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (involved_ns and involved_ns != namespace):
            errors.append(mismatch)
        return errors
    if not involved_ns and namespace not in ("default", "kube-system"):
        errors.append(mismatch)
    component = str(component or "")
    if not component:
        errors.append((component_path, "Required value"))
    errors.extend(_invalid(component_path, component, msg) for msg in qualified_name(component))
    for path in ("reportingInstance", "action", "reason"):
        text = str(body.get(path) or "")
        if not text:
            errors.append((path, "Required value"))
        if len(text.encode()) > EVENT_FIELD_LIMIT:
            errors.append(_too_long(path, EVENT_FIELD_LIMIT))
    if len(str(body.get("message") or "").encode()) > EVENT_NOTE_LIMIT:
        errors.append(_too_long("message", EVENT_NOTE_LIMIT))
    return errors
