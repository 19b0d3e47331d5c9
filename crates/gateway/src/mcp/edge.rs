//! The MCP door's HTTP edge: `/mcp` POST, GET and DELETE. Order of checks:
//! Host/Origin (DNS rebinding) → bearer token → content type and size →
//! JSON-RPC shape → session binding.
//! Each refusal has its own status and a clear body; none reaches an upstream.

// Refusals are `Err(Response)`: built once, returned straight to the client.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_core::identity::Identity;
use warden_core::jsonrpc::{self, Message};

use crate::Gateway;
use crate::http::{admit, event_stream, header_str, json_response, refuse, rpc_error};
use crate::mcp::dispatch::{self, Reply};
use crate::mcp::resume;
use crate::mcp::session::Session;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// The session named by `Mcp-Session-Id`, if it exists and belongs to `who`.
fn session_of(gw: &Gateway, h: &HeaderMap, who: &Identity) -> Result<Arc<Session>, Response> {
    let Some(sid) = header_str(h, SESSION_HEADER) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_REQUEST,
            "Bad Request: Mcp-Session-Id header is required",
        ));
    };
    // Unknown and foreign sessions get the same answer: the id reveals nothing.
    let s = gw
        .sessions
        .get(sid, who)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST, "Session not found"))?;
    if let Some(v) = header_str(h, VERSION_HEADER)
        && !warden_mcp::KNOWN_VERSIONS.contains(&v)
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_REQUEST,
            &format!("Bad Request: unsupported MCP-Protocol-Version {v:?}"),
        ));
    }
    s.touch();
    s.refresh(who);
    Ok(s)
}

async fn read_body(gw: &Gateway, h: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let limit = gw.limits.max_body_bytes;
    let too_big = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            jsonrpc::INVALID_REQUEST,
            &format!("Payload Too Large: the limit is {limit} bytes"),
        )
    };
    if header_str(h, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    axum::body::to_bytes(body, limit).await.map_err(|_| too_big())
}

pub async fn mcp_post(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    let who = match admit(&gw, &h).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if gw.draining.load(Ordering::Relaxed) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, jsonrpc::INTERNAL_ERROR, "Service Unavailable: shutting down");
    }
    let ctype = header_str(&h, header::CONTENT_TYPE).unwrap_or("");
    if !ctype.to_ascii_lowercase().starts_with("application/json") {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            jsonrpc::INVALID_REQUEST,
            "Unsupported Media Type: use Content-Type: application/json",
        );
    }
    let accept = header_str(&h, header::ACCEPT).unwrap_or("*/*").to_ascii_lowercase();
    let sse = accept.contains("text/event-stream") || accept.contains("*/*");
    if !(accept.contains("application/json") || sse) {
        return refuse(
            StatusCode::NOT_ACCEPTABLE,
            jsonrpc::INVALID_REQUEST,
            "Not Acceptable: accept application/json and text/event-stream",
        );
    }
    let bytes = match read_body(&gw, &h, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let msg = match Message::parse(&bytes) {
        Ok(m) => m,
        Err(inv) => return rpc_error(StatusCode::BAD_REQUEST, &inv.id, inv.code, &inv.message),
    };
    let trace =
        crate::telemetry::otlp::Trace::new(crate::telemetry::trace::TraceContext::from_headers(&h), gw.otlp.clone());
    if let Message::Request { id, method, msg } = &msg
        && method == "initialize"
    {
        let started = std::time::Instant::now();
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let (session, resp) = dispatch::initialize(&gw, who, id, &params);
        tracing::info!(agent = %session.agent_name, session = %session.id, version = %session.protocol_version, "session started");
        let mut rec = dispatch::base_record(&session, &session.agent(), "initialize", &params, trace.trace_id());
        rec.kind = "session".into();
        rec.latency_us = started.elapsed().as_micros() as u64;
        if let Err(e) = crate::pipeline::govern::commit(&gw, rec, Some(&trace)).await {
            gw.sessions.remove(&session.id);
            return json_response(StatusCode::OK, crate::pipeline::govern::audit_unavailable(&e).to_jsonrpc(id));
        }
        let mut r = json_response(StatusCode::OK, resp);
        r.headers_mut().insert(SESSION_HEADER, HeaderValue::from_str(&session.id).expect("hex id"));
        return r;
    }
    let s = match session_of(&gw, &h, &who) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match msg {
        Message::Request { id, method, msg } => {
            match dispatch::request(&gw, &s, id, &method, &msg, sse, &trace).await {
                Reply::Json(v) if sse && !gw.limits.json_responses => sse_response(Some(v), None),
                Reply::Json(v) => json_response(StatusCode::OK, v),
                Reply::Stream(first, rx) => sse_response(Some(first), Some(rx)),
                Reply::Held(prefix, first, rx) => resume::stream(prefix, first, rx),
            }
        }
        Message::Notification { method, msg } => {
            dispatch::notification(&s, &method, &msg);
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response { id, msg } => {
            dispatch::client_response(&s, &id, &msg).await;
            StatusCode::ACCEPTED.into_response()
        }
    }
}

fn sse_response(first: Option<Value>, rx: Option<mpsc::Receiver<Value>>) -> Response {
    let frame = |m: Value| Ok::<_, Infallible>(Bytes::from(warden_mcp::sse::encode(None, &m.to_string())));
    let head = futures::stream::iter(first.map(frame));
    let rest = futures::stream::unfold(rx, move |rx| async move {
        let mut rx = rx?;
        let m = rx.recv().await?;
        Some((frame(m), Some(rx)))
    });
    event_stream(Body::from_stream(futures::StreamExt::chain(head, rest)))
}

pub async fn mcp_get(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    let who = match admit(&gw, &h).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    // A held call's stream, resumed here (perhaps after its replica died):
    // answered from the shared store, with or without a session here.
    let target = match header_str(&h, "last-event-id").and_then(resume::parse) {
        Some(ev) => Err(ev),
        None => match session_of(&gw, &h, &who) {
            Ok(s) => Ok(s),
            Err(r) => return r,
        },
    };
    if !header_str(&h, header::ACCEPT).unwrap_or("").to_ascii_lowercase().contains("text/event-stream") {
        return refuse(
            StatusCode::NOT_ACCEPTABLE,
            jsonrpc::INVALID_REQUEST,
            "Not Acceptable: GET requires Accept: text/event-stream",
        );
    }
    if gw.draining.load(Ordering::Relaxed) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, jsonrpc::INTERNAL_ERROR, "Service Unavailable: shutting down");
    }
    let s = match target {
        Ok(s) => s,
        Err(ev) => return resume::serve(&gw, &who, &h, ev).await,
    };
    let (tx, rx) = mpsc::channel(256);
    {
        let mut slot = s.stream.lock().unwrap();
        if slot.as_ref().is_some_and(|t| !t.is_closed()) {
            return refuse(
                StatusCode::CONFLICT,
                jsonrpc::INVALID_REQUEST,
                "Conflict: this session already has a GET stream",
            );
        }
        *slot = Some(tx);
    }
    sse_response(None, Some(rx))
}

pub async fn mcp_delete(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    let s = match admit(&gw, &h).await.and_then(|who| session_of(&gw, &h, &who)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    gw.sessions.remove(&s.id);
    dispatch::end_session(&gw, &s).await;
    tracing::info!(agent = %s.agent_name, session = %s.id, "session ended by client");
    StatusCode::NO_CONTENT.into_response()
}
