"""The warden.yaml the ConfigMaps carry passes `warden config check` with the
environment the Deployment gives it, and runs: the dev overlay's config serves on
its SQLite store and answers the probes; the agent template's openclaw.json is what
`warden openclaw config` makes for its inventory record, and the names that tie the
agent's token to that record agree."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import K8S, WARDEN_TARGETS, find, one, warden_bin

# What a Secret would hold, for the variables the Deployment takes from one.
SECRET_VALUES = {"WARDEN_STORE_URL": "postgres://warden:pw@db.example:5432/warden"}


def config_and_env(docs):
    dep = one(docs, "Deployment", "warden")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    (cm,) = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].startswith("warden-config-")]
    # The ConfigMap the Deployment mounts is this one (the generated name, hash included).
    (vol,) = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    assert vol["configMap"]["name"] == cm["metadata"]["name"]
    env = {}
    for e in c.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else SECRET_VALUES[e["name"]]
    return cm["data"]["warden.yaml"], env, dep, c


def run(args, env=None, **kw):
    return subprocess.run([warden_bin(), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], **(env or {})}, **kw)


@pytest.mark.parametrize("target", WARDEN_TARGETS)
def test_config_map_passes_config_check(rendered, tmp_path, target):
    text, env, _, c = config_and_env(rendered[target][1])
    # The file serve reads is the one in the ConfigMap, at the path the args name.
    assert c["args"][:3] == ["serve", "--config", "/etc/warden/warden.yaml"]
    f = tmp_path / "warden.yaml"
    f.write_text(text)
    r = run(["config", "check", str(f)], env)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr


def test_config_check_fails_closed_without_the_store_secret(rendered, tmp_path):
    text, env, _, _ = config_and_env(rendered["base"][1])
    f = tmp_path / "warden.yaml"
    f.write_text(text)
    env.pop("WARDEN_STORE_URL")
    r = run(["config", "check", str(f)], env)
    assert r.returncode != 0 and "WARDEN_STORE_URL" in r.stderr


def test_config_check_refuses_a_plaintext_credential(rendered, tmp_path):
    text, env, _, _ = config_and_env(rendered["base"][1])
    assert "secret: env://GITHUB_MCP_TOKEN" in text
    f = tmp_path / "warden.yaml"
    f.write_text(text.replace("secret: env://GITHUB_MCP_TOKEN", "secret: ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"))
    r = run(["config", "check", str(f)], env)
    assert r.returncode != 0 and "not a secret reference" in r.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_dev_overlay_serves_and_drains(rendered, tmp_path):
    """The dev overlay's config, mounts and args, with each mount under tmp_path."""
    text, env, dep, c = config_and_env(rendered["overlays/dev"][1])
    mounts = {m["mountPath"]: tmp_path / m["name"] for m in c["volumeMounts"]}
    for d in mounts.values():
        d.mkdir()

    # One pass, longest mount first, whole path components only (tmp_path is under /tmp).
    pattern = re.compile("|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True)) + r"(?=/|\s|$|\b)")

    def local(s):
        return pattern.sub(lambda m: str(mounts[m.group(0)]), s)

    # The keys as README.md ("Deploy on Kubernetes") makes them for the Secrets.
    key = subprocess.run("openssl genpkey -algorithm ed25519 -outform DER | base64 -w0", shell=True,
                         capture_output=True, text=True, check=True).stdout
    (mounts["/var/run/secrets/warden/audit"] / "audit-signing.key").write_text(key)
    (mounts["/var/run/secrets/warden/master-key"] / "master.key").write_text(run(["secret", "generate-key"]).stdout)
    # Upstreams on a closed loopback port: nothing leaves the machine.
    text = re.sub(r"https://[a-z0-9.-]+\.example\.com", "http://127.0.0.1:9", text)
    (mounts["/etc/warden"] / "warden.yaml").write_text(local(text))
    env = {k: local(v) for k, v in env.items()} | {"GITHUB_MCP_TOKEN": "x", "OPENAI_API_KEY": "y"}
    assert env["WARDEN_STORE_URL"].startswith("sqlite://")
    port = free_port()
    proc = subprocess.Popen([warden_bin(), *[local(a) for a in c["args"]], "--listen", f"127.0.0.1:{port}"],
                            env={"PATH": os.environ["PATH"], **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        sp = c["startupProbe"]
        deadline = time.monotonic() + sp["periodSeconds"] * sp["failureThreshold"]
        while get(base + sp["httpGet"]["path"]) != 200:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "startup probe never passed"
            time.sleep(0.2)
        assert get(base + c["readinessProbe"]["httpGet"]["path"]) == 200
        assert get(base + c["livenessProbe"]["httpGet"]["path"]) == 200
        # The SQLite store is on the claim's mount, as the overlay says.
        assert (mounts["/var/lib/warden"] / "warden.db").exists()
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        drain = yaml.safe_load(text)["server"]["drain_timeout_secs"]
        proc.wait(timeout=drain + 5)
        assert proc.returncode == 0 and time.monotonic() - start < drain, proc.stderr.read()
        # README's offline audit.pub (openssl, from the Secret's key) is the key Warden signs with.
        key_file = mounts["/var/run/secrets/warden/audit"] / "audit-signing.key"
        pub = subprocess.run(f"base64 -d {key_file} | openssl pkey -inform DER -pubout -outform DER | tail -c 32 | base64",
                             shell=True, capture_output=True, text=True, check=True).stdout.strip()
        r = run(["audit", "public-key", "--config", str(mounts["/etc/warden"] / "warden.yaml")], env)
        assert r.returncode == 0 and r.stdout.split()[:2] == ["ed25519", pub], (r.stdout, r.stderr, pub)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def json5_plain(text):
    """openclaw.json as `warden openclaw config` writes it: JSON with // comment lines."""
    return json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))


def test_openclaw_json_is_what_warden_generates(rendered, tmp_path):
    """Declare inventory.yaml in a real Warden, then ask for the agent's openclaw.json."""
    data = tmp_path / "data"
    data.mkdir()
    serve_cfg = tmp_path / "serve.yaml"
    port = free_port()
    serve_cfg.write_text(f"server:\n  listen: 127.0.0.1:{port}\nstore:\n  url: sqlite://{data}/warden.db\n")
    r = run(["admin", "token", "create", "--role", "admin", "--name", "k8s-test", "--config", str(serve_cfg),
             "--data-dir", str(data)])
    assert r.returncode == 0, r.stderr
    (admin,) = re.findall(r"wat_[0-9a-f]+", r.stdout)
    proc = subprocess.Popen([warden_bin(), "serve", "--config", str(serve_cfg), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while get(f"http://127.0.0.1:{port}/readyz") != 200:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.1)
        r = run(["apply", "-f", str(K8S / "agent/inventory.yaml"), "--server", f"http://127.0.0.1:{port}"],
                {"WARDEN_ADMIN_TOKEN": admin})
        assert r.returncode == 0, r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=40)
    # The command the agent kustomization names, against Warden's own config.
    text, env, _, _ = config_and_env(rendered["base"][1])
    cfg = tmp_path / "warden.yaml"
    cfg.write_text(text)
    r = run(["openclaw", "config", "--agent", "openclaw-bot", "--config", str(cfg), "--store-url",
             f"sqlite://{data}/warden.db", "--token", "kubernetes", "--server",
             "http://warden.warden.svc.cluster.local:8470", "--plugin-path", "/opt/warden/openclaw-plugin"], env)
    assert r.returncode == 0, r.stderr
    if os.environ.get("WARDEN_REGENERATE") == "1":  # after a change to `warden openclaw config`
        (K8S / "agent/base/openclaw.json").write_text(r.stdout)
        pytest.skip("agent/base/openclaw.json regenerated; render again")
    docs = rendered["agent/base"][1]
    (cm,) = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].startswith("openclaw-config-")]
    assert cm["data"]["openclaw.json"] == r.stdout
    assert (K8S / "agent/base/openclaw.json").read_text() == r.stdout


def test_agent_token_maps_to_its_inventory_record(rendered):
    """Namespace, ServiceAccount, token audience and path, Warden's trusted issuer and
    the inventory name agree, so the pod's projected token identifies openclaw-bot."""
    docs = rendered["agent/base"][1]
    dep = one(docs, "Deployment", "openclaw")
    spec = dep["spec"]["template"]["spec"]
    subject = f"system:serviceaccount:{dep['metadata']['namespace']}:{spec['serviceAccountName']}"
    (vol,) = [v for v in spec["volumes"] if "projected" in v]
    (src,) = vol["projected"]["sources"]
    sat = src["serviceAccountToken"]
    (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == vol["name"]]
    token_file = f"{mount['mountPath']}/{sat['path']}"

    warden_cfg = yaml.safe_load((K8S / "base/warden.yaml").read_text())
    (issuer,) = warden_cfg["identity"]["trusted_issuers"]
    (agent,) = yaml.safe_load((K8S / "agent/inventory.yaml").read_text())["agents"]
    assert issuer["agents"][subject] == agent["name"]
    assert sat["audience"] in issuer["audiences"]
    assert not issuer.get("claim_is_agent_name") and issuer["claim"] == "sub"

    (cm,) = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].startswith("openclaw-config-")]
    oc = json5_plain(cm["data"]["openclaw.json"])
    plugin = oc["plugins"]["entries"]["warden"]["config"]
    assert plugin["tokenFile"] == token_file
    assert token_file in " ".join(spec["containers"][0]["args"])   # WARDEN_TOKEN read from it at start
    # The URL the agent uses is Warden's Service, on the port its egress policy allows.
    svc = one(rendered["base"][1], "Service", "warden")
    url = f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local:{svc['spec']['ports'][0]['port']}"
    assert plugin["url"] == url and oc["mcp"]["servers"]["warden"]["url"] == url + "/mcp"
    (cfg_mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "config"]
    assert {"name": "OPENCLAW_CONFIG_PATH", "value": cfg_mount["mountPath"] + "/openclaw.json"} in spec["containers"][0]["env"]
