"""The API error vocabulary: each name is true for its answer only, and never for a non-API error."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from switchyard.k8s import errors


def answer(status: int, reason: str = "") -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body = json.dumps({"kind": "Status", "reason": reason, "message": f"said {status}"})
    return exc


def test_each_name_is_its_answer() -> None:
    names = {
        errors.not_found: 404,
        errors.conflict: 409,
        errors.gone: 410,
        errors.forbidden: 403,
        errors.unauthorized: 401,
        errors.invalid: 422,
        errors.too_many_requests: 429,
    }
    for predicate, status in names.items():
        assert [code for code in (400, 401, 403, 404, 409, 410, 422, 429, 500) if predicate(answer(code))] == [status]
        assert not predicate(OSError("connection reset")), predicate.__name__
    assert [code for code in (400, 404, 409, 422) if errors.rejected(answer(code))] == [400, 422]


def test_already_exists_is_the_conflict_of_a_create() -> None:
    assert errors.already_exists(answer(409, "AlreadyExists"))
    assert not errors.already_exists(answer(409, "Conflict")) and errors.conflict(answer(409, "Conflict"))
    assert errors.api_message(answer(409, "Conflict")) == "said 409"
    assert errors.status_of(ValueError()) is None
