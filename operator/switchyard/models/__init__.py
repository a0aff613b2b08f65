"""Switchyard API models: pydantic specs and statuses, the single source of the CRD schemas."""
