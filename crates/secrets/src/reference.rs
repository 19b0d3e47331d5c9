//! Secret references: where a credential lives, never the credential itself.
//!
//! - `env://NAME`: an environment variable of the Warden process;
//! - `file:///path`: a file (a Kubernetes Secret or Secrets-Store CSI mount),
//!   re-read when it changes; one trailing newline is dropped;
//! - `store://name`: Warden's own encrypted store (`warden secret set`);
//! - `vault://mount/path#key`: HashiCorp Vault KV version 2.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretRef {
    Env(String),
    File(String),
    Store(String),
    Vault { mount: String, path: String, key: String },
}

/// The schemes a reference may use, for messages.
pub const SCHEMES: &str = "env://NAME, file:///path, store://name or vault://mount/path#key";

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

impl SecretRef {
    /// True when `s` is written as a reference (it starts with a known scheme).
    pub fn looks_like(s: &str) -> bool {
        ["env://", "file://", "store://", "vault://"].iter().any(|p| s.starts_with(p))
    }

    pub fn parse(s: &str) -> Result<SecretRef, String> {
        if let Some(name) = s.strip_prefix("env://") {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("{s:?}: env:// takes a variable name (letters, digits, _)"));
            }
            return Ok(SecretRef::Env(name.into()));
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(format!("{s:?}: file:// takes an absolute path, as in file:///run/secrets/token"));
            }
            return Ok(SecretRef::File(path.into()));
        }
        if let Some(name) = s.strip_prefix("store://") {
            if !name_ok(name) {
                return Err(format!("{s:?}: store:// takes a secret name (letters, digits, _ - .)"));
            }
            return Ok(SecretRef::Store(name.into()));
        }
        if let Some(rest) = s.strip_prefix("vault://") {
            let (loc, key) = rest
                .split_once('#')
                .ok_or_else(|| format!("{s:?}: vault:// needs the key after '#', as in vault://secret/github#token"))?;
            let (mount, path) = loc.split_once('/').ok_or_else(|| {
                format!("{s:?}: vault:// needs a mount and a path, as in vault://secret/github#token")
            })?;
            let seg_ok = |p: &str| p.split('/').all(|s| name_ok(s) && s != "." && s != "..");
            if !name_ok(mount) || path.is_empty() || !seg_ok(path) || key.is_empty() || key.contains(['/', '#']) {
                return Err(format!("{s:?}: not a valid vault://mount/path#key reference"));
            }
            return Ok(SecretRef::Vault { mount: mount.into(), path: path.into(), key: key.into() });
        }
        Err(format!("{s:?} is not a secret reference: use {SCHEMES}"))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env://{n}"),
            SecretRef::File(p) => write!(f, "file://{p}"),
            SecretRef::Store(n) => write!(f, "store://{n}"),
            SecretRef::Vault { mount, path, key } => write!(f, "vault://{mount}/{path}#{key}"),
        }
    }
}
