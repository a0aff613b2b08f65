"""The emulator's TokenReview and SubjectAccessReview (a token table and an allow-list), through the real client."""

from __future__ import annotations

import kubernetes
import pytest
from kubernetes import client

from switchyard.sandbox.apiserver import EmulatedCluster

pytestmark = pytest.mark.emulated


def token_review(api_client: kubernetes.client.ApiClient, token: str) -> client.V1TokenReviewStatus:
    review = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
    return client.AuthenticationV1Api(api_client).create_token_review(review).status


def may_create(api_client: kubernetes.client.ApiClient, user: str, groups: list[str], namespace: str) -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=groups,
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb="create", group="switchyard.dev", resource="workflows"
            ),
        )
    )
    return bool(client.AuthorizationV1Api(api_client).create_subject_access_review(review).status.allowed)


def test_token_review_knows_the_table(cluster: EmulatedCluster, api_client: kubernetes.client.ApiClient) -> None:
    admin = token_review(api_client, "emulated")  # the kubeconfig's token is an admin by default
    assert admin.authenticated and admin.user.username == "admin" and "system:masters" in admin.user.groups
    assert not token_review(api_client, "nobody-knows-me").authenticated
    cluster.auth.add_token("tok-alice", "alice", ["team-a"])
    alice = token_review(api_client, "tok-alice")
    assert alice.authenticated and alice.user.username == "alice" and "team-a" in alice.user.groups


def test_subject_access_review_follows_the_allow_list(
    cluster: EmulatedCluster, api_client: kubernetes.client.ApiClient
) -> None:
    assert may_create(api_client, "admin", ["system:masters"], "anywhere")
    assert not may_create(api_client, "bob", ["system:authenticated"], "ns-b")
    cluster.auth.allow(user="bob", verb="create", api_group="switchyard.dev", resource="workflows", namespace="ns-b")
    assert may_create(api_client, "bob", ["system:authenticated"], "ns-b")
    assert not may_create(api_client, "bob", ["system:authenticated"], "ns-c")
    cluster.auth.allow(group="writers", verb="create", resource="workflows")
    assert may_create(api_client, "carol", ["writers"], "ns-c")


def test_token_review_honours_audiences(cluster: EmulatedCluster, api_client: kubernetes.client.ApiClient) -> None:
    """As kube-apiserver: a review without audiences asks for the API server's own; a token for a custom
    audience passes only a review asking for it, and `status.audiences` says which were matched."""

    def review(token: str, audiences: list[str] | None) -> client.V1TokenReviewStatus:
        spec = client.V1TokenReviewSpec(token=token, audiences=audiences)
        return client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(spec=spec)).status

    cluster.auth.add_token("tok-ingest", "sender", audiences=["switchyard-ingest"])
    cluster.auth.add_token("tok-api", "apiuser")
    assert not (plain := review("tok-ingest", None)).authenticated
    assert 'token audiences ["switchyard-ingest"] is invalid for the target audiences' in plain.error
    ok = review("tok-ingest", ["other", "switchyard-ingest"])
    assert ok.authenticated and ok.user.username == "sender" and ok.audiences == ["switchyard-ingest"]
    assert review("tok-api", None).authenticated
    assert not review("tok-api", ["switchyard-ingest"]).authenticated
    assert review("emulated", None).authenticated
