"""Artifacts in object storage: store clients, key layout, digests. No Kubernetes I/O here (STYLE.md).

`switchyard.k8s.artifactstores` reads an ArtifactStore and its Secret from the API and hands the pieces in.
"""
