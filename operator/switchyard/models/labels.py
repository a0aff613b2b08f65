"""Every label and annotation key Switchyard writes or reads, and its finalizer: one vocabulary.

Part of the API (users select node Jobs and Pods by these labels), so it lives with the models, which the
operator, the CLI and the sandbox may all import (`.importlinter`).
"""

from __future__ import annotations

from switchyard.models.crd import GROUP

# -- labels on the objects the operator owns (node Jobs, their Pods, ConfigMaps) --------------------------------
LABEL_WORKFLOW = f"{GROUP}/workflow"  # the Workflow's name, cut to a label value (`k8s.render.workflow_label`)
LABEL_WORKFLOW_UID = f"{GROUP}/workflow-uid"  # a node Job's: with node and attempt it names one attempt
LABEL_NODE = f"{GROUP}/node"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_COMPONENT = f"{GROUP}/component"
LABEL_PURPOSE = f"{GROUP}/purpose"  # a ConfigMap's: what it holds (input, outputs)
MANAGED_BY = {"app.kubernetes.io/managed-by": "switchyard"}

# -- annotations on node Jobs and their Pods -------------------------------------------------------------------
ANNOTATION_WORKFLOW = f"{GROUP}/workflow"  # the Workflow's full name (the label may be cut)
ANNOTATION_CONFIG = f"{GROUP}/config"  # the node's merged config (JSON)

# -- on Workflows ------------------------------------------------------------------------------------------------
ANNOTATION_STOP = f"{GROUP}/stop"  # stop it (the value is the reason); set by `switchyard stop`
# on a stopped Workflow: skip its exit nodes too (`spec.onExit`); set by a second `switchyard stop`
ANNOTATION_STOP_EXIT = f"{GROUP}/stop-exit"
FINALIZER = f"{GROUP}/finalizer"  # kopf's, on the objects it handles
# on an example manifest: the phase `switchyard dev` expects it to end in (its summary's EXPECT column)
LABEL_EXPECT = f"{GROUP}/expect"

# -- Triggers' Workflows and pending batches (ConfigMaps) ----------------------------------------------------------
LABEL_TRIGGER = f"{GROUP}/trigger"  # the Trigger's name, cut to a label value (`logic.triggers`)
LABEL_BATCH = f"{GROUP}/batch"  # on a pending batch's ConfigMap
ANNOTATION_OPENED = f"{GROUP}/opened-at"  # when the batch's first event came
ANNOTATION_COUNTED = f"{GROUP}/counted"  # a finished Workflow already in the Trigger's statistics
ANNOTATION_EVENT = f"{GROUP}/event"  # "<source> <id>" of a single-event Workflow
ANNOTATION_BATCH = f"{GROUP}/batch"  # the pending batch a Workflow was sealed from
ANNOTATION_SCHEDULED = f"{GROUP}/scheduled-time"  # the schedule tick a Trigger's Workflow was started for

# -- what node Pods carry so that mesh and secret injectors leave them alone: an injected sidecar keeps the Pod
# running after the processor exits and shares its termination-message budget (`--allow-sidecar-injection`)
NO_INJECTION_LABELS = {"sidecar.istio.io/inject": "false"}
NO_INJECTION_ANNOTATIONS = {
    "sidecar.istio.io/inject": "false",
    "linkerd.io/inject": "disabled",
    "vault.hashicorp.com/agent-inject": "false",
}

# -- the examples of `switchyard dev` ------------------------------------------------------------------------------
LABEL_EXPECT = f"{GROUP}/expect"  # the phase an example Workflow should end in
ANNOTATION_NEEDS = f"{GROUP}/needs"  # what an example needs to be applied (`artifact-store`)
LABEL_BUILTIN = f"{GROUP}/builtin"  # a Component the sandbox provides
