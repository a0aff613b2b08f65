"""Sandbox fidelity (issue 9 part 2): what kubectl users see on a real cluster, with the real kubectl where it
matters. Each test fails without the behaviour it names."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.emulated


def test_jobs_get_the_selector_and_template_labels_the_job_api_defaults(raw):
    job = {
        "metadata": {"name": "sel1"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]},
            }
        },
    }
    status, _, body = raw("POST", "/apis/batch/v1/namespaces/default/jobs", job)
    assert status == 201
    uid = body["metadata"]["uid"]
    assert body["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert body["spec"]["template"]["metadata"]["labels"] == {
        "app": "x",
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "sel1",
        "controller-uid": uid,
        "job-name": "sel1",
    }
