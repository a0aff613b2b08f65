"""Switchyard: a Kubernetes operator that routes data and runs workflow DAGs as Jobs."""

__version__ = "0.1.0"
GROUP = "switchyard.dev"
VERSION = "v1alpha1"
