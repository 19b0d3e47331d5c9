"""Traces of governed MCP calls and model calls, exported over OTLP/HTTP to a
real MLflow tracking server and read back through MLflow's REST API.

MLflow (`pip install mlflow`) runs with a SQLite backend store and accepts
OTLP/HTTP protobuf at `/v1/traces` with the `x-mlflow-experiment-id` header.
The official MCP Python SDK client calls through Warden with a W3C
`traceparent`; the test then finds that very trace in MLflow, with the span
tree (entry → policy decision → upstream call) and the GenAI, MCP and
`warden.*` attributes, and a denied call's trace with its verdict and rule.
A chat completion through Warden's `/v1` (in front of the `warden demo-llm`
stub, whose answer proposes an `exec` the policy denies) is traced too: the
`chat <model>` entry span with the GenAI model and token attributes, and the
guardrail scan, policy decision and upstream call under it.
"""

import base64
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from test_sdk_client import WARDEN, free_port, serve_warden, wait_port

TOKEN = "mlflow-bot-token-0123456789"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
LLM_TRACE_ID = "5c0a2e4f6b8d4a1c9e7f3b2d1a0c8e6f"
PARENT = "00f067aa0ba902b7"
MLFLOW = str(Path(sys.executable).with_name("mlflow"))


@pytest.fixture(scope="module")
def stack():
    tmp = Path(tempfile.mkdtemp())
    mport, wport, lport = free_port(), free_port(), free_port()
    mlflow = subprocess.Popen(
        [MLFLOW, "server", "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db", "--host", "127.0.0.1",
         "--port", str(mport), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stub = subprocess.Popen([WARDEN, "demo-llm", "--listen", f"127.0.0.1:{lport}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [mlflow, stub]
    try:
        wait_port(lport)
        wait_port(mport, timeout=120)
        base = f"http://127.0.0.1:{mport}"
        exp = None
        for _ in range(60):
            try:
                r = httpx2.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "warden"}, timeout=10)
                if r.status_code == 200:
                    exp = r.json()["experiment_id"]
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(1)
        assert exp, "MLflow did not come up"
        cfg = tmp / "warden.yaml"
        cfg.write_text(f"""
upstreams:
  - name: demo
    transport: stdio
    command: {WARDEN}
    args: [demo-upstream]
models:
  - name: stub
    base_url: http://127.0.0.1:{lport}/v1
    models: {{demo-small: stub-small}}
agents:
  - name: traced-bot
    token_sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}
    allow_tools: ["*"]
    allow_models: ["*"]
policy:
  rules:
    - name: no-deletes
      match: {{tools: [delete_file]}}
      tier: high
      action: deny
    - name: no-exec
      match: {{tools: [exec]}}
      tier: critical
      action: deny
telemetry:
  otlp:
    endpoint: {base}/v1/traces
    headers: {{x-mlflow-experiment-id: "{exp}"}}
    service_name: warden-under-test
""")
        procs.append(serve_warden(cfg, wport, tmp / "data"))
        yield {"mlflow": base, "experiment": exp, "mcp": f"http://127.0.0.1:{wport}/mcp",
               "base": f"http://127.0.0.1:{wport}", "stub": f"127.0.0.1:{lport}"}
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


async def calls(url):
    headers = {"Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                ok = await session.call_tool("echo", {"text": "traced"})
                try:
                    await session.call_tool("delete_file", {"path": "/tmp/x"})
                    denied = None
                except MCPError as e:
                    denied = e
                return ok, denied


def b64_hex(v):
    return base64.b64decode(v).hex()


def attrs(span):
    out = {}
    for a in span.get("attributes", []):
        v = a["value"]
        out[a["key"]] = v.get("string_value", v.get("int_value", v.get("bool_value")))
    return out


def get_trace(stack, trace_id):
    r = httpx2.get(f"{stack['mlflow']}/api/3.0/mlflow/traces/get",
                   params={"trace_id": trace_id, "allow_partial": "true"}, timeout=10)
    return r.json().get("trace") if r.status_code == 200 else None


def test_mcp_calls_are_traced_into_mlflow(stack):
    ok, denied = anyio.run(calls, stack["mcp"])
    assert ok.content[0].text == "traced"
    assert denied is not None and "Denied by policy" in str(denied)

    # The agent's traceparent is honoured: the trace keeps the agent's trace id.
    trace = None
    deadline = time.time() + 30
    while time.time() < deadline:
        trace = get_trace(stack, f"tr-{TRACE_ID}")
        names = {s["name"] for s in (trace or {}).get("spans", [])}
        if {"tools/call echo", "tools/call delete_file", "upstream demo"} <= names:
            break
        time.sleep(0.5)
    assert trace, "the trace never reached MLflow"
    spans = trace["spans"]
    by_name = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    assert {"tools/call echo", "tools/call delete_file", "policy decision", "upstream demo"} <= set(by_name), by_name.keys()

    echo = by_name["tools/call echo"][0]
    assert b64_hex(echo["trace_id"]) == TRACE_ID
    assert b64_hex(echo["parent_span_id"]) == PARENT, "the entry span is a child of the agent's span"
    a = attrs(echo)
    assert a["mcp.method.name"] == "tools/call"
    assert a["gen_ai.operation.name"] == "execute_tool"
    assert a["gen_ai.tool.name"] == "echo"
    assert a["warden.agent"] == "traced-bot"
    assert a["warden.verdict"] == "allow"
    assert a["warden.risk_tier"] == "low"
    assert a["warden.rule"].startswith("default:")
    assert len(a["mcp.session.id"]) >= 16
    assert echo["status"]["code"] == "STATUS_CODE_OK"
    # The tree: policy decision and upstream call under the entry span.
    echo_id = echo["span_id"]
    children = [s for s in spans if s.get("parent_span_id") == echo_id]
    assert {s["name"] for s in children} == {"policy decision", "upstream demo"}, [s["name"] for s in children]
    up = next(s for s in children if s["name"] == "upstream demo")
    assert attrs(up)["warden.upstream_status"] == "ok"
    assert int(up["start_time_unix_nano"]) >= int(echo["start_time_unix_nano"])

    deny = by_name["tools/call delete_file"][0]
    d = attrs(deny)
    assert (d["warden.verdict"], d["warden.rule"], d["warden.risk_tier"]) == ("deny", "no-deletes", "high")
    assert deny["status"]["code"] == "STATUS_CODE_ERROR"
    assert not [s for s in spans if s.get("parent_span_id") == deny["span_id"] and s["name"].startswith("upstream")], \
        "a denied call never reaches the upstream"

    # The same trace id is in the audit record (one id across audit and traces).
    m = httpx2.get(f"{stack['base']}/metrics", timeout=10).text
    exported = [l for l in m.splitlines() if l.startswith("warden_otlp_spans_exported_total")]
    assert exported and float(exported[0].split()[-1]) >= 5, exported


def wait_trace(stack, trace_id, want):
    trace, deadline = None, time.time() + 30
    while time.time() < deadline:
        trace = get_trace(stack, trace_id)
        if want <= {s["name"] for s in (trace or {}).get("spans", [])}:
            break
        time.sleep(0.5)
    return trace


def test_a_model_call_is_traced_into_mlflow(stack):
    script = '[[tool:exec {"command": "rm -rf ~/.ssh"}]]'
    r = httpx2.post(f"{stack['base']}/v1/chat/completions", timeout=30, headers={
        "Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{LLM_TRACE_ID}-{PARENT}-01"},
        json={"model": "demo-small", "messages": [
            {"role": "system", "content": f"You are a helpful bot. {script}"},
            {"role": "user", "content": "Please tidy up my home directory."}]})
    assert r.status_code == 200, r.text
    msg = r.json()["choices"][0]["message"]
    assert not msg.get("tool_calls"), "the denied exec was removed"
    assert "exec" in msg["content"] and "no-exec" in msg["content"], msg

    trace = wait_trace(stack, f"tr-{LLM_TRACE_ID}", {"chat demo-small", "guardrail scan", "policy decision", "upstream stub"})
    assert trace, "the model call's trace never reached MLflow"
    spans = trace["spans"]
    names = [s["name"] for s in spans]
    assert names.count("chat demo-small") == 1, names
    entry = next(s for s in spans if s["name"] == "chat demo-small")
    assert b64_hex(entry["parent_span_id"]) == PARENT, "a child of the agent's span"
    a = attrs(entry)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "demo-small"
    assert int(a["gen_ai.usage.input_tokens"]) > 0 and int(a["gen_ai.usage.output_tokens"]) > 0, a
    assert a["warden.agent"] == "traced-bot"
    assert a["warden.entry"] == "llm"
    assert "mcp.method.name" not in a, "not an MCP request"
    children = {s["name"]: s for s in spans if s.get("parent_span_id") == entry["span_id"]}
    assert {"guardrail scan", "policy decision", "upstream stub"} <= set(children), list(children)
    d = attrs(children["policy decision"])
    assert (d["gen_ai.tool.name"], d["warden.verdict"], d["warden.rule"], d["warden.risk_tier"]) == \
        ("exec", "deny", "no-exec", "critical"), d
    assert attrs(children["upstream stub"])["warden.upstream_status"] == "ok"

    # The stub received the trace context: the upstream span's id as parent.
    seen = httpx2.get(f"http://{stack['stub']}/stub/requests", timeout=10).json()
    tp = seen[-1]["traceparent"]
    assert tp == f"00-{LLM_TRACE_ID}-{b64_hex(children['upstream stub']['span_id'])}-01", tp


def test_traces_search_finds_warden_traces_by_experiment(stack):
    r = httpx2.get(f"{stack['mlflow']}/api/2.0/mlflow/traces", params={"experiment_ids": stack["experiment"]}, timeout=10)
    assert r.status_code == 200, r.text
    traces = r.json().get("traces", [])
    assert any(t["request_id"] == f"tr-{TRACE_ID}" for t in traces), traces
    tags = {t["key"]: t["value"] for tr in traces for t in tr.get("tags", [])}
    assert tags.get("service.name") == "warden-under-test"
