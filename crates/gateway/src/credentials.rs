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
//! approval arguments, audit records and trace attributes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderName, HeaderValue};
use warden_secrets::envelope::{CHECK_NAME, CHECK_VALUE};
use warden_secrets::{Kek, KnownSecrets, SealedSecret, Secret, SecretRef};
use warden_store::Store;

use crate::metrics::Meters;

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

pub struct Custody {
    store: Arc<Store>,
    kek: Option<Kek>,
    files: Mutex<HashMap<String, (Option<SystemTime>, Secret)>>,
    /// Every value resolved so far, by reference: the matcher's input.
    values: Mutex<BTreeMap<String, Secret>>,
    known: ArcSwap<KnownSecrets>,
    meters: Arc<Meters>,
}

impl Custody {
    pub fn new(store: Arc<Store>, kek: Option<Kek>, meters: Arc<Meters>) -> Custody {
        Custody {
            store,
            kek,
            files: Mutex::new(HashMap::new()),
            values: Mutex::new(BTreeMap::new()),
            known: ArcSwap::from_pointee(KnownSecrets::default()),
            meters,
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
        let got = self.fetch(r).await;
        match &got {
            Ok(v) => self.remember(r, v),
            Err(_) => self.meters.secret_failures.inc(&[&r.to_string()]),
        }
        got.map_err(|e| format!("secret {r}: {e}"))
    }

    async fn fetch(&self, r: &SecretRef) -> Result<Secret, String> {
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
            SecretRef::Vault { .. } => Err("vault:// references are not supported by this build yet".into()),
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

    fn remember(&self, r: &SecretRef, v: &Secret) {
        let mut values = self.values.lock().unwrap();
        let key = r.to_string();
        if values.get(&key) == Some(v) {
            return;
        }
        values.insert(key, v.clone());
        let names: Vec<(String, &Secret)> = values.iter().map(|(k, v)| (display_name(k), v)).collect();
        self.known.store(Arc::new(KnownSecrets::new(names.iter().map(|(n, v)| (n.as_str(), v.expose())))));
    }
}

/// The name shown in `[REDACTED:<name>]`: the reference without its scheme.
fn display_name(reference: &str) -> String {
    reference.split_once("://").map_or(reference, |(_, rest)| rest.trim_start_matches('/')).to_string()
}

/// The credentials of one HTTP upstream, resolved for every request.
#[derive(Debug)]
pub struct UpstreamCredentials {
    /// (header, prefix, reference).
    pub headers: Vec<(HeaderName, String, SecretRef)>,
    pub custody: Arc<Custody>,
}

impl std::fmt::Debug for Custody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Custody")
    }
}

impl warden_mcp::http::HeaderSource for UpstreamCredentials {
    fn headers(&self) -> futures::future::BoxFuture<'_, Result<HeaderMap, String>> {
        Box::pin(async move {
            let mut map = HeaderMap::new();
            for (name, prefix, r) in &self.headers {
                let v = self.custody.resolve(r).await?;
                let mut value = HeaderValue::from_str(&format!("{prefix}{}", v.expose()))
                    .map_err(|_| format!("secret {r}: not usable in an HTTP header"))?;
                value.set_sensitive(true);
                map.insert(name.clone(), value);
            }
            Ok(map)
        })
    }
}
