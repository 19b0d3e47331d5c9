//! The HTTP edge. Order of checks on `/mcp`: Host/Origin (DNS rebinding) →
//! bearer token → content type and size → JSON-RPC shape → session binding.
//! Each refusal has its own status and a clear body; none reaches an upstream.

// Refusals are `Err(Response)`: built once, returned straight to the client.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_core::identity::{AuthError, Identity};
use warden_core::jsonrpc::{self, Message};

use crate::Gateway;
use crate::dispatch::{self, Reply};
use crate::session::Session;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/mcp", post(mcp_post).get(mcp_get).delete(mcp_delete))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::report::metrics))
        .merge(crate::oauth::routes())
        .merge(crate::api::routes())
        .merge(crate::llm::routes())
        .with_state(gw)
}

/// Which `Host` and `Origin` values `/mcp` accepts.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    hosts: Vec<String>,
    origins: Vec<String>,
    any_host: bool,
}

impl HostPolicy {
    pub fn new(hosts: Vec<String>, origins: Vec<String>) -> HostPolicy {
        let any_host = hosts.iter().any(|h| h == "*");
        HostPolicy {
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins: origins.into_iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect(),
            any_host,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.any_host || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// `Host` is required (HTTP/1.1) and must name an allowed host, any port.
    pub fn check_host(&self, value: Option<&str>) -> bool {
        value.and_then(host_part).is_some_and(|h| self.host_allowed(h))
    }

    /// `Origin`, when sent (browsers always send it cross-site), must be an
    /// allowed host or listed exactly.
    pub fn check_origin(&self, value: Option<&str>) -> bool {
        let Some(origin) = value else { return true };
        let o = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&o) {
            return true;
        }
        let Some(rest) = o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")) else {
            return false;
        };
        host_part(rest).is_some_and(|h| self.host_allowed(h))
    }
}

/// The host of `host[:port]`, with IPv6 brackets kept (`[::1]`).
fn host_part(v: &str) -> Option<&str> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if v.starts_with('[') {
        let end = v.find(']')?;
        let rest = &v[end + 1..];
        if !(rest.is_empty() || rest.starts_with(':') && rest[1..].bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        return Some(&v[..=end]);
    }
    match v.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => Some(h),
        Some(_) => None,
        None => Some(v),
    }
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn rpc_error(status: StatusCode, id: &Value, code: i64, message: &str) -> Response {
    json_response(status, jsonrpc::error(id, code, message))
}

/// A refusal that is not tied to any request id.
fn refuse(status: StatusCode, code: i64, message: &str) -> Response {
    rpc_error(status, &Value::Null, code, message)
}

pub(crate) fn header_str(h: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// DNS-rebinding guard, shared by every route that serves agents or admins.
pub(crate) fn check_host(gw: &Gateway, h: &HeaderMap) -> Result<(), Response> {
    if !gw.hosts.check_host(header_str(h, header::HOST)) {
        return Err(refuse(StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST, "Forbidden: Host header is not allowed"));
    }
    if !gw.hosts.check_origin(header_str(h, header::ORIGIN)) {
        return Err(refuse(StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST, "Forbidden: Origin is not allowed"));
    }
    Ok(())
}

/// The URL agents reach Warden at: `server.public_url`, else from the (already
/// allow-listed) `Host` header.
pub(crate) fn base_url(gw: &Gateway, h: &HeaderMap) -> String {
    match &gw.public_url {
        Some(u) => u.clone(),
        None => format!("http://{}", header_str(h, header::HOST).unwrap_or("localhost")),
    }
}

/// DNS-rebinding guard and authentication, shared by POST, GET and DELETE.
pub(crate) async fn admit(gw: &Gateway, h: &HeaderMap) -> Result<Identity, Response> {
    check_host(gw, h)?;
    gw.directory.authenticate(header_str(h, header::AUTHORIZATION)).await.map_err(|refusal| {
        tracing::info!(reason = %refusal.reason, "request refused: unauthenticated");
        let meta = format!("{}/.well-known/oauth-protected-resource/mcp", base_url(gw, h));
        let (challenge, msg) = match refusal.kind {
            AuthError::MissingToken => {
                (format!("Bearer realm=\"warden\", resource_metadata=\"{meta}\""), "missing bearer token")
            }
            AuthError::InvalidToken => (
                format!("Bearer realm=\"warden\", error=\"invalid_token\", resource_metadata=\"{meta}\""),
                "invalid bearer token",
            ),
        };
        let mut r = json_response(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized", "error_description": msg}));
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    })
}

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

async fn mcp_post(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
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
    let trace = crate::otlp::Trace::new(crate::trace::TraceContext::from_headers(&h), gw.otlp.clone());
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
        if let Err(e) = crate::govern::commit(&gw, rec, Some(&trace)).await {
            gw.sessions.remove(&session.id);
            return json_response(StatusCode::OK, crate::govern::audit_unavailable(&e).to_jsonrpc(id));
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

/// A `200 text/event-stream` response with this body (MCP streams, streamed model answers).
pub(crate) fn event_stream(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("static response parts")
}

async fn mcp_get(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    let s = match admit(&gw, &h).await.and_then(|who| session_of(&gw, &h, &who)) {
        Ok(s) => s,
        Err(r) => return r,
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

async fn mcp_delete(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    let s = match admit(&gw, &h).await.and_then(|who| session_of(&gw, &h, &who)) {
        Ok(s) => s,
        Err(r) => return r,
    };
    gw.sessions.remove(&s.id);
    dispatch::end_session(&gw, &s).await;
    tracing::info!(agent = %s.agent_name, session = %s.id, "session ended by client");
    StatusCode::NO_CONTENT.into_response()
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let cat = gw.catalog.load();
    let upstreams: Vec<Value> = gw
        .upstreams
        .iter()
        .map(|u| {
            let h = u.health();
            let state = match h.state {
                warden_mcp::upstream::HealthState::Healthy => "healthy",
                warden_mcp::upstream::HealthState::Connecting => "connecting",
                warden_mcp::upstream::HealthState::Unhealthy => "unhealthy",
            };
            let mut v = json!({"name": u.name(), "status": state, "since_s": h.since.elapsed().as_secs(), "connects": h.connects});
            if let Some(e) = h.last_error {
                v["error"] = Value::String(e);
            }
            v
        })
        .collect();
    let store_ok = matches!(tokio::time::timeout(std::time::Duration::from_secs(2), gw.store.ping()).await, Ok(Ok(())));
    let ready = gw.ready() && store_ok;
    let body = json!({
        "status": if !gw.ready() { "draining" } else if !store_ok { "store unavailable" } else { "ready" },
        "store": if store_ok { "ok" } else { "unavailable" },
        "upstreams": upstreams,
        "tools": cat.tools.entries.len(),
        "sessions": gw.sessions.len(),
        "conflicts": cat.conflicts,
    });
    json_response(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parsing() {
        assert_eq!(host_part("localhost:8470"), Some("localhost"));
        assert_eq!(host_part("127.0.0.1"), Some("127.0.0.1"));
        assert_eq!(host_part("[::1]:80"), Some("[::1]"));
        assert_eq!(host_part("[::1]"), Some("[::1]"));
        assert_eq!(host_part("[::1]x"), None);
        assert_eq!(host_part("a:b:c"), None);
        assert_eq!(host_part(""), None);
    }

    #[test]
    fn host_policy() {
        let p = HostPolicy::new(
            vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            vec!["https://app.example.com".into()],
        );
        assert!(p.check_host(Some("localhost:1")));
        assert!(p.check_host(Some("LOCALHOST")));
        assert!(!p.check_host(Some("evil.example.com")));
        assert!(!p.check_host(Some("localhost.evil.com:80")));
        assert!(!p.check_host(None));
        assert!(p.check_origin(None));
        assert!(p.check_origin(Some("http://localhost:3000")));
        assert!(p.check_origin(Some("https://app.example.com/")));
        assert!(!p.check_origin(Some("http://evil.example.com")));
        assert!(!p.check_origin(Some("null")));
        let any = HostPolicy::new(vec!["*".into()], vec![]);
        assert!(any.check_host(Some("anything:1")));
    }
}
