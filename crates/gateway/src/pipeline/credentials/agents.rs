//! How an upstream's `headers:`, `auth:` and `credentials:` become what Warden
//! sends: the shared connection's credential, and each agent's own.
//!
//! - `auth: header` / `oauth_client_credentials`: Warden's own credential on
//!   the shared session; every agent's calls use it unless `credentials:`
//!   gives the agent its own.
//! - `auth: token_exchange`: every agent gets an upstream token of its own
//!   from the STS, so every agent has its own session. Discovery (lists,
//!   notifications) runs under a token exchanged for Warden itself (`sub: warden`).
//! - `credentials: {agent: ref}`: that agent's calls carry its own credential
//!   on a session of its own. An upstream with `credentials:` and no `auth`
//!   refuses the calls of agents not listed (it never calls unauthenticated),
//!   and runs discovery under the first listed agent's credential.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use http::HeaderName;
use warden_config::{UpstreamAuth, UpstreamConfig};
use warden_mcp::http::HeaderSource;
use warden_mcp::{AgentAuth, AgentCredential};
use warden_secrets::SecretRef;

use super::token::{Client, Grant, TokenRequest, TokenSource};
use super::{Custody, Egress, Uses};
use crate::Gateway;

/// The identity Warden itself presents where no agent is involved (discovery).
pub const WARDEN_SUBJECT: &str = "warden";
/// Subject tokens live this long: long enough for one exchange.
const SUBJECT_TTL_SECS: i64 = 120;

/// Mints the Warden-signed subject tokens of RFC 8693 exchanges. Set once the
/// gateway exists (the signing keys live in its directory).
#[derive(Default)]
pub struct Subjects(OnceLock<Weak<Gateway>>);

impl Subjects {
    pub fn attach(&self, gw: &Arc<Gateway>) {
        let _ = self.0.set(Arc::downgrade(gw));
    }

    /// A token naming `agent`, audience `audience`, signed by Warden's active key.
    pub fn mint(&self, agent: &str, audience: &str) -> Result<String, String> {
        let gw = self.0.get().and_then(Weak::upgrade).ok_or("the gateway is shutting down")?;
        let (id, team) = match gw.directory.live().by_name.get(agent) {
            Some(a) => (a.record.id.clone(), a.record.spec.team.clone()),
            None => (agent.to_string(), String::new()),
        };
        let ring = gw.directory.keyring();
        ring.issue_for(&id, agent, &team, audience, SUBJECT_TTL_SECS).map(|(t, _)| t)
    }
}

/// Everything one HTTP upstream sends: static headers, the shared credential,
/// and agents' own credentials.
pub struct Plan {
    pub shared: Option<Arc<dyn HeaderSource>>,
    pub per_agent: Option<Arc<dyn AgentAuth>>,
    pub uses: Uses,
}

struct Ctx<'a> {
    upstream: &'a str,
    custody: &'a Arc<Custody>,
    http: &'a reqwest::Client,
    subjects: &'a Arc<Subjects>,
}

fn header(name: &str) -> anyhow::Result<HeaderName> {
    Ok(HeaderName::from_bytes(name.as_bytes())?)
}

fn reference(s: &str) -> anyhow::Result<SecretRef> {
    SecretRef::parse(s).map_err(anyhow::Error::msg)
}

impl Ctx<'_> {
    fn egress(
        &self,
        headers: Vec<(HeaderName, String, SecretRef)>,
        token: Option<Arc<TokenSource>>,
    ) -> Arc<dyn HeaderSource> {
        Arc::new(Egress { headers, token, custody: self.custody.clone() })
    }

    /// A token source for `auth` (None for header auth). `agent`: whose token (exchange only).
    fn token(&self, auth: &UpstreamAuth, agent: &str) -> anyhow::Result<Option<Arc<TokenSource>>> {
        let (endpoint, grant, client, scopes, audience, resource, label) = match auth {
            UpstreamAuth::Header { .. } => return Ok(None),
            UpstreamAuth::OauthClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
                audience,
                resource,
                client_auth,
            } => (
                token_url.0.clone(),
                Grant::ClientCredentials,
                Some(Client { id: client_id.0.clone(), secret: reference(&client_secret.0)?, auth: *client_auth }),
                scopes,
                audience,
                resource,
                format!("oauth-token:{}", self.upstream),
            ),
            UpstreamAuth::TokenExchange {
                sts_url,
                audience,
                resource,
                scopes,
                client_id,
                client_secret,
                client_auth,
            } => {
                let (subjects, agent_name, sts) = (self.subjects.clone(), agent.to_string(), sts_url.0.to_string());
                let subject: super::token::Subject = Arc::new(move || subjects.mint(&agent_name, &sts));
                let client = match (client_id, client_secret) {
                    (Some(id), Some(s)) => {
                        Some(Client { id: id.0.clone(), secret: reference(&s.0)?, auth: *client_auth })
                    }
                    _ => None,
                };
                (
                    sts_url.0.clone(),
                    Grant::Exchange { subject },
                    client,
                    scopes,
                    audience,
                    resource,
                    format!("sts-token:{}/{agent}", self.upstream),
                )
            }
        };
        let request = TokenRequest {
            endpoint,
            grant,
            client,
            scopes: scopes.clone(),
            audience: audience.clone(),
            resource: resource.clone(),
        };
        Ok(Some(Arc::new(TokenSource::new(label, request, self.custody.clone(), self.http.clone()))))
    }
}

/// Plans what upstream `u` (streamable HTTP) sends.
pub fn plan(
    u: &UpstreamConfig,
    custody: &Arc<Custody>,
    http: &reqwest::Client,
    subjects: &Arc<Subjects>,
) -> anyhow::Result<Plan> {
    let ctx = Ctx { upstream: &u.name.0, custody, http, subjects };
    let mut uses = Uses::default();
    // Header values that are references resolve at each request, on every connection.
    let mut statics = Vec::new();
    for (k, v) in u.headers.iter().filter(|(_, v)| SecretRef::looks_like(&v.0)) {
        statics.push((header(k)?, String::new(), reference(&v.0)?));
        uses.shared.push(v.0.clone());
    }
    // How an agent's own credential is sent: like `auth: header`, else as a bearer token.
    let (own_header, own_prefix) = match &u.auth {
        Some(UpstreamAuth::Header { header: h, prefix, .. }) => (header(h)?, prefix.clone()),
        _ => (http::header::AUTHORIZATION, "Bearer ".to_string()),
    };
    let own_headers = |r: &SecretRef| {
        let mut h = statics.clone();
        h.push((own_header.clone(), own_prefix.clone(), r.clone()));
        h
    };
    let mut own: BTreeMap<String, SecretRef> = BTreeMap::new();
    for (agent, v) in &u.credentials {
        own.insert(agent.clone(), reference(&v.0)?);
        uses.own.insert(agent.clone(), v.0.clone());
    }
    let exchange = matches!(u.auth, Some(UpstreamAuth::TokenExchange { .. }));
    let shared: Option<Arc<dyn HeaderSource>> = match &u.auth {
        Some(UpstreamAuth::Header { header: h, prefix, secret }) => {
            uses.shared.push(secret.0.clone());
            let mut hs = statics.clone();
            hs.push((header(h)?, prefix.clone(), reference(&secret.0)?));
            Some(ctx.egress(hs, None))
        }
        Some(auth) => {
            if let UpstreamAuth::OauthClientCredentials { client_secret, .. }
            | UpstreamAuth::TokenExchange { client_secret: Some(client_secret), .. } = auth
            {
                uses.shared.push(client_secret.0.clone());
            }
            Some(ctx.egress(statics.clone(), ctx.token(auth, WARDEN_SUBJECT)?))
        }
        None => match own.iter().next() {
            Some((_, first)) => Some(ctx.egress(own_headers(first), None)),
            None if statics.is_empty() => None,
            None => Some(ctx.egress(statics.clone(), None)),
        },
    };
    let per_agent: Option<Arc<dyn AgentAuth>> = (exchange || !own.is_empty()).then(|| {
        let mut sources: HashMap<String, Arc<dyn HeaderSource>> = HashMap::new();
        for (agent, r) in &own {
            sources.insert(agent.clone(), ctx.egress(own_headers(r), None));
        }
        Arc::new(PerAgent {
            upstream: u.name.0.clone(),
            fixed: sources,
            exchange: exchange.then(|| ExchangeFactory {
                auth: u.auth.clone().expect("exchange implies auth"),
                statics: statics.clone(),
                custody: custody.clone(),
                http: http.clone(),
                subjects: subjects.clone(),
            }),
            minted: Mutex::new(HashMap::new()),
            shared_fallback: u.auth.is_some(),
        }) as Arc<dyn AgentAuth>
    });
    Ok(Plan { shared, per_agent, uses })
}

struct ExchangeFactory {
    auth: UpstreamAuth,
    statics: Vec<(HeaderName, String, SecretRef)>,
    custody: Arc<Custody>,
    http: reqwest::Client,
    subjects: Arc<Subjects>,
}

/// Agents' own credentials at one upstream.
struct PerAgent {
    upstream: String,
    /// From `credentials:`.
    fixed: HashMap<String, Arc<dyn HeaderSource>>,
    /// Token exchange: one token source per agent, made on first use.
    exchange: Option<ExchangeFactory>,
    minted: Mutex<HashMap<String, Arc<dyn HeaderSource>>>,
    /// Agents without their own credential use the shared one (there is an `auth`).
    shared_fallback: bool,
}

impl std::fmt::Debug for PerAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerAgent").field("upstream", &self.upstream).finish()
    }
}

impl AgentAuth for PerAgent {
    fn for_agent(&self, agent: &str) -> AgentCredential {
        if let Some(s) = self.fixed.get(agent) {
            return AgentCredential::Own(s.clone());
        }
        if let Some(x) = &self.exchange {
            let mut minted = self.minted.lock().unwrap();
            if let Some(s) = minted.get(agent) {
                return AgentCredential::Own(s.clone());
            }
            let ctx = Ctx { upstream: &self.upstream, custody: &x.custody, http: &x.http, subjects: &x.subjects };
            return match ctx.token(&x.auth, agent) {
                Ok(t) => {
                    let s = ctx.egress(x.statics.clone(), t);
                    minted.insert(agent.to_string(), s.clone());
                    AgentCredential::Own(s)
                }
                Err(e) => AgentCredential::Refused(e.to_string()),
            };
        }
        if self.shared_fallback {
            AgentCredential::Shared
        } else {
            AgentCredential::Refused(format!(
                "agent {agent:?} has no credential for upstream {:?}: add one under its `credentials:`",
                self.upstream
            ))
        }
    }

    fn forget(&self, agent: &str) {
        self.minted.lock().unwrap().remove(agent);
    }
}
