"""Thin kopf wiring: importing this package registers every handler with kopf's default registry."""

from switchyard.handlers import (
    artifactstores,
    components,
    indexes,
    routingrules,
    startup,
    templates,
    triggers,
    workflows,
)

__all__ = ["artifactstores", "components", "indexes", "routingrules", "startup", "templates", "triggers", "workflows"]
