"""Human approval holds with a real MCP client and the real CLI.

The official MCP Python SDK client calls a destructive tool through Warden; the
call is held, the client receives progress notifications while it waits, an
approver (an admin token with the approver role for the agent's team, made by
the CLI) approves it with `warden approvals approve`, and the call completes.
A second call is denied with `warden approvals deny --comment`, and the client
gets an error that names the decision and the reason.
"""

import json
import re
import tempfile
import time
from pathlib import Path

import anyio
import pytest

from test_identity_lifecycle import cli, connect, oauth_token
from test_sdk_client import WARDEN, free_port, serve_warden


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
policy:
  approvals:
    timeout: 2m
    progress_interval: 1s
""")
    admin = cli("admin", "token", "create", "--role", "admin", "--name", "root", "--data-dir", str(data)).stdout.strip().splitlines()[-1]
    approver = cli("admin", "token", "create", "--role", "approver", "--name", "alice", "--teams", "platform",
                   "--data-dir", str(data)).stdout.strip().splitlines()[-1]
    outsider = cli("admin", "token", "create", "--role", "approver", "--name", "mallory", "--teams", "marketing",
                   "--data-dir", str(data)).stdout.strip().splitlines()[-1]
    proc = serve_warden(cfg, port, data)
    base = f"http://127.0.0.1:{port}"
    env = {"WARDEN_SERVER": base, "WARDEN_ADMIN_TOKEN": admin}
    out = cli("agent", "create", "--name", "cleanup-bot", "--owner", "ops@example.com", "--team", "platform",
              "--allow-tool", "delete_file", "--allow-tool", "echo", "--reason", "pytest", env=env).stdout
    secret = re.search(r"client_secret: (\S+)", out).group(1)
    yield {"base": base, "admin": env, "approver": {**env, "WARDEN_ADMIN_TOKEN": approver},
           "outsider": {**env, "WARDEN_ADMIN_TOKEN": outsider}, "token": oauth_token(base, "cleanup-bot", secret)}
    proc.terminate()
    proc.wait(timeout=10)


def pending_id(env):
    for _ in range(200):
        out = cli("approvals", "list", env=env).stdout
        m = re.search(r"^(apr_\w+)\s+pending", out, re.M)
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError("no pending approval appeared")


def test_held_call_is_approved_with_the_cli_and_completes(stack):
    progress = []
    result = {}

    async def on_progress(p, total, message):
        progress.append((p, message))

    async def go():
        async with connect(f"{stack['base']}/mcp", stack["token"]) as s:
            async def call():
                result["r"] = await s.call_tool("delete_file", {"path": "/srv/tmp/old.log"},
                                                progress_callback=on_progress, read_timeout_seconds=60)
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                apr = await anyio.to_thread.run_sync(pending_id, stack["admin"])
                shown = json.loads(cli("approvals", "show", apr, env=stack["admin"]).stdout)
                assert shown["agent"] == "cleanup-bot" and shown["tool"] == "delete_file"
                assert shown["tier"] == "high" and shown["rule"] == "default:write"
                # An approver for another team is refused, and nothing changes.
                r = cli("approvals", "approve", apr, env=stack["outsider"], check=False)
                assert r.returncode != 0 and "403" in r.stderr, r.stderr
                await anyio.sleep(2.5)  # let progress notifications flow
                r = cli("approvals", "approve", apr, "--comment", "log rotation", env=stack["approver"])
                assert f"approved {apr}" in r.stdout
    anyio.run(go)
    r = result["r"]
    assert not r.is_error, r
    assert "/srv/tmp/old.log" in r.content[0].text
    assert len(progress) >= 2, progress
    assert all("waiting for human approval" in m for _, m in progress)
    done = json.loads(cli("approvals", "list", "--status", "approved", "--json", env=stack["admin"]).stdout)
    assert done[0]["decided_by"] == "admin-token:alice" and done[0]["comment"] == "log rotation"


def test_denied_call_returns_the_decision_and_reason(stack):
    caught = {}

    async def go():
        async with connect(f"{stack['base']}/mcp", stack["token"]) as s:
            async def call():
                try:
                    await s.call_tool("delete_file", {"path": "/srv/db/prod.sqlite"}, read_timeout_seconds=60)
                except Exception as e:  # the SDK raises McpError for a JSON-RPC error
                    caught["e"] = e
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                apr = await anyio.to_thread.run_sync(pending_id, stack["admin"])
                r = cli("approvals", "deny", apr, env=stack["approver"], check=False)
                assert r.returncode != 0, "deny needs --comment"
                cli("approvals", "deny", apr, "--comment", "that is the production database", env=stack["approver"])
    anyio.run(go)
    msg = str(caught["e"])
    assert "denied by admin-token:alice" in msg and "production database" in msg, msg
