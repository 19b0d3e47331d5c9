"""A real OpenClaw (npm openclaw@2026.9.6, headless `openclaw agent --local`)
in front of Warden, offline, on 127.0.0.1.

The model is Warden's scripted stub (`warden demo-llm`, directives such as
`[[tool:NAME {json}]]` in the last user text); OpenClaw's model provider points
at Warden's /v1, its one MCP server at Warden's /mcp (the demo upstream over
stdio behind it), and the plugin in integrations/openclaw asks Warden's
decision API before built-in tools run. Every scenario asserts on what
happened: files on disk, the stub's request log (what the model was sent),
approvals and audit records from Warden's CLI. Never on log text.

Turns are slow (tens of seconds of CPU each), so the independent scenarios run
concurrently in one fixture, and the tests then check their results.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WARDEN = os.environ.get("WARDEN_BIN", str(ROOT / "target/debug/warden"))
OPENCLAW = ROOT / ".tools/openclaw/openclaw"
PLUGIN = ROOT / "integrations/openclaw"
# A GitHub-token-shaped value the demo upstream hands out in a tool result.
PLANTED = "ghp_" + "Zq3xT9vLw2Rk8YbNc5Hm1Ps7Ud4Fa6Je0Gi2"
TURN_TIMEOUT = 420
PARALLEL = int(os.environ.get("OPENCLAW_E2E_PARALLEL", "4"))

pytestmark = pytest.mark.skipif(not OPENCLAW.exists(), reason="OpenClaw not installed (scripts/install-openclaw.sh)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def http(method, url, body=None, token=None, headers=None):
    """(status, parsed JSON or text) for one request."""
    h = {"content-type": "application/json", **(headers or {})}
    if token:
        h["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def cli(*args, env=None, check=True):
    r = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    if check and r.returncode != 0:
        raise AssertionError(f"warden {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


class Procs:
    """Processes this module started; each bounded by `timeout`, all stopped at the end."""

    def __init__(self):
        self.procs = []

    def start(self, args, log, env=None, limit=1800):
        p = subprocess.Popen(["timeout", "-k", "5", str(limit), *args], stdout=log, stderr=subprocess.STDOUT,
                             env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                self.stop(p)
            except ProcessLookupError:
                pass


def warden_yaml(tmp, llm_port, agents):
    entries = "".join(f"""
  - name: {name}
    token_sha256: {hash_token(token)}
    allow_tools: ["*"]
    allow_resources: ["*"]
    allow_prompts: ["*"]
    allow_models: ["*"]""" for name, token in agents.items())
    return f"""
upstreams:
  - name: demo
    transport: stdio
    command: {WARDEN}
    args: [demo-upstream]
    env: {{DEMO_API_KEY: "{PLANTED}"}}
models:
  - name: stub
    base_url: http://127.0.0.1:{llm_port}/v1
    models: {{stub-small: stub-small}}
agents:{entries}
guardrails:
  secrets: {{input: redact, output: redact}}
  proposed_call_wait_secs: 120
policy:
  approvals: {{timeout: 5m, progress_interval: 1s}}
  rules:
    - name: no-recursive-delete
      match: {{tools: ["exec"], shell: [destructive]}}
      tier: critical
      action: deny
      reason: recursive deletes are never allowed
    - name: held-commands
      match:
        tools: ["exec"]
        args: [{{pointer: /command, regex: "held-"}}]
      tier: high
      action: require_approval
      reason: a human approves this command
    - name: plain-exec
      match: {{tools: ["exec"]}}
      tier: medium
      action: allow
"""


def hash_token(token):
    r = subprocess.run([WARDEN, "token", "hash"], input=token, capture_output=True, text=True, timeout=30, check=True)
    return r.stdout.strip()


def generated_config(st, agent):
    """`warden openclaw config --merge` into a file holding what the test needs
    of its own (the real generator, so a real OpenClaw proves its output)."""
    path = st.tmp / f"openclaw-{agent}.json"
    path.write_text(json.dumps({
        # process and sessions_spawn add an "internal context" user message after
        # the prompt, which would hide the stub's directives.
        "tools": {"deny": ["process", "sessions_spawn"]},
        "update": {"checkOnStart": False},
    }))
    cli("openclaw", "config", "--agent", agent, "--config", str(st.cfg), "--data-dir", str(st.data),
        "--server", st.base, "--plugin-path", str(PLUGIN), "--merge", str(path))
    cfg = json.loads(path.read_text())
    assert cfg["mcp"]["servers"]["warden"]["url"] == f"{st.base}/mcp", cfg
    assert cfg["plugins"]["entries"]["warden"]["config"]["mcpServers"] == ["warden"], cfg
    assert "process" in cfg["tools"]["deny"] and cfg["tools"]["toolSearch"] is False, cfg
    return cfg


def openclaw_config(path, template, workspace, model_base, plugin_url, mcp_url):
    cfg = json.loads(json.dumps(template))
    cfg["agents"]["defaults"]["workspace"] = str(workspace)
    cfg["models"]["providers"]["warden"]["baseUrl"] = model_base
    cfg["mcp"]["servers"]["warden"]["url"] = mcp_url
    cfg["plugins"]["entries"]["warden"]["config"]["url"] = plugin_url
    Path(path).write_text(json.dumps(cfg, indent=1))


class Stack:
    pass


def turn(st, name, message, token, model_base=None, plugin_url=None, mcp_url=None, agent="claw-bot"):
    """One headless OpenClaw turn in its own state dir; returns its record."""
    d = st.tmp / f"oc-{name}"
    (d / "state").mkdir(parents=True, exist_ok=True)
    (d / "ws").mkdir(exist_ok=True)
    openclaw_config(d / "openclaw.json", st.templates[agent], d / "ws", model_base or f"{st.base}/v1",
                    plugin_url or st.base, mcp_url or f"{st.base}/mcp")
    env = {**os.environ, "OPENCLAW_STATE_DIR": str(d / "state"), "OPENCLAW_CONFIG_PATH": str(d / "openclaw.json"),
           "OPENCLAW_OFFLINE": "1", "OPENCLAW_NO_AUTO_UPDATE": "1", "OPENCLAW_DISABLE_BONJOUR": "1",
           "OPENCLAW_SKIP_CHANNELS": "1", "HOME": str(d), "WARDEN_TOKEN": token}
    t0 = time.time()
    with open(d / "openclaw.log", "w") as log:
        try:
            r = subprocess.run([str(OPENCLAW), "agent", "--local", "--agent", "main", "--session-id", f"e2e-{name}",
                                "--message", message, "--json", "--timeout", str(TURN_TIMEOUT - 20)],
                               stdout=subprocess.PIPE, stderr=log, text=True, timeout=TURN_TIMEOUT, env=env,
                               start_new_session=True)
            rc, out = r.returncode, r.stdout
        except subprocess.TimeoutExpired as e:
            rc, out = "timeout", e.stdout or ""
    try:
        result = json.loads(out)
    except ValueError:
        result = None
    return {"name": name, "rc": rc, "result": result, "secs": round(time.time() - t0, 1), "dir": d}


def stub_requests(st):
    status, body = http("GET", f"{st.llm}/stub/requests")
    assert status == 200
    return body


def content_text(c):
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


def requests_for(st, tag):
    """The stub requests of the turn whose prompt carries `tag`."""
    out = []
    for r in st.requests if hasattr(st, "requests") else stub_requests(st):
        msgs = (r.get("body") or {}).get("messages") or []
        if any(m.get("role") == "user" and tag in content_text(m.get("content")) for m in msgs):
            out.append(r)
    return out


def tool_messages(reqs):
    return [content_text(m.get("content")) for r in reqs for m in (r.get("body") or {}).get("messages") or []
            if m.get("role") == "tool"]


def audit(st):
    out = cli("audit", "query", "--data-dir", str(st.data), "--json", "--limit", "5000").stdout
    return json.loads(out)


def approver(st, stop, decided):
    """A human at the CLI: approves held `held-approve` commands, denies `held-deny` ones."""
    env = st.admin_env
    while not stop.is_set():
        r = cli("approvals", "list", "--json", env=env, check=False)
        try:
            pending = json.loads(r.stdout) if r.returncode == 0 else []
        except ValueError:
            pending = []
        for a in pending:
            cmd = json.dumps(a.get("arguments"))
            if a["id"] in decided:
                continue
            if "held-approve" in cmd:
                cli("approvals", "approve", a["id"], "--comment", "e2e: fine", env=env)
                decided[a["id"]] = ("approved", a["entry"], a["tool"])
            elif "held-deny" in cmd:
                cli("approvals", "deny", a["id"], "--comment", "e2e: not this one", env=env)
                decided[a["id"]] = ("denied", a["entry"], a["tool"])
        stop.wait(1)


@pytest.fixture(scope="module")
def st():
    s = Stack()
    s.tmp = Path(tempfile.mkdtemp(prefix="warden-openclaw-"))
    s.data = s.tmp / "data"
    s.procs = Procs()
    s.token = "wdn_e2e_" + os.urandom(16).hex()
    s.sus_token = "wdn_e2e_sus_" + os.urandom(16).hex()
    llm_port, port = free_port(), free_port()
    s.llm = f"http://127.0.0.1:{llm_port}"
    s.base = f"http://127.0.0.1:{port}"
    logs = open(s.tmp / "servers.log", "w")
    try:
        yield from _run(s, logs, llm_port, port)
    finally:
        s.procs.stop_all()
        logs.close()
        if os.environ.get("OPENCLAW_E2E_KEEP") != "1":
            shutil.rmtree(s.tmp, ignore_errors=True)


def _run(s, logs, llm_port, port):
    s.procs.start([WARDEN, "demo-llm", "--listen", f"127.0.0.1:{llm_port}"], logs)
    cfg = s.cfg = s.tmp / "warden.yaml"
    cfg.write_text(warden_yaml(s.tmp, llm_port, {"claw-bot": s.token, "sus-bot": s.sus_token}))
    admin = cli("admin", "token", "create", "--role", "admin", "--name", "e2e", "--data-dir", str(s.data)).stdout.strip().splitlines()[-1]
    s.admin_env = {"WARDEN_SERVER": s.base, "WARDEN_ADMIN_TOKEN": admin}
    serve = [WARDEN, "serve", "--config", str(cfg), "--data-dir", str(s.data), "--allow-plaintext-secrets"]
    s.procs.start([*serve, "--listen", f"127.0.0.1:{port}"], logs, env={"WARDEN_LOG": "info"})
    wait_http(f"{s.base}/healthz")
    wait_http(f"{s.llm}/v1/models")
    for name in ("claw-bot", "sus-bot"):
        spec = s.tmp / f"{name}.json"
        spec.write_text(json.dumps({"name": name, "owner": "ops@example.com", "team": "platform", "purpose": "OpenClaw e2e",
                                    "allow_tools": ["*"], "allow_models": ["*"], "allow_resources": ["*"], "allow_prompts": ["*"]}))
        cli("agent", "create", "-f", str(spec), "--reason", "openclaw e2e", env=s.admin_env)
    s.templates = {name: generated_config(s, name) for name in ("claw-bot", "sus-bot")}
    # A second Warden, started and then stopped, for the fail-closed scenario.
    dead_port = free_port()
    dead = s.procs.start([*serve, "--listen", f"127.0.0.1:{dead_port}"], logs)
    wait_http(f"http://127.0.0.1:{dead_port}/healthz")
    s.procs.stop(dead)
    s.dead = f"http://127.0.0.1:{dead_port}"

    w = s.tmp / "work"
    w.mkdir()
    (w / "s2-target").mkdir()
    (w / "s2-target" / "keep.txt").write_text("precious")
    (w / "s6-target").mkdir()
    (w / "s6-target" / "keep.txt").write_text("precious")
    s.work = w
    s.marker = "ping-" + os.urandom(4).hex()

    def exec_msg(tag, command):
        return f"{tag} [[tool:exec {json.dumps({'command': command})}]]"

    def suspended_flow():
        out = {"before": turn(s, "s5a", "s5a hello there", s.sus_token, agent="sus-bot")}
        cli("agent", "suspend", "sus-bot", "--reason", "openclaw e2e", env=s.admin_env)
        out["mcp_status"] = http("POST", f"{s.base}/mcp", token=s.sus_token, headers={"accept": "application/json, text/event-stream"},
                                 body={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                                     "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}})[0]
        out["llm_status"] = http("POST", f"{s.base}/v1/chat/completions", token=s.sus_token,
                                 body={"model": "stub-small", "messages": [{"role": "user", "content": "hi"}]})[0]
        out["after"] = turn(s, "s5b", exec_msg("s5b", f"touch {w}/s5b.txt"), s.sus_token, agent="sus-bot")
        # The same agent's plugin, with the model taken direct to the stub so
        # that a call is proposed at all: the plugin must block it.
        out["plugin"] = turn(s, "s5c", exec_msg("s5c", f"touch {w}/s5c.txt"), s.sus_token, model_base=f"{s.llm}/v1",
                             agent="sus-bot")
        return out

    jobs = {
        "s1": lambda: turn(s, "s1", f"s1 [[tool:warden__echo {json.dumps({'text': s.marker})}]]", s.token),
        "s2": lambda: turn(s, "s2", exec_msg("s2", f"rm -rf {w}/s2-target"), s.token),
        "s3a": lambda: turn(s, "s3a", exec_msg("s3a", f"touch {w}/held-approve.txt"), s.token),
        "s3b": lambda: turn(s, "s3b", exec_msg("s3b", f"touch {w}/held-deny.txt"), s.token),
        "s4": lambda: turn(s, "s4", "s4 [[tool:warden__show_env {\"name\": \"DEMO_API_KEY\", \"to\": \"result\"}]]", s.token),
        "s5": suspended_flow,
        # Warden is down: the model goes direct to the stub, the plugin to the stopped Warden.
        "s6": lambda: turn(s, "s6", exec_msg("s6", f"rm -rf {w}/s6-target"), s.token, model_base=f"{s.llm}/v1",
                           plugin_url=s.dead, mcp_url=f"{s.dead}/mcp"),
    }
    stop = threading.Event()
    s.decided = {}
    appr = threading.Thread(target=approver, args=(s, stop, s.decided), daemon=True)
    appr.start()
    t0 = time.time()
    try:
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            futures = {k: pool.submit(f) for k, f in jobs.items()}
            s.runs = {k: f.result() for k, f in futures.items()}
        s.wall = time.time() - t0
        stop.set()
        appr.join(timeout=30)
        s.audit = audit(s)
        s.requests = stub_requests(s)
        (s.tmp / "stub-requests.json").write_text(json.dumps(s.requests))
        (s.tmp / "audit.json").write_text(json.dumps(s.audit))
        (s.tmp / "decided.json").write_text(json.dumps(s.decided))
        (s.tmp / "summary.json").write_text(json.dumps(summary(s.runs), indent=1, default=str))
        yield s
    finally:
        stop.set()


def summary(v):
    """What each turn ended with (for a human reading a kept run)."""
    if isinstance(v, dict) and "result" in v:
        res = v["result"] or {}
        meta = res.get("meta") or {}
        return {"rc": v["rc"], "secs": v["secs"], "reply": meta.get("finalAssistantVisibleText"),
                "tools": meta.get("toolSummary")}
    if isinstance(v, dict):
        return {k: summary(x) for k, x in v.items()}
    return v


def records(st, **match):
    return [r for r in st.audit if all(r.get(k) == v for k, v in match.items())]


def test_s1_read_only_mcp_tool_runs_and_its_result_reaches_the_model(st):
    run = st.runs["s1"]
    reqs = requests_for(st, "s1 [[tool:warden__echo")
    assert reqs, f"the model never received the s1 turn ({run['rc']})"
    tools = [t for t in tool_messages(reqs)]
    assert any(st.marker in t for t in tools), f"no tool result carrying {st.marker} reached the model: {tools}"
    calls = [r for r in st.audit if r.get("method") == "tools/call" and r.get("tool") == "echo"
             and st.marker in json.dumps(r.get("args"))]
    assert len(calls) == 1 and calls[0]["verdict"] == "allow", calls
    # At /v1 the proposal was recognised as Warden's `echo` and left to /mcp (no hold),
    # and the /mcp record carries the proposal's call id: one story.
    proposed = [r for r in st.audit if r.get("entry") == "llm" and r.get("kind") == "decision"
                and st.marker in json.dumps(r.get("args"))]
    assert [(r["tool"], r["verdict"]) for r in proposed] == [("echo", "deferred")], proposed
    assert proposed[0].get("call_id") and calls[0].get("call_id") == proposed[0]["call_id"], (proposed, calls)
    assert not [a for a in st.decided.values() if "echo" in a[2]], "the read-only MCP tool was held"
    # The plugin did not ask /decide about a tool Warden already decides at /mcp.
    assert not [r for r in st.audit if r.get("entry") == "decide" and "echo" in (r.get("tool") or "")]


def test_s2_destructive_exec_is_blocked_and_the_directory_survives(st):
    assert (st.work / "s2-target" / "keep.txt").read_text() == "precious"
    denies = [r for r in st.audit if r.get("tool") == "exec" and r.get("verdict") == "deny"
              and "s2-target" in json.dumps(r.get("args"))]
    assert denies, "no recorded deny for the rm -rf"
    assert {r["rule"] for r in denies} == {"no-recursive-delete"}, denies
    assert requests_for(st, "s2 [[tool:exec"), "the model never received the s2 turn"


def test_s3_held_exec_runs_after_approval_and_not_after_denial(st):
    approved = {k: v for k, v in st.decided.items() if v[0] == "approved"}
    denied = {k: v for k, v in st.decided.items() if v[0] == "denied"}
    assert approved, "no approval was ever pending for the held command"
    assert denied, "no approval was ever pending for the command to deny"
    assert not (st.work / "held-deny.txt").exists(), "the denied command ran"
    assert (st.work / "held-approve.txt").exists(), (
        f"the approved command did not run; approvals decided: {st.decided}; "
        f"tool results the model saw: {tool_messages(requests_for(st, 's3a [[tool:exec'))}")
    # One action, one hold: the approval given at /v1 answered the plugin's ask.
    assert len(approved) == 1 and len(denied) == 1, st.decided
    [(apr, (_, entry, _))] = approved.items()
    held = [r for r in st.audit if "held-approve" in json.dumps(r.get("args")) and r.get("call_id")]
    call_ids = {r["call_id"] for r in held}
    assert len(call_ids) == 1, held
    story = [(r["entry"], r["kind"], r["verdict"]) for r in held]
    first = "llm" if entry == "llm" else "decide"
    assert story[0] == (first, "decision", "approval_required"), story
    asked = [r for r in held if r["entry"] == "decide" and r["kind"] == "decision" and r["verdict"] == "allow"]
    assert asked and all(r["approval"] == apr for r in asked), held
    # The plugin reported how the command ended, linked to the same call.
    outcomes = [r for r in st.audit if r.get("kind") == "outcome" and r.get("call_id") in call_ids]
    assert [(o["tool"], o["upstream_status"], o["verdict"], o["approval"]) for o in outcomes] == [("exec", "ok", "allow", apr)], outcomes


def test_s4_secret_in_an_mcp_result_never_reaches_the_model(st):
    everything = json.dumps(st.requests)
    assert PLANTED not in everything, "the planted secret reached the model"
    tools = tool_messages(requests_for(st, "s4 [[tool:warden__show_env"))
    assert any("REDACTED" in t for t in tools), f"the tool result never reached the model (redacted): {tools}"


def test_s5_suspended_agent_is_refused_everywhere(st):
    s5 = st.runs["s5"]
    assert requests_for(st, "s5a hello there"), "the agent's turn before the suspension never reached the model"
    assert s5["mcp_status"] == 401 and s5["llm_status"] == 401, s5
    assert not requests_for(st, "s5b [[tool:exec"), "a model call of the suspended agent reached the model"
    assert not (st.work / "s5b.txt").exists()
    assert not (st.work / "s5c.txt").exists(), "the plugin let a suspended agent's exec run"
    tools = tool_messages(requests_for(st, "s5c [[tool:exec"))
    assert any("Warden plugin blocked exec (fail closed): Warden answered HTTP 401" in t for t in tools), tools


def test_s6_warden_down_the_plugin_fails_closed(st):
    assert (st.work / "s6-target" / "keep.txt").read_text() == "precious"
    tools = tool_messages(requests_for(st, "s6 [[tool:exec"))
    assert any("Warden plugin blocked exec (fail closed): Warden unreachable" in t and "ECONNREFUSED" in t for t in tools), tools


def test_s7_generated_config_starts_the_openclaw_gateway(st):
    """The long-running form the CLI's next steps name: `openclaw gateway run` starts with the
    config `warden openclaw config` wrote (it refuses without gateway.mode), on loopback, with the
    Warden plugin loaded."""
    d = st.tmp / "oc-gateway"
    (d / "state").mkdir(parents=True, exist_ok=True)
    (d / "ws").mkdir(exist_ok=True)
    assert st.templates["claw-bot"]["gateway"]["mode"] == "local"
    openclaw_config(d / "openclaw.json", st.templates["claw-bot"], d / "ws", f"{st.base}/v1", st.base, f"{st.base}/mcp")
    port = free_port()
    env = {**os.environ, "OPENCLAW_STATE_DIR": str(d / "state"), "OPENCLAW_CONFIG_PATH": str(d / "openclaw.json"),
           "OPENCLAW_OFFLINE": "1", "OPENCLAW_NO_AUTO_UPDATE": "1", "OPENCLAW_DISABLE_BONJOUR": "1",
           "OPENCLAW_SKIP_CHANNELS": "1", "HOME": str(d), "WARDEN_TOKEN": st.token}
    log_path = d / "gateway.log"
    with open(log_path, "w") as log:
        p = subprocess.Popen([str(OPENCLAW), "gateway", "run", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        try:
            deadline = time.time() + 90
            listening = False
            while time.time() < deadline and p.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    listening = True
                    break
                except OSError:
                    time.sleep(0.5)
            text = log_path.read_text()
            assert listening, f"openclaw gateway run did not listen (exit {p.poll()}):\n{text[-3000:]}"
            # 127.0.0.1 only (the config binds loopback): 127.0.0.2 reaches any 0.0.0.0 listener, not this one.
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.2", port), timeout=1).close()
            deadline = time.time() + 30
            while "warden: deciding tool calls at" not in text and time.time() < deadline:
                time.sleep(0.5)
                text = log_path.read_text()
            assert "warden: deciding tool calls at" in text, text[-3000:]
        finally:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
