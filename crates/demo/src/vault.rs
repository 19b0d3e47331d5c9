//! A protocol-faithful stand-in for HashiCorp Vault, for tests where no real
//! Vault can run: the KV version 2 read and write endpoints
//! (`/v1/<mount>/data/<path>`), token authentication (`X-Vault-Token`, with
//! token expiry), the Kubernetes auth method (`/v1/auth/<mount>/login`), and
//! Vault's response and error shapes (`{"errors": [...]}`, 403 on a bad token).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

#[derive(Default)]
struct Inner {
    /// (mount, path) → versions, oldest first.
    kv: HashMap<(String, String), Vec<Map<String, Value>>>,
    /// token → expiry (None: never).
    tokens: HashMap<String, Option<Instant>>,
}

/// The Kubernetes auth role this server accepts.
#[derive(Clone)]
pub struct KubernetesRole {
    pub mount: String,
    pub role: String,
    /// The only service-account JWT accepted.
    pub jwt: String,
    pub ttl: Duration,
}

#[derive(Clone)]
pub struct Vault {
    inner: Arc<Mutex<Inner>>,
    kubernetes: Option<KubernetesRole>,
    namespace: Option<String>,
    /// KV reads answered (200), and logins granted.
    pub reads: Arc<AtomicU64>,
    pub logins: Arc<AtomicU64>,
}

impl Vault {
    /// `root_token`: a token that never expires. `namespace`: when set, every
    /// request must carry it in `X-Vault-Namespace`.
    pub fn new(root_token: &str, kubernetes: Option<KubernetesRole>, namespace: Option<&str>) -> Vault {
        let mut inner = Inner::default();
        inner.tokens.insert(root_token.to_string(), None);
        Vault {
            inner: Arc::new(Mutex::new(inner)),
            kubernetes,
            namespace: namespace.map(str::to_string),
            reads: Arc::default(),
            logins: Arc::default(),
        }
    }

    /// Writes a new version of a KV v2 secret (as `vault kv put` would).
    pub fn put(&self, mount: &str, path: &str, data: Value) {
        let data = data.as_object().cloned().unwrap_or_default();
        self.inner.lock().unwrap().kv.entry((mount.into(), path.into())).or_default().push(data);
    }

    /// Revokes every token except the root token (as `vault token revoke` would).
    pub fn revoke_issued_tokens(&self) {
        self.inner.lock().unwrap().tokens.retain(|_, exp| exp.is_none());
    }

    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new().route("/v1/{*rest}", any(handle)).with_state(self);
        axum::serve(listener, app).await
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) else { return false };
        let inner = self.inner.lock().unwrap();
        match inner.tokens.get(t) {
            Some(None) => true,
            Some(Some(exp)) => *exp > Instant::now(),
            None => false,
        }
    }
}

fn errors(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"errors": [msg]}))).into_response()
}

fn rfc3339_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

async fn handle(
    State(v): State<Vault>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(ns) = &v.namespace
        && headers.get("x-vault-namespace").and_then(|h| h.to_str().ok()) != Some(ns.as_str())
    {
        return errors(StatusCode::FORBIDDEN, "permission denied");
    }
    // Kubernetes login: POST /v1/auth/<mount>/login {"role", "jwt"}.
    if let Some(mount) = rest.strip_prefix("auth/").and_then(|r| r.strip_suffix("/login")) {
        if method != Method::POST && method != Method::PUT {
            return errors(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation");
        }
        let Some(k) = v.kubernetes.as_ref().filter(|k| k.mount == mount) else {
            return errors(StatusCode::NOT_FOUND, &format!("no handler for route \"auth/{mount}/login\""));
        };
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (Some(role), Some(jwt)) = (req["role"].as_str(), req["jwt"].as_str()) else {
            return errors(StatusCode::BAD_REQUEST, "missing role or jwt");
        };
        if role != k.role {
            return errors(StatusCode::BAD_REQUEST, &format!("invalid role name \"{role}\""));
        }
        if jwt != k.jwt {
            return errors(StatusCode::FORBIDDEN, "permission denied");
        }
        let token = format!("hvs.{}", uuid::Uuid::new_v4().simple());
        v.inner.lock().unwrap().tokens.insert(token.clone(), Some(Instant::now() + k.ttl));
        v.logins.fetch_add(1, Ordering::Relaxed);
        return axum::Json(json!({
            "request_id": uuid::Uuid::new_v4().to_string(), "lease_id": "", "renewable": false, "lease_duration": 0,
            "data": null, "wrap_info": null, "warnings": null,
            "auth": {"client_token": token, "accessor": uuid::Uuid::new_v4().simple().to_string(),
                     "policies": ["default", "warden"], "token_policies": ["default", "warden"],
                     "metadata": {"role": role, "service_account_name": "warden"},
                     "lease_duration": k.ttl.as_secs(), "renewable": true, "entity_id": "", "token_type": "service",
                     "orphan": true}
        }))
        .into_response();
    }
    if !v.token_ok(&headers) {
        return errors(StatusCode::FORBIDDEN, "permission denied");
    }
    let Some((mount, path)) = rest.split_once("/data/") else {
        return errors(StatusCode::NOT_FOUND, &format!("no handler for route \"{rest}\""));
    };
    let key = (mount.to_string(), path.to_string());
    match method {
        Method::GET => {
            let inner = v.inner.lock().unwrap();
            let Some(versions) = inner.kv.get(&key).filter(|vs| !vs.is_empty()) else {
                return errors(StatusCode::NOT_FOUND, "");
            };
            v.reads.fetch_add(1, Ordering::Relaxed);
            axum::Json(json!({
                "request_id": uuid::Uuid::new_v4().to_string(), "lease_id": "", "renewable": false,
                "lease_duration": 0,
                "data": {"data": versions.last().unwrap(),
                         "metadata": {"created_time": rfc3339_now(), "custom_metadata": null, "deletion_time": "",
                                      "destroyed": false, "version": versions.len()}},
                "wrap_info": null, "warnings": null, "auth": null
            }))
            .into_response()
        }
        Method::POST | Method::PUT => {
            let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let Some(data) = req.get("data").and_then(Value::as_object) else {
                return errors(StatusCode::BAD_REQUEST, "no data provided");
            };
            let mut inner = v.inner.lock().unwrap();
            let versions = inner.kv.entry(key).or_default();
            versions.push(data.clone());
            axum::Json(json!({"data": {"created_time": rfc3339_now(), "deletion_time": "", "destroyed": false,
                                       "version": versions.len()}}))
            .into_response()
        }
        _ => errors(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation"),
    }
}
