"""Every kustomization renders, every object passes the Kubernetes 1.32 schemas with
strict field checking, and checkov finds nothing (each skip carries its reason)."""
import copy
import json
import subprocess

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from conftest import TARGETS, VENV_BIN, find, one

K8S_VERSION = "1.32.0"
# Custom resources: no schema ships with Kubernetes for them. Only these two may
# go unvalidated; any other kind without a schema fails the test.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("route.openshift.io/v1", "Route")}


@pytest.mark.parametrize("target", TARGETS)
def test_renders(rendered, target):
    kinds = {d["kind"] for d in rendered[target][1]}
    assert {"Namespace", "Deployment", "NetworkPolicy"} <= kinds, kinds
    # Every object has a namespace but the Namespace itself: nothing lands in `default`.
    for d in rendered[target][1]:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") not in (None, "default"), d["metadata"]


@pytest.mark.parametrize("target", TARGETS)
def test_strict_schema(rendered, target):
    unvalidated = set()
    for d in rendered[target][1]:
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except SchemaNotFoundError:
            key = (d["apiVersion"], d["kind"])
            assert key in CUSTOM_KINDS, f"no 1.32 schema for {key}"
            unvalidated.add(key)
        except ValidationError as e:
            pytest.fail(f"{target}: {d['kind']}/{d['metadata']['name']}: {e.message} at {list(e.path)}")


def test_strict_schema_refuses_an_unknown_field(rendered):
    """The check above can fail: a misspelt field and a wrong type are refused."""
    dep = copy.deepcopy(one(rendered["base"][1], "Deployment", "warden"))
    dep["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
    dep = copy.deepcopy(one(rendered["base"][1], "Deployment", "warden"))
    dep["spec"]["replicas"] = "three"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def checkov(directory):
    # --skip-download: checkov asks nothing of its vendor's servers (no network here).
    r = subprocess.run(
        [str(VENV_BIN / "checkov"), "-d", str(directory), "--framework", "kubernetes", "--skip-download",
         "--output", "json"],
        capture_output=True, text=True, timeout=600,
    )
    out = json.loads(r.stdout)
    return r.returncode, (out if isinstance(out, list) else [out])


def test_checkov_finds_nothing(rendered, tmp_path):
    for t in TARGETS:
        (tmp_path / (t.replace("/", "-") + ".yaml")).write_text(rendered[t][0])
    rc, reports = checkov(tmp_path)
    summary = reports[0]["summary"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [] and rc == 0, failed
    assert summary["passed"] > 100, summary
    # Every skip is one of the annotated ones, and says why.
    for r in reports:
        for c in r["results"]["skipped_checks"]:
            reason = (c.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason) > 20, (c["check_id"], c["resource"], reason)
            assert c["check_id"] in {"CKV_K8S_35", "CKV_K8S_40", "CKV_K8S_43"}, c["check_id"]


def test_checkov_fails_a_privileged_pod(rendered, tmp_path):
    """The lint above can fail: the Warden Deployment made privileged and root is flagged."""
    dep = copy.deepcopy(one(rendered["base"][1], "Deployment", "warden"))
    c = dep["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"] = {"privileged": True, "runAsUser": 0}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(dep))
    rc, reports = checkov(tmp_path)
    failed = {c["check_id"] for r in reports for c in r["results"]["failed_checks"]}
    assert rc != 0 and {"CKV_K8S_16", "CKV_K8S_20"} <= failed, failed
