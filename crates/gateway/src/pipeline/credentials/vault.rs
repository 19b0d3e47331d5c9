//! `vault://mount/path#key`: HashiCorp Vault KV version 2 over HTTP.
//!
//! Login: a Vault token (itself a secret reference) or the Kubernetes auth
//! method (the pod's service-account JWT traded at `auth/<mount>/login`; the
//! Vault token is renewed by logging in again before its lease ends, and once
//! more when Vault answers 403). Reads are cached for the read's lease, or
//! `cache_secs` when Vault gives none (KV v2 answers `lease_duration: 0`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use warden_config::{VaultAuth, VaultConfig};
use warden_secrets::{Secret, SecretRef};

use super::Custody;

enum Login {
    Token(SecretRef),
    Kubernetes { role: String, mount: String, jwt_file: String },
}

struct Token {
    value: Secret,
    /// Log in again after this (Kubernetes auth: 80% of the lease).
    renew_at: Option<Instant>,
}

struct Entry {
    data: HashMap<String, Secret>,
    until: Instant,
}

pub struct VaultClient {
    address: reqwest::Url,
    namespace: Option<String>,
    login: Login,
    cache_for: Duration,
    timeout: Duration,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Token>>,
    cache: Mutex<HashMap<(String, String), Entry>>,
}

fn vault_errors(v: &Value) -> String {
    v.get("errors")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "no detail".into())
}

impl VaultClient {
    pub fn new(cfg: &VaultConfig, http: reqwest::Client) -> anyhow::Result<VaultClient> {
        let login = match &cfg.auth {
            VaultAuth::Token { token } => Login::Token(SecretRef::parse(&token.0).map_err(anyhow::Error::msg)?),
            VaultAuth::Kubernetes { role, mount, jwt_file } => {
                Login::Kubernetes { role: role.clone(), mount: mount.clone(), jwt_file: jwt_file.0.clone() }
            }
        };
        Ok(VaultClient {
            address: cfg.address.0.clone(),
            namespace: cfg.namespace.as_ref().map(|n| n.0.clone()),
            login,
            cache_for: Duration::from_secs(cfg.cache_secs.0),
            timeout: Duration::from_secs_f64(cfg.timeout_secs.0),
            http,
            token: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, String> {
        self.address.join(&format!("v1/{path}")).map_err(|e| format!("bad Vault URL: {e}"))
    }

    fn request(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb.timeout(self.timeout);
        match &self.namespace {
            Some(ns) => rb.header("X-Vault-Namespace", ns),
            None => rb,
        }
    }

    /// The Vault token: resolved (token method) or obtained by login (Kubernetes).
    async fn vault_token(&self, custody: &Custody, fresh: bool) -> Result<Secret, String> {
        let mut held = self.token.lock().await;
        if !fresh
            && let Some(t) = held.as_ref()
            && t.renew_at.is_none_or(|r| Instant::now() < r)
        {
            return Ok(t.value.clone());
        }
        let token = match &self.login {
            Login::Token(r) => Token { value: custody.fetch_local(r).await?, renew_at: None },
            Login::Kubernetes { role, mount, jwt_file } => {
                let jwt = zeroize::Zeroizing::new(
                    std::fs::read_to_string(jwt_file)
                        .map_err(|e| format!("cannot read the service-account token {jwt_file}: {e}"))?,
                );
                let body = serde_json::json!({"role": role, "jwt": jwt.trim()});
                let resp = self
                    .request(self.http.post(self.url(&format!("auth/{mount}/login"))?))
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .map_err(|e| format!("Vault unreachable: {e}"))?;
                let status = resp.status();
                let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
                if !status.is_success() {
                    return Err(format!(
                        "Vault refused the Kubernetes login (role {role}): HTTP {status}: {}",
                        vault_errors(&v)
                    ));
                }
                let value = v
                    .pointer("/auth/client_token")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or("Vault's login answer has no auth.client_token")?;
                let lease = v.pointer("/auth/lease_duration").and_then(Value::as_u64).unwrap_or(0);
                let renew_at = (lease > 0).then(|| Instant::now() + Duration::from_secs(lease) * 4 / 5);
                Token { value: Secret::new(value.to_string()), renew_at }
            }
        };
        custody.remember_value("vault-token", &token.value);
        let value = token.value.clone();
        *held = Some(token);
        Ok(value)
    }

    /// Reads `key` of the KV v2 secret at `mount/path`.
    pub async fn read(&self, custody: &Custody, mount: &str, path: &str, key: &str) -> Result<Secret, String> {
        let at = (mount.to_string(), path.to_string());
        let pick = |data: &HashMap<String, Secret>| {
            data.get(key).cloned().ok_or_else(|| format!("Vault secret {mount}/{path} has no key {key:?}"))
        };
        if let Some(e) = self.cache.lock().unwrap().get(&at).filter(|e| Instant::now() < e.until) {
            return pick(&e.data);
        }
        let url = self.url(&format!("{mount}/data/{path}"))?;
        let mut fresh = false;
        let v = loop {
            let token = self.vault_token(custody, fresh).await?;
            let mut h =
                http::HeaderValue::from_str(token.expose()).map_err(|_| "the Vault token is not a valid header")?;
            h.set_sensitive(true);
            let resp = self
                .request(self.http.get(url.clone()).header("X-Vault-Token", h))
                .send()
                .await
                .map_err(|e| format!("Vault unreachable: {e}"))?;
            let status = resp.status();
            let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
            match status.as_u16() {
                200 => break v,
                // An expired or revoked Vault token: log in again, once.
                403 if !fresh && matches!(self.login, Login::Kubernetes { .. }) => fresh = true,
                403 => return Err(format!("Vault denied reading {mount}/{path}: {}", vault_errors(&v))),
                404 => return Err(format!("Vault has no secret at {mount}/{path}")),
                _ => return Err(format!("Vault answered HTTP {status} for {mount}/{path}: {}", vault_errors(&v))),
            }
        };
        let fields = v.pointer("/data/data").and_then(Value::as_object).ok_or_else(|| {
            format!("Vault's answer for {mount}/{path} has no data.data: is {mount} a KV version 2 mount?")
        })?;
        let data: HashMap<String, Secret> =
            fields.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), Secret::new(s.to_string())))).collect();
        let lease = v.get("lease_duration").and_then(Value::as_u64).unwrap_or(0);
        let ttl = if lease > 0 { Duration::from_secs(lease).min(self.cache_for) } else { self.cache_for };
        let got = pick(&data);
        self.cache.lock().unwrap().insert(at, Entry { data, until: Instant::now() + ttl });
        got
    }
}
