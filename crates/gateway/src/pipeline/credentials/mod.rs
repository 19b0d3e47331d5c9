//! Stage 6, credential injection, and the known-secret floor of stage 8.
//!
//! The agent holds only its Warden token. Every upstream credential is a
//! secret reference in the config, resolved here at the point of use and
//! attached at egress. A reference that cannot be resolved fails the call
//! with a clear message (and counts in `warden_secret_failures_total`): Warden
//! never calls an upstream unauthenticated instead.
//!
//! Every value resolved is added to the known-secret matcher, rebuilt when a
//! value changes (rotation, a re-read file), which redacts tool results,
//! approval arguments, audit records, trace attributes and log lines.
//!
//! - [`token`]: OAuth client credentials and RFC 8693 token exchange.
//! - [`vault`]: `vault://` references (Vault KV v2).
//! - [`agents`]: credentials scoped to one agent, and how an upstream's
//!   `auth:`, `headers:` and `credentials:` become what is sent.

pub mod agents;
pub mod token;
pub mod vault;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderName, HeaderValue};
use warden_secrets::envelope::{CHECK_NAME, CHECK_VALUE};
use warden_secrets::{Kek, KnownSecrets, SealedSecret, Secret, SecretRef};
use warden_store::Store;

use crate::telemetry::metrics::Meters;

/// Reads the master key: `WARDEN_MASTER_KEY`, else the configured key file.
pub fn master_key(file: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<Kek>> {
    let text = match env("WARDEN_MASTER_KEY").filter(|v| !v.trim().is_empty()) {
        Some(v) => zeroize::Zeroizing::new(v),
        None => match file {
            Some(path) => zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read the master key file {path}: {e}"))?,
            ),
            None => return Ok(None),
        },
    };
    Ok(Some(Kek::parse(&text).map_err(|e| anyhow::anyhow!("master key: {e}"))?))
}

/// Checks `kek` against the store's sealed check value, creating it when the
/// store has none. A wrong key is refused before any secret is read or written.
pub async fn verify_master_key(store: &Store, kek: Option<&Kek>) -> anyhow::Result<()> {
    let check = store.secret_sealed(CHECK_NAME).await?;
    match (check, kek) {
        (None, None) => Ok(()),
        (None, Some(k)) => {
            store
                .secret_put(CHECK_NAME, &SealedSecret::seal(k, CHECK_NAME, CHECK_VALUE), warden_core::time::now_ms())
                .await?;
            Ok(())
        }
        (Some(c), None) => anyhow::bail!(
            "the secret store is encrypted (master key {}) but no master key was given: set WARDEN_MASTER_KEY or secrets.master_key_file",
            c.kek_id
        ),
        (Some(c), Some(k)) => warden_secrets::envelope::check(k, &c).map_err(|e| {
            anyhow::anyhow!("the master key does not open this secret store: {e}. Nothing was read or changed.")
        }),
    }
}

/// Which credentials serve one upstream or model: for usage records.
#[derive(Debug, Default, Clone)]
pub struct Uses {
    /// References every agent's calls use.
    pub shared: Vec<String>,
    /// Agent → the reference of its own credential.
    pub own: BTreeMap<String, String>,
}

pub struct Custody {
    store: Arc<Store>,
    kek: Option<Kek>,
    vault: Option<vault::VaultClient>,
    files: Mutex<HashMap<String, (Option<SystemTime>, Secret)>>,
    /// Every value held, by name (a reference, or a token's label): the current
    /// one and the one before it (a rotated-out value is still a secret until
    /// the provider revokes it). The matcher's input.
    values: Mutex<BTreeMap<String, (Secret, Option<Secret>)>>,
    known: ArcSwap<KnownSecrets>,
    meters: Arc<Meters>,
    /// Upstream or model name → the credentials its calls use (written at
    /// construction, read on every call).
    uses: std::sync::RwLock<HashMap<String, Uses>>,
    /// (reference, agent) → (uses, last used ms), not yet written to the store.
    pending_usage: Mutex<HashMap<(String, String), (i64, i64)>>,
    /// Versions of Warden's own store secrets last loaded into the matcher.
    store_versions: Mutex<HashMap<String, i64>>,
}

impl Custody {
    pub fn new(store: Arc<Store>, kek: Option<Kek>, vault: Option<vault::VaultClient>, meters: Arc<Meters>) -> Custody {
        Custody {
            store,
            kek,
            vault,
            files: Mutex::new(HashMap::new()),
            values: Mutex::new(BTreeMap::new()),
            known: ArcSwap::from_pointee(KnownSecrets::default()),
            meters,
            uses: std::sync::RwLock::new(HashMap::new()),
            pending_usage: Mutex::new(HashMap::new()),
            store_versions: Mutex::new(HashMap::new()),
        }
    }

    pub fn kek(&self) -> Option<&Kek> {
        self.kek.as_ref()
    }

    /// The matcher over every secret value resolved so far.
    pub fn known(&self) -> Arc<KnownSecrets> {
        self.known.load_full()
    }

    /// Redacts every known secret in `v` (stage 8); returns how many strings changed.
    pub fn screen(&self, v: &mut serde_json::Value, place: &str) -> usize {
        let known = self.known.load();
        let n = known.redact_value(v);
        if n > 0 {
            self.meters.secrets_redacted.add(&[place], n as f64);
        }
        n
    }

    /// Redacts known secrets from an audit record (and so from its trace attributes).
    pub fn screen_record(&self, rec: &mut warden_audit::Record) {
        let known = self.known.load();
        if known.is_empty() {
            return;
        }
        let mut n = known.redact_value(&mut rec.args);
        for f in [&mut rec.reason, &mut rec.comment, &mut rec.upstream_status] {
            if let std::borrow::Cow::Owned(r) = known.redact(f) {
                *f = r;
                n += 1;
            }
        }
        if n > 0 {
            self.meters.secrets_redacted.add(&["audit"], n as f64);
        }
    }

    /// Resolves `r` now. Errors name the reference, never a value.
    pub async fn resolve(&self, r: &SecretRef) -> Result<Secret, String> {
        let got = match r {
            SecretRef::Vault { mount, path, key } => match &self.vault {
                Some(v) => v.read(self, mount, path, key).await,
                None => Err("no Vault is configured (secrets.vault)".into()),
            },
            _ => self.fetch_local(r).await,
        };
        match &got {
            Ok(v) => self.remember(&r.to_string(), v, true),
            Err(_) => self.count_failure(&r.to_string()),
        }
        got.map_err(|e| format!("secret {r}: {e}"))
    }

    pub(crate) fn count_failure(&self, what: &str) {
        self.meters.secret_failures.inc(&[what]);
    }

    /// `env://`, `file://` and `store://` (not `vault://`, which needs a login first).
    pub(crate) async fn fetch_local(&self, r: &SecretRef) -> Result<Secret, String> {
        match r {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err(format!("environment variable {name} is not set")),
            },
            SecretRef::File(path) => self.read_file(path),
            SecretRef::Store(name) => {
                let kek = self
                    .kek
                    .as_ref()
                    .ok_or("no master key is configured (WARDEN_MASTER_KEY or secrets.master_key_file)")?;
                let sealed = self
                    .store
                    .secret_sealed(name)
                    .await
                    .map_err(|e| format!("the store is unavailable: {e}"))?
                    .ok_or_else(|| format!("no secret named {name:?} in the store (warden secret set {name})"))?;
                sealed.open(kek, name).map_err(|e| e.to_string())
            }
            SecretRef::Vault { .. } => Err("a Vault reference cannot be used here".into()),
        }
    }

    /// A file, re-read when its modification time changes.
    fn read_file(&self, path: &str) -> Result<Secret, String> {
        let mtime = std::fs::metadata(path).map_err(|e| format!("cannot read {path}: {e}"))?.modified().ok();
        if let Some((m, v)) = self.files.lock().unwrap().get(path)
            && m.is_some()
            && *m == mtime
        {
            return Ok(v.clone());
        }
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?);
        let v = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
        if v.is_empty() {
            return Err(format!("{path} is empty"));
        }
        let secret = Secret::new(v.to_string());
        self.files.lock().unwrap().insert(path.to_string(), (mtime, secret.clone()));
        Ok(secret)
    }

    /// Adds a value Warden obtained (an upstream token) to the known secrets.
    pub fn remember_value(&self, label: &str, v: &Secret) {
        self.remember(label, v, false);
    }

    /// Adds `v` under `name`; rebuilds the matcher when it is new. `track`:
    /// record when a configured credential's value changes (a rotation).
    fn remember(&self, name: &str, v: &Secret, track: bool) {
        let mut values = self.values.lock().unwrap();
        match values.get_mut(name) {
            Some((current, _)) if current == v => return,
            Some((current, previous)) => *previous = Some(std::mem::replace(current, v.clone())),
            None => {
                values.insert(name.to_string(), (v.clone(), None));
            }
        }
        let mut names: Vec<(String, &Secret)> = Vec::new();
        for (k, (cur, prev)) in values.iter() {
            names.push((display_name(k), cur));
            if let Some(p) = prev {
                names.push((display_name(k), p));
            }
        }
        let known = Arc::new(KnownSecrets::new(names.iter().map(|(n, v)| (n.as_str(), v.expose()))));
        self.known.store(known.clone());
        crate::telemetry::log_redaction::publish(known);
        drop(values);
        if track {
            let (store, reference, fp) = (self.store.clone(), name.to_string(), fingerprint(name, v));
            tokio::spawn(async move {
                if let Err(e) = store.credential_value_seen(&reference, &fp, warden_core::time::now_ms()).await {
                    tracing::warn!(%reference, error = %e, "could not record the credential's rotation state");
                }
            });
        }
    }

    /// Resolves every reference the config names, and every value in Warden's
    /// own store, so the matcher knows them before any output leaves. A value
    /// that cannot be resolved now is only logged: its use fails clearly later.
    pub async fn preload(&self, references: &[warden_config::Reference]) {
        for r in references {
            if let Err(e) = self.resolve(&r.reference).await {
                tracing::warn!(place = %r.place, error = %e, "credential not available yet; calls that need it will fail");
            }
        }
        self.refresh_store_secrets().await;
    }

    /// Loads every store secret whose version changed (a `warden secret set` or
    /// `rotate`, from any process) into the matcher, so a new value is redacted
    /// before its first use. Runs at start and every few seconds.
    pub async fn refresh_store_secrets(&self) {
        if self.kek.is_none() {
            return;
        }
        let Ok(list) = self.store.secret_list().await else { return };
        for m in list {
            if self.store_versions.lock().unwrap().get(&m.name) == Some(&m.version) {
                continue;
            }
            if self.resolve(&SecretRef::Store(m.name.clone())).await.is_ok() {
                self.store_versions.lock().unwrap().insert(m.name, m.version);
            }
        }
    }

    /// Declares which credentials serve upstream or model `name`.
    pub fn register_uses(&self, name: &str, uses: Uses) {
        self.uses.write().unwrap().insert(name.to_string(), uses);
    }

    /// Counts one call by `agent` through `name` against each credential it used.
    pub fn note_use(&self, name: &str, agent: &str) {
        let uses = self.uses.read().unwrap();
        let Some(u) = uses.get(name).filter(|u| !u.shared.is_empty() || !u.own.is_empty()) else { return };
        let now = warden_core::time::now_ms();
        let mut pending = self.pending_usage.lock().unwrap();
        let own = u.own.get(agent);
        for r in u.shared.iter().filter(|_| own.is_none()).chain(own) {
            let e = pending.entry((r.clone(), agent.to_string())).or_insert((0, now));
            e.0 += 1;
            e.1 = now;
        }
    }

    /// Writes the counted uses to the store (every few seconds, and at shutdown).
    pub async fn flush_usage(&self) {
        let rows: Vec<(String, String, i64, i64)> =
            self.pending_usage.lock().unwrap().drain().map(|((r, a), (n, at))| (r, a, n, at)).collect();
        if let Err(e) = self.store.credential_usage_add(&rows).await {
            tracing::warn!(error = %e, rows = rows.len(), "could not record credential usage; counts kept for the next try");
            let mut pending = self.pending_usage.lock().unwrap();
            for (r, a, n, at) in rows {
                let e = pending.entry((r, a)).or_insert((0, at));
                e.0 += n;
            }
        }
    }

    /// Offboarding, planned: every credential `agent` was assigned
    /// (`credentials:`) or used is to be detached from it; with `delete`, those
    /// in Warden's own store that no other agent holds are to be deleted too.
    /// Each comes with what must still happen at the provider. Reads only.
    pub async fn offboard_plan(
        &self,
        agent: &str,
        mode: warden_config::OffboardCredentials,
    ) -> Result<Vec<CredentialAction>, warden_store::StoreError> {
        self.flush_usage().await;
        let all_usage = self.store.credential_usage().await?;
        let used: Vec<&warden_store::CredentialUse> = all_usage.iter().filter(|u| u.agent == agent).collect();
        // Every (agent, reference) the config assigns, and the references all agents share.
        let (assigned, shared_refs): (Vec<(String, String)>, Vec<String>) = {
            let uses = self.uses.read().unwrap();
            (
                uses.values().flat_map(|u| u.own.iter().map(|(a, r)| (a.clone(), r.clone()))).collect(),
                uses.values().flat_map(|u| u.shared.iter().cloned()).collect(),
            )
        };
        let own = assigned.iter().filter(|(a, _)| a == agent).map(|(_, r)| r);
        let mut refs: Vec<String> = own.cloned().chain(used.iter().map(|u| u.reference.clone())).collect();
        refs.sort();
        refs.dedup();
        let mut out = Vec::new();
        for reference in refs {
            let mut others: Vec<String> = all_usage
                .iter()
                .filter(|u| u.reference == reference && u.agent != agent && u.detached_at_ms.is_none())
                .map(|u| u.agent.clone())
                .chain(assigned.iter().filter(|(a, r)| *r == reference && a != agent).map(|(a, _)| a.clone()))
                .collect();
            others.sort();
            others.dedup();
            let is_shared = !others.is_empty() || shared_refs.contains(&reference);
            let store_name = reference.strip_prefix("store://").map(str::to_string);
            let delete = mode == warden_config::OffboardCredentials::Delete && !is_shared && store_name.is_some();
            let rotate = if is_shared {
                "shared: rotate it at the provider and give the new value to the agents that keep it".to_string()
            } else {
                "held by this agent alone: revoke it at the provider".to_string()
            };
            out.push(CredentialAction {
                reference,
                action: if delete { "deleted" } else { "detached" },
                shared_with: others,
                rotate,
            });
        }
        Ok(out)
    }

    /// Carries out an offboarding plan (after the agent's record is closed).
    pub async fn offboard_apply(&self, agent: &str, plan: &[CredentialAction]) -> Result<(), warden_store::StoreError> {
        self.store.credential_detach(agent, warden_core::time::now_ms()).await?;
        for a in plan.iter().filter(|a| a.action == "deleted") {
            if let Some(name) = a.reference.strip_prefix("store://") {
                self.store.secret_delete(name).await?;
            }
        }
        Ok(())
    }
}

/// What offboarding did to one credential, and what is left to do at the provider.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CredentialAction {
    pub reference: String,
    /// `detached` or `deleted` (from Warden's own store).
    pub action: &'static str,
    /// Other agents still using it.
    pub shared_with: Vec<String>,
    pub rotate: String,
}

/// Identifies a value without revealing it: 64 bits of SHA-256 over the
/// reference and the value. Enough to notice a rotation; stored in the database.
fn fingerprint(reference: &str, v: &Secret) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"warden-credential-fingerprint\0");
    ctx.update(reference.as_bytes());
    ctx.update(b"\0");
    ctx.update(v.expose().as_bytes());
    hex::encode(&ctx.finish().as_ref()[..8])
}

/// The name shown in `[REDACTED:<name>]`: the reference without its scheme.
fn display_name(reference: &str) -> String {
    reference.split_once("://").map_or(reference, |(_, rest)| rest.trim_start_matches('/')).to_string()
}

impl std::fmt::Debug for Custody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Custody")
    }
}

/// What Warden attaches to one upstream request: headers from secret
/// references, and a bearer token from an authorization server.
#[derive(Debug)]
pub struct Egress {
    /// (header, prefix, reference).
    pub headers: Vec<(HeaderName, String, SecretRef)>,
    pub token: Option<Arc<token::TokenSource>>,
    pub custody: Arc<Custody>,
}

impl warden_mcp::http::HeaderSource for Egress {
    fn headers(&self) -> futures::future::BoxFuture<'_, Result<HeaderMap, String>> {
        Box::pin(async move {
            let mut map = HeaderMap::new();
            for (name, prefix, r) in &self.headers {
                let v = self.custody.resolve(r).await?;
                map.insert(name.clone(), sensitive(&format!("{prefix}{}", v.expose()), &r.to_string())?);
            }
            if let Some(t) = &self.token {
                let v = t.token().await?;
                map.insert(http::header::AUTHORIZATION, sensitive(&format!("Bearer {}", v.expose()), &t.label)?);
            }
            Ok(map)
        })
    }

    fn rejected(&self) {
        if let Some(t) = &self.token {
            t.forget();
        }
    }
}

fn sensitive(v: &str, what: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(v).map_err(|_| format!("{what}: not usable in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A child's environment variables that are secret references.
#[derive(Debug)]
pub struct SecretEnv {
    pub vars: Vec<(String, SecretRef)>,
    pub custody: Arc<Custody>,
}

impl warden_mcp::EnvSource for SecretEnv {
    fn env(&self) -> futures::future::BoxFuture<'_, Result<Vec<(String, String)>, String>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(self.vars.len());
            for (k, r) in &self.vars {
                out.push((k.clone(), self.custody.resolve(r).await?.expose().to_string()));
            }
            Ok(out)
        })
    }
}
