//! Standard OAuth 2.0 for agents, so any client works:
//!
//! - `POST /oauth/token`: `client_credentials` grant (RFC 6749 §4.4); client
//!   authentication by HTTP Basic or form fields; returns a short-lived EdDSA JWT.
//! - `/.well-known/jwks.json`, `/.well-known/oauth-authorization-server`
//!   (RFC 8414) and `/.well-known/oauth-protected-resource[/mcp]` (RFC 9728,
//!   which the MCP authorization spec points clients to from the 401).

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use warden_core::inventory::Status;

use crate::Gateway;
use crate::http::{base_url, check_host, header_str, json_response};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = json_response(status, json!({"error": error, "error_description": description}));
    r.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"warden\""));
    }
    r
}

/// At most two argon2 verifications at once (19 MiB each): a flood of token
/// requests queues instead of exhausting memory.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static S: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    S.get_or_init(|| tokio::sync::Semaphore::new(2))
}

/// A valid-format hash of a random secret: verifying against it costs the same
/// as a real check, so unknown clients cannot be told apart by timing.
fn decoy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| warden_auth::secrets::hash_secret(&warden_auth::secrets::new_client_secret()))
}

async fn verify(secret: String, phc: String) -> bool {
    let _permit = argon2_permits().acquire().await.expect("semaphore never closed");
    tokio::task::spawn_blocking(move || warden_auth::secrets::verify_secret(&secret, &phc)).await.unwrap_or(false)
}

const MAX_TOKEN_BODY: usize = 16 * 1024;

pub(crate) async fn token(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_host(&gw, &h) {
        return r;
    }
    let ct = header_str(&h, header::CONTENT_TYPE).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    if body.len() > MAX_TOKEN_BODY {
        return oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "request body too large");
    }
    let mut form: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if form.iter().any(|(x, _)| *x == k) {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &format!("parameter {k:?} repeated"));
        }
        form.push((k.into_owned(), v.into_owned()));
    }
    let param = |k: &str| form.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
    match param("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type {other:?} is not supported; use client_credentials"),
            );
        }
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required"),
    }
    // Client authentication: Basic, or client_id/client_secret in the form; not both.
    let basic = header_str(&h, header::AUTHORIZATION).and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        let dec =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        Some((dec(id)?, dec(secret)?))
    });
    let posted = match (param("client_id"), param("client_secret")) {
        (Some(i), Some(s)) => Some((i.to_string(), s.to_string())),
        _ => None,
    };
    let (client_id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "use one client authentication method");
        }
        (Some(c), None) | (None, Some(c)) => c,
        (None, None) => {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication required");
        }
    };
    if let Some(scope) = param("scope")
        && !scope.trim().is_empty()
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scopes are not used; access comes from the inventory",
        );
    }
    let stored = match gw.store.secret_hash(&client_id).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "store error during token request; refusing");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "store unavailable");
        }
    };
    let known = stored.is_some();
    let ok = verify(secret, stored.unwrap_or_else(|| decoy_hash().to_string())).await && known;
    if !ok {
        tracing::info!(client_id = %client_id, "token request refused: bad client credentials");
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    // The store is authoritative for status (a replica's live view may lag by one poll).
    let rec = match gw.store.agent(&client_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed"),
        Err(e) => {
            tracing::error!(error = %e, "store error during token request; refusing");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "store unavailable");
        }
    };
    if rec.status != Status::Active {
        tracing::info!(agent = %client_id, status = %rec.status, "token request refused: agent not active");
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", &format!("agent is {}", rec.status));
    }
    let issued = gw.directory.keyring().issue(&rec.id, &rec.spec.name, &rec.spec.team);
    match issued {
        Ok((jwt, claims)) => {
            tracing::info!(agent = %client_id, jti = %claims.jti, "access token issued");
            let mut r = json_response(
                StatusCode::OK,
                json!({"access_token": jwt, "token_type": "Bearer", "expires_in": claims.exp - claims.iat}),
            );
            r.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "token signing failed");
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "signing unavailable")
        }
    }
}

pub(crate) async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    let mut r = axum::Json(gw.directory.keyring().jwks()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    r
}

pub(crate) async fn as_metadata(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    if let Err(r) = check_host(&gw, &h) {
        return r;
    }
    let base = base_url(&gw, &h);
    let body: Value = json!({
        "issuer": gw.directory.settings().issuer,
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "scopes_supported": [],
    });
    axum::Json(body).into_response()
}

pub(crate) async fn resource_metadata(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    if let Err(r) = check_host(&gw, &h) {
        return r;
    }
    let base = base_url(&gw, &h);
    let body = json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [gw.directory.settings().issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": "Warden MCP gateway",
    });
    axum::Json(body).into_response()
}
