//! OpenID Connect relying party, for human sign-in to the web console:
//! authorization code flow with PKCE (S256), ID token verification,
//! Back-Channel Logout 1.0 logout tokens and RP-initiated logout URLs.
//!
//! One [`Provider`] per configured IdP (share it in an `Arc`). It caches the
//! discovery document (refetched after [`DISCOVERY_TTL`]; while the IdP is
//! unreachable a previously verified document keeps being used and the fetch
//! is retried every [`DISCOVERY_RETRY`]) and the JWKS (refetched when stale or
//! when a token names an unknown `kid`, at most once per [`JWKS_MIN_REFRESH`]),
//! sharing the JWKS cache and the algorithm checks with [`crate::federation`]:
//! only asymmetric algorithms, and the `alg` must belong to the key it names.
//!
//! The flow, as the console drives it:
//! 1. [`Provider::begin`] → redirect the browser to [`Begin::url`]; keep
//!    [`Begin::pending`] server-side or in a sealed, short-lived cookie.
//! 2. On the callback, compare the returned `state` with `pending.state`
//!    using [`constant_time_eq`] (this module does not see the callback's
//!    query), then [`Provider::finish`] with the `code`.
//! 3. Map [`Identity::groups`] with [`crate::roles::map_groups`].
//!
//! Discovery and every endpoint it names must be `https`, except on loopback
//! hosts (`localhost`, `127.0.0.0/8`, `::1`), for development and tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::Validation;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::TokenError;
use crate::jwks::{ASYMMETRIC, JwksCache, MAX_BODY, read_limited};

/// How long a fetched discovery document is used before it is refetched.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// While the IdP is unreachable: how often a stale discovery document is refetched.
pub const DISCOVERY_RETRY: Duration = Duration::from_secs(30);
/// How long a fetched JWKS is trusted.
pub const JWKS_TTL: Duration = Duration::from_secs(3600);
/// Rate limit on JWKS refetches triggered by unknown `kid`s.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// A logout token without `exp` is accepted only this long after its `iat`.
pub const LOGOUT_TOKEN_MAX_AGE_SECS: i64 = 300;
/// The `events` member that makes a JWT a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One IdP, as configured.
#[derive(Clone)]
pub struct OidcSpec {
    /// Exact expected `iss`; discovery is at `{issuer}/.well-known/openid-configuration`
    /// (one trailing slash of `issuer` is not doubled).
    pub issuer: String,
    pub client_id: String,
    /// The resolved client secret; `None` for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// Requested scopes; `openid` is always sent, first, even if missing here.
    pub scopes: Vec<String>,
    /// Absolute callback URL, as registered at the IdP.
    pub redirect_url: String,
    /// Where the groups are: a top-level claim name (`groups`, or a namespaced
    /// one containing dots such as `https://example.com/groups`), else a dotted
    /// path (`realm_access.roles`).
    pub groups_claim: String,
    /// Clock-skew tolerance for `exp`, `iat` and `nbf`.
    pub leeway_secs: u64,
    /// Per HTTP request to the IdP.
    pub timeout: Duration,
}

impl std::fmt::Debug for OidcSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSpec")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("scopes", &self.scopes)
            .field("redirect_url", &self.redirect_url)
            .field("groups_claim", &self.groups_claim)
            .field("leeway_secs", &self.leeway_secs)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a sign-in or logout step failed. The text is fit to show an operator
/// (never contains secrets or tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Discovery, JWKS or token endpoint unreachable, timed out, or 5xx.
    #[error("identity provider unavailable: {0}")]
    IdpUnavailable(String),
    /// The discovery document is unusable: not JSON, issuer mismatch, missing
    /// endpoints, no S256, non-https endpoints; or the configured issuer is not a URL.
    #[error("identity provider discovery failed: {0}")]
    Discovery(String),
    /// The token endpoint refused the code (`invalid_grant`, `invalid_client`, ...)
    /// or answered without an ID token. Starts with the IdP's error code when it sent one.
    #[error("identity provider refused the sign-in: {0}")]
    TokenEndpoint(String),
    /// An ID or logout token check failed; starts with the check's name:
    /// `signature`, `alg`, `issuer`, `audience`, `azp`, `expired`, `iat`,
    /// `nbf`, `nonce`, `events`, `subject`, `claim` or `malformed`.
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

/// The first leg of a sign-in.
#[derive(Debug, Clone)]
pub struct Begin {
    /// Where to send the browser.
    pub url: String,
    /// What [`Provider::finish`] needs; keep it until the callback.
    pub pending: Pending,
}

/// Per-sign-in secrets: each is URL-safe base64 (no padding) of 32 random bytes.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    /// PKCE `code_verifier`; the URL carries its S256 challenge.
    pub verifier: String,
}

/// A verified sign-in.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Identity {
    /// `sub`.
    pub subject: String,
    /// `iss` (equal to the configured issuer).
    pub issuer: String,
    /// `email`, unless the IdP marks it `email_verified: false`.
    pub email: Option<String>,
    /// `name`, else `preferred_username`.
    pub name: Option<String>,
    /// From [`OidcSpec::groups_claim`]: an array of strings or one string; empty when absent.
    pub groups: Vec<String>,
    /// `sid`, for back-channel logout.
    pub sid: Option<String>,
    /// The raw ID token (for `id_token_hint` at logout).
    pub id_token: String,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

/// A verified back-channel logout token: end the sessions of `subject`
/// and/or the session `sid` (at least one is present).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutClaims {
    pub subject: Option<String>,
    pub sid: Option<String>,
}

/// Constant-time string comparison (for `state`). Lengths are not secret.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Deserialize)]
struct RawDiscovery {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    code_challenge_methods_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// A checked discovery document.
#[derive(Debug)]
struct Discovery {
    authorization_endpoint: Url,
    token_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: Option<Url>,
    /// `None`: the spec's default, `client_secret_basic` only.
    token_endpoint_auth_methods: Option<Vec<String>>,
}

struct CachedDiscovery {
    doc: Arc<Discovery>,
    /// Refetch after this.
    until: Instant,
}

/// An OpenID provider. Cheap to share in an `Arc`.
pub struct Provider {
    spec: OidcSpec,
    http: reqwest::Client,
    discovery: Mutex<Option<CachedDiscovery>>,
    discovery_fetch: tokio::sync::Mutex<()>,
    jwks: JwksCache,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// `{issuer}/.well-known/openid-configuration`, without a doubled slash.
fn discovery_url(issuer: &str) -> String {
    let base = issuer.strip_suffix('/').unwrap_or(issuer);
    format!("{base}/.well-known/openid-configuration")
}

/// Parses `s` and requires `https`, or `http` on a loopback host.
fn secure_url(what: &str, s: &str) -> Result<Url, String> {
    let u = Url::parse(s).map_err(|e| format!("{what} {s:?} is not a URL: {e}"))?;
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(format!("{what} {s:?} must use https")),
    }
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("system random number generator failed");
    B64.encode(b)
}

/// PKCE S256: base64url(SHA-256(verifier)).
fn s256(verifier: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()))
}

fn now() -> i64 {
    warden_core::time::Timestamp::now().0
}

/// The claim at `path`: a top-level member with exactly that name, else a dotted path.
fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

fn groups_from(claims: &Value, path: &str) -> Vec<String> {
    match claim_at(claims, path) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn str_claim(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

fn num_claim(claims: &Value, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

fn from_key_error(e: TokenError) -> OidcError {
    match e {
        TokenError::KeysUnavailable(m) => OidcError::IdpUnavailable(format!("JWKS: {m}")),
        TokenError::Algorithm(a) => {
            OidcError::InvalidToken(format!("alg: {a} is not accepted (asymmetric algorithms matching the key only)"))
        }
        TokenError::UnknownKey(k) => {
            OidcError::InvalidToken(format!("signature: signing key id {k:?} is not in the identity provider's JWKS"))
        }
        TokenError::Malformed(m) => OidcError::InvalidToken(format!("malformed: {m}")),
        other => OidcError::InvalidToken(other.to_string()),
    }
}

impl Provider {
    pub fn new(spec: OidcSpec, http: reqwest::Client) -> Provider {
        let jwks = JwksCache::new(&spec.issuer, JWKS_TTL, JWKS_MIN_REFRESH, spec.timeout);
        Provider { spec, http, discovery: Mutex::new(None), discovery_fetch: tokio::sync::Mutex::new(()), jwks }
    }

    /// Changes the rate limit on unknown-`kid` JWKS refetches (default [`JWKS_MIN_REFRESH`]).
    pub fn with_jwks_min_refresh(mut self, min_refresh: Duration) -> Provider {
        self.jwks = JwksCache::new(&self.spec.issuer, JWKS_TTL, min_refresh, self.spec.timeout);
        self
    }

    pub fn spec(&self) -> &OidcSpec {
        &self.spec
    }

    /// `openid` first, then the configured scopes, deduplicated.
    fn scope(&self) -> String {
        let mut out: Vec<&str> = vec!["openid"];
        for s in self.spec.scopes.iter().flat_map(|s| s.split_whitespace()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out.join(" ")
    }

    fn cached_discovery(&self, fresh_only: bool) -> Option<Arc<Discovery>> {
        let c = self.discovery.lock().unwrap();
        c.as_ref().filter(|c| !fresh_only || Instant::now() < c.until).map(|c| c.doc.clone())
    }

    async fn discovery(&self) -> Result<Arc<Discovery>, OidcError> {
        if let Some(d) = self.cached_discovery(true) {
            return Ok(d);
        }
        let _one = self.discovery_fetch.lock().await;
        if let Some(d) = self.cached_discovery(true) {
            return Ok(d);
        }
        match self.fetch_discovery().await {
            Ok(doc) => {
                let doc = Arc::new(doc);
                *self.discovery.lock().unwrap() =
                    Some(CachedDiscovery { doc: doc.clone(), until: Instant::now() + DISCOVERY_TTL });
                Ok(doc)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.spec.issuer, error = %e, "OIDC discovery failed");
                let mut c = self.discovery.lock().unwrap();
                match (c.as_mut(), &e) {
                    (Some(stale), OidcError::IdpUnavailable(_)) => {
                        stale.until = Instant::now() + DISCOVERY_RETRY;
                        Ok(stale.doc.clone())
                    }
                    _ => Err(e),
                }
            }
        }
    }

    async fn fetch_discovery(&self) -> Result<Discovery, OidcError> {
        let issuer = &self.spec.issuer;
        secure_url("issuer", issuer).map_err(OidcError::Discovery)?;
        let url = discovery_url(issuer);
        let r = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.spec.timeout)
            .send()
            .await
            .map_err(|e| OidcError::IdpUnavailable(format!("discovery at {url}: {e}")))?;
        let status = r.status();
        if status.is_server_error() {
            return Err(OidcError::IdpUnavailable(format!("discovery at {url}: HTTP {status}")));
        }
        if !status.is_success() {
            return Err(OidcError::Discovery(format!("{url}: HTTP {status}")));
        }
        let body = read_limited(r, MAX_BODY)
            .await
            .map_err(|e| OidcError::IdpUnavailable(format!("discovery at {url}: {e}")))?;
        let raw: RawDiscovery = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Discovery(format!("{url} is not a discovery document: {e}")))?;
        match raw.issuer.as_deref() {
            Some(i) if i == issuer => {}
            Some(i) => {
                return Err(OidcError::Discovery(format!(
                    "the document at {url} names issuer {i:?}, expected exactly {issuer:?}"
                )));
            }
            None => return Err(OidcError::Discovery(format!("the document at {url} has no issuer"))),
        }
        let required = |name: &str, v: Option<String>| -> Result<Url, OidcError> {
            let v = v.ok_or_else(|| OidcError::Discovery(format!("the document at {url} has no {name}")))?;
            secure_url(name, &v).map_err(OidcError::Discovery)
        };
        let authorization_endpoint = required("authorization_endpoint", raw.authorization_endpoint)?;
        let token_endpoint = required("token_endpoint", raw.token_endpoint)?.to_string();
        let jwks_uri = required("jwks_uri", raw.jwks_uri)?.to_string();
        let end_session_endpoint = match raw.end_session_endpoint {
            Some(e) => Some(secure_url("end_session_endpoint", &e).map_err(OidcError::Discovery)?),
            None => None,
        };
        if let Some(methods) = &raw.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(OidcError::Discovery(format!(
                "the identity provider does not support PKCE S256 (code_challenge_methods_supported: {methods:?})"
            )));
        }
        Ok(Discovery {
            authorization_endpoint,
            token_endpoint,
            jwks_uri,
            end_session_endpoint,
            token_endpoint_auth_methods: raw.token_endpoint_auth_methods_supported,
        })
    }

    /// Fresh `state`, `nonce` and PKCE verifier, and the authorization URL
    /// (`response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`,
    /// `nonce`, `code_challenge`, `code_challenge_method=S256`; query
    /// parameters already in the IdP's authorization endpoint are kept).
    pub async fn begin(&self) -> Result<Begin, OidcError> {
        let d = self.discovery().await?;
        let pending = Pending { state: random_token(), nonce: random_token(), verifier: random_token() };
        let mut url = d.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.spec.client_id)
            .append_pair("redirect_uri", &self.spec.redirect_url)
            .append_pair("scope", &self.scope())
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &s256(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(Begin { url: url.into(), pending })
    }

    /// Exchanges `code` at the token endpoint (with `code_verifier` and
    /// `redirect_uri`; client authentication `client_secret_basic` when a
    /// secret is set and the IdP supports it, else `client_secret_post`; none
    /// for a public client, which sends `client_id`), then verifies the ID
    /// token as [`Provider::verify_id_token`] does, against `pending.nonce`.
    ///
    /// The caller must already have checked the callback's `state` against
    /// `pending.state` with [`constant_time_eq`].
    pub async fn finish(&self, code: &str, pending: &Pending) -> Result<Identity, OidcError> {
        if code.is_empty() {
            return Err(OidcError::TokenEndpoint("the callback carries no authorization code".into()));
        }
        let d = self.discovery().await?;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.spec.redirect_url)
            .append_pair("code_verifier", &pending.verifier);
        let mut req = self
            .http
            .post(&d.token_endpoint)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .timeout(self.spec.timeout);
        match &self.spec.client_secret {
            Some(secret) => {
                let supports =
                    |m: &str| d.token_endpoint_auth_methods.as_ref().is_none_or(|v| v.iter().any(|x| x == m));
                if supports("client_secret_basic") {
                    // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
                    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                    let basic = B64_STD.encode(format!("{}:{}", enc(&self.spec.client_id), enc(secret)));
                    req = req.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
                } else {
                    form.append_pair("client_id", &self.spec.client_id).append_pair("client_secret", secret);
                }
            }
            None => {
                form.append_pair("client_id", &self.spec.client_id);
            }
        }
        let url = &d.token_endpoint;
        let r = req
            .body(form.finish())
            .send()
            .await
            .map_err(|e| OidcError::IdpUnavailable(format!("token endpoint {url}: {e}")))?;
        let status = r.status();
        let body = read_limited(r, MAX_BODY)
            .await
            .map_err(|e| OidcError::IdpUnavailable(format!("token endpoint {url}: {e}")))?;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let idp_error = json.as_ref().and_then(|j| j.get("error")).and_then(Value::as_str).map(|code| {
            match json.as_ref().and_then(|j| j.get("error_description")).and_then(Value::as_str) {
                Some(desc) => format!("{code}: {}", desc.chars().take(300).collect::<String>()),
                None => code.to_string(),
            }
        });
        if status.is_server_error() {
            let what = idp_error.map(|e| format!(" ({e})")).unwrap_or_default();
            return Err(OidcError::IdpUnavailable(format!("token endpoint {url}: HTTP {status}{what}")));
        }
        if let Some(e) = idp_error {
            return Err(OidcError::TokenEndpoint(e));
        }
        if !status.is_success() {
            return Err(OidcError::TokenEndpoint(format!("HTTP {status} from the token endpoint")));
        }
        let id_token = json
            .as_ref()
            .ok_or_else(|| OidcError::TokenEndpoint("the token response is not JSON".into()))?
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                OidcError::TokenEndpoint("the token response has no id_token (is openid granted?)".into())
            })?;
        self.verify_id_token(id_token, &pending.nonce).await
    }

    /// Signature (JWKS, asymmetric `alg` matching the key), `iss` exactly the
    /// configured issuer, `aud` containing `client_id`, `exp`/`nbf` with
    /// leeway; returns the claims.
    async fn verify_jwt(&self, token: &str, required: &[&str]) -> Result<Value, OidcError> {
        let d = self.discovery().await?;
        let (header, key) =
            self.jwks.key_for(&self.http, &d.jwks_uri, token, ASYMMETRIC).await.map_err(from_key_error)?;
        let spec = &self.spec;
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = spec.leeway_secs;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_issuer(&[&spec.issuer]);
        v.set_audience(&[&spec.client_id]);
        v.set_required_spec_claims(required);
        let claims: Value = jsonwebtoken::decode(token, &key, &v)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                OidcError::InvalidToken(match e.kind() {
                    K::InvalidSignature => "signature: does not verify with the identity provider's key".into(),
                    K::ExpiredSignature => format!("expired: exp is past (leeway {} s)", spec.leeway_secs),
                    K::ImmatureSignature => format!("nbf: not valid yet (leeway {} s)", spec.leeway_secs),
                    K::InvalidIssuer => format!("issuer: iss is not {:?}", spec.issuer),
                    K::InvalidAudience => format!("audience: aud does not contain client_id {:?}", spec.client_id),
                    K::MissingRequiredClaim(c) => format!("claim: {c} is missing"),
                    K::InvalidClaimFormat(c) => format!("claim: {c} is malformed"),
                    K::InvalidAlgorithm | K::InvalidAlgorithmName | K::InvalidKeyFormat => format!("alg: {e}"),
                    _ => format!("malformed: {e}"),
                })
            })?
            .claims;
        // jsonwebtoken also accepts an array `iss` naming the issuer; OIDC wants one string.
        if claims.get("iss").and_then(Value::as_str) != Some(spec.issuer.as_str()) {
            return Err(OidcError::InvalidToken(format!("issuer: iss is not {:?}", spec.issuer)));
        }
        Ok(claims)
    }

    /// `iat` present (when `required`) and not in the future beyond the leeway.
    fn check_iat(&self, claims: &Value, required: bool) -> Result<Option<i64>, OidcError> {
        let iat = num_claim(claims, "iat");
        match iat {
            None if required => Err(OidcError::InvalidToken("iat: missing".into())),
            Some(iat) if iat > now() + self.spec.leeway_secs as i64 => Err(OidcError::InvalidToken(format!(
                "iat: issued in the future (leeway {} s); check the clocks",
                self.spec.leeway_secs
            ))),
            _ => Ok(iat),
        }
    }

    /// Verifies an ID token: signature via JWKS (asymmetric `alg` only,
    /// matching the key), `iss` exactly the configured issuer, `aud` contains
    /// `client_id`, `azp` equals `client_id` when `aud` has several values or
    /// `azp` is present, `exp` (and `nbf`) with leeway, `iat` present and not in
    /// the future beyond leeway, `sub` present, `nonce` equal to `nonce`.
    pub async fn verify_id_token(&self, id_token: &str, nonce: &str) -> Result<Identity, OidcError> {
        if nonce.is_empty() {
            return Err(OidcError::InvalidToken("nonce: no expected nonce for this sign-in".into()));
        }
        let claims = self.verify_jwt(id_token, &["exp", "iss", "aud", "sub"]).await?;
        let client_id = &self.spec.client_id;
        let several_aud = claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1);
        match claims.get("azp") {
            Some(Value::String(azp)) if azp == client_id => {}
            Some(azp) => {
                return Err(OidcError::InvalidToken(format!("azp: {azp} is not client_id {client_id:?}")));
            }
            None if several_aud => {
                return Err(OidcError::InvalidToken("azp: missing, and aud names several audiences".into()));
            }
            None => {}
        }
        self.check_iat(&claims, true)?;
        match claims.get("nonce").and_then(Value::as_str) {
            Some(n) if constant_time_eq(n, nonce) => {}
            Some(_) => return Err(OidcError::InvalidToken("nonce: does not match this sign-in (replayed?)".into())),
            None => return Err(OidcError::InvalidToken("nonce: missing".into())),
        }
        let subject =
            str_claim(&claims, "sub").ok_or_else(|| OidcError::InvalidToken("subject: sub is empty".into()))?;
        let email_unverified = matches!(claims.get("email_verified"), Some(Value::Bool(false)))
            || claims.get("email_verified").and_then(Value::as_str) == Some("false");
        let email = str_claim(&claims, "email").filter(|_| !email_unverified);
        let name = str_claim(&claims, "name").or_else(|| str_claim(&claims, "preferred_username"));
        Ok(Identity {
            subject,
            issuer: self.spec.issuer.clone(),
            email,
            name,
            groups: groups_from(&claims, &self.spec.groups_claim),
            sid: str_claim(&claims, "sid"),
            id_token: id_token.to_string(),
            expires_at: num_claim(&claims, "exp").unwrap_or(0),
        })
    }

    /// Verifies an OIDC Back-Channel Logout 1.0 `logout_token`: signature,
    /// `iss`, `aud`, `iat` (present, not in the future beyond leeway; without
    /// `exp`, no older than [`LOGOUT_TOKEN_MAX_AGE_SECS`]), `exp` when present,
    /// the `events` claim carrying [`BACKCHANNEL_LOGOUT_EVENT`] (an object), no
    /// `nonce`, and `sub` and/or `sid`. Replay detection by `jti` is left to
    /// the caller.
    pub async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, OidcError> {
        let claims = self.verify_jwt(token, &["iss", "aud"]).await?;
        let iat = self.check_iat(&claims, true)?.unwrap_or(0);
        if claims.get("exp").is_none() && iat + LOGOUT_TOKEN_MAX_AGE_SECS + (self.spec.leeway_secs as i64) < now() {
            return Err(OidcError::InvalidToken(format!(
                "expired: a logout token without exp is accepted for {LOGOUT_TOKEN_MAX_AGE_SECS} s after iat"
            )));
        }
        let event = claims.get("events").and_then(Value::as_object).and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT));
        if !event.is_some_and(Value::is_object) {
            return Err(OidcError::InvalidToken(format!(
                "events: no {BACKCHANNEL_LOGOUT_EVENT} event (not a logout token)"
            )));
        }
        if claims.get("nonce").is_some() {
            return Err(OidcError::InvalidToken("nonce: a logout token must not carry one".into()));
        }
        let out = LogoutClaims { subject: str_claim(&claims, "sub"), sid: str_claim(&claims, "sid") };
        if out.subject.is_none() && out.sid.is_none() {
            return Err(OidcError::InvalidToken("subject: neither sub nor sid is present".into()));
        }
        Ok(out)
    }

    /// The RP-initiated logout URL (`id_token_hint` when given,
    /// `post_logout_redirect_uri`, `client_id`), or `None` when the IdP
    /// advertises no `end_session_endpoint`.
    pub async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &str,
    ) -> Result<Option<String>, OidcError> {
        let d = self.discovery().await?;
        let Some(mut url) = d.end_session_endpoint.clone() else {
            return Ok(None);
        };
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
            q.append_pair("client_id", &self.spec.client_id);
        }
        Ok(Some(url.into()))
    }
}

const B64_STD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
