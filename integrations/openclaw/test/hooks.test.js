import assert from "node:assert/strict";
import { mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, test } from "node:test";

import plugin, { createWardenHooks, mcpToolPrefix } from "../index.js";
import { closedPort, fakeWarden, hang, json, later, raw } from "./helpers.js";

const TOKEN = "wdn_test_token_0123456789";
const env = { WARDEN_TOKEN: TOKEN };
const event = (toolName, params = { command: "ls" }) => ({ toolName, params, toolCallId: "call_1", runId: "run_1" });
const ctx = {
  agentId: "main",
  sessionKey: "agent:main:main",
  runId: "run_1",
  toolName: "exec",
  requester: { channel: "telegram", senderId: "u42", senderIsOwner: false, accountId: "acct" },
};
const ALLOW = { verdict: "allow", reason: "allowed by rule", rule: "default:read_only", tier: "low" };

let servers = [];
async function warden(script) {
  const s = await fakeWarden(script);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe("before_tool_call", () => {
  test("allow lets the call run and sends the contract body with the bearer token", async () => {
    const w = await warden([json(200, ALLOW)]);
    const h = createWardenHooks({ url: w.url }, { env });
    const out = await h.beforeToolCall(event("exec", { command: "ls -la" }), ctx);
    assert.equal(out, undefined);
    assert.equal(w.requests.length, 1);
    const r = w.requests[0];
    assert.equal(r.method, "POST");
    assert.equal(r.path, "/api/v1/decide");
    assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(r.body, {
      tool: "exec",
      params: { command: "ls -la" },
      tool_call_id: "call_1",
      run_id: "run_1",
      session: "agent:main:main",
      requester: { channel: "telegram", sender_id: "u42", sender_is_owner: false },
      wait_ms: 25000,
    });
  });

  test("deny blocks with Warden's reason and rule", async () => {
    const w = await warden([json(200, { verdict: "deny", reason: "destructive shell command", rule: "no-rm", tier: "critical" })]);
    const h = createWardenHooks({ url: w.url }, { env });
    const out = await h.beforeToolCall(event("exec", { command: "rm -rf /srv" }), ctx);
    assert.deepEqual(out, { block: true, blockReason: "Warden denied exec: destructive shell command (rule no-rm)" });
  });

  test("approval_required then allow: re-polls with the approval id until allowed", async () => {
    const held = { verdict: "approval_required", reason: "needs a human", rule: "r", tier: "high", approval_id: "apr_1" };
    const w = await warden([later(150, json(200, held)), json(200, { ...ALLOW, reason: "approved by a human (approval apr_1)" })]);
    const h = createWardenHooks({ url: w.url, approvalPollMs: 150, approvalTimeoutMs: 5000 }, { env });
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.equal(out, undefined);
    assert.equal(w.requests.length, 2);
    assert.equal(w.requests[0].body.approval_id, undefined);
    assert.equal(w.requests[0].body.wait_ms, 150);
    assert.equal(w.requests[1].body.approval_id, "apr_1");
    assert.equal(w.requests[1].body.tool, "exec");
    assert.deepEqual(w.requests[1].body.params, { command: "ls" });
    assert.ok(w.requests[1].body.wait_ms > 0 && w.requests[1].body.wait_ms <= 150);
  });

  test("approval_required then denied by the human blocks with the human's reason", async () => {
    const held = { verdict: "approval_required", reason: "needs a human", rule: "r", tier: "high", approval_id: "apr_9" };
    const w = await warden([json(200, held), json(200, { verdict: "deny", reason: "denied by admin-token:alice: not today", rule: "r" })]);
    const h = createWardenHooks({ url: w.url, approvalPollMs: 100, approvalTimeoutMs: 5000 }, { env });
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.deepEqual(out, { block: true, blockReason: "Warden denied exec: denied by admin-token:alice: not today (rule r)" });
    assert.equal(w.requests[1].body.approval_id, "apr_9");
  });

  test("approval_required until approvalTimeoutMs is spent blocks naming the approval id", async () => {
    const held = { verdict: "approval_required", reason: "needs a human", rule: "r", tier: "high", approval_id: "apr_exp" };
    // Warden holds each poll for the wait asked (capped), then answers still pending.
    const w = await warden([(res, e) => setTimeout(() => json(200, held)(res), Math.min(e.body.wait_ms, 200))]);
    const h = createWardenHooks({ url: w.url, approvalPollMs: 200, approvalTimeoutMs: 700 }, { env });
    const t0 = Date.now();
    const out = await h.beforeToolCall(event("exec"), ctx);
    const took = Date.now() - t0;
    assert.equal(out.block, true);
    assert.match(out.blockReason, /^Warden approval apr_exp for exec expired undecided after \d+ s/);
    assert.ok(took >= 650 && took < 3000, `took ${took} ms`);
    assert.ok(w.requests.length >= 3, `${w.requests.length} polls`);
    for (const r of w.requests.slice(1)) assert.equal(r.body.approval_id, "apr_exp");
    const total = w.requests.reduce((n, r) => n + r.body.wait_ms, 0);
    assert.ok(total <= 700, `asked to wait ${total} ms in all`);
  });

  test("a Warden that does not long-poll is not hammered: pauses by retry_after_ms", async () => {
    const held = { verdict: "approval_required", reason: "x", rule: "r", tier: "high", approval_id: "apr_2", retry_after_ms: 200 };
    const w = await warden([json(200, held)]);
    const h = createWardenHooks({ url: w.url, approvalPollMs: 1000, approvalTimeoutMs: 650 }, { env });
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.match(out.blockReason, /expired undecided/);
    assert.ok(w.requests.length >= 2 && w.requests.length <= 5, `${w.requests.length} polls`);
  });

  const failures = [
    ["HTTP 500", [json(500, { error: { code: "internal", message: "store down" } })], /^Warden plugin blocked exec \(fail closed\): Warden answered HTTP 500: store down$/],
    ["HTTP 400 (e.g. unknown fields)", [json(400, { error: { code: "bad_request", message: "invalid body: unknown field `tool_call_id`" } })], /Warden answered HTTP 400: invalid body: unknown field `tool_call_id`/],
    ["HTTP 401", [json(401, { error: { code: "unauthorized", message: "bad token" } })], /Warden answered HTTP 401/],
    ["HTML error page", [raw(502, "<html>bad gateway</html>", "text/html")], /Warden answered HTTP 502$/],
    ["malformed JSON", [raw(200, '{"verdict": "allow"')], /^Warden plugin blocked exec \(fail closed\): Warden's answer is not JSON \(HTTP 200\)$/],
    ["JSON without a verdict", [json(200, { allowed: true })], /Warden's answer is malformed \(no verdict\)$/],
    ["a JSON array", [json(200, [{ verdict: "allow" }])], /Warden's answer is malformed \(no verdict\)$/],
    ["unknown verdict", [json(200, { verdict: "maybe" })], /Warden answered an unknown verdict "maybe"$/],
    ["approval_required without an id", [json(200, { verdict: "approval_required" })], /approval_required without approval_id/],
  ];
  for (const [name, script, expected] of failures) {
    test(`fails closed on ${name}`, async () => {
      const w = await warden(script);
      const h = createWardenHooks({ url: w.url }, { env });
      const out = await h.beforeToolCall(event("exec"), ctx);
      assert.equal(out.block, true);
      assert.match(out.blockReason, expected);
      assert.equal(w.requests.length, 1);
    });
  }

  test("fails closed when Warden hangs (timeoutMs)", async () => {
    const w = await warden([hang()]);
    const h = createWardenHooks({ url: w.url, timeoutMs: 200, approvalTimeoutMs: 0 }, { env });
    const t0 = Date.now();
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(out.block, true);
    assert.match(out.blockReason, /^Warden plugin blocked exec \(fail closed\): Warden at http:\/\/127\.0\.0\.1:\d+ timed out \(no answer within 200 ms\)$/);
    assert.equal(w.requests.length, 1);
  });

  test("a long-poll's bound is timeoutMs plus its wait", async () => {
    const w = await warden([later(400, json(200, ALLOW))]);
    const h = createWardenHooks({ url: w.url, timeoutMs: 200, approvalPollMs: 300 }, { env });
    assert.equal(await h.beforeToolCall(event("exec"), ctx), undefined);
  });

  test("fails closed when Warden is unreachable (connection refused)", async () => {
    const port = await closedPort();
    const h = createWardenHooks({ url: `http://127.0.0.1:${port}` }, { env });
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.deepEqual(out, {
      block: true,
      blockReason: `Warden plugin blocked exec (fail closed): Warden unreachable at http://127.0.0.1:${port} (ECONNREFUSED)`,
    });
  });

  test("fails closed with no token, without asking Warden", async () => {
    const w = await warden([json(200, ALLOW)]);
    const h = createWardenHooks({ url: w.url }, { env: {} });
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.deepEqual(out, {
      block: true,
      blockReason: "Warden plugin blocked exec (fail closed): no Warden token: environment variable WARDEN_TOKEN is unset or empty",
    });
    assert.equal(w.requests.length, 0);
  });

  test("fails closed when the tool call is cancelled while held", async () => {
    const w = await warden([hang()]);
    const h = createWardenHooks({ url: w.url }, { env });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const out = await h.beforeToolCall(event("exec"), { ...ctx, abortSignal: ac.signal });
    assert.match(out.blockReason, /cancelled while waiting for Warden/);
  });

  test("tools of Warden's MCP servers are not sent to /decide", async () => {
    const w = await warden([json(200, { verdict: "deny", reason: "should not be asked" })]);
    const h = createWardenHooks({ url: w.url, mcpServers: ["warden", "Corp Gateway"] }, { env });
    assert.equal(await h.beforeToolCall(event("warden__echo", { text: "hi" }), ctx), undefined);
    assert.equal(await h.beforeToolCall(event("corp-gateway__delete_file"), ctx), undefined);
    assert.equal(w.requests.length, 0);
    // Another MCP server's tools, and a name that only resembles the prefix, are decided.
    assert.equal((await h.beforeToolCall(event("github__merge"), ctx)).block, true);
    assert.equal((await h.beforeToolCall(event("warden_echo"), ctx)).block, true);
    assert.deepEqual(w.requests.map((r) => r.body.tool), ["github__merge", "warden_echo"]);
  });

  test("govern include/exclude select the tools sent to Warden", async () => {
    const w = await warden([json(200, { verdict: "deny", reason: "no" })]);
    const h = createWardenHooks({ url: w.url, govern: { include: ["exec", "write", "web_*"], exclude: ["web_search"] } }, { env });
    assert.equal(await h.beforeToolCall(event("read"), ctx), undefined);
    assert.equal(await h.beforeToolCall(event("web_search"), ctx), undefined);
    assert.equal((await h.beforeToolCall(event("web_fetch"), ctx)).block, true);
    assert.equal((await h.beforeToolCall(event("exec"), ctx)).block, true);
    assert.deepEqual(w.requests.map((r) => r.body.tool), ["web_fetch", "exec"]);
  });

  test("approvalMode openclaw hands the question to OpenClaw's approval surface", async () => {
    const held = { verdict: "approval_required", reason: "shell command flagged", rule: "shell:on_finding", tier: "high", approval_id: "apr_3" };
    const w = await warden([json(200, held)]);
    const h = createWardenHooks({ url: w.url, approvalMode: "openclaw", approvalTimeoutMs: 900000 }, { env });
    const out = await h.beforeToolCall(event("exec"), ctx);
    assert.deepEqual(out, {
      requireApproval: {
        title: "Warden: allow exec?",
        description: "shell command flagged (rule shell:on_finding, tier high, Warden approval apr_3)",
        severity: "warning",
        timeoutMs: 600000,
        allowedDecisions: ["allow-once", "deny"],
      },
    });
    assert.equal(w.requests.length, 1);
    assert.equal(w.requests[0].body.wait_ms, 0);
  });
});

describe("token sources", () => {
  test("tokenFile is re-read when its mtime changes", async () => {
    const w = await warden([json(200, ALLOW)]);
    const dir = mkdtempSync(join(tmpdir(), "warden-plugin-"));
    const file = join(dir, "token");
    writeFileSync(file, "first-token\n");
    utimesSync(file, 1000, 1000);
    const h = createWardenHooks({ url: w.url, tokenFile: file }, { env: {} });
    await h.beforeToolCall(event("exec"), ctx);
    writeFileSync(file, "second-token\n");
    utimesSync(file, 2000, 2000);
    await h.beforeToolCall(event("exec"), ctx);
    assert.deepEqual(w.requests.map((r) => r.headers.authorization), ["Bearer first-token", "Bearer second-token"]);
  });

  test("a missing or empty tokenFile blocks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-plugin-"));
    const h = createWardenHooks({ tokenFile: join(dir, "nope") }, { env });
    assert.match((await h.beforeToolCall(event("exec"), ctx)).blockReason, /no Warden token: token file .*nope cannot be read \(ENOENT\)/);
    writeFileSync(join(dir, "empty"), "  \n");
    const h2 = createWardenHooks({ tokenFile: join(dir, "empty") }, { env });
    assert.match((await h2.beforeToolCall(event("exec"), ctx)).blockReason, /token file .*empty is empty/);
  });

  test("tokenEnv names the variable", async () => {
    const w = await warden([json(200, ALLOW)]);
    const h = createWardenHooks({ url: w.url, tokenEnv: "MY_TOKEN" }, { env: { MY_TOKEN: "from-my-env", WARDEN_TOKEN: "other" } });
    await h.beforeToolCall(event("exec"), ctx);
    assert.equal(w.requests[0].headers.authorization, "Bearer from-my-env");
  });
});

describe("configuration", () => {
  test("unknown keys and bad values are refused, and every call is then blocked", async () => {
    const h = createWardenHooks({ url: "ftp://x", timeout: 5, approvalMode: "maybe", govern: { includes: ["*"] } }, { env });
    assert.ok(h.configError.includes("url:"));
    assert.ok(h.configError.includes("timeout: unknown key"));
    assert.ok(h.configError.includes("approvalMode: must be one of hold, openclaw"));
    assert.ok(h.configError.includes("govern.includes: unknown key"));
    const out = await h.beforeToolCall(event("read"), ctx);
    assert.equal(out.block, true);
    assert.match(out.blockReason, /plugin configuration is invalid/);
  });

  test("token and tokenFile together are refused", () => {
    assert.match(createWardenHooks({ token: "a", tokenFile: "/b" }).configError, /set one, not both/);
  });

  test("the manifest schema lists exactly the keys the code accepts", async () => {
    const { readFileSync } = await import("node:fs");
    const manifest = JSON.parse(readFileSync(new URL("../openclaw.plugin.json", import.meta.url)));
    assert.equal(manifest.id, "warden");
    assert.equal(manifest.activation.onStartup, true);
    assert.equal(manifest.configSchema.additionalProperties, false);
    assert.deepEqual(Object.keys(manifest.configSchema.properties).sort(), [
      "approvalMode", "approvalPollMs", "approvalTimeoutMs", "govern", "mcpServers", "reportOutcomes",
      "timeoutMs", "token", "tokenEnv", "tokenFile", "url",
    ]);
  });

  test("register() sets the hook timeout to cover the approval wait", () => {
    const calls = [];
    plugin.register({ pluginConfig: { approvalTimeoutMs: 300000, timeoutMs: 4000 }, on: (...a) => calls.push(a), logger: {} });
    assert.deepEqual(calls.map(([name, , opts]) => [name, opts.timeoutMs]), [
      ["before_tool_call", 300000 + 4000 + 5000],
      ["after_tool_call", 5000],
    ]);
    const defaults = [];
    plugin.register({ pluginConfig: undefined, on: (...a) => defaults.push(a) });
    assert.equal(defaults[0][2].timeoutMs, 120000 + 5000 + 5000);
    const none = [];
    plugin.register({ pluginConfig: { reportOutcomes: false }, on: (...a) => none.push(a) });
    assert.deepEqual(none.map((c) => c[0]), ["before_tool_call"]);
  });

  test("MCP tool prefixes follow OpenClaw's sanitising", () => {
    assert.equal(mcpToolPrefix("warden"), "warden__");
    assert.equal(mcpToolPrefix("Corp Gateway!"), "corp-gateway-__");
    assert.equal(mcpToolPrefix("1st"), "mcp-1st__");
    assert.equal(mcpToolPrefix("a".repeat(40)), `${"a".repeat(30)}__`);
  });
});

describe("after_tool_call", () => {
  test("reports the outcome of a call Warden allowed, linked by its tool call id", async () => {
    const w = await warden([json(200, ALLOW), json(200, { ok: true })]);
    const h = createWardenHooks({ url: w.url }, { env });
    await h.beforeToolCall(event("exec"), ctx);
    await h.afterToolCall({ ...event("exec"), error: "exit code 1: no such file", durationMs: 41.6 }, ctx);
    assert.equal(w.requests.length, 2);
    const r = w.requests[1];
    assert.equal(r.path, "/api/v1/decide/outcome");
    assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(r.body, {
      tool: "exec",
      tool_call_id: "call_1",
      run_id: "run_1",
      session: "agent:main:main",
      status: "error",
      error: "exit code 1: no such file",
      duration_ms: 42,
    });
    // Reported once only.
    await h.afterToolCall({ ...event("exec"), durationMs: 1 }, ctx);
    assert.equal(w.requests.length, 2);
  });

  test("does not report calls it did not decide, and never throws", async () => {
    const w = await warden([json(200, ALLOW)]);
    const h = createWardenHooks({ url: w.url }, { env });
    await h.afterToolCall({ ...event("warden__echo"), durationMs: 3 }, ctx);
    assert.equal(w.requests.length, 0);
    await h.beforeToolCall(event("exec"), ctx);
    await w.close();
    servers = servers.filter((s) => s !== w);
    await assert.doesNotReject(h.afterToolCall({ ...event("exec"), durationMs: 3 }, ctx));
  });

  test("reports ok with no error field when the call succeeded", async () => {
    const w = await warden([json(200, ALLOW), json(404, { error: { message: "no such route" } })]);
    const h = createWardenHooks({ url: w.url }, { env });
    await h.beforeToolCall(event("write", { path: "a" }), ctx);
    await h.afterToolCall({ toolName: "write", params: { path: "a" }, toolCallId: "call_1", runId: "run_1", result: { ok: 1 } }, ctx);
    assert.deepEqual(w.requests[1].body, { tool: "write", tool_call_id: "call_1", run_id: "run_1", session: "agent:main:main", status: "ok" });
  });
});
