//! `POST /api/v1/decide`: the decision pipeline for tools that never touch
//! MCP — an agent's pre-tool hook (OpenClaw's `before_tool_call`) asks
//! whether it may run `exec` on its own host, and gets the same policy, rate
//! limits and approval holds as an MCP call. Authenticated with the agent's
//! own token.
//!
//! Body: `{tool, params, session?, requester?, wait_ms?, approval_id?}`.
//! Answer: `{verdict: allow|deny|approval_required, reason, rule, tier,
//! approval_id?, retry_after_ms?}`. With `wait_ms` the call waits that long
//! for the human; without a decision by then it answers `approval_required`
//! and the approval stays pending — call again with `approval_id` to keep
//! waiting. Disconnecting while waiting cancels the approval.

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
    requester: Option<String>,
    #[serde(default)]
    wait_ms: Option<u64>,
    /// Resume waiting on an approval this agent got earlier for the same call.
    #[serde(default)]
    approval_id: Option<String>,
}

fn bad(status: StatusCode, code: &str, message: String) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

fn verdict(v: &str, reason: &str, rule: &str, tier: &str) -> Value {
    json!({"verdict": v, "reason": reason, "rule": rule, "tier": tier})
}

pub async fn decide(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    let who = match crate::http::admit(&gw, &h).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let ct = crate::http::header_str(&h, axum::http::header::CONTENT_TYPE).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return bad(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send application/json".into());
    }
    let b: DecideBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad(StatusCode::BAD_REQUEST, "bad_request", format!("invalid body: {e}")),
    };
    let tool = warden_core::names::nfc(b.tool.trim());
    if tool.is_empty() || tool.len() > 256 || tool.chars().any(char::is_control) {
        return bad(StatusCode::BAD_REQUEST, "bad_request", "tool: 1-256 printable characters".into());
    }
    if !(b.params.is_object() || b.params.is_null()) {
        return bad(StatusCode::BAD_REQUEST, "bad_request", "params: must be an object".into());
    }
    let agent = who.agent.clone();
    let key = b.session.as_ref().map(|s| (agent.name.clone(), s.clone()));
    let flags = key.as_ref().map(|k| session_flags(&gw, k)).unwrap_or_default();
    let action = Action {
        entry: Entry::Decide,
        agent: agent.clone(),
        session_id: b.session.clone(),
        tool,
        annotations: Value::Null,
        args: if b.params.is_null() { json!({}) } else { b.params.clone() },
        flags,
        trace: crate::telemetry::otlp::Trace::new(
            crate::telemetry::trace::TraceContext::from_headers(&h),
            gw.otlp.clone(),
        ),
    };
    if let Some(r) = &b.requester {
        tracing::debug!(agent = %agent.name, requester = %r, tool = %action.tool, "decision requested");
    }
    // Stage 3: the parameters are screened like MCP arguments; a block is a recorded deny.
    let mut report = crate::pipeline::guard::Report::default();
    gw.guard.screen_arguments(&mut action.args.clone(), &format!("{} params", action.tool), &mut report);
    if let Some(n) = report.blocked() {
        return refused(&govern::guardrail_refusal(&gw, &action, n).await);
    }
    let wait = Duration::from_millis(b.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    let held = match &b.approval_id {
        Some(id) => match resume(&gw, &action, id).await {
            Ok(h) => h,
            Err(r) => return r,
        },
        None => match govern::check(&gw, &action).await {
            Gate::Refuse(r) => return refused(&r),
            Gate::Proceed(d) => {
                remember(&gw, key, flags, &d.labels);
                return json_response(StatusCode::OK, verdict("allow", &d.reason, &d.rule, d.tier.as_str()));
            }
            Gate::Hold(h) => h,
        },
    };
    wait_on(&gw, held, wait, &action, key, flags).await
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
            let mut v = verdict("allow", &format!("approved by a human (approval {id})"), &d.rule, d.tier.as_str());
            v["approval_id"] = json!(id);
            json_response(StatusCode::OK, v)
        }
        Waited::Refused(r) => refused(&r),
        Waited::StillPending => {
            held.release();
            let mut v = verdict("approval_required", &d.reason, &d.rule, d.tier.as_str());
            v["approval_id"] = json!(id);
            json_response(StatusCode::OK, v)
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
