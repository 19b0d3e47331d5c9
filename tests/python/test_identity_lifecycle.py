"""An agent's whole life through the real CLI and the official MCP Python SDK.

The CLI bootstraps an admin token straight into the store, creates an agent over
the admin API, and later suspends it. The SDK client gets an OAuth access token
from /oauth/token (client_credentials), lists its tools through Warden, and is
refused after the suspension.
"""

import os
import re
import subprocess
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from test_sdk_client import WARDEN, free_port, serve_warden


def cli(*args, env=None, check=True):
    r = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    if check and r.returncode != 0:
        raise AssertionError(f"warden {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def stack():
    tmp = Path(tempfile.mkdtemp())
    data = tmp / "data"
    port = free_port()
    cfg = tmp / "warden.yaml"
    cfg.write_text(f"""
upstreams:
  - name: demo
    transport: stdio
    command: {WARDEN}
    args: [demo-upstream]
""")
    out = cli("admin", "token", "create", "--role", "admin", "--name", "pytest", "--data-dir", str(data)).stdout
    admin = out.strip().splitlines()[-1]
    assert admin.startswith("wat_"), out
    proc = serve_warden(cfg, port, data)
    base = f"http://127.0.0.1:{port}"
    yield {"base": base, "env": {"WARDEN_SERVER": base, "WARDEN_ADMIN_TOKEN": admin}, "tmp": tmp}
    proc.terminate()
    proc.wait(timeout=10)


@asynccontextmanager
async def connect(url, token, statuses=None):
    async def record(response):
        if statuses is not None:
            statuses.append(response.status_code)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30,
                                  event_hooks={"response": [record]}) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                yield session


def oauth_token(base, client_id, secret):
    r = httpx2.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    return body["access_token"]


def test_sdk_client_gets_a_token_lists_tools_and_is_refused_after_suspend(stack):
    env = stack["env"]
    out = cli("agent", "create", "--name", "sdk-bot", "--owner", "alice@example.com", "--team", "platform",
              "--allow-tool", "echo", "--allow-tool", "add", "--reason", "pytest", env=env).stdout
    secret = re.search(r"client_secret: (\S+)", out).group(1)
    token = oauth_token(stack["base"], "sdk-bot", secret)

    async def listed():
        async with connect(f"{stack['base']}/mcp", token) as s:
            return sorted(t.name for t in (await s.list_tools()).tools)
    assert anyio.run(listed) == ["add", "echo"]

    r = cli("agent", "suspend", "sdk-bot", "--reason", "incident 42", env=env)
    assert "sdk-bot: suspended" in r.stdout, r.stdout

    statuses = []

    async def refused():
        try:
            async with connect(f"{stack['base']}/mcp", token, statuses) as s:
                await s.list_tools()
        except BaseException as e:  # the SDK surfaces the refusal as an exception (group)
            return repr(e)
        return None
    err = anyio.run(refused)
    assert err is not None, "suspended agent was still served"
    assert statuses == [401], statuses
    # And no new token either.
    r = httpx2.post(f"{stack['base']}/oauth/token", data={"grant_type": "client_credentials"}, auth=("sdk-bot", secret))
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client", r.text


def test_cli_apply_dry_run_list_report_and_errors(stack):
    env = stack["env"]
    f = stack["tmp"] / "agents.yaml"
    f.write_text("""
agents:
  - name: ops-bot
    owner: ops@example.com
    team: ops
    allow_tools: [echo]
""")
    r = cli("apply", "-f", str(f), "--dry-run", env=env)
    assert "+ agent ops-bot (create)" in r.stdout and "dry run, nothing applied" in r.stdout, r.stdout
    assert "ops-bot" not in cli("agent", "list", env=env).stdout
    r = cli("apply", "-f", str(f), env=env)
    assert "client secret for ops-bot" in r.stdout, r.stdout
    r = cli("apply", "-f", str(f), env=env)
    assert "= agent ops-bot (unchanged)" in r.stdout and "applied: 0 change(s)" in r.stdout, r.stdout
    assert "ops-bot" in cli("agent", "list", "--team", "ops", env=env).stdout
    assert "ops-bot" not in cli("agent", "list", "--overdue", env=env).stdout
    csv = cli("inventory", "report", "--format", "csv", env=env).stdout
    assert csv.startswith("name,status,owner") and '"ops-bot","active","ops@example.com"' in csv, csv
    # A bad file: field-level message, non-zero exit, nothing applied.
    f.write_text("agents:\n  - name: Bad\n    owner: nobody\n")
    r = cli("apply", "-f", str(f), env=env, check=False)
    assert r.returncode != 0 and "agents[0].name" in r.stderr and "agents[0].owner" in r.stderr, r.stderr
    # No admin token: a clear error.
    r = cli("agent", "list", env={"WARDEN_SERVER": env["WARDEN_SERVER"], "WARDEN_ADMIN_TOKEN": ""}, check=False)
    assert r.returncode != 0 and "no admin token" in r.stderr, r.stderr
    # A wrong one: 401 from the server.
    r = cli("agent", "list", env={**env, "WARDEN_ADMIN_TOKEN": "wat_wrong"}, check=False)
    assert r.returncode != 0 and "401" in r.stderr, r.stderr
