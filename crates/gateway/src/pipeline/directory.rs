//! The live directory: who may call, right now. It turns a bearer token into an
//! [`Identity`] without touching the store: static config tokens, Warden-issued
//! JWTs and federated JWTs all end at an inventory check held in memory.
//!
//! The in-memory view is replaced whole ([`ArcSwap`]) after every local write
//! and whenever the store's inventory version moves (another replica wrote), so
//! a suspension is seen by the very next request on this replica and within one
//! poll interval on the others.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use warden_auth::TokenError;
use warden_auth::federation::{Federation, unverified_issuer};
use warden_auth::keys::{Keyring, TokenSettings};
use warden_core::identity::{Agent, AuthError, Identity, IdentityIndex, bearer};
use warden_core::inventory::{AgentRecord, NamingRule, Status};
use warden_store::{SigningKey, Store};

/// One inventory agent as the hot path sees it.
pub struct LiveAgent {
    pub record: AgentRecord,
    pub agent: Arc<Agent>,
}

#[derive(Default)]
pub struct Live {
    pub version: i64,
    pub by_name: HashMap<String, Arc<LiveAgent>>,
    by_id: HashMap<String, Arc<LiveAgent>>,
}

/// A refused credential: what the client is told (missing vs invalid) and, for
/// the log only, why.
#[derive(Debug)]
pub struct Refusal {
    pub kind: AuthError,
    pub reason: String,
}

impl Refusal {
    fn invalid(reason: impl Into<String>) -> Refusal {
        Refusal { kind: AuthError::InvalidToken, reason: reason.into() }
    }
}

/// A JWT whose signature and claims already verified: which agent, when it was
/// issued, and until when the result may be reused.
#[derive(Clone)]
struct Verified {
    agent_id: Option<String>,
    agent_name: String,
    issued_ms: i64,
    expires: i64,
}

/// At most this many verified tokens are remembered (then the cache starts over).
const VERIFIED_CACHE: usize = 10_000;

pub struct Directory {
    statics: IdentityIndex,
    /// SHA-256 of a JWT → its verification. Signature checks run once per token;
    /// status and revocation are still checked on every request.
    verified: std::sync::Mutex<HashMap<warden_core::identity::TokenHash, Verified>>,
    live: ArcSwap<Live>,
    keyring: ArcSwap<Keyring>,
    federation: Federation,
    pub naming: NamingRule,
    settings: TokenSettings,
}

impl Directory {
    pub fn new(
        statics: IdentityIndex,
        federation: Federation,
        naming: NamingRule,
        settings: TokenSettings,
    ) -> Directory {
        Directory {
            statics,
            verified: std::sync::Mutex::new(HashMap::new()),
            live: ArcSwap::from_pointee(Live::default()),
            keyring: ArcSwap::from_pointee(Keyring::new(&[], settings.clone()).expect("empty keyring")),
            federation,
            naming,
            settings,
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    pub fn live(&self) -> arc_swap::Guard<Arc<Live>> {
        self.live.load()
    }

    pub fn keyring(&self) -> arc_swap::Guard<Arc<Keyring>> {
        self.keyring.load()
    }

    /// The agent called `name` as calls see it: its inventory record when it
    /// has one (team, labels, data access), else its config declaration.
    pub fn agent(&self, name: &str) -> Option<Arc<Agent>> {
        self.live.load().by_name.get(name).map(|a| a.agent.clone()).or_else(|| self.statics.declared(name))
    }

    pub fn holds_static_token(&self, name: &str) -> bool {
        self.statics.holds_static_token(name)
    }

    /// Reloads agents and signing keys from the store (creating the first signing
    /// key when there is none). Returns the agents that may no longer call.
    pub async fn reload(&self, store: &Store) -> Result<Vec<String>, warden_store::StoreError> {
        let version = store.version().await?;
        let records = store.agents().await?;
        let mut keys = store.signing_keys().await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            let k = warden_auth::keys::generate_key();
            let mut w = store.write().await?;
            w.insert_signing_key(&k).await?;
            w.commit().await?;
            tracing::info!(kid = %k.kid, "generated the first token signing key");
            keys = store.signing_keys().await?;
        }
        self.install_keys(&keys)?;
        Ok(self.install(version, records))
    }

    fn install_keys(&self, keys: &[SigningKey]) -> Result<(), warden_store::StoreError> {
        let ring = Keyring::new(keys, self.settings.clone()).map_err(warden_store::StoreError::Corrupt)?;
        self.keyring.store(Arc::new(ring));
        Ok(())
    }

    /// Publishes a new inventory view; returns the names that were active and are not now.
    pub fn install(&self, version: i64, records: Vec<AgentRecord>) -> Vec<String> {
        let old = self.live.load_full();
        let mut live = Live { version, ..Live::default() };
        for record in records {
            // Keep the same Arc<Agent> when nothing about the agent changed, so
            // sessions do not see a spurious identity change.
            let agent = match old.by_name.get(&record.spec.name) {
                Some(prev) if prev.record.spec == record.spec && prev.record.id == record.id => prev.agent.clone(),
                _ => Arc::new(Agent {
                    name: record.spec.name.clone(),
                    access: record.spec.access_rules(),
                    id: Some(record.id.clone()),
                    team: record.spec.team.clone(),
                    owner: record.spec.owner.clone(),
                    labels: record.spec.labels.clone(),
                    data_access: record.spec.data_access,
                }),
            };
            let entry = Arc::new(LiveAgent { record, agent });
            live.by_id.insert(entry.record.id.clone(), entry.clone());
            live.by_name.insert(entry.record.spec.name.clone(), entry);
        }
        let revoked = old
            .by_name
            .values()
            .filter(|a| a.record.status == Status::Active)
            .filter(|a| live.by_name.get(&a.record.spec.name).is_none_or(|n| n.record.status != Status::Active))
            .map(|a| a.record.spec.name.clone())
            .collect();
        self.live.store(Arc::new(live));
        revoked
    }

    /// Authenticates an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, Refusal> {
        let token = bearer(authorization).map_err(|kind| Refusal {
            kind,
            reason: match kind {
                AuthError::MissingToken => "missing bearer token".into(),
                AuthError::InvalidToken => "malformed Authorization header".into(),
            },
        })?;
        if warden_auth::looks_like_jwt(token) {
            return self.authenticate_jwt(token).await;
        }
        let agent = self.statics.lookup(token).ok_or_else(|| Refusal::invalid("unknown token"))?;
        if let Some(rec) = self.live.load().by_name.get(&agent.name)
            && rec.record.status != Status::Active
        {
            return Err(Refusal::invalid(format!("agent {} is {}", agent.name, rec.record.status)));
        }
        Ok(Identity { agent })
    }

    async fn authenticate_jwt(&self, token: &str) -> Result<Identity, Refusal> {
        let key = warden_core::identity::TokenHash::of(token);
        let now = warden_core::time::Timestamp::now().0;
        let cached = self.verified.lock().unwrap().get(&key).filter(|v| v.expires > now).cloned();
        let v = match cached {
            Some(v) => v,
            None => {
                let v = self.verify_jwt(token).await?;
                let mut cache = self.verified.lock().unwrap();
                if cache.len() >= VERIFIED_CACHE {
                    cache.clear();
                }
                cache.insert(key, v.clone());
                v
            }
        };
        let live = self.live.load();
        let entry = match &v.agent_id {
            Some(id) => live.by_id.get(id).filter(|e| e.record.spec.name == v.agent_name),
            None => live.by_name.get(&v.agent_name),
        }
        .ok_or_else(|| {
            Refusal::invalid(format!("token for agent {:?}, which is not in the inventory", v.agent_name))
        })?;
        let rec = &entry.record;
        if rec.status != Status::Active {
            return Err(Refusal::invalid(format!("agent {} is {}", rec.spec.name, rec.status)));
        }
        if v.issued_ms < rec.tokens_not_before_ms {
            return Err(Refusal::invalid(format!("token issued before agent {} was revoked", rec.spec.name)));
        }
        Ok(Identity { agent: entry.agent.clone() })
    }

    /// Signature and claims of a Warden-issued or federated JWT.
    async fn verify_jwt(&self, token: &str) -> Result<Verified, Refusal> {
        let iss = unverified_issuer(token).ok_or_else(|| Refusal::invalid("JWT without iss"))?;
        let reject = |e: TokenError| Refusal::invalid(e.to_string());
        if iss == self.settings.issuer {
            let keyring = self.keyring.load_full();
            let c = keyring.verify(token).map_err(reject)?;
            let expires = c.exp + self.settings.leeway_secs as i64;
            Ok(Verified { agent_id: Some(c.sub), agent_name: c.agent, issued_ms: c.iat_ms, expires })
        } else if self.federation.trusts(&iss) {
            let s = self.federation.verify(token, &iss).await.map_err(reject)?;
            Ok(Verified {
                agent_id: None,
                agent_name: s.agent,
                issued_ms: s.issued_at.unwrap_or(0).saturating_mul(1000),
                expires: s.expires_at + self.settings.leeway_secs as i64,
            })
        } else {
            Err(Refusal::invalid(format!("untrusted issuer {iss:?}")))
        }
    }
}
