//! Held calls that outlive their connection.
//!
//! A `tools/call` held for a human answers on an SSE stream whose events
//! carry ids naming the approval and the request: `h1.<approval>.<request
//! id, base64url of its JSON>.<n>`, the last one (the response) `….end`.
//! The first event has an id, no data and a `retry` delay, so an MCP client
//! knows the stream can be resumed. If the connection breaks before the
//! answer (the replica holding the call was killed, a proxy cut it), the
//! client reconnects with `GET /mcp` and `Last-Event-ID`, reaching any
//! replica. That replica cannot run the call (the call and its upstream
//! session lived in the holder), but the approval is in the shared store, so
//! it waits there until the approval's fate is known and answers the
//! original request id with it:
//! - the holder died: the sweep marks the approval `interrupted` within
//!   `stale_after(store.poll_interval_ms)`, and the agent gets -32013
//!   "interrupted … not executed";
//! - the holder lives but lost the client: it cancels the approval
//!   ("the agent went away"), and the agent gets -32013 "cancelled";
//! - denied or expired: the same refusal the holder would have sent;
//! - approved and run by the holder, whose answer was lost: -32603 saying so,
//!   with the trace id, so nobody calls again blindly.
//!
//! Why not replay: Warden keeps no event log of held streams. Their events
//! are progress notices, and the only one that matters, the answer, is
//! rebuilt from the store. A request id is carried in the event id (not
//! looked up) because the store does not keep it, and the client must get
//! its own id back.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_core::identity::Identity;
use warden_core::jsonrpc;
use warden_core::time::Timestamp;
use warden_store::{Approval, ApprovalStatus};

use crate::Gateway;
use crate::http::{event_stream, header_str, refuse};

/// The reconnection delay the client is told (SSE `retry`).
pub(crate) const RETRY_MS: u64 = 1000;
/// An SSE comment this often keeps proxies from closing a quiet stream.
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(15);
/// How often a resumed stream re-reads the approval.
const POLL: Duration = Duration::from_millis(250);
/// A resumed stream gives up this long after the approval's deadline.
const GRACE_SECS: i64 = 300;
const VERSION: &str = "h1";
/// Longest request id carried (its JSON, base64url): ids are short in practice.
const MAX_REQUEST_B64: usize = 256;

/// Where a held stream's event stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seq {
    N(u64),
    /// The response went out: nothing follows.
    End,
}

/// A held stream's event id, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HeldEventId {
    pub approval: String,
    pub request: Value,
    pub seq: Seq,
}

/// The event-id prefix of the held call `approval` answering `request`;
/// `None` when the request id cannot be carried (not a string or number, or too long).
pub(crate) fn prefix(approval: &str, request: &Value) -> Option<String> {
    if !(request.is_string() || request.is_number()) || !valid_approval(approval) {
        return None;
    }
    let b64 = URL_SAFE_NO_PAD.encode(request.to_string());
    (b64.len() <= MAX_REQUEST_B64).then(|| format!("{VERSION}.{approval}.{b64}"))
}

/// The id of event `seq` of the stream with this prefix.
pub(crate) fn event_id(prefix: &str, seq: &Seq) -> String {
    match seq {
        Seq::N(n) => format!("{prefix}.{n}"),
        Seq::End => format!("{prefix}.end"),
    }
}

fn valid_approval(a: &str) -> bool {
    (1..=64).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `None`: not a held stream's id (another kind of `Last-Event-ID`, or garbage).
pub(crate) fn parse(id: &str) -> Option<HeldEventId> {
    let mut parts = id.split('.');
    let (v, approval, b64, seq) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if v != VERSION || parts.next().is_some() || !valid_approval(approval) || b64.len() > MAX_REQUEST_B64 {
        return None;
    }
    let request: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b64).ok()?).ok()?;
    if !(request.is_string() || request.is_number()) {
        return None;
    }
    let seq = match seq {
        "end" => Seq::End,
        n if !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()) => Seq::N(n.parse().ok()?),
        _ => return None,
    };
    Some(HeldEventId { approval: approval.to_string(), request, seq })
}

/// The answer to `request` that the approval's state now determines; `None`
/// while it is still open (pending, or approved and not yet run or reported).
pub(crate) fn final_answer(a: &Approval, request: &Value) -> Option<Value> {
    let by = a.decided_by.as_deref().unwrap_or("");
    let data = json!({"rule": a.rule, "tier": a.tier, "reason": a.reason});
    if a.status == ApprovalStatus::Pending {
        return None;
    }
    if let Some(r) =
        crate::pipeline::govern::held_refusal(a.status, &a.id, by, a.comment.as_deref().unwrap_or(""), data.clone())
    {
        return Some(r.to_jsonrpc(request));
    }
    // Approved: what did the holder do with it?
    let outcome = a.outcome.as_deref()?;
    let mut data = data;
    data["approvalId"] = json!(a.id);
    data["approvedBy"] = json!(by);
    data["outcome"] = json!(outcome);
    data["traceId"] = json!(a.trace_id);
    Some(if outcome == "executed" {
        data["verdict"] = json!("allow");
        jsonrpc::error_with_data(
            request,
            jsonrpc::INTERNAL_ERROR,
            format!(
                "Approval {} was approved by {by} and the call ran on the gateway that held it, but its result \
                 was lost with the connection: check the audit trail (trace {}) before calling again",
                a.id, a.trace_id
            ),
            data,
        )
    } else {
        data["verdict"] = json!("cancelled");
        jsonrpc::error_with_data(
            request,
            jsonrpc::APPROVAL_UNAVAILABLE,
            format!("Approval {} was approved by {by}, but the call was not executed: {outcome}", a.id),
            data,
        )
    })
}

/// `GET /mcp` with a held stream's `Last-Event-ID`: the held call's answer,
/// from whichever replica the client reached. No downstream session is
/// needed here (it lived in the holder); the approval must belong to the
/// caller's agent and, when the client names one, to its session.
pub(crate) async fn serve(gw: &Arc<Gateway>, who: &Identity, h: &HeaderMap, ev: HeldEventId) -> Response {
    let not_found = || refuse(StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST, "Not Found: no such stream");
    if ev.seq == Seq::End {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            jsonrpc::INVALID_REQUEST,
            "Method Not Allowed: that stream ended with its response",
        );
    }
    let a = match gw.store.approval(&ev.approval).await {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "resuming a held stream: the store is unavailable");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                jsonrpc::INTERNAL_ERROR,
                "Service Unavailable: the store cannot be read",
            );
        }
    };
    // A foreign or unknown stream gets the same answer: the id reveals nothing.
    let session = header_str(h, "mcp-session-id");
    if a.agent != who.agent.name || a.entry != "mcp" || (session.is_some() && session != a.session_id.as_deref()) {
        return not_found();
    }
    let Some(prefix) = prefix(&a.id, &ev.request) else { return not_found() };
    tracing::info!(agent = %a.agent, approval = %a.id, holder = %a.holder, "held stream resumed");
    let (tx, rx) = mpsc::channel(1);
    let gw = gw.clone();
    tokio::spawn(async move {
        let give_up = a.expires_at.0 + GRACE_SECS;
        let mut a = a;
        loop {
            if let Some(answer) = final_answer(&a, &ev.request) {
                let _ = tx.send(answer).await;
                return;
            }
            if Timestamp::now().0 > give_up {
                let msg = format!(
                    "Approval {} has no known outcome {GRACE_SECS} s after its deadline; the call was not seen to run: \
                     check the audit trail (trace {}) before calling again",
                    a.id, a.trace_id
                );
                let _ = tx.send(jsonrpc::error(&ev.request, jsonrpc::APPROVAL_UNAVAILABLE, msg)).await;
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            }
            // Draining: end the stream without an answer, so the client resumes elsewhere.
            if gw.draining.load(Ordering::Relaxed) {
                return;
            }
            match gw.store.approval(&a.id).await {
                Ok(Some(now)) => a = now,
                Ok(None) => return,
                Err(e) => tracing::debug!(error = %e, approval = %a.id, "resumed stream: store read failed; retrying"),
            }
        }
    });
    stream(prefix, None, rx)
}

/// A held call's SSE answer: the priming event, then each message with its
/// id (the response with `….end`), and a keepalive comment when quiet.
pub(crate) fn stream(prefix: String, first: Option<Value>, rx: mpsc::Receiver<Value>) -> Response {
    let priming = warden_mcp::sse::encode_priming(&event_id(&prefix, &Seq::N(0)), RETRY_MS);
    let next = if first.is_some() { 2 } else { 1 };
    let head = futures::stream::iter(
        std::iter::once(priming)
            .chain(first.map(|m| frame(&prefix, 1, &m)))
            .map(|s| Ok::<_, Infallible>(Bytes::from(s))),
    );
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rest = futures::stream::unfold(Some((rx, keepalive, next)), move |state| {
        let prefix = prefix.clone();
        async move {
            let (mut rx, mut keepalive, n) = state?;
            tokio::select! {
                m = rx.recv() => {
                    let m = m?;
                    let done = is_response(&m);
                    let out = Ok(Bytes::from(frame(&prefix, n, &m)));
                    Some((out, (!done).then_some((rx, keepalive, n + 1))))
                }
                _ = keepalive.tick() => Some((Ok(Bytes::from_static(b": keepalive\n\n")), Some((rx, keepalive, n)))),
            }
        }
    });
    event_stream(Body::from_stream(futures::StreamExt::chain(head, rest)))
}

fn is_response(m: &Value) -> bool {
    m.get("method").is_none() && (m.get("result").is_some() || m.get("error").is_some())
}

fn frame(prefix: &str, n: u64, m: &Value) -> String {
    let seq = if is_response(m) { Seq::End } else { Seq::N(n) };
    warden_mcp::sse::encode(Some(&event_id(prefix, &seq)), &m.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(status: ApprovalStatus, outcome: Option<&str>) -> Approval {
        Approval {
            id: "apr_0192".into(),
            status,
            agent: "bot".into(),
            owner: "o".into(),
            team: "t".into(),
            tool: "fs_delete".into(),
            arguments: json!({}),
            args_digest: String::new(),
            tier: "destructive".into(),
            rule: "hold-deletes".into(),
            reason: "deletes need a human".into(),
            approvers: None,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            entry: "mcp".into(),
            session_id: Some("s1".into()),
            created_at: Timestamp(0),
            expires_at: Timestamp(60),
            decided_by: Some("alice".into()),
            decided_at: Some(Timestamp(5)),
            comment: None,
            holder: "replica-a".into(),
            outcome: outcome.map(str::to_string),
        }
    }

    #[test]
    fn event_ids_round_trip_for_string_and_number_request_ids() {
        for req in [json!(7), json!("call-1.x/ü"), json!(-3), json!(1.5)] {
            let p = prefix("apr_0192", &req).unwrap();
            for seq in [Seq::N(0), Seq::N(41), Seq::End] {
                let id = event_id(&p, &seq);
                assert_eq!(parse(&id), Some(HeldEventId { approval: "apr_0192".into(), request: req.clone(), seq }));
            }
        }
    }

    #[test]
    fn ids_that_cannot_be_carried_or_parsed_are_refused() {
        assert_eq!(prefix("apr_1", &json!(null)), None);
        assert_eq!(prefix("apr_1", &json!({"a": 1})), None);
        assert_eq!(prefix("apr.1", &json!(1)), None);
        assert_eq!(prefix("apr_1", &json!("x".repeat(400))), None);
        let good = event_id(&prefix("apr_1", &json!(1)).unwrap(), &Seq::N(2));
        assert!(parse(&good).is_some());
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            String::new(),
            "h1".into(),
            "h2.apr_1.MQ.2".into(),
            "h1.apr_1.MQ".into(),
            "h1.apr_1.MQ.2.3".into(),
            "h1.apr_1.MQ.-2".into(),
            "h1.apr_1.MQ.".into(),
            "h1.apr_1.MQ.99999999999999999999999".into(),
            "h1.apr_1.!!.2".into(),
            "h1..MQ.2".into(),
            "h1.apr 1.MQ.2".into(),
            format!("h1.apr_1.{}.2", b64("null")),
            format!("h1.apr_1.{}.2", b64("{\"a\":1}")),
            format!("h1.apr_1.{}.2", b64("not json")),
            format!("h1.apr_1.{}.2", "A".repeat(300)),
            "1234".into(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn open_approvals_have_no_answer_yet() {
        assert_eq!(final_answer(&approval(ApprovalStatus::Pending, None), &json!(1)), None);
        // Approved, and the holder has not reported what it did: still open.
        assert_eq!(final_answer(&approval(ApprovalStatus::Approved, None), &json!(1)), None);
    }

    #[test]
    fn the_answer_names_the_fate_of_the_call_and_carries_the_request_id() {
        let e = final_answer(&approval(ApprovalStatus::Interrupted, Some("gateway restarted")), &json!("r-9")).unwrap();
        assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!("r-9"), json!(jsonrpc::APPROVAL_UNAVAILABLE)));
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("was interrupted") && msg.contains("not executed"), "{msg}");
        assert_eq!(e["error"]["data"]["rule"], "hold-deletes");

        let e = final_answer(&approval(ApprovalStatus::Denied, Some("refused: denied by a human")), &json!(4)).unwrap();
        assert_eq!(e["error"]["code"], jsonrpc::APPROVAL_DENIED);
        assert_eq!(e["error"]["data"]["deniedBy"], "alice");

        let e = final_answer(&approval(ApprovalStatus::Expired, None), &json!(4)).unwrap();
        assert_eq!(e["error"]["code"], jsonrpc::APPROVAL_EXPIRED);

        let e =
            final_answer(&approval(ApprovalStatus::Cancelled, Some("the agent went away: not executed")), &json!(4));
        assert!(e.unwrap()["error"]["message"].as_str().unwrap().contains("cancelled"));

        let e = final_answer(&approval(ApprovalStatus::Approved, Some("executed")), &json!(4)).unwrap();
        assert_eq!(e["error"]["code"], jsonrpc::INTERNAL_ERROR);
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("ran") && msg.contains("result was lost") && msg.contains("4bf92f35"), "{msg}");

        let lost = "gateway restarted: the decision was recorded but the call was not executed";
        let e = final_answer(&approval(ApprovalStatus::Approved, Some(lost)), &json!(4)).unwrap();
        assert_eq!(e["error"]["code"], jsonrpc::APPROVAL_UNAVAILABLE);
        assert!(e["error"]["message"].as_str().unwrap().ends_with(lost));
    }

    #[test]
    fn only_responses_end_the_stream() {
        assert!(is_response(&json!({"jsonrpc": "2.0", "id": 1, "result": {}})));
        assert!(is_response(&json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}})));
        assert!(!is_response(&json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}})));
        assert!(!is_response(&json!({"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage"})));
        let p = prefix("apr_1", &json!(3)).unwrap();
        assert!(frame(&p, 5, &json!({"id": 3, "result": {}})).starts_with(&format!("id: {p}.end\n")));
        assert!(frame(&p, 5, &json!({"method": "notifications/progress"})).starts_with(&format!("id: {p}.5\n")));
    }
}
