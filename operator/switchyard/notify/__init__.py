"""Outbound events: the CloudEvent a finished Workflow sends to its `spec.notify.sink`, and its HTTP delivery.

`event` builds the event (pure), `sender` POSTs it; `switchyard.k8s.notifications` drives the delivery of one
Workflow and records it in the Workflow's status. Nothing here talks to Kubernetes.
"""
