use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use warden_core::glob::{Glob, GlobSet};
use warden_core::identity::TokenHash;

use crate::env::expand;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub identity: IdentityConfig,
    pub upstreams: Vec<UpstreamConfig>,
    /// Static-token agents (less safe than inventory agents with OAuth tokens; kept for demos).
    pub agents: Vec<AgentConfig>,
    /// Policy as code: rules, risk tiers, approvals (see `policy.rs`).
    pub policy: crate::policy::PolicyDoc,
    /// The tamper-evident audit trail.
    pub audit: AuditConfig,
    /// OpenTelemetry trace export.
    pub telemetry: TelemetryConfig,
    /// Credential custody: Warden's encrypted secret store.
    pub secrets: SecretsConfig,
    /// OpenAI-compatible model upstreams behind `/v1/*`.
    pub models: Vec<crate::models::ModelUpstream>,
    /// Detectors at the inference boundary, per direction.
    pub guardrails: crate::models::GuardrailsConfig,
    /// Per-agent daily token and cost limits.
    pub budgets: crate::models::BudgetsConfig,
    /// Model name → price, for cost accounting and budgets.
    pub prices: BTreeMap<String, crate::models::Price>,
    /// The web console and its sign-in (OpenID Connect).
    pub console: crate::console::ConsoleConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The key-encryption key of the secret store (32 bytes, base64 or hex), as a file:
    /// a Kubernetes Secret mount, for instance. `WARDEN_MASTER_KEY` takes precedence.
    pub master_key_file: Option<Str>,
    /// HashiCorp Vault, for `vault://mount/path#key` references (KV version 2).
    pub vault: Option<VaultConfig>,
    /// What offboarding an agent does to the credentials only it used:
    /// `detach` (stop using them; the default) or `delete` (also delete them
    /// from Warden's own store). Either way, the answer lists what must be
    /// rotated at the provider.
    pub on_offboard: OffboardCredentials,
    /// `warden secret audit` reports credentials not rotated for this many days.
    pub max_age_days: Num<u64>,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            master_key_file: None,
            vault: None,
            on_offboard: OffboardCredentials::Detach,
            max_age_days: Num(90),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OffboardCredentials {
    #[default]
    Detach,
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// The Vault server, as in `https://vault.example:8200`.
    pub address: HttpUrl,
    pub auth: VaultAuth,
    /// Vault Enterprise namespace (`X-Vault-Namespace`).
    #[serde(default)]
    pub namespace: Option<Str>,
    /// Longest a value read from KV is reused before it is read again. A
    /// shorter lease on the read wins.
    #[serde(default = "default_vault_cache")]
    pub cache_secs: Num<u64>,
    #[serde(default = "default_vault_timeout")]
    pub timeout_secs: Num<f64>,
}

fn default_vault_cache() -> Num<u64> {
    Num(300)
}

fn default_vault_timeout() -> Num<f64> {
    Num(5.0)
}

/// How Warden logs in to Vault.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "method", rename_all = "snake_case")]
pub enum VaultAuth {
    /// A Vault token, itself a secret reference (`env://VAULT_TOKEN`, `file://...`).
    Token { token: Str },
    /// The Kubernetes auth method: the pod's service-account token is traded for a Vault token.
    Kubernetes {
        role: String,
        #[serde(default = "default_k8s_mount")]
        mount: String,
        #[serde(default = "default_k8s_jwt")]
        jwt_file: Str,
    },
}

fn default_k8s_mount() -> String {
    "kubernetes".into()
}

fn default_k8s_jwt() -> Str {
    Str("/var/run/secrets/kubernetes.io/serviceaccount/token".into())
}

/// How Warden authenticates to an upstream. The agent's own credentials never
/// reach an upstream; this is what Warden attaches at egress instead.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum UpstreamAuth {
    /// A static header whose value comes from a secret reference.
    Header {
        #[serde(default = "default_auth_header")]
        header: String,
        /// Written before the secret: `Bearer ` by default; `""` for a bare value.
        #[serde(default = "default_auth_prefix")]
        prefix: String,
        /// `env://`, `file://`, `store://` or `vault://` reference.
        secret: Str,
    },
    /// OAuth 2.0 client credentials grant (RFC 6749 section 4.4): Warden's
    /// own client at the upstream's authorization server. The token is cached,
    /// refreshed before it expires, and fetched again once on a 401.
    OauthClientCredentials {
        token_url: HttpUrl,
        client_id: Str,
        /// A secret reference.
        client_secret: Str,
        #[serde(default)]
        scopes: Vec<String>,
        #[serde(default)]
        audience: Option<String>,
        /// RFC 8707 resource indicator.
        #[serde(default)]
        resource: Option<String>,
        #[serde(default)]
        client_auth: ClientAuth,
    },
    /// RFC 8693 token exchange: for each agent, a Warden-signed token naming the
    /// agent (audience: the STS) is traded at the STS for an upstream token
    /// scoped to that agent. Each agent's calls run on its own upstream session.
    TokenExchange {
        sts_url: HttpUrl,
        #[serde(default)]
        audience: Option<String>,
        #[serde(default)]
        resource: Option<String>,
        #[serde(default)]
        scopes: Vec<String>,
        /// Warden's client at the STS, when the STS authenticates its clients.
        #[serde(default)]
        client_id: Option<Str>,
        /// A secret reference.
        #[serde(default)]
        client_secret: Option<Str>,
        #[serde(default)]
        client_auth: ClientAuth,
    },
}

/// How Warden authenticates to a token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the URL-encoded client id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

fn default_auth_header() -> String {
    "Authorization".into()
}

fn default_auth_prefix() -> String {
    "Bearer ".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Off only for benchmarking the cost of the audit trail: nothing is recorded.
    pub enabled: bool,
    /// Ed25519 key (PKCS#8, base64) that signs checkpoints; created on first start.
    /// Default: `<data dir>/audit-signing.key`. Replicas sharing a database share it
    /// (mount it from a Kubernetes Secret).
    pub signing_key_file: Option<Str>,
    /// A checkpoint is signed after this many records...
    pub checkpoint_every_records: Num<u64>,
    /// ...or this often, whichever comes first (when there are new records).
    pub checkpoint_interval_secs: Num<u64>,
    /// Records older than this many days are pruned (0: keep everything).
    pub retention_days: Num<u64>,
    /// Most records committed in one transaction (group commit).
    pub max_batch: Num<usize>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            signing_key_file: None,
            checkpoint_every_records: Num(1000),
            checkpoint_interval_secs: Num(10),
            retention_days: Num(0),
            max_batch: Num(512),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub otlp: OtlpConfig,
}

/// OTLP/HTTP (protobuf) span export. The standard `OTEL_EXPORTER_OTLP_*`
/// variables fill in whatever is not set here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// The traces URL, e.g. `http://collector:4318/v1/traces`. Unset (and no
    /// `OTEL_EXPORTER_OTLP_*ENDPOINT`): no export.
    pub endpoint: Option<HttpUrl>,
    pub headers: BTreeMap<String, Str>,
    pub timeout_ms: Num<u64>,
    /// Spans waiting for export; beyond this they are dropped (and counted).
    pub queue_size: Num<usize>,
    pub batch_size: Num<usize>,
    pub service_name: Option<Str>,
    /// Record prompt and completion content on spans (redacted). Off by default.
    pub capture_content: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            headers: BTreeMap::new(),
            timeout_ms: Num(5000),
            queue_size: Num(4096),
            batch_size: Num(512),
            service_name: None,
            capture_content: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`. Default: SQLite in the data dir.
    pub url: Option<Str>,
    /// How often each replica checks the store for inventory changes made elsewhere.
    pub poll_interval_ms: Num<u64>,
    /// PostgreSQL: also hear other replicas' changes as they commit (`LISTEN`/`NOTIFY`
    /// on a connection of its own). `false` leaves polling alone, e.g. behind a
    /// pooler in transaction mode, which cannot hold a `LISTEN`.
    pub listen: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { url: None, poll_interval_ms: Num(1000), listen: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// `iss` of Warden-issued tokens. Default: `server.public_url`, else `http://<listen>`.
    pub issuer: Option<Str>,
    /// `aud` of Warden-issued tokens.
    pub audience: Str,
    pub token_ttl_secs: Num<u64>,
    /// Clock skew tolerated on `exp`/`nbf`, for Warden's own and federated tokens.
    pub leeway_secs: Num<u64>,
    /// Regex every inventory agent name must match.
    pub agent_name_pattern: Str,
    /// External issuers whose JWTs identify agents.
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            issuer: None,
            audience: Str("warden".into()),
            token_ttl_secs: Num(900),
            leeway_secs: Num(30),
            agent_name_pattern: Str(warden_core::inventory::DEFAULT_NAME_PATTERN.into()),
            trusted_issuers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// Exact `iss` claim.
    pub issuer: Str,
    pub jwks_url: HttpUrl,
    /// Accepted `aud` values.
    pub audiences: Vec<Str>,
    /// The claim that names the workload.
    #[serde(default = "default_claim")]
    pub claim: Str,
    /// Claim value → agent name.
    #[serde(default)]
    pub agents: BTreeMap<String, Name>,
    /// Use the claim value itself as the agent name when `agents` has no entry.
    #[serde(default)]
    pub claim_is_agent_name: bool,
    #[serde(default = "default_jwks_cache")]
    pub jwks_cache_secs: Num<u64>,
}

fn default_claim() -> Str {
    Str("sub".into())
}

fn default_jwks_cache() -> Num<u64> {
    Num(300)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Overridden by `--listen`.
    pub listen: Option<Listen>,
    /// Host names (without port) accepted in the `Host` header. Guards against DNS rebinding.
    pub allowed_hosts: Vec<Str>,
    /// Extra `Origin` values accepted (scheme://host[:port]). Origins whose host is an
    /// allowed host are always accepted.
    pub allowed_origins: Vec<Str>,
    pub max_body_bytes: Num<u64>,
    pub session_idle_timeout_secs: Num<u64>,
    pub drain_timeout_secs: Num<u64>,
    pub page_size: Num<usize>,
    /// Answer with `application/json` even when the client accepts SSE, unless the
    /// call produces progress, logs or server requests. Default false: like the MCP
    /// SDK servers, answer over SSE whenever the client accepts it.
    pub json_responses: bool,
    /// The URL agents use to reach Warden (no path), e.g. `https://warden.example.com`.
    /// Used in OAuth metadata and as the default token issuer. Default: `http://<listen>`.
    pub public_url: Option<HttpUrl>,
    /// The names agents' own configs give Warden's MCP server (OpenClaw's
    /// `mcp.servers.<name>`). A tool the model proposes as `<name>__<tool>` is
    /// Warden's MCP tool `<tool>`: the model door applies that tool's
    /// annotations and rules, and leaves the execution's decision to `/mcp`.
    pub mcp_server_names: Vec<Str>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: None,
            allowed_hosts: ["localhost", "127.0.0.1", "[::1]"].iter().map(|h| Str(h.to_string())).collect(),
            allowed_origins: Vec::new(),
            max_body_bytes: Num(DEFAULT_MAX_BODY_BYTES),
            session_idle_timeout_secs: Num(3600),
            drain_timeout_secs: Num(30),
            page_size: Num(100),
            json_responses: false,
            public_url: None,
            mcp_server_names: vec![Str("warden".into())],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Stdio,
    StreamableHttp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Stdio => "stdio",
            Transport::StreamableHttp => "streamable-http",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: Name,
    pub transport: Transport,
    /// streamable-http: the MCP endpoint.
    pub url: Option<HttpUrl>,
    /// streamable-http: static headers sent on every request. A value that is a
    /// secret reference (`env://`, `file://`, `store://`, `vault://`) is resolved
    /// at each use.
    #[serde(default)]
    pub headers: BTreeMap<String, Str>,
    /// streamable-http: the credential Warden attaches for this upstream.
    #[serde(default)]
    pub auth: Option<UpstreamAuth>,
    /// streamable-http: agent name → a secret reference holding that agent's own
    /// credential at this upstream (sent like `auth` when it is a header, else as
    /// `Authorization: Bearer`). Each such agent's calls run on a session of its own.
    #[serde(default)]
    pub credentials: BTreeMap<String, Str>,
    /// stdio: the program to run.
    pub command: Option<Str>,
    #[serde(default)]
    pub args: Vec<Str>,
    #[serde(default)]
    pub env: BTreeMap<String, Str>,
    pub cwd: Option<Str>,
    /// `<prefix>__` before every tool and prompt name. Default: the upstream name when
    /// there is more than one upstream, none otherwise. `false` turns it off.
    #[serde(default)]
    pub prefix: Option<Prefix>,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Globs over the upstream's own tool names.
    #[serde(default)]
    pub tools: IncludeExclude,
    /// Globs over resource URIs and URI templates.
    #[serde(default)]
    pub resources: IncludeExclude,
    /// Globs over the upstream's own prompt names.
    #[serde(default)]
    pub prompts: IncludeExclude,
    /// Tool pinning: `tofu` (default) serves the first version of each
    /// definition and quarantines any change until an admin approves it;
    /// `strict` quarantines the first version too; `off` serves whatever the
    /// upstream lists. Descriptions are screened in every mode but `off`.
    #[serde(default)]
    pub pinning: Pinning,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pinning {
    Off,
    #[default]
    Tofu,
    Strict,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Connect + initialize handshake.
    pub connect_secs: Num<f64>,
    /// One request (tools/call, resources/read, ...), end to end.
    pub call_secs: Num<f64>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect_secs: Num(10.0), call_secs: Num(60.0) }
    }
}

impl Timeouts {
    pub fn connect(&self) -> Duration {
        Duration::from_secs_f64(self.connect_secs.0)
    }
    pub fn call(&self) -> Duration {
        Duration::from_secs_f64(self.call_secs.0)
    }
}

/// Globs over the upstream's own (unprefixed) names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncludeExclude {
    pub include: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
}

impl Default for IncludeExclude {
    fn default() -> Self {
        IncludeExclude { include: vec![Pattern(Glob::new("*").expect("static"))], exclude: Vec::new() }
    }
}

impl IncludeExclude {
    pub fn permits(&self, name: &str) -> bool {
        let name = warden_core::names::nfc_cow(name);
        self.include.iter().any(|g| g.0.matches(&name)) && !self.exclude.iter().any(|g| g.0.matches(&name))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub name: Name,
    /// SHA-256 (hex) of the agent's bearer token. `warden token generate` prints both.
    pub token_sha256: TokenHashValue,
    #[serde(default)]
    pub allow_tools: Vec<Pattern>,
    #[serde(default)]
    pub deny_tools: Vec<Pattern>,
    #[serde(default)]
    pub allow_resources: Vec<Pattern>,
    #[serde(default)]
    pub deny_resources: Vec<Pattern>,
    #[serde(default)]
    pub allow_prompts: Vec<Pattern>,
    #[serde(default)]
    pub deny_prompts: Vec<Pattern>,
    /// Models (names under `models:`) this agent may use.
    #[serde(default)]
    pub allow_models: Vec<Pattern>,
    #[serde(default)]
    pub deny_models: Vec<Pattern>,
}

impl AgentConfig {
    pub fn access_rules(&self) -> warden_core::access::AccessRules {
        use warden_core::access::{AccessRules, AllowDeny};
        let set = |v: &[Pattern]| -> GlobSet {
            GlobSet::new(&v.iter().map(|p| p.0.as_str().to_string()).collect::<Vec<_>>()).expect("validated at load")
        };
        AccessRules {
            tools: AllowDeny { allow: set(&self.allow_tools), deny: set(&self.deny_tools) },
            resources: AllowDeny { allow: set(&self.allow_resources), deny: set(&self.deny_resources) },
            prompts: AllowDeny { allow: set(&self.allow_prompts), deny: set(&self.deny_prompts) },
            models: AllowDeny { allow: set(&self.allow_models), deny: set(&self.deny_models) },
        }
    }
}

// ---------------------------------------------------------------------------
// Value types. Each validates itself during deserialisation so serde reports
// the offending key and line.
// ---------------------------------------------------------------------------

/// A string with `${ENV}` substitution applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Str(pub String);

impl Str {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        expand(&raw).map(Str).map_err(|e| bad(&raw, e))
    }
}

thread_local! {
    /// The raw text of the value that failed last; serde_norway reports custom errors at the
    /// enclosing mapping, so the loader uses this to find the exact line of the bad value.
    pub(crate) static LAST_BAD: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

pub(crate) fn bad<E: de::Error>(raw: &str, message: impl fmt::Display) -> E {
    LAST_BAD.with(|b| *b.borrow_mut() = Some(raw.to_string()));
    E::custom(message)
}

/// A number, or a string that becomes one after `${ENV}` substitution.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Num<T>(pub T);

impl<'de, T> Deserialize<'de> for Num<T>
where
    T: std::str::FromStr + FromF64,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: std::str::FromStr + FromF64> Visitor<'_> for V<T> {
            type Value = Num<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::from_u64(v).map(Num).ok_or_else(|| E::custom(format!("{v} is out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if v < 0 {
                    return Err(E::custom(format!("{v} must not be negative")));
                }
                self.visit_u64(v as u64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                T::from_f64(v).map(Num).ok_or_else(|| E::custom(format!("{v} must be a whole, non-negative number")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let s = expand(v).map_err(|e| bad(v, e))?;
                s.trim().parse::<T>().map(Num).map_err(|_| bad(v, format!("{s:?} is not a valid number")))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Numeric types a config value may hold.
pub trait FromF64: Sized {
    fn from_f64(v: f64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
}
impl FromF64 for f64 {
    fn from_f64(v: f64) -> Option<Self> {
        (v.is_finite() && v >= 0.0).then_some(v)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
}
impl FromF64 for u64 {
    fn from_f64(v: f64) -> Option<Self> {
        (v.fract() == 0.0 && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
}
impl FromF64 for usize {
    fn from_f64(v: f64) -> Option<Self> {
        u64::from_f64(v).and_then(|v| usize::try_from(v).ok())
    }
    fn from_u64(v: u64) -> Option<Self> {
        usize::try_from(v).ok()
    }
}

/// `host:port` to listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub SocketAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Str::deserialize(d)?;
        s.0.parse()
            .map(Listen)
            .map_err(|_| bad(&s.0, format!("{:?} is not a socket address such as 127.0.0.1:8470", s.0)))
    }
}

/// An absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(pub url::Url);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Str::deserialize(d)?;
        let url = url::Url::parse(&s.0).map_err(|e| bad(&s.0, format!("invalid URL {:?}: {e}", s.0)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&s.0, format!("invalid URL {:?}: scheme must be http or https", s.0)));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(&s.0, format!("invalid URL {:?}: no host", s.0)));
        }
        Ok(HttpUrl(url))
    }
}

/// A validated glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub Glob);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Glob::new(&s).map(Pattern).map_err(|e| bad(&s, e))
    }
}

/// Upstream and agent names: lowercase letters, digits, `-` and `_`; no `__`
/// (reserved as the prefix separator); 1–64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(pub String);

impl Name {
    pub fn check(s: &str) -> Result<(), String> {
        let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if s.is_empty() || s.len() > 64 || !ok_chars {
            return Err(format!("invalid name {s:?}: use 1-64 characters from a-z, 0-9, '-' and '_'"));
        }
        if s.contains("__") {
            return Err(format!("invalid name {s:?}: \"__\" is reserved as the prefix separator"));
        }
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Name::check(&s).map_err(|e| bad(&s, e))?;
        Ok(Name(s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHashValue(pub TokenHash);

impl<'de> Deserialize<'de> for TokenHashValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Str::deserialize(d)?;
        TokenHash::from_hex(s.0.trim()).map(TokenHashValue).map_err(|e| bad(&s.0, format!("token_sha256: {e}")))
    }
}

/// `prefix: <string>` or `prefix: false` / `true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    Off,
    Default,
    Custom(String),
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Prefix;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a prefix string, or false to disable prefixing")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Prefix, E> {
                Ok(if v { Prefix::Default } else { Prefix::Off })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Prefix, E> {
                let s = expand(v).map_err(|e| bad(v, e))?;
                let ok = !s.is_empty()
                    && s.len() <= 64
                    && !s.contains("__")
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok {
                    return Err(bad(
                        v,
                        format!(
                            "invalid prefix {s:?}: use 1-64 characters from A-Z, a-z, 0-9, '-' and '_', without \"__\""
                        ),
                    ));
                }
                Ok(Prefix::Custom(s))
            }
        }
        d.deserialize_any(V)
    }
}

impl Config {
    /// The effective prefix of upstream `i`, per the defaulting rule.
    pub fn prefix_of(&self, i: usize) -> Option<String> {
        let u = &self.upstreams[i];
        match &u.prefix {
            Some(Prefix::Off) => None,
            Some(Prefix::Custom(p)) => Some(p.clone()),
            Some(Prefix::Default) => Some(u.name.0.clone()),
            None if self.upstreams.len() > 1 => Some(u.name.0.clone()),
            None => None,
        }
    }
}

/// Line (1-based) of the `name: <value>` key of a list entry, for error messages.
pub(crate) fn line_of_name(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('-').trim();
            l.strip_prefix("name:").map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == name).unwrap_or(false)
        })
        .map(|i| i + 1)
}

pub(crate) fn validate(config: &Config, text: &str) -> Result<(), String> {
    let at = |section: &str, i: usize, name: &str| -> String {
        match line_of_name(text, name) {
            Some(line) => format!("{section}[{i}] ({name:?}, line {line})"),
            None => format!("{section}[{i}] ({name:?})"),
        }
    };
    let mut seen = HashSet::new();
    for (i, u) in config.upstreams.iter().enumerate() {
        let here = at("upstreams", i, &u.name.0);
        if !seen.insert(u.name.0.as_str()) {
            return Err(format!("{here}: duplicate upstream name"));
        }
        match u.transport {
            Transport::Stdio => {
                if u.command.as_ref().is_none_or(|c| c.0.trim().is_empty()) {
                    return Err(format!("{here}: transport stdio needs `command`"));
                }
                if u.url.is_some() || !u.headers.is_empty() || u.auth.is_some() || !u.credentials.is_empty() {
                    return Err(format!(
                        "{here}: `url`, `headers`, `auth` and `credentials` apply to transport streamable-http, not stdio"
                    ));
                }
                for (k, v) in &u.env {
                    if warden_secrets::SecretRef::looks_like(&v.0) {
                        warden_secrets::SecretRef::parse(&v.0).map_err(|e| format!("{here}: env.{k}: {e}"))?;
                    }
                }
            }
            Transport::StreamableHttp => {
                if u.url.is_none() {
                    return Err(format!("{here}: transport streamable-http needs `url`"));
                }
                if u.command.is_some() || !u.args.is_empty() || !u.env.is_empty() || u.cwd.is_some() {
                    return Err(format!(
                        "{here}: `command`, `args`, `env` and `cwd` apply to transport stdio, not streamable-http"
                    ));
                }
                for (k, v) in &u.headers {
                    if http_header_invalid(k, &v.0) {
                        return Err(format!("{here}: headers.{k}: not a valid HTTP header name/value"));
                    }
                    if warden_secrets::SecretRef::looks_like(&v.0) {
                        warden_secrets::SecretRef::parse(&v.0).map_err(|e| format!("{here}: headers.{k}: {e}"))?;
                    }
                }
                let reference = |field: &str, v: &Str| {
                    warden_secrets::SecretRef::parse(&v.0).map(|_| ()).map_err(|e| format!("{here}: {field}: {e}"))
                };
                match &u.auth {
                    None => {}
                    Some(UpstreamAuth::Header { header, prefix, secret }) => {
                        if http_header_invalid(header, prefix) {
                            return Err(format!("{here}: auth.header: not a valid HTTP header name/prefix"));
                        }
                        reference("auth.secret", secret)?;
                    }
                    Some(UpstreamAuth::OauthClientCredentials { client_id, client_secret, .. }) => {
                        if client_id.0.trim().is_empty() {
                            return Err(format!("{here}: auth.client_id is empty"));
                        }
                        reference("auth.client_secret", client_secret)?;
                    }
                    Some(UpstreamAuth::TokenExchange { client_id, client_secret, .. }) => {
                        if client_secret.is_some() != client_id.is_some() {
                            return Err(format!("{here}: auth.client_id and auth.client_secret go together"));
                        }
                        if let Some(s) = client_secret {
                            reference("auth.client_secret", s)?;
                        }
                    }
                }
                for (agent, v) in &u.credentials {
                    Name::check(agent).map_err(|e| format!("{here}: credentials: {e}"))?;
                    reference(&format!("credentials.{agent}"), v)?;
                }
            }
        }
        if u.timeouts.call_secs.0 <= 0.0 || u.timeouts.connect_secs.0 <= 0.0 {
            return Err(format!("{here}: timeouts must be greater than zero"));
        }
    }
    if let Some(v) = &config.secrets.vault
        && let VaultAuth::Token { token } = &v.auth
    {
        match warden_secrets::SecretRef::parse(&token.0) {
            Ok(warden_secrets::SecretRef::Vault { .. }) => {
                return Err("secrets.vault.auth.token: the Vault token cannot itself come from Vault".into());
            }
            Ok(_) => {}
            Err(e) => return Err(format!("secrets.vault.auth.token: {e}")),
        }
    }
    if config.secrets.vault.is_none()
        && let Some(r) = config
            .secret_references()
            .into_iter()
            .find(|r| matches!(r.reference, warden_secrets::SecretRef::Vault { .. }))
    {
        return Err(format!("{}: {} needs `secrets.vault` (address and auth)", r.place, r.reference));
    }
    let mut prefixes = HashSet::new();
    for i in 0..config.upstreams.len() {
        if let Some(p) = config.prefix_of(i)
            && !prefixes.insert(p.clone())
        {
            return Err(format!(
                "{}: prefix {p:?} is used by another upstream",
                at("upstreams", i, &config.upstreams[i].name.0)
            ));
        }
    }
    let mut names = HashSet::new();
    let mut hashes = HashSet::new();
    for (i, a) in config.agents.iter().enumerate() {
        let here = at("agents", i, &a.name.0);
        if !names.insert(a.name.0.as_str()) {
            return Err(format!("{here}: duplicate agent name"));
        }
        if !hashes.insert(a.token_sha256.0) {
            return Err(format!("{here}: token_sha256 is shared with another agent; every agent needs its own token"));
        }
    }
    crate::models::validate(config)?;
    crate::console::validate(&config.console)?;
    let id = &config.identity;
    if let Err(e) = warden_core::inventory::NamingRule::new(&id.agent_name_pattern.0) {
        return Err(format!("identity.agent_name_pattern: {e}"));
    }
    if !(60..=86_400).contains(&id.token_ttl_secs.0) {
        return Err("identity.token_ttl_secs: must be between 60 and 86400".into());
    }
    if id.leeway_secs.0 > 300 {
        return Err("identity.leeway_secs: must be at most 300".into());
    }
    if id.audience.0.trim().is_empty() {
        return Err("identity.audience: must not be empty".into());
    }
    for (i, t) in id.trusted_issuers.iter().enumerate() {
        if t.issuer.0.trim().is_empty() {
            return Err(format!("identity.trusted_issuers[{i}].issuer: must not be empty"));
        }
        if t.audiences.is_empty() || t.audiences.iter().any(|a| a.0.trim().is_empty()) {
            return Err(format!("identity.trusted_issuers[{i}].audiences: list at least one non-empty audience"));
        }
        if t.agents.is_empty() && !t.claim_is_agent_name {
            return Err(format!(
                "identity.trusted_issuers[{i}]: maps no one; set `agents` (claim value -> agent) or `claim_is_agent_name: true`"
            ));
        }
    }
    if let Some(u) = &config.store.url
        && !(u.0.starts_with("sqlite:") || u.0.starts_with("postgres://") || u.0.starts_with("postgresql://"))
    {
        return Err("store.url: use sqlite://PATH or postgres://USER:PASS@HOST/DB".into());
    }
    if config.store.poll_interval_ms.0 < 50 {
        return Err("store.poll_interval_ms: must be at least 50".into());
    }
    if config.server.max_body_bytes.0 < 1024 {
        return Err("server.max_body_bytes: must be at least 1024".into());
    }
    if config.server.page_size.0 == 0 {
        return Err("server.page_size: must be at least 1".into());
    }
    for n in &config.server.mcp_server_names {
        let ok = !n.0.is_empty()
            && n.0.len() <= 64
            && !n.0.contains("__")
            && n.0.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(format!(
                "server.mcp_server_names: {:?} must be 1-64 letters, digits, '-' or '_', without \"__\"",
                n.0
            ));
        }
    }
    for h in &config.server.allowed_hosts {
        if h.0.is_empty() || h.0.contains('/') || h.0.chars().any(char::is_whitespace) {
            return Err(format!("server.allowed_hosts: {:?} is not a host name", h.0));
        }
    }
    Ok(())
}

fn http_header_invalid(name: &str, value: &str) -> bool {
    let name_ok =
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value_ok = value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80);
    !(name_ok && value_ok)
}
