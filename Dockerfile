# syntax=docker/dockerfile:1
# Switchyard operator image; the built-in processors (python -m switchyard.processors NAME) ship in it too.
#
# Stage 1 builds the project wheel and installs it, with its dependencies, into a virtualenv.
# Stage 2 is a clean python:3.11-slim with only that virtualenv: no compiler, no source tree, no pip cache.
# Runs as the numeric non-root UID 10001 and works with readOnlyRootFilesystem (only /tmp is written).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel needs (see .dockerignore): metadata first, then the package.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
# pip and setuptools leave the runtime venv; bytecode is compiled here, as at run time the filesystem is
# read-only (PYTHONDONTWRITEBYTECODE is set).
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/switchyard \
 && /opt/switchyard/bin/pip install --only-binary=:all: /dist/switchyard-*.whl \
 && /opt/switchyard/bin/pip uninstall --yes setuptools pip \
 && /opt/switchyard/bin/python -m compileall -q /opt/switchyard/lib \
 && /opt/switchyard/bin/python -c "import switchyard, switchyard.processors"

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="Switchyard Kubernetes operator and built-in processors" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/switchyard/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# A passwd entry for the UID: getpass.getuser() (kopf's identity outside a Pod) fails without one.
RUN groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin switchyard
COPY --from=builder /opt/switchyard /opt/switchyard
WORKDIR /tmp
USER 10001:10001
EXPOSE 9090 8081
ENTRYPOINT ["python", "-m", "switchyard"]
