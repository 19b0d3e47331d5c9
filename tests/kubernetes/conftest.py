"""Renders every kustomization under deploy/kubernetes once per session."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/kubernetes"
VENV_BIN = Path(sys.executable).parent
# Every kustomization a user deploys: Warden's overlays (and the base they share),
# and the agent template, plain and for OpenShift.
TARGETS = ["base", "overlays/dev", "overlays/ha", "overlays/openshift", "agent/base", "agent/openshift"]
WARDEN_TARGETS = [t for t in TARGETS if not t.startswith("agent/")]
AGENT_TARGETS = [t for t in TARGETS if t.startswith("agent/")]


def kubectl():
    # The venv's holds only when scripts/install-k8s-test-deps.sh found none recent enough.
    for c in (VENV_BIN / "kubectl", shutil.which("kubectl")):
        if c and Path(c).exists():
            return str(c)
    pytest.fail("no kubectl: run scripts/install-k8s-test-deps.sh")


def warden_bin():
    return os.environ.get("WARDEN_BIN", str(ROOT / "target/debug/warden"))


def render(target):
    r = subprocess.run([kubectl(), "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"kubectl kustomize {target}: {r.stderr}"
    return r.stdout


@pytest.fixture(scope="session")
def rendered():
    """target -> (YAML text, [objects])."""
    out = {}
    for t in TARGETS:
        text = render(t)
        out[t] = (text, [d for d in yaml.safe_load_all(text) if d])
    return out


def find(docs, kind, name=None):
    got = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return got


def one(docs, kind, name=None):
    got = find(docs, kind, name)
    assert len(got) == 1, f"expected one {kind} {name or ''}, found {len(got)}"
    return got[0]
