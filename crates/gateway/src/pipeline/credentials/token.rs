//! Upstream tokens from an authorization server: the OAuth 2.0 client
//! credentials grant (RFC 6749 section 4.4) and token exchange (RFC 8693).
//! A token is cached, fetched again shortly before it expires, and dropped
//! when the upstream answers 401 (the caller then retries once). Every token
//! obtained joins the known-secret matcher.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use warden_config::ClientAuth;
use warden_secrets::{Secret, SecretRef};

use super::Custody;

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Mints the subject token for one exchange.
pub type Subject = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

pub enum Grant {
    ClientCredentials,
    Exchange { subject: Subject },
}

/// Warden's client at the token endpoint.
pub struct Client {
    pub id: String,
    pub secret: SecretRef,
    pub auth: ClientAuth,
}

pub struct TokenRequest {
    pub endpoint: reqwest::Url,
    pub grant: Grant,
    pub client: Option<Client>,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
}

/// A token request, ready to send.
struct Form {
    body: zeroize::Zeroizing<String>,
    /// `Authorization: Basic ...` (client_secret_basic).
    basic: Option<zeroize::Zeroizing<String>>,
    exchange: bool,
}

struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// A token without `expires_in` is reused this long at most (a 401 still drops it).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Refresh this long before expiry at most (less for short-lived tokens).
const MAX_MARGIN: Duration = Duration::from_secs(60);

pub struct TokenSource {
    /// Names the token in messages, metrics and `[REDACTED:<label>]`.
    pub label: String,
    request: TokenRequest,
    custody: Arc<Custody>,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("label", &self.label).finish()
    }
}

/// When to fetch again: before expiry by a fifth of the lifetime, at most a minute.
fn refresh_at(now: Instant, lifetime: Duration) -> Instant {
    now + lifetime - (lifetime / 5).min(MAX_MARGIN)
}

impl TokenSource {
    pub fn new(label: String, request: TokenRequest, custody: Arc<Custody>, http: reqwest::Client) -> TokenSource {
        TokenSource { label, request, custody, http, cached: Mutex::new(None), fetching: tokio::sync::Mutex::new(()) }
    }

    fn fresh(&self) -> Option<Secret> {
        self.cached.lock().unwrap().as_ref().filter(|c| Instant::now() < c.refresh_at).map(|c| c.token.clone())
    }

    /// The current token, fetched when there is none fresh. One fetch at a time.
    pub async fn token(&self) -> Result<Secret, String> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let _one = self.fetching.lock().await;
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        match self.fetch().await {
            Ok((token, lifetime)) => {
                self.custody.remember_value(&self.label, &token);
                let now = Instant::now();
                *self.cached.lock().unwrap() =
                    Some(Cached { token: token.clone(), refresh_at: refresh_at(now, lifetime) });
                Ok(token)
            }
            Err(e) => {
                self.custody.count_failure(&self.label);
                Err(format!("{}: {e}", self.label))
            }
        }
    }

    /// Forgets the cached token (the upstream refused it).
    pub fn forget(&self) {
        *self.cached.lock().unwrap() = None;
    }

    /// The token request's form body, and the Basic credentials when the client authenticates so.
    fn form(&self, client_secret: Option<&Secret>) -> Result<Form, String> {
        let r = &self.request;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let exchange = match &r.grant {
            Grant::ClientCredentials => {
                form.append_pair("grant_type", "client_credentials");
                false
            }
            Grant::Exchange { subject } => {
                let subject = zeroize::Zeroizing::new(subject()?);
                form.append_pair("grant_type", GRANT_TOKEN_EXCHANGE)
                    .append_pair("subject_token", &subject)
                    .append_pair("subject_token_type", TOKEN_TYPE_ACCESS)
                    .append_pair("requested_token_type", TOKEN_TYPE_ACCESS);
                true
            }
        };
        if !r.scopes.is_empty() {
            form.append_pair("scope", &r.scopes.join(" "));
        }
        if let Some(a) = &r.audience {
            form.append_pair("audience", a);
        }
        if let Some(res) = &r.resource {
            form.append_pair("resource", res);
        }
        let mut basic = None;
        if let (Some(c), Some(secret)) = (&r.client, client_secret) {
            match c.auth {
                ClientAuth::ClientSecretPost => {
                    form.append_pair("client_id", &c.id).append_pair("client_secret", secret.expose());
                }
                ClientAuth::ClientSecretBasic => {
                    // RFC 6749 section 2.3.1: both parts form-urlencoded, then Basic.
                    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                    let pair = zeroize::Zeroizing::new(format!("{}:{}", enc(&c.id), enc(secret.expose())));
                    basic = Some(zeroize::Zeroizing::new(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                    )));
                }
            }
        }
        Ok(Form { body: zeroize::Zeroizing::new(form.finish()), basic, exchange })
    }

    async fn fetch(&self) -> Result<(Secret, Duration), String> {
        let r = &self.request;
        let client_secret = match &r.client {
            Some(c) => Some(self.custody.resolve(&c.secret).await?),
            None => None,
        };
        let Form { body, basic, exchange } = self.form(client_secret.as_ref())?;
        let mut rb = self
            .http
            .post(r.endpoint.clone())
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .timeout(Duration::from_secs(10))
            .body(body.to_string());
        if let Some(b) = &basic {
            let mut v =
                http::HeaderValue::from_str(b).map_err(|_| "the client id cannot go in a header".to_string())?;
            v.set_sensitive(true);
            rb = rb.header(http::header::AUTHORIZATION, v);
        }
        let resp = rb.send().await.map_err(|e| format!("token endpoint {} unreachable: {e}", r.endpoint))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("reading the token response: {e}"))?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            // RFC 6749 section 5.2 (and RFC 8693 section 2.2.2): {"error", "error_description"}.
            return Err(match v.get("error").and_then(Value::as_str) {
                Some(code) => {
                    let desc = v.get("error_description").and_then(Value::as_str).unwrap_or("");
                    let desc: String = self.custody.known().redact(desc).chars().take(300).collect();
                    format!(
                        "the token endpoint refused: {code}{}{desc} (HTTP {status})",
                        if desc.is_empty() { "" } else { ": " }
                    )
                }
                None => format!("the token endpoint answered HTTP {status}"),
            });
        }
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("the token response has no access_token")?;
        let token_type = v.get("token_type").and_then(Value::as_str).unwrap_or("");
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(format!("the token response has token_type {token_type:?}; Warden sends Bearer tokens only"));
        }
        if exchange && v.get("issued_token_type").and_then(Value::as_str).is_none() {
            return Err("the token-exchange response has no issued_token_type (RFC 8693 section 2.2.1)".into());
        }
        let lifetime = match v.get("expires_in") {
            None | Some(Value::Null) => DEFAULT_LIFETIME,
            Some(e) => Duration::from_secs(
                e.as_u64()
                    .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
                    .ok_or("the token response has an invalid expires_in")?,
            ),
        };
        Ok((Secret::new(token.to_string()), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_before_expiry() {
        let now = Instant::now();
        assert_eq!(refresh_at(now, Duration::from_secs(3600)), now + Duration::from_secs(3540));
        assert_eq!(refresh_at(now, Duration::from_secs(10)), now + Duration::from_secs(8));
        assert_eq!(refresh_at(now, Duration::ZERO), now);
    }
}
