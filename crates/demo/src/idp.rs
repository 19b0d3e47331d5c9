//! A test authorization server: an OAuth 2.0 token endpoint with the client
//! credentials grant (RFC 6749 section 4.4) and a security token service for
//! token exchange (RFC 8693), with the responses and error bodies those RFCs
//! define. Tests of Warden's credential custody use it as the upstream's
//! authorization server; [`Idp::check`] is the resource server's view of a
//! token (valid, expired, revoked).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Validates a token-exchange subject token: the subject's name, or why not.
pub type SubjectCheck = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// A token this server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The client (client credentials) or the exchanged subject (token exchange).
    pub subject: String,
    pub client: Option<String>,
    pub scope: String,
    pub audience: Option<String>,
    pub expires: Instant,
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, Issued>,
    revoked: HashSet<String>,
    /// Every token request's form, in arrival order (client secrets included: tests only).
    requests: Vec<BTreeMap<String, String>>,
    /// Subjects the STS refuses (`access_denied`).
    refused: HashSet<String>,
}

#[derive(Clone)]
pub struct Idp {
    clients: Arc<HashMap<String, String>>,
    ttl: Duration,
    subject_check: Option<SubjectCheck>,
    inner: Arc<Mutex<Inner>>,
}

impl Idp {
    /// `clients`: client id → secret. `subject_check`: enables token exchange.
    pub fn new(clients: &[(&str, &str)], ttl: Duration, subject_check: Option<SubjectCheck>) -> Idp {
        Idp {
            clients: Arc::new(clients.iter().map(|(i, s)| (i.to_string(), s.to_string())).collect()),
            ttl,
            subject_check,
            inner: Arc::default(),
        }
    }

    /// Serves `POST /token` until the listener closes.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new().route("/token", post(token)).with_state(self);
        axum::serve(listener, app).await
    }

    /// The resource server's check: who the token stands for, or why it is refused.
    pub fn check(&self, token: &str) -> Result<Issued, &'static str> {
        let inner = self.inner.lock().unwrap();
        if inner.revoked.contains(token) {
            return Err("revoked");
        }
        let t = inner.tokens.get(token).ok_or("unknown")?;
        if t.expires <= Instant::now() { Err("expired") } else { Ok(t.clone()) }
    }

    /// Revokes every token issued so far (a provider-side rotation).
    pub fn revoke_all(&self) {
        let mut inner = self.inner.lock().unwrap();
        let all: Vec<String> = inner.tokens.keys().cloned().collect();
        inner.revoked.extend(all);
    }

    /// Every token issued so far expires now, whatever `expires_in` said
    /// (a provider whose clock runs ahead, or that shortened a lifetime).
    pub fn expire_all(&self) {
        let now = Instant::now();
        for t in self.inner.lock().unwrap().tokens.values_mut() {
            t.expires = now;
        }
    }

    /// The STS refuses exchanges for this subject from now on.
    pub fn refuse_subject(&self, subject: &str) {
        self.inner.lock().unwrap().refused.insert(subject.to_string());
    }

    pub fn requests(&self) -> Vec<BTreeMap<String, String>> {
        self.inner.lock().unwrap().requests.clone()
    }

    fn issue(&self, i: Issued) -> (String, u64) {
        let token = format!("at-{}", uuid::Uuid::new_v4().simple());
        let ttl = self.ttl;
        let issued = Issued { expires: Instant::now() + ttl, ..i };
        self.inner.lock().unwrap().tokens.insert(token.clone(), issued);
        (token, ttl.as_secs().max(1))
    }

    /// RFC 6749 section 2.3.1: HTTP Basic (URL-encoded id and secret) or the form body.
    fn client(&self, headers: &HeaderMap, form: &BTreeMap<String, String>) -> Result<Option<String>, Box<Response>> {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(|b| {
                let raw = base64::engine::general_purpose::STANDARD.decode(b.trim()).unwrap_or_default();
                let raw = String::from_utf8_lossy(&raw).into_owned();
                let (i, s) = raw.split_once(':').unwrap_or((&raw, ""));
                let dec =
                    |x: &str| url::form_urlencoded::parse(format!("a={x}").as_bytes()).next().unwrap().1.into_owned();
                (dec(i), dec(s))
            });
        let posted = form.get("client_secret").map(|s| (form.get("client_id").cloned().unwrap_or_default(), s.clone()));
        let (id, secret) = match (basic, posted) {
            (Some(_), Some(_)) => {
                return Err(Box::new(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "more than one client authentication method",
                )));
            }
            (Some(c), None) | (None, Some(c)) => c,
            (None, None) => return Ok(None),
        };
        match self.clients.get(&id) {
            Some(s) if *s == secret => Ok(Some(id)),
            _ => {
                let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, "Basic realm=\"demo-idp\"".parse().unwrap());
                Err(Box::new(r))
            }
        }
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (status, axum::Json(json!({"error": error, "error_description": description}))).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    r
}

fn success(body: Value) -> Response {
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    r.headers_mut().insert(header::PRAGMA, "no-cache".parse().unwrap());
    r
}

async fn token(State(idp): State<Idp>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ctype.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    idp.inner.lock().unwrap().requests.push(form.clone());
    let client = match idp.client(&headers, &form) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let scope = form.get("scope").cloned().unwrap_or_default();
    match form.get("grant_type").map(String::as_str) {
        Some(GRANT_CLIENT_CREDENTIALS) => {
            let Some(client) = client else {
                return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication is required");
            };
            let (token, ttl) = idp.issue(Issued {
                subject: client.clone(),
                client: Some(client),
                scope: scope.clone(),
                audience: form.get("audience").cloned(),
                expires: Instant::now(),
            });
            success(json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": scope}))
        }
        Some(GRANT_TOKEN_EXCHANGE) => {
            let Some(check) = &idp.subject_check else {
                return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "token exchange is not enabled");
            };
            let (Some(subject_token), Some(kind)) = (form.get("subject_token"), form.get("subject_token_type")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "subject_token and subject_token_type are required",
                );
            };
            if kind != TOKEN_TYPE_ACCESS && kind != TOKEN_TYPE_JWT {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "unsupported subject_token_type");
            }
            if let Some(t) = form.get("requested_token_type")
                && t != TOKEN_TYPE_ACCESS
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "only access tokens are issued");
            }
            let subject = match check(subject_token) {
                Ok(s) => s,
                Err(why) => {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &format!("subject_token: {why}"));
                }
            };
            if idp.inner.lock().unwrap().refused.contains(&subject) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    &format!("exchange refused for {subject}"),
                );
            }
            let (token, ttl) = idp.issue(Issued {
                subject,
                client,
                scope: scope.clone(),
                audience: form.get("audience").cloned(),
                expires: Instant::now(),
            });
            success(json!({"access_token": token, "issued_token_type": TOKEN_TYPE_ACCESS,
                           "token_type": "Bearer", "expires_in": ttl, "scope": scope}))
        }
        Some(_) => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unsupported grant_type"),
        None => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is required"),
    }
}
