"""Switchyard k8s."""
