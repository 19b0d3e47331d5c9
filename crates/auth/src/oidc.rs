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
const B64_STD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
///
/// The `reqwest::Client` given to [`Provider::new`] should not follow
/// redirects (`redirect::Policy::none()`): a 307/308 from the token endpoint
/// would resend the code, the verifier and (with `client_secret_post`) the
/// secret to wherever it points.
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
        // Pairs, serialised without an await in between (the serializer is not Send).
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.spec.redirect_url),
            ("code_verifier", &pending.verifier),
        ];
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
                    form.push(("client_id", &self.spec.client_id));
                    form.push(("client_secret", secret));
                }
            }
            None => {
                form.push(("client_id", &self.spec.client_id));
            }
        }
        let url = &d.token_endpoint;
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&form).finish();
        let r =
            req.body(body).send().await.map_err(|e| OidcError::IdpUnavailable(format!("token endpoint {url}: {e}")))?;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const CLIENT: &str = "warden-console";
    const SECRET: &str = "s3cr:t/+";
    const REDIRECT: &str = "https://warden.example/console/callback";

    struct Key {
        kid: String,
        alg: Algorithm,
        enc: EncodingKey,
        jwk: Value,
    }

    fn ec_key(kid: &str) -> Key {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
        Key { kid: kid.into(), alg: Algorithm::ES256, enc: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk }
    }

    /// The (tag, content, rest) of the first DER TLV in `b`.
    fn der(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (b[0], b[1] as usize);
        let (len, hdr) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            (b[2..2 + n].iter().fold(0usize, |acc, x| (acc << 8) | *x as usize), 2 + n)
        };
        (tag, &b[hdr..hdr + len], &b[hdr + len..])
    }

    fn rsa_key(kid: &str) -> Key {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
        use aws_lc_rs::signature::KeyPair as _;
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        // PKCS#8 { version, algorithm, OCTET STRING { RSAPrivateKey } }: jsonwebtoken wants the inner PKCS#1.
        let (_, seq, _) = der(pkcs8.as_ref());
        let (_, _, rest) = der(seq);
        let (_, _, rest) = der(rest);
        let (tag, pkcs1, _) = der(rest);
        assert_eq!(tag, 0x04);
        let c: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let jwk = json!({"kty": "RSA", "kid": kid, "alg": "RS256", "n": B64.encode(&c.n), "e": B64.encode(&c.e)});
        Key { kid: kid.into(), alg: Algorithm::RS256, enc: EncodingKey::from_rsa_der(pkcs1), jwk }
    }

    fn sign(k: &Key, claims: &Value) -> String {
        let mut h = Header::new(k.alg);
        h.kid = Some(k.kid.clone());
        jsonwebtoken::encode(&h, claims, &k.enc).unwrap()
    }

    #[derive(Default)]
    struct Seen {
        authorization: Option<String>,
        content_type: Option<String>,
        form: Vec<(String, String)>,
    }

    struct Idp {
        issuer: String,
        doc: Arc<Mutex<Value>>,
        keys: Arc<Mutex<Vec<Value>>>,
        jwks_fetches: Arc<AtomicUsize>,
        doc_fetches: Arc<AtomicUsize>,
        token_reply: Arc<Mutex<(u16, Value)>>,
        token_requests: Arc<Mutex<Vec<Seen>>>,
    }

    impl Idp {
        fn set(&self, key: &str, v: Value) {
            let mut d = self.doc.lock().unwrap();
            if v.is_null() {
                d.as_object_mut().unwrap().remove(key);
            } else {
                d[key] = v;
            }
        }
    }

    async fn serve_idp(keys: Vec<Value>) -> Idp {
        use axum::routing::{get, post};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/idp", listener.local_addr().unwrap());
        let doc = Arc::new(Mutex::new(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize?tenant=t1"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })));
        let idp = Idp {
            issuer,
            doc,
            keys: Arc::new(Mutex::new(keys)),
            jwks_fetches: Arc::default(),
            doc_fetches: Arc::default(),
            token_reply: Arc::new(Mutex::new((500, json!({})))),
            token_requests: Arc::default(),
        };
        let (doc, doc_fetches) = (idp.doc.clone(), idp.doc_fetches.clone());
        let (keys, jwks_fetches) = (idp.keys.clone(), idp.jwks_fetches.clone());
        let (reply, requests) = (idp.token_reply.clone(), idp.token_requests.clone());
        let app = axum::Router::new()
            .route(
                "/idp/.well-known/openid-configuration",
                get(move || async move {
                    doc_fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(doc.lock().unwrap().clone())
                }),
            )
            .route(
                "/idp/jwks",
                get(move || async move {
                    jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({"keys": *keys.lock().unwrap()}))
                }),
            )
            .route(
                "/idp/token",
                post(move |headers: axum::http::HeaderMap, body: String| async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
                    requests.lock().unwrap().push(Seen {
                        authorization: h("authorization"),
                        content_type: h("content-type"),
                        form: url::form_urlencoded::parse(body.as_bytes()).into_owned().collect(),
                    });
                    let (status, v) = reply.lock().unwrap().clone();
                    (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(v))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        idp
    }

    fn spec(issuer: &str) -> OidcSpec {
        OidcSpec {
            issuer: issuer.into(),
            client_id: CLIENT.into(),
            client_secret: Some(SECRET.into()),
            scopes: vec!["profile".into(), "email".into(), "openid".into()],
            redirect_url: REDIRECT.into(),
            groups_claim: "realm_access.roles".into(),
            leeway_secs: 30,
            timeout: Duration::from_secs(5),
        }
    }

    fn id_claims(idp: &Idp, nonce: &str) -> Value {
        let now = now();
        json!({
            "iss": idp.issuer, "sub": "user-42", "aud": CLIENT, "iat": now, "exp": now + 600,
            "nonce": nonce, "email": "ada@example.com", "email_verified": true,
            "preferred_username": "ada", "sid": "sess-1",
            "realm_access": {"roles": ["sre", "warden-admins"]},
        })
    }

    fn with(mut v: Value, k: &str, x: Value) -> Value {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x;
        }
        v
    }

    #[track_caller]
    fn invalid(r: Result<impl std::fmt::Debug, OidcError>, check: &str) {
        match r {
            Err(OidcError::InvalidToken(m)) if m.starts_with(&format!("{check}:")) => {}
            other => panic!("expected InvalidToken({check}: ...), got {other:?}"),
        }
    }

    fn query(url: &str) -> BTreeMap<String, String> {
        Url::parse(url).unwrap().query_pairs().into_owned().collect()
    }

    #[tokio::test]
    async fn happy_path_end_to_end() {
        let k = ec_key("ec1");
        let idp = serve_idp(vec![k.jwk.clone()]).await;
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let b = p.begin().await.unwrap();
        let u = Url::parse(&b.url).unwrap();
        assert_eq!(u.path(), "/idp/authorize");
        let q = query(&b.url);
        assert_eq!(q["tenant"], "t1", "the endpoint's own query is kept");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT);
        assert_eq!(q["redirect_uri"], REDIRECT);
        assert_eq!(q["scope"], "openid profile email");
        assert_eq!(q["state"], b.pending.state);
        assert_eq!(q["nonce"], b.pending.nonce);
        assert_eq!(q["code_challenge_method"], "S256");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b.pending.verifier.as_bytes());
        assert_eq!(q["code_challenge"], B64.encode(digest.as_ref()));
        for s in [&b.pending.state, &b.pending.nonce, &b.pending.verifier] {
            assert_eq!(B64.decode(s).unwrap().len(), 32);
        }
        let b2 = p.begin().await.unwrap();
        assert_ne!(b.pending.state, b2.pending.state);
        assert_ne!(b.pending.nonce, b2.pending.nonce);
        assert_ne!(b.pending.verifier, b2.pending.verifier);
        assert!(constant_time_eq(&q["state"], &b.pending.state) && !constant_time_eq(&q["state"], &b2.pending.state));

        let t = sign(&k, &id_claims(&idp, &b.pending.nonce));
        *idp.token_reply.lock().unwrap() =
            (200, json!({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": t}));
        let id = p.finish("code-123", &b.pending).await.unwrap();
        assert_eq!(
            id,
            Identity {
                subject: "user-42".into(),
                issuer: idp.issuer.clone(),
                email: Some("ada@example.com".into()),
                name: Some("ada".into()),
                groups: vec!["sre".into(), "warden-admins".into()],
                sid: Some("sess-1".into()),
                id_token: t.clone(),
                expires_at: id_claims(&idp, "").get("exp").and_then(Value::as_i64).unwrap(),
            }
        );
        // The token endpoint saw the code, the verifier, the redirect URI and Basic client auth.
        let seen = idp.token_requests.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let form: BTreeMap<_, _> = seen[0].form.iter().cloned().collect();
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], "code-123");
        assert_eq!(form["code_verifier"], b.pending.verifier);
        assert_eq!(form["redirect_uri"], REDIRECT);
        assert!(!form.contains_key("client_secret"));
        assert_eq!(seen[0].content_type.as_deref(), Some("application/x-www-form-urlencoded"));
        // RFC 6749 §2.3.1: form-urlencoded before base64.
        let basic = format!("Basic {}", B64_STD.encode("warden-console:s3cr%3At%2F%2B"));
        assert_eq!(seen[0].authorization.as_deref(), Some(basic.as_str()));
        // Discovery and JWKS were fetched once for all of that.
        assert_eq!(idp.doc_fetches.load(Ordering::SeqCst), 1);
        assert_eq!(idp.jwks_fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn client_authentication_methods() {
        let k = ec_key("ec1");
        let idp = serve_idp(vec![k.jwk.clone()]).await;
        // The IdP supports only client_secret_post.
        idp.set("token_endpoint_auth_methods_supported", json!(["client_secret_post"]));
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let b = p.begin().await.unwrap();
        *idp.token_reply.lock().unwrap() = (200, json!({"id_token": sign(&k, &id_claims(&idp, &b.pending.nonce))}));
        p.finish("c1", &b.pending).await.unwrap();
        // A public client sends its client_id and no secret.
        let mut s = spec(&idp.issuer);
        s.client_secret = None;
        let public = Provider::new(s, reqwest::Client::new());
        let b = public.begin().await.unwrap();
        *idp.token_reply.lock().unwrap() = (200, json!({"id_token": sign(&k, &id_claims(&idp, &b.pending.nonce))}));
        public.finish("c2", &b.pending).await.unwrap();
        let seen = idp.token_requests.lock().unwrap();
        let post: BTreeMap<_, _> = seen[0].form.iter().cloned().collect();
        assert_eq!(seen[0].authorization, None);
        assert_eq!((post["client_id"].as_str(), post["client_secret"].as_str()), (CLIENT, SECRET));
        let public: BTreeMap<_, _> = seen[1].form.iter().cloned().collect();
        assert_eq!(seen[1].authorization, None);
        assert_eq!(public["client_id"], CLIENT);
        assert!(!public.contains_key("client_secret"));
        assert_eq!(public["code"], "c2");
        assert_eq!(public["code_verifier"], b.pending.verifier);
    }

    #[tokio::test]
    async fn id_token_checks() {
        let (k, r) = (ec_key("ec1"), rsa_key("rsa1"));
        let idp = serve_idp(vec![k.jwk.clone(), r.jwk.clone()]).await;
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let n = "nonce-1";
        let c = id_claims(&idp, n);
        let now = now();
        assert!(p.verify_id_token(&sign(&k, &c), n).await.is_ok());
        assert!(p.verify_id_token(&sign(&r, &c), n).await.is_ok(), "RS256 key");
        invalid(
            p.verify_id_token(&sign(&k, &with(c.clone(), "iss", json!("https://evil.example"))), n).await,
            "issuer",
        );
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "iss", json!([idp.issuer]))), n).await, "issuer");
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "aud", json!("someone-else"))), n).await, "audience");
        // Several audiences: azp required and must be us.
        let multi = with(c.clone(), "aud", json!([CLIENT, "other-app"]));
        invalid(p.verify_id_token(&sign(&k, &multi), n).await, "azp");
        invalid(p.verify_id_token(&sign(&k, &with(multi.clone(), "azp", json!("other-app"))), n).await, "azp");
        assert!(p.verify_id_token(&sign(&k, &with(multi, "azp", json!(CLIENT))), n).await.is_ok());
        // azp present with a single audience must still be us.
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "azp", json!("other-app"))), n).await, "azp");
        // exp: beyond the 30 s leeway refused, within it accepted.
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "exp", json!(now - 120))), n).await, "expired");
        assert!(p.verify_id_token(&sign(&k, &with(c.clone(), "exp", json!(now - 10))), n).await.is_ok());
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "exp", Value::Null)), n).await, "claim");
        // iat: in the future beyond leeway refused, within accepted, missing refused.
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "iat", json!(now + 120))), n).await, "iat");
        assert!(p.verify_id_token(&sign(&k, &with(c.clone(), "iat", json!(now + 10))), n).await.is_ok());
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "iat", Value::Null)), n).await, "iat");
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "nbf", json!(now + 120))), n).await, "nbf");
        // nonce.
        invalid(p.verify_id_token(&sign(&k, &c), "another-nonce").await, "nonce");
        invalid(p.verify_id_token(&sign(&k, &with(c.clone(), "nonce", Value::Null)), n).await, "nonce");
        invalid(p.verify_id_token(&sign(&k, &c), "").await, "nonce");
        // Signed by a key the IdP never published, under a published kid.
        let mut rogue = ec_key("ec1");
        rogue.jwk = k.jwk.clone();
        invalid(p.verify_id_token(&sign(&rogue, &c), n).await, "signature");
        // Tampered payload.
        let t = sign(&k, &c);
        let parts: Vec<&str> = t.split('.').collect();
        let forged =
            format!("{}.{}.{}", parts[0], B64.encode(with(c.clone(), "sub", json!("root")).to_string()), parts[2]);
        invalid(p.verify_id_token(&forged, n).await, "signature");
        invalid(p.verify_id_token("not-a-jwt", n).await, "malformed");
        // Claims: unverified email dropped; name preferred over preferred_username; groups as one string,
        // missing, or under a namespaced top-level claim containing dots.
        let c2 = with(with(c.clone(), "email_verified", json!(false)), "name", json!("Ada Lovelace"));
        let c2 = with(c2, "realm_access", json!({"roles": "sre"}));
        let id = p.verify_id_token(&sign(&k, &c2), n).await.unwrap();
        assert_eq!((id.email, id.name.as_deref(), id.groups), (None, Some("Ada Lovelace"), vec!["sre".to_string()]));
        let id = p.verify_id_token(&sign(&k, &with(c.clone(), "realm_access", Value::Null)), n).await.unwrap();
        assert!(id.groups.is_empty());
        let mut s = spec(&idp.issuer);
        s.groups_claim = "https://warden.example/groups".into();
        let p2 = Provider::new(s, reqwest::Client::new());
        let c3 = with(c.clone(), "https://warden.example/groups", json!(["a", "b", 7]));
        assert_eq!(p2.verify_id_token(&sign(&k, &c3), n).await.unwrap().groups, vec!["a", "b"]);
    }

    #[tokio::test]
    async fn refuses_alg_none_and_hmac() {
        let k = ec_key("ec1");
        let idp = serve_idp(vec![k.jwk.clone()]).await;
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let c = id_claims(&idp, "n");
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"ec1"}"#), B64.encode(c.to_string()));
        invalid(p.verify_id_token(&none, "n").await, "alg");
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("ec1".into());
        let x = k.jwk["x"].as_str().unwrap();
        let hs = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(x.as_bytes())).unwrap();
        invalid(p.verify_id_token(&hs, "n").await, "alg");
        // RS256 claimed under the EC key's kid.
        let r = rsa_key("ec1");
        invalid(p.verify_id_token(&sign(&r, &c), "n").await, "alg");
        invalid(p.verify_logout_token(&none).await, "alg");
    }

    #[tokio::test]
    async fn key_rotation_refetches_jwks_rate_limited() {
        let k1 = ec_key("k1");
        let idp = serve_idp(vec![k1.jwk.clone()]).await;
        let p =
            Provider::new(spec(&idp.issuer), reqwest::Client::new()).with_jwks_min_refresh(Duration::from_millis(400));
        let c = id_claims(&idp, "n");
        p.verify_id_token(&sign(&k1, &c), "n").await.unwrap();
        assert_eq!(idp.jwks_fetches.load(Ordering::SeqCst), 1);
        // The IdP rotates to k2 right away: unknown kid, but the last fetch was < 400 ms ago → no refetch.
        let k2 = ec_key("k2");
        idp.keys.lock().unwrap().push(k2.jwk.clone());
        for _ in 0..3 {
            invalid(p.verify_id_token(&sign(&k2, &c), "n").await, "signature");
        }
        assert_eq!(idp.jwks_fetches.load(Ordering::SeqCst), 1, "rate limit respected");
        tokio::time::sleep(Duration::from_millis(450)).await;
        // Now the unknown kid triggers exactly one refetch, which finds k2.
        p.verify_id_token(&sign(&k2, &c), "n").await.unwrap();
        p.verify_id_token(&sign(&k1, &c), "n").await.unwrap();
        assert_eq!(idp.jwks_fetches.load(Ordering::SeqCst), 2);
        // Still unknown right after: refused without another fetch.
        invalid(p.verify_id_token(&sign(&ec_key("k3"), &c), "n").await, "signature");
        assert_eq!(idp.jwks_fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn discovery_is_checked() {
        let k = ec_key("ec1");
        let idp = serve_idp(vec![k.jwk.clone()]).await;
        let discovery = |r: Result<Begin, OidcError>, want: &str| match r {
            Err(OidcError::Discovery(m)) if m.contains(want) => {}
            other => panic!("expected Discovery(..{want}..), got {other:?}"),
        };
        // Configured with a trailing slash: discovery is found (no doubled slash) but names the issuer
        // without it → refused (exact match, mix-up defence).
        let p = Provider::new(spec(&format!("{}/", idp.issuer)), reqwest::Client::new());
        discovery(p.begin().await, "names issuer");
        assert_eq!(idp.doc_fetches.load(Ordering::SeqCst), 1);
        idp.set("issuer", json!("https://other.example"));
        discovery(Provider::new(spec(&idp.issuer), reqwest::Client::new()).begin().await, "names issuer");
        idp.set("issuer", json!(idp.issuer));
        // PKCE S256 required when the IdP lists methods; absence of the list is fine.
        idp.set("code_challenge_methods_supported", json!(["plain"]));
        discovery(Provider::new(spec(&idp.issuer), reqwest::Client::new()).begin().await, "S256");
        idp.set("code_challenge_methods_supported", Value::Null);
        Provider::new(spec(&idp.issuer), reqwest::Client::new()).begin().await.unwrap();
        // Required endpoints, https off loopback.
        idp.set("token_endpoint", Value::Null);
        discovery(Provider::new(spec(&idp.issuer), reqwest::Client::new()).begin().await, "token_endpoint");
        idp.set("token_endpoint", json!("http://idp.example/token"));
        discovery(Provider::new(spec(&idp.issuer), reqwest::Client::new()).begin().await, "https");
        idp.set("token_endpoint", json!(format!("{}/token", idp.issuer)));
        idp.set("jwks_uri", Value::Null);
        discovery(Provider::new(spec(&idp.issuer), reqwest::Client::new()).begin().await, "jwks_uri");
        discovery(Provider::new(spec("http://idp.example"), reqwest::Client::new()).begin().await, "https");
        assert_eq!(discovery_url("https://a.example/x/"), "https://a.example/x/.well-known/openid-configuration");
        assert_eq!(discovery_url("https://a.example"), "https://a.example/.well-known/openid-configuration");
    }

    #[tokio::test]
    async fn idp_and_token_endpoint_failures() {
        // Nothing listens: connection refused.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let down = Provider::new(spec(&format!("http://127.0.0.1:{port}/idp")), reqwest::Client::new());
        assert!(matches!(down.begin().await, Err(OidcError::IdpUnavailable(_))));
        assert!(matches!(down.verify_id_token("a.b.c", "n").await, Err(OidcError::IdpUnavailable(_))));

        let k = ec_key("ec1");
        let idp = serve_idp(vec![k.jwk.clone()]).await;
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let b = p.begin().await.unwrap();
        *idp.token_reply.lock().unwrap() =
            (400, json!({"error": "invalid_grant", "error_description": "Code not valid"}));
        match p.finish("used-code", &b.pending).await {
            Err(OidcError::TokenEndpoint(m)) => assert_eq!(m, "invalid_grant: Code not valid"),
            other => panic!("{other:?}"),
        }
        *idp.token_reply.lock().unwrap() = (401, json!({"error": "invalid_client"}));
        assert_eq!(p.finish("c", &b.pending).await, Err(OidcError::TokenEndpoint("invalid_client".into())));
        *idp.token_reply.lock().unwrap() = (503, json!({}));
        assert!(matches!(p.finish("c", &b.pending).await, Err(OidcError::IdpUnavailable(_))));
        *idp.token_reply.lock().unwrap() = (200, json!({"access_token": "at", "token_type": "Bearer"}));
        assert!(matches!(p.finish("c", &b.pending).await, Err(OidcError::TokenEndpoint(m)) if m.contains("id_token")));
        // An ID token minted for another sign-in (other nonce) is refused by finish.
        *idp.token_reply.lock().unwrap() = (200, json!({"id_token": sign(&k, &id_claims(&idp, "other"))}));
        invalid(p.finish("c", &b.pending).await, "nonce");
        // JWKS unreachable while discovery works: unavailable, not "invalid".
        idp.set("jwks_uri", json!(format!("http://127.0.0.1:{port}/jwks")));
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        assert!(
            matches!(p.verify_id_token(&sign(&k, &id_claims(&idp, "n")), "n").await, Err(OidcError::IdpUnavailable(m)) if m.starts_with("JWKS"))
        );
    }

    #[tokio::test]
    async fn logout_tokens() {
        let k = ec_key("ec1");
        let idp = serve_idp(vec![k.jwk.clone()]).await;
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let now = now();
        let lt = json!({"iss": idp.issuer, "aud": CLIENT, "iat": now, "exp": now + 120, "jti": "j1",
                        "sub": "user-42", "sid": "sess-1", "events": {BACKCHANNEL_LOGOUT_EVENT: {}}});
        assert_eq!(
            p.verify_logout_token(&sign(&k, &lt)).await.unwrap(),
            LogoutClaims { subject: Some("user-42".into()), sid: Some("sess-1".into()) }
        );
        let sid_only = with(lt.clone(), "sub", Value::Null);
        assert_eq!(p.verify_logout_token(&sign(&k, &sid_only)).await.unwrap().subject, None);
        invalid(p.verify_logout_token(&sign(&k, &with(sid_only, "sid", Value::Null))).await, "subject");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "events", Value::Null))).await, "events");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "events", json!({"other": {}})))).await, "events");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "nonce", json!("n")))).await, "nonce");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "aud", json!("other")))).await, "audience");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "iss", json!("https://evil")))).await, "issuer");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "iat", Value::Null))).await, "iat");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "iat", json!(now + 120)))).await, "iat");
        invalid(p.verify_logout_token(&sign(&k, &with(lt.clone(), "exp", json!(now - 120)))).await, "expired");
        // Without exp: accepted while fresh, refused when old.
        let no_exp = with(lt.clone(), "exp", Value::Null);
        assert!(p.verify_logout_token(&sign(&k, &no_exp)).await.is_ok());
        invalid(p.verify_logout_token(&sign(&k, &with(no_exp, "iat", json!(now - 3600)))).await, "expired");
        // An ID token is not a logout token, nor the reverse.
        invalid(p.verify_logout_token(&sign(&k, &id_claims(&idp, "n"))).await, "events");
        invalid(p.verify_id_token(&sign(&k, &lt), "n").await, "nonce");
        let mut rogue = ec_key("ec1");
        rogue.jwk = k.jwk.clone();
        invalid(p.verify_logout_token(&sign(&rogue, &lt)).await, "signature");
    }

    #[tokio::test]
    async fn end_session() {
        let idp = serve_idp(vec![]).await;
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        let u = p.end_session_url(Some("the.id.token"), "https://warden.example/console/").await.unwrap().unwrap();
        assert!(u.starts_with(&format!("{}/logout?", idp.issuer)));
        let q = query(&u);
        assert_eq!(q.len(), 3);
        assert_eq!(q["id_token_hint"], "the.id.token");
        assert_eq!(q["post_logout_redirect_uri"], "https://warden.example/console/");
        assert_eq!(q["client_id"], CLIENT);
        let q = query(&p.end_session_url(None, "https://w/").await.unwrap().unwrap());
        assert!(!q.contains_key("id_token_hint"));
        idp.set("end_session_endpoint", Value::Null);
        let p = Provider::new(spec(&idp.issuer), reqwest::Client::new());
        assert_eq!(p.end_session_url(Some("t"), "https://w/").await.unwrap(), None);
    }

    #[test]
    fn helpers() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(constant_time_eq("", ""));
        let c = json!({"a": {"b": ["x"]}, "a.b": "top"});
        assert_eq!(groups_from(&c, "a.b"), vec!["top"], "an exact top-level name wins");
        assert_eq!(groups_from(&json!({"a": {"b": ["x", "y"]}}), "a.b"), vec!["x", "y"]);
        assert!(groups_from(&c, "a.c").is_empty());
        assert!(groups_from(&c, "").is_empty());
        assert!(groups_from(&json!({"g": {"x": 1}}), "g").is_empty());
        let mut s = spec("https://idp.example");
        s.scopes = vec!["email openid".into(), "email".into(), "groups".into()];
        let p = Provider::new(s, reqwest::Client::new());
        assert_eq!(p.scope(), "openid email groups");
        assert!(!format!("{:?}", p.spec()).contains(SECRET));
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
