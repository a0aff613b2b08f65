"""A tiny kopf operator for the emulator's smoke test: on Widget creation, patch status and post an event."""

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: object) -> None:
    settings.posting.level = 0
    settings.watching.server_timeout = 10
    settings.persistence.finalizer = "test.switchyard.dev/kopf-finalizer"


@kopf.on.create("test.switchyard.dev", "v1", "widgets")
def created(patch: kopf.Patch, body: kopf.Body, **_: object) -> None:
    patch.status["phase"] = "Handled"
    kopf.info(body, reason="SmokeHandled", message=f"handled {body.metadata.name}")
