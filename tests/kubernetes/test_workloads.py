"""Pod security (Pod Security "restricted", OpenShift restricted-v2: no fixed IDs),
the rollout and disruption settings the issue asks for, drain timing against
server.drain_timeout_secs, the Secrets the pods need, and the Containerfiles."""
import re

import pytest
import yaml

from conftest import AGENT_TARGETS, K8S, ROOT, TARGETS, WARDEN_TARGETS, find, one

# Pod Security "restricted": the volume types it allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
ID_FIELDS = ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups")


def pod_specs(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield d, d["spec"]["template"]["spec"]


def security_problems(pod, allow_fs_group=False):
    out = []
    psc = pod.get("securityContext", {})
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(f):
            out.append(f)
    if pod.get("automountServiceAccountToken") is not False:
        out.append("automountServiceAccountToken is not false")
    for f in ID_FIELDS:
        if f in psc and not (allow_fs_group and f == "fsGroup"):
            out.append(f"pod {f} pinned")
    for v in pod.get("volumes", []):
        kind = set(v) - {"name"}
        if not kind <= RESTRICTED_VOLUMES:
            out.append(f"volume {v['name']}: {kind}")
    for c in pod.get("initContainers", []) + pod["containers"]:
        sc = c.get("securityContext", {})
        name = c["name"]
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            out.append(f"{name}: runAsNonRoot")
        if (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            out.append(f"{name}: seccomp")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation")
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{name}: readOnlyRootFilesystem")
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"] or caps.get("add"):
            out.append(f"{name}: capabilities {caps}")
        for f in ID_FIELDS:
            if f in sc:
                out.append(f"{name}: {f} pinned")
        if "limits" not in c.get("resources", {}) or "requests" not in c.get("resources", {}):
            out.append(f"{name}: resources")
        # Read-only root: /tmp must be an emptyDir of the pod's.
        tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        if not tmp or "emptyDir" not in vols.get(tmp[0]["name"], {}):
            out.append(f"{name}: no emptyDir at /tmp")
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_pod_security(rendered, target):
    pods = list(pod_specs(rendered[target][1]))
    assert pods
    for d, pod in pods:
        # Only where a fresh claim must be writable, and never on OpenShift (which
        # assigns fsGroup itself): dev's SQLite claim, the agent's workspace.
        assert security_problems(pod, allow_fs_group=target in ("overlays/dev", "agent/base")) == [], \
            d["metadata"]["name"]


def test_pod_security_check_can_fail(rendered):
    _, pod = next(pod_specs(rendered["base"][1]))
    import copy
    pod = copy.deepcopy(pod)
    pod["securityContext"]["runAsUser"] = 1000
    pod["containers"][0]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    assert len(security_problems(pod)) == 3


@pytest.mark.parametrize("target", TARGETS)
def test_namespaces_enforce_restricted(rendered, target):
    for ns in find(rendered[target][1], "Namespace"):
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def warden_yaml(docs):
    (cm,) = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].startswith("warden-config-")]
    return yaml.safe_load(cm["data"]["warden.yaml"])


@pytest.mark.parametrize("target", WARDEN_TARGETS)
def test_warden_drains_before_the_kubelet_kills_it(rendered, target):
    docs = rendered[target][1]
    pod = one(docs, "Deployment", "warden")["spec"]["template"]["spec"]
    drain = warden_yaml(docs)["server"]["drain_timeout_secs"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop > 0 and pod["terminationGracePeriodSeconds"] > pre_stop + drain


@pytest.mark.parametrize("target", ["base", "overlays/ha", "overlays/openshift"])
def test_replicated_warden(rendered, target):
    docs = rendered[target][1]
    dep = one(docs, "Deployment", "warden")
    spec = dep["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = one(docs, "PodDisruptionBudget", "warden")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    keys = {t["topologyKey"] for t in spec["template"]["spec"]["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    c = spec["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == c["startupProbe"]["httpGet"]["path"] == "/readyz"
    # PostgreSQL, from a Secret, for every replica.
    (store,) = [e for e in c["env"] if e["name"] == "WARDEN_STORE_URL"]
    assert "secretKeyRef" in store["valueFrom"]
    assert warden_yaml(docs)["store"]["url"] == "${WARDEN_STORE_URL}"
    sm = one(docs, "ServiceMonitor", "warden")
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert any(d["metadata"]["name"].startswith("warden-grafana-dashboard-") for d in find(docs, "ConfigMap"))


def test_ha_autoscales_but_never_below_three(rendered):
    hpa = one(rendered["overlays/ha"][1], "HorizontalPodAutoscaler", "warden")
    assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["scaleTargetRef"]["name"] == "warden"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert not find(rendered["base"][1], "HorizontalPodAutoscaler")      # opt-in


def test_dev_is_one_replica_on_sqlite_on_a_claim(rendered):
    docs = rendered["overlays/dev"][1]
    spec = one(docs, "Deployment", "warden")["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    (store,) = [e for e in pod["containers"][0]["env"] if e["name"] == "WARDEN_STORE_URL"]
    (data,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "data"]
    assert store["value"] == f"sqlite://{data['mountPath']}/warden.db"
    (vol,) = [v for v in pod["volumes"] if v["name"] == "data"]
    one(docs, "PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"])


def test_openshift_route(rendered):
    docs = rendered["overlays/openshift"][1]
    route = one(docs, "Route", "warden")
    svc = one(docs, "Service", route["spec"]["to"]["name"])
    assert route["spec"]["port"]["targetPort"] in [p["name"] for p in svc["spec"]["ports"]]
    assert route["spec"]["tls"]["termination"] == "edge"
    env = {e["name"]: e.get("value") for e in one(docs, "Deployment", "warden")["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WARDEN_EXTERNAL_HOST"] == route["spec"]["host"]
    assert env["WARDEN_PUBLIC_URL"] == "https://" + route["spec"]["host"]


def test_agent_template_has_quota_limits_and_a_workspace(rendered):
    for t in AGENT_TARGETS:
        docs = rendered[t][1]
        one(docs, "ResourceQuota")
        one(docs, "LimitRange")
        pod = one(docs, "Deployment", "openclaw")["spec"]["template"]["spec"]
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert [one(docs, "PersistentVolumeClaim", c)["metadata"]["name"] for c in claims] == ["openclaw-workspace"]


def referenced_secrets(docs):
    names = set()
    for _, pod in pod_specs(docs):
        for v in pod.get("volumes", []):
            if "secret" in v:
                names.add(v["secret"]["secretName"])
        for c in pod["containers"]:
            names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e}
            names |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
    return names


@pytest.mark.parametrize("target", WARDEN_TARGETS)
def test_every_secret_is_required_and_documented(rendered, target):
    """The Secrets are made outside git; README.md says how, and a pod whose Secret
    is missing does not start (no `optional: true` anywhere)."""
    docs = rendered[target][1]
    assert "optional: true" not in rendered[target][0]
    readme = (ROOT / "README.md").read_text()
    for name in referenced_secrets(docs):
        assert re.search(rf"kubectl -n warden create secret generic {name}\b", readme) or (
            name == "warden-db-app" and "warden-db-app" in readme), name


def containerfile_stages(path):
    stages, cur = [], None
    for raw in re.sub(r"\\\n", " ", path.read_text()).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            cur = {"from": rest, "ops": []}
            stages.append(cur)
        else:
            cur["ops"].append((op.upper(), rest.strip()))
    return stages


def test_warden_containerfile():
    stages = containerfile_stages(ROOT / "Containerfile")
    assert len(stages) == 2
    build, final = stages
    runs = " ".join(r for op, r in build["ops"] if op == "RUN")
    # The binary the benchmarks build (bench/run.sh), from the locked dependencies.
    assert "cargo build --release --locked -p warden" in runs
    assert "cargo build --release --locked -p warden" in (ROOT / "bench/run.sh").read_text()
    assert re.match(r"gcr\.io/distroless/cc-debian12(:nonroot)?$", final["from"]), final["from"]
    ops = dict(final["ops"])
    user = ops["USER"].split(":")
    assert all(u.isdigit() and int(u) > 0 for u in user), user
    assert ops["ENTRYPOINT"] == '["/usr/local/bin/warden"]'      # exec form: no shell
    assert any(op == "COPY" and r.startswith("--from=build") and r.endswith("/usr/local/bin/warden")
               for op, r in final["ops"])
    labels = " ".join(r for op, r in final["ops"] if op == "LABEL")
    for key in ("title", "description", "version", "licenses", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    # The Deployment runs what the image's entrypoint is, with the config the ConfigMap mounts.
    dep = yaml.safe_load((K8S / "base/deployment.yaml").read_text())
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][0] == "serve"
    assert "EXPOSE" in ops and ops["EXPOSE"] == str(
        dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"])


def test_agent_containerfile_carries_the_plugin_where_openclaw_json_loads_it():
    stages = containerfile_stages(K8S / "agent/Containerfile")
    ops = stages[-1]["ops"]
    copies = [r for op, r in ops if op == "COPY"]
    json_text = (K8S / "agent/base/openclaw.json").read_text()
    (path,) = re.findall(r'"paths": \["([^"]+)"\]', json_text)
    assert all(c.split()[-1].startswith(path) for c in copies), copies
    # Every file the plugin package ships is copied.
    pkg = yaml.safe_load((ROOT / "integrations/openclaw/package.json").read_text())
    copied = " ".join(copies)
    for f in pkg["files"]:
        if f != "README.md":
            assert f"integrations/openclaw/{f}" in copied, f
    # The OpenClaw version the end-to-end tests run.
    version = re.search(r"OPENCLAW_VERSION=(\S+)", (ROOT / "scripts/install-openclaw.sh").read_text()).group(1)
    assert ("ARG", f"OPENCLAW_VERSION={version}") in ops
    uid = dict(ops)["USER"].split(":")[0]
    assert uid.isdigit() and int(uid) > 0
