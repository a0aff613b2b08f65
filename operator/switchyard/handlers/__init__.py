"""Thin kopf wiring: `register` puts every handler of the operator into a kopf registry, for given options."""

from __future__ import annotations

import kopf

from switchyard.config import Options
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
from switchyard.kopfcompat import Insights


def register(registry: kopf.OperatorRegistry, options: Options, insights: Insights) -> None:
    """The handlers of an operator run with `options`; `insights` is the object `kopf.run(insights=...)` gets
    (the namespace watch feeds it)."""
    indexes.register(registry)
    startup.register(registry, options, insights)
    workflows.register(registry, options)
    components.register(registry)
    routingrules.register(registry)
    artifactstores.register(registry)
    templates.register(registry)
    triggers.register(registry)


__all__ = ["register"]
