"""`switchyard ui`: a local web server for people (live Workflow list and DAGs, nodes, logs, Components, rules,
Triggers), acting with the caller's own kubeconfig; its page and vendored assets ship in `static/`."""
