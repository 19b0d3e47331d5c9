// The two hook handlers: before_tool_call asks Warden's decision API and
// blocks unless it hears "allow"; after_tool_call reports what an allowed
// call did. Fail closed: any failure to get a clear "allow" blocks the call,
// with a reason naming what went wrong.

import { ConfigError, resolveConfig } from "./config.js";
import { postJson } from "./http.js";
import { toolSelector } from "./names.js";
import { tokenSource } from "./token.js";

const VERDICTS = new Set(["allow", "deny", "approval_required"]);
/** OpenClaw refuses requireApproval timeouts above this (plugin approvals). */
const OPENCLAW_APPROVAL_MAX_MS = 600000;
/** Slack added to the hook's registration timeout beyond the worst case. */
const HOOK_MARGIN_MS = 5000;
const MAX_TRACKED = 2000;

function short(s, n = 300) {
  const t = String(s ?? "").replace(/\s+/g, " ").trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener?.("abort", done);
      resolve();
    }
    signal?.addEventListener?.("abort", done, { once: true });
  });
}

function requesterOf(ctx) {
  const r = ctx?.requester;
  if (!r || typeof r !== "object") return undefined;
  const out = { channel: r.channel, sender_id: r.senderId, sender_is_owner: r.senderIsOwner };
  return Object.values(out).some((v) => v !== undefined) ? out : undefined;
}

/** Worst-case time one before_tool_call may take, for its registration timeout. */
export function hookTimeoutFor(config) {
  const waiting = config.approvalMode === "hold" ? config.approvalTimeoutMs : 0;
  return waiting + config.timeoutMs + HOOK_MARGIN_MS;
}

/**
 * The handlers for one plugin configuration. `env` and `logger` are
 * injectable for tests. A configuration that does not validate yields a
 * before_tool_call that blocks every governed call (we cannot know which
 * tools to leave alone), naming the problem.
 */
export function createWardenHooks(rawConfig, { env = process.env, logger } = {}) {
  let config;
  try {
    config = resolveConfig(rawConfig);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const why = `Warden plugin blocked this call (fail closed): plugin configuration is invalid: ${e.message}`;
    logger?.error?.(`warden: invalid plugin configuration: ${e.message}`);
    return {
      config: null,
      configError: e.message,
      hookTimeoutMs: 15000,
      outcomeTimeoutMs: 1000,
      beforeToolCall: async () => ({ block: true, blockReason: why }),
      afterToolCall: async () => {},
    };
  }
  const select = toolSelector(config);
  const token = tokenSource(config, env);
  const decideUrl = `${config.url}/api/v1/decide`;
  const outcomeUrl = `${config.url}/api/v1/decide/outcome`;
  const tracked = new Map(); // `${run}:${call}` -> {tool, session}

  const failClosed = (tool, why) => ({
    block: true,
    blockReason: `Warden plugin blocked ${tool} (fail closed): ${why}`,
  });

  /** One decide request: {answer} or {failure: "why"}. */
  async function ask(body, signal) {
    const t = token();
    if (t.missing) return { failure: `no Warden token: ${t.missing}` };
    let res;
    try {
      res = await postJson(decideUrl, body, { token: t.token, timeoutMs: config.timeoutMs + (body.wait_ms ?? 0), signal });
    } catch (e) {
      switch (e.kind) {
        case "timeout":
          return { failure: `Warden at ${config.url} timed out (${e.message})` };
        case "aborted":
          return { failure: "the tool call was cancelled while waiting for Warden" };
        case "too_large":
          return { failure: `Warden's answer is malformed (${e.message})` };
        default:
          return { failure: `Warden unreachable at ${config.url} (${e.message})` };
      }
    }
    let parsed;
    let parseOk = true;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      parseOk = false;
    }
    if (res.status < 200 || res.status > 299) {
      const detail = parseOk && parsed?.error?.message ? `: ${short(parsed.error.message, 200)}` : "";
      return { failure: `Warden answered HTTP ${res.status}${detail}` };
    }
    if (!parseOk) return { failure: `Warden's answer is not JSON (HTTP ${res.status})` };
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || typeof parsed.verdict !== "string") {
      return { failure: "Warden's answer is malformed (no verdict)" };
    }
    if (!VERDICTS.has(parsed.verdict)) {
      return { failure: `Warden answered an unknown verdict ${JSON.stringify(short(parsed.verdict, 40))}` };
    }
    if (parsed.verdict === "approval_required" && (typeof parsed.approval_id !== "string" || !parsed.approval_id)) {
      return { failure: "Warden's answer is malformed (approval_required without approval_id)" };
    }
    return { answer: parsed };
  }

  function track(body) {
    if (!config.reportOutcomes || !body.tool_call_id) return;
    if (tracked.size >= MAX_TRACKED) tracked.delete(tracked.keys().next().value);
    tracked.set(`${body.run_id ?? ""}:${body.tool_call_id}`, {
      tool: body.tool,
      session: body.session,
    });
  }

  function denied(tool, a) {
    const reason = typeof a.reason === "string" && a.reason ? a.reason : "no reason given";
    const rule = typeof a.rule === "string" && a.rule ? ` (rule ${a.rule})` : "";
    return { block: true, blockReason: `Warden denied ${tool}: ${short(reason, 500)}${rule}` };
  }

  async function beforeToolCall(event, ctx) {
    const tool = event?.toolName;
    const sel = select(tool);
    if (!sel.ask) return undefined;
    const signal = ctx?.abortSignal;
    const body = {
      tool,
      params: event.params && typeof event.params === "object" ? event.params : {},
      tool_call_id: event.toolCallId ?? ctx?.toolCallId,
      run_id: event.runId ?? ctx?.runId,
      session: ctx?.sessionKey,
      requester: requesterOf(ctx),
    };
    const hold = config.approvalMode === "hold";
    const started = Date.now();
    const deadline = started + config.approvalTimeoutMs;
    let wait = hold ? Math.min(config.approvalPollMs, config.approvalTimeoutMs) : 0;
    let asked = Date.now();
    let r = await ask({ ...body, wait_ms: wait }, signal);
    for (;;) {
      if (r.failure) return failClosed(tool, r.failure);
      const a = r.answer;
      if (a.verdict === "allow") {
        track(body);
        return undefined;
      }
      if (a.verdict === "deny") return denied(tool, a);
      // approval_required
      const id = a.approval_id;
      if (!hold) {
        const tier = typeof a.tier === "string" ? a.tier : "";
        return {
          requireApproval: {
            title: `Warden: allow ${tool}?`,
            description: short(
              `${a.reason || "Warden's policy requires a human"} (${[a.rule && `rule ${a.rule}`, tier && `tier ${tier}`, `Warden approval ${id}`].filter(Boolean).join(", ")})`,
              600,
            ),
            severity: tier === "critical" ? "critical" : tier === "high" ? "warning" : "info",
            timeoutMs: Math.max(1, Math.min(config.approvalTimeoutMs, OPENCLAW_APPROVAL_MAX_MS)),
            allowedDecisions: ["allow-once", "deny"],
          },
        };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        return {
          block: true,
          blockReason: `Warden approval ${id} for ${tool} expired undecided after ${Math.round((Date.now() - started) / 1000)} s (approvalTimeoutMs ${config.approvalTimeoutMs}); the call did not run`,
        };
      }
      if (signal?.aborted) return failClosed(tool, "the tool call was cancelled while waiting for Warden");
      // A Warden that answered sooner than asked is not long-polling: pause
      // instead of spinning.
      if (Date.now() - asked < wait * 0.9 || wait < 100) {
        const pause = Number.isFinite(a.retry_after_ms) && a.retry_after_ms > 0 ? a.retry_after_ms : 1000;
        await sleep(Math.min(pause, remaining), signal);
        if (signal?.aborted) return failClosed(tool, "the tool call was cancelled while waiting for Warden");
      }
      const left = deadline - Date.now();
      if (left <= 0) continue;
      wait = Math.min(config.approvalPollMs, left);
      asked = Date.now();
      r = await ask({ ...body, approval_id: id, wait_ms: wait }, signal);
    }
  }

  async function afterToolCall(event, ctx) {
    try {
      if (!config.reportOutcomes) return;
      const callId = event?.toolCallId ?? ctx?.toolCallId;
      if (!callId) return;
      const key = `${event.runId ?? ctx?.runId ?? ""}:${callId}`;
      const t = tracked.get(key);
      if (!t) return; // not a call this plugin allowed
      tracked.delete(key);
      const tok = token();
      if (tok.missing) return;
      const failed = event.error !== undefined && event.error !== null && event.error !== "";
      const body = {
        tool: t.tool,
        tool_call_id: callId,
        run_id: event.runId ?? ctx?.runId,
        session: t.session ?? ctx?.sessionKey,
        status: failed ? "error" : "ok",
        error: failed ? short(event.error, 200) : undefined,
        duration_ms: Number.isFinite(event.durationMs) ? Math.max(0, Math.round(event.durationMs)) : undefined,
      };
      const res = await postJson(outcomeUrl, body, { token: tok.token, timeoutMs: config.timeoutMs });
      if (res.status < 200 || res.status > 299) logger?.warn?.(`warden: outcome report answered HTTP ${res.status}`);
    } catch (e) {
      logger?.warn?.(`warden: outcome report failed: ${e?.message ?? e}`);
    }
  }

  return {
    config,
    hookTimeoutMs: hookTimeoutFor(config),
    outcomeTimeoutMs: config.timeoutMs + 1000,
    beforeToolCall,
    afterToolCall,
  };
}
