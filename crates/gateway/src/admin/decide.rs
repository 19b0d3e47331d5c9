//! `POST /api/v1/decide`: the decision pipeline for tools that never touch
//! MCP — an agent's pre-tool hook (OpenClaw's `before_tool_call`) asks
//! whether it may run `exec` on its own host, and gets the same policy, rate
//! limits and approval holds as an MCP call. Authenticated with the agent's
//! own token. `POST /api/v1/decide/outcome`: the hook reports how the call
//! ended, so the audit trail says whether a built-in tool ran.
//!
//! Body: `{tool, params, session?, tool_call_id?, run_id?, requester?,
//! wait_ms?, approval_id?}`. Answer: `{verdict: allow|deny|approval_required,
//! reason, rule, tier, approval_id?, retry_after_ms?, call_id?}`. With
//! `wait_ms` the call waits that long for the human; without a decision by
//! then it answers `approval_required` and the approval stays pending — call
//! again with `approval_id` to keep waiting. Disconnecting while waiting
//! cancels the approval.
//!
//! One action, decided once: a call the model proposed at `/v1` with the same
//! `tool_call_id`, tool and arguments is answered from that decision (an
//! approval given there is not asked for again), and Warden's own MCP tools
//! (`<server>__<tool>`) are left to `/mcp`, where they run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use warden_policy::SessionFlags;

use crate::Gateway;
use crate::http::json_response;
use crate::pipeline::govern::{self, Action, Entry, Gate, Held, Waited};
use crate::pipeline::ledger::Settled;

/// Longest a single decide call may hold (the approval itself may live longer).
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Decision-API sessions forgotten after this long unused.
const SESSION_TTL: Duration = Duration::from_secs(3600);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    tool: String,
    #[serde(default)]
    params: Value,
    /// The agent's own session key (for the information-flow rule).
    #[serde(default)]
    session: Option<String>,
    /// Who asked (the human or channel behind the agent's turn), for the record.
    #[serde(default)]
    requester: Option<Requester>,
    /// The agent's id for this tool call (OpenClaw's `toolCallId`).
    #[serde(default)]
    tool_call_id: Option<String>,
    /// The agent's run (turn) id, for the record.
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    wait_ms: Option<u64>,
    /// Resume waiting on an approval this agent got earlier for the same call.
    #[serde(default)]
    approval_id: Option<String>,
}

/// The human or channel behind the agent's turn: a label, or OpenClaw's fields.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Requester {
    Label(String),
    Fields(RequesterFields),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequesterFields {
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    sender_is_owner: Option<bool>,
}

impl Requester {
    /// `requested by <channel>:<sender> (owner)`, at most 200 characters, printable.
    fn describe(&self) -> String {
        let text = match self {
            Requester::Label(l) => l.clone(),
            Requester::Fields(f) => {
                let who = f.sender_name.as_deref().or(f.sender_id.as_deref()).unwrap_or("unknown sender");
                let mut t = format!("{}:{who}", f.channel.as_deref().unwrap_or("unknown channel"));
                if f.sender_is_owner == Some(true) {
                    t.push_str(" (owner)");
                }
                t
            }
        };
        let clean: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        format!("requested by {clean}")
    }
}

/// A caller-supplied id: at most 200 printable characters. Err: what is wrong.
fn id_field(name: &str, v: &Option<String>) -> Result<String, String> {
    let s = v.as_deref().unwrap_or("").trim();
    if s.len() > 200 || s.chars().any(char::is_control) {
        return Err(format!("{name}: at most 200 printable characters"));
    }
    Ok(s.to_string())
}

fn bad(status: StatusCode, code: &str, message: String) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

fn verdict(v: &str, reason: &str, rule: &str, tier: &str) -> Value {
    json!({"verdict": v, "reason": reason, "rule": rule, "tier": tier})
}

/// What both endpoints check first: the agent's token, a JSON body of the
/// right shape, and a tool name of 1-256 printable characters (NFC).
async fn admit_body<T: serde::de::DeserializeOwned>(
    gw: &Gateway,
    h: &HeaderMap,
    body: &[u8],
    tool_of: impl Fn(&T) -> &String,
) -> Result<(warden_core::identity::Identity, T, String), Response> {
    let who = crate::http::admit(gw, h).await?;
    let ct = crate::http::header_str(h, axum::http::header::CONTENT_TYPE).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(bad(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send application/json".into()));
    }
    let b: T = serde_json::from_slice(body)
        .map_err(|e| bad(StatusCode::BAD_REQUEST, "bad_request", format!("invalid body: {e}")))?;
    let tool = warden_core::names::nfc(tool_of(&b).trim());
    if tool.is_empty() || tool.len() > 256 || tool.chars().any(char::is_control) {
        return Err(bad(StatusCode::BAD_REQUEST, "bad_request", "tool: 1-256 printable characters".into()));
    }
    Ok((who, b, tool))
}

pub async fn decide(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    let (who, b, tool) = match admit_body::<DecideBody>(&gw, &h, &body, |b| &b.tool).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !(b.params.is_object() || b.params.is_null()) {
        return bad(StatusCode::BAD_REQUEST, "bad_request", "params: must be an object".into());
    }
    let call_id = match id_field("tool_call_id", &b.tool_call_id).and_then(|c| id_field("run_id", &b.run_id).map(|_| c))
    {
        Ok(c) => c,
        Err(m) => return bad(StatusCode::BAD_REQUEST, "bad_request", m),
    };
    let agent = who.agent.clone();
    let key = b.session.as_ref().map(|s| (agent.name.clone(), s.clone()));
    let flags = key.as_ref().map(|k| session_flags(&gw, k)).unwrap_or_default();
    // Warden's own MCP tool under the agent's client name: decided at `/mcp`.
    let own = gw.own_mcp_tool(&agent, &tool);
    let (tool, annotations) = own.clone().unwrap_or((tool, Value::Null));
    let action = Action {
        entry: Entry::Decide,
        agent: agent.clone(),
        session_id: b.session.clone(),
        tool,
        annotations,
        args: if b.params.is_null() { json!({}) } else { b.params.clone() },
        flags,
        trace: crate::telemetry::otlp::Trace::new(
            crate::telemetry::trace::TraceContext::from_headers(&h),
            gw.otlp.clone(),
        ),
        call_id,
        requester: b.requester.as_ref().map(Requester::describe).unwrap_or_default(),
    };
    // Stage 3: the parameters are screened like MCP arguments; a block is a recorded deny.
    let mut report = crate::pipeline::guard::Report::default();
    gw.guard.screen_arguments(&mut action.args.clone(), &format!("{} params", action.tool), &mut report);
    if let Some(n) = report.blocked() {
        let r = govern::guardrail_refusal(&gw, &action, n).await;
        settle(&gw, &action, "deny", &r.data, "");
        return refused(&r);
    }
    if own.is_some() {
        return match govern::defer_to_mcp(&gw, &action).await {
            Ok((d, rec)) => match govern::commit(&gw, rec, Some(&action.trace)).await {
                Ok(()) => answer(
                    verdict(
                        "allow",
                        &format!("Warden's MCP tool {}: decided at /mcp when it runs", action.tool),
                        "mcp",
                        d.tier.as_str(),
                    ),
                    &action,
                ),
                Err(e) => refused(&govern::audit_unavailable(&e)),
            },
            Err(r) => refused(&r),
        };
    }
    if b.approval_id.is_none()
        && let Some(earlier) = gw.ledger.settled(&agent.name, &action.call_id, &action.tool, &action.args_digest())
    {
        return from_earlier(&gw, &action, earlier, key, flags).await;
    }
    let wait = Duration::from_millis(b.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    let held = match &b.approval_id {
        Some(id) => match resume(&gw, &action, id).await {
            Ok(h) => h,
            Err(r) => return r,
        },
        None => match govern::check(&gw, &action).await {
            Gate::Refuse(r) => {
                settle(&gw, &action, "deny", &r.data, "");
                return refused(&r);
            }
            Gate::Proceed(d) => {
                remember(&gw, key, flags, &d.labels);
                settle_decision(&gw, &action, d.action.as_str(), &d, "");
                return answer(verdict("allow", &d.reason, &d.rule, d.tier.as_str()), &action);
            }
            Gate::Hold(h) => h,
        },
    };
    wait_on(&gw, held, wait, &action, key, flags).await
}

/// The answer, with the call id it is about.
fn answer(mut v: Value, a: &Action) -> Response {
    if !a.call_id.is_empty() {
        v["call_id"] = json!(a.call_id);
    }
    json_response(StatusCode::OK, v)
}

fn settle_decision(gw: &Gateway, a: &Action, verdict: &str, d: &warden_policy::Decision, approval: &str) {
    gw.ledger.settle_action(a, verdict, &d.rule, d.tier.as_str(), &d.reason, approval);
}

/// A refusal, remembered for this call id (`data` is the refusal's decision data).
fn settle(gw: &Gateway, a: &Action, verdict: &str, data: &Value, approval: &str) {
    let field = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("");
    gw.ledger.settle_action(a, verdict, field("rule"), field("tier"), field("reason"), approval);
}

/// The same call was settled at another door (the model's answer at `/v1`, or
/// an earlier ask): answer as it was decided, with no second hold or
/// rate-limit token, and record this door's answer linked by the call id.
async fn from_earlier(
    gw: &Arc<Gateway>,
    a: &Action,
    earlier: Settled,
    key: Option<(String, String)>,
    flags: SessionFlags,
) -> Response {
    let at = if earlier.entry == Entry::Llm.as_str() { "/v1, in the model's answer" } else { "an earlier ask" };
    let verdict_now = if earlier.allowed() { "allow" } else { "deny" };
    let now = gw.policy.load().evaluate(&a.request());
    let mut rec = govern::record(a, &now, verdict_now);
    rec.rule = earlier.rule.clone();
    rec.tier = earlier.tier.clone();
    rec.approval = earlier.approval.clone();
    rec.reason = format!("decided at {at}: {}", earlier.reason);
    if let Err(e) = govern::commit(gw, rec, Some(&a.trace)).await {
        return refused(&govern::audit_unavailable(&e));
    }
    let mut v = verdict(verdict_now, &format!("decided at {at}: {}", earlier.reason), &earlier.rule, &earlier.tier);
    if !earlier.approval.is_empty() {
        v["approval_id"] = json!(earlier.approval);
    }
    if earlier.allowed() {
        remember(gw, key, flags, &now.labels);
    } else {
        v["refusal"] = json!(earlier.verdict);
    }
    answer(v, a)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    tool: String,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    session: Option<String>,
    /// `ok` or `error`.
    status: String,
    /// A short description of the failure (at most 300 characters are kept).
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    duration_ms: Option<u64>,
}

/// `POST /api/v1/decide/outcome`: the agent's hook reports how a tool call
/// ended. One `outcome` record, linked to the decision by the call id and
/// carrying that decision's verdict, rule and approval (`undecided` when
/// Warden decided nothing for this call id, which an auditor should see).
/// Warden's own MCP tools are recorded at `/mcp`, not here.
pub async fn outcome(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    let (who, b, tool) = match admit_body::<OutcomeBody>(&gw, &h, &body, |b| &b.tool).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if b.status != "ok" && b.status != "error" {
        return bad(StatusCode::BAD_REQUEST, "bad_request", "status: \"ok\" or \"error\"".into());
    }
    let ids = id_field("tool_call_id", &b.tool_call_id)
        .and_then(|c| id_field("run_id", &b.run_id).map(|_| c))
        .and_then(|c| Ok((c, id_field("session", &b.session)?)));
    let (call_id, session) = match ids {
        Ok(ids) => ids,
        Err(m) => return bad(StatusCode::BAD_REQUEST, "bad_request", m),
    };
    let agent = who.agent.clone();
    if gw.own_mcp_tool(&agent, &tool).is_some() {
        return json_response(
            StatusCode::OK,
            json!({"recorded": false, "reason": "Warden's MCP tool: its outcome is recorded at /mcp"}),
        );
    }
    let decided = gw.ledger.any(&agent.name, &call_id).filter(|s| s.tool == tool);
    let error: String = b.error.as_deref().unwrap_or("").chars().filter(|c| !c.is_control()).take(300).collect();
    let mut rec = warden_audit::Record {
        id: uuid::Uuid::now_v7().to_string(),
        at: warden_audit::record::format_ms(warden_core::time::now_ms()),
        kind: "outcome".into(),
        entry: Entry::Decide.as_str().into(),
        agent: agent.name.clone(),
        owner: agent.owner.clone(),
        session,
        method: "tool_result".into(),
        tool: tool.clone(),
        call_id: call_id.clone(),
        upstream_status: if b.status == "ok" { "ok".into() } else { "error".into() },
        reason: error,
        latency_us: b.duration_ms.unwrap_or(0).saturating_mul(1000),
        ..Default::default()
    };
    match &decided {
        Some(s) => {
            rec.verdict = s.verdict.clone();
            rec.rule = s.rule.clone();
            rec.tier = s.tier.clone();
            rec.approval = s.approval.clone();
            if !s.allowed() && b.status == "ok" {
                rec.comment = format!("ran although Warden's verdict was {}", s.verdict);
                tracing::error!(agent = %agent.name, tool = %tool, call = %call_id, verdict = %s.verdict,
                    "the agent reports a tool call ran that Warden refused");
            }
        }
        None => {
            rec.verdict = "undecided".into();
            rec.comment = "no Warden decision on record for this call id".into();
            tracing::warn!(agent = %agent.name, tool = %tool, call = %call_id, "outcome of a tool call Warden did not decide");
        }
    }
    let verdict = rec.verdict.clone();
    if let Err(e) = govern::commit(&gw, rec, None).await {
        return bad(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!("the audit trail cannot record it ({e})"),
        );
    }
    json_response(StatusCode::OK, json!({"recorded": true, "call_id": call_id, "decision": verdict}))
}

fn refused(r: &govern::Refusal) -> Response {
    let mut v = r.data.clone();
    v["verdict"] = json!("deny");
    v["reason"] = json!(r.message);
    v["refusal"] = json!(r.verdict);
    if let Some(ms) = r.data.get("retryAfterMs") {
        v["retry_after_ms"] = ms.clone();
    }
    if let Some(id) = r.data.get("approvalId") {
        v["approval_id"] = id.clone();
    }
    json_response(StatusCode::OK, v)
}

async fn wait_on(
    gw: &Arc<Gateway>,
    mut held: Box<Held>,
    wait: Duration,
    action: &Action,
    key: Option<(String, String)>,
    flags: SessionFlags,
) -> Response {
    let id = held.approval.id.clone();
    let d = held.decision.clone();
    match held.wait(Some(wait), Duration::from_secs(3600), |_| {}).await {
        Waited::Approved => {
            if let Err(r) = held.recheck(action).await {
                held.finish("refused: the policy changed while the call was held").await;
                return refused(&r);
            }
            if let Err(e) = govern::commit(gw, held.record("allow"), Some(&action.trace)).await {
                held.finish("refused: the audit trail could not record it").await;
                return refused(&govern::audit_unavailable(&e));
            }
            held.finish("allowed via the decision API").await;
            remember(gw, key, flags, &d.labels);
            let mut settled = d.clone();
            settled.reason = format!("approved by {} (approval {id})", held.approver);
            settle_decision(gw, action, "allow", &settled, &id);
            let mut v = verdict("allow", &format!("approved by a human (approval {id})"), &d.rule, d.tier.as_str());
            v["approval_id"] = json!(id);
            answer(v, action)
        }
        Waited::Refused(r) => {
            settle(gw, action, r.verdict, &r.data, &id);
            refused(&r)
        }
        Waited::StillPending => {
            held.release();
            let mut v = verdict("approval_required", &d.reason, &d.rule, d.tier.as_str());
            v["approval_id"] = json!(id);
            answer(v, action)
        }
    }
}

/// Re-attaches to an earlier approval. It must be this agent's, for the same
/// tool and arguments; anything else is answered as if it did not exist.
async fn resume(gw: &Arc<Gateway>, action: &Action, id: &str) -> Result<Box<Held>, Response> {
    let not_found = || bad(StatusCode::NOT_FOUND, "not_found", format!("no approval {id:?} for this call"));
    let a = match gw.store.approval(id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "store error in the decision API; refused");
            return Err(bad(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the store is unavailable".into()));
        }
    };
    if a.outcome.is_some() {
        return Err(bad(
            StatusCode::CONFLICT,
            "conflict",
            format!("approval {id} is settled ({}); ask again", a.outcome.unwrap_or_default()),
        ));
    }
    if a.agent != action.agent.name
        || a.tool != action.tool
        || a.args_digest != action.args_digest()
        || a.entry != "decide"
    {
        tracing::warn!(agent = %action.agent.name, approval = %id, "approval id presented for another agent or call");
        return Err(not_found());
    }
    let policy = gw.policy.load();
    let decision = policy.evaluate(&action.request());
    Ok(govern::Held::attach(gw, a, decision, action))
}

fn session_flags(gw: &Gateway, key: &(String, String)) -> SessionFlags {
    let mut m = gw.decide_sessions.lock().unwrap();
    if m.len() > 10_000 {
        // Forget idle sessions only when the table grows, not on every ask.
        m.retain(|_, (_, at)| at.elapsed() < SESSION_TTL);
    }
    m.get(key).filter(|(_, at)| at.elapsed() < SESSION_TTL).map(|(f, _)| *f).unwrap_or_default()
}

fn remember(gw: &Gateway, key: Option<(String, String)>, flags: SessionFlags, labels: &[warden_config::ToolLabel]) {
    if let Some(k) = key {
        gw.decide_sessions.lock().unwrap().insert(k, (govern::flags_after(flags, labels), Instant::now()));
    }
}
