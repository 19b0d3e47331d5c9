"""The official MCP Python SDK as a client of Warden.

Warden fronts two upstreams: the demo server (stdio, a Rust child process) and the
conformance fixture (Streamable HTTP, built on the Python SDK). The SDK client sees
one endpoint, prefixed names, and gets sampling/elicitation requests relayed from
the fixture through Warden.
"""

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
WARDEN = os.environ.get("WARDEN_BIN", str(ROOT / "target/debug/warden"))
TOKEN = "py-sdk-token-0123456789"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def serve_warden(cfg, port, data):
    """`warden serve` on loopback with this config and data dir, once its port answers."""
    proc = subprocess.Popen([WARDEN, "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "WARDEN_LOG": "warn"})
    wait_port(port)
    return proc


@pytest.fixture(scope="module")
def gateway():
    procs = []
    tmp = tempfile.mkdtemp()
    fport, gport = free_port(), free_port()
    procs.append(subprocess.Popen([sys.executable, str(ROOT / "tests/conformance/fixture_server.py"), str(fport)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    wait_port(fport)
    cfg = Path(tmp) / "warden.yaml"
    cfg.write_text(f"""
upstreams:
  - name: demo
    transport: stdio
    command: {WARDEN}
    args: [demo-upstream]
  - name: fx
    transport: streamable-http
    url: http://127.0.0.1:{fport}/mcp
agents:
  - name: py-bot
    token_sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}
    allow_tools: ["*"]
    deny_tools: ["demo__delete_file"]
    allow_resources: ["*"]
    allow_prompts: ["fx__*"]
policy:
  rules:
    # The fixture's tools carry no annotations, which the default policy would hold for approval.
    - name: fixture-tools
      match: {{tools: ["fx__*"]}}
      tier: low
      action: allow
""")
    procs.append(serve_warden(cfg, gport, Path(tmp) / "data"))
    yield f"http://127.0.0.1:{gport}/mcp"
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


@asynccontextmanager
async def connect(url, token=TOKEN, **callbacks):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write, **callbacks) as session:
                await session.initialize()
                yield session


def run(coro):
    return anyio.run(coro)


def test_lists_are_merged_prefixed_and_filtered(gateway):
    async def go():
        async with connect(gateway) as s:
            names = {t.name for t in (await s.list_tools()).tools}
            assert {"demo__echo", "demo__add", "fx__test_simple_text", "fx__test_sampling"} <= names
            assert "demo__delete_file" not in names
            prompts = {p.name for p in (await s.list_prompts()).prompts}
            assert "fx__test_simple_prompt" in prompts and "demo__greet" not in prompts
    run(go)


def test_calls_route_to_the_right_upstream(gateway):
    async def go():
        async with connect(gateway) as s:
            r = await s.call_tool("demo__add", {"a": 2, "b": 40})
            assert r.structured_content == {"sum": 42.0}
            r = await s.call_tool("fx__test_simple_text", {})
            assert r.content[0].text == "This is a simple text response for testing."
            r = await s.call_tool("fx__test_error_handling", {})
            assert r.is_error
            res = await s.read_resource("test://static-text")
            assert res.contents[0].text == "This is the content of the static text resource."
    run(go)


def test_hidden_tool_is_refused_like_a_missing_one(gateway):
    async def go():
        async with connect(gateway) as s:
            errors = []
            for name in ("demo__delete_file", "demo__nope"):
                try:
                    r = await s.call_tool(name, {"path": "/etc/passwd"})
                    errors.append(("result", r.is_error))
                except Exception as e:  # the SDK raises on a JSON-RPC error
                    errors.append(("error", str(e).replace(name, "NAME")))
            assert errors[0] == errors[1], errors
            assert errors[0][0] == "error"
    run(go)


def test_sampling_and_elicitation_are_relayed_to_the_caller(gateway):
    seen = []

    async def sampling(ctx, params):
        seen.append(("sampling", params.messages[0].content.text))
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="pong"), model="stub")

    async def elicitation(ctx, params):
        seen.append(("elicitation", params.message))
        return types.ElicitResult(action="accept", content={"response": "yes"})

    async def go():
        async with connect(gateway, sampling_callback=sampling, elicitation_callback=elicitation) as s:
            r = await s.call_tool("fx__test_sampling", {"prompt": "ping?"})
            assert r.content[0].text == "LLM response: pong"
            r = await s.call_tool("fx__test_elicitation", {"message": "ok?"})
            assert "action=accept" in r.content[0].text and '"yes"' in r.content[0].text
    run(go)
    assert ("sampling", "ping?") in seen and ("elicitation", "ok?") in seen


def test_wrong_token_is_refused(gateway):
    r = httpx2.post(gateway, headers={"Authorization": "Bearer wrong", "Accept": "application/json, text/event-stream"},
                    json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]

    async def go():
        with pytest.raises(BaseException):
            async with connect(gateway, token="wrong"):
                pass
    run(go)
