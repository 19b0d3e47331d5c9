//! Shared HTTP helpers for every front door: the Host/Origin (DNS-rebinding)
//! guard, bearer admission, JSON and SSE responses. Imports no door.

// Refusals are `Err(Response)`: built once, returned straight to the client.
#![allow(clippy::result_large_err)]

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warden_core::identity::{AuthError, Identity};
use warden_core::jsonrpc;

use crate::Gateway;

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

pub(crate) fn rpc_error(status: StatusCode, id: &Value, code: i64, message: &str) -> Response {
    json_response(status, jsonrpc::error(id, code, message))
}

/// A refusal that is not tied to any request id.
pub(crate) fn refuse(status: StatusCode, code: i64, message: &str) -> Response {
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

/// A `200 text/event-stream` response with this body (MCP streams, streamed model answers).
pub(crate) fn event_stream(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("static response parts")
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
