//! Signed checkpoints: "record `seq` has hash `hash`", signed with Ed25519.
//! A checkpoint pins everything up to its record, so rewriting history (even
//! re-hashing the whole chain) is detected by anyone holding the public key.
//!
//! The signed message is `warden-audit-checkpoint-v1\n` followed by the
//! canonical JSON of `{"at", "hash", "key_id", "seq"}`.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::record::canonical_json;

const DOMAIN: &str = "warden-audit-checkpoint-v1\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    /// The hash of record `seq`.
    pub hash: String,
    /// First 16 hex digits of the SHA-256 of the raw public key.
    pub key_id: String,
    /// Base64 Ed25519 signature.
    pub signature: String,
}

impl Checkpoint {
    fn message(seq: u64, at: &str, hash: &str, key_id: &str) -> String {
        let body = json!({"seq": seq, "at": at, "hash": hash, "key_id": key_id});
        format!("{DOMAIN}{}", canonical_json(&body))
    }
}

/// Signs checkpoints with the audit key.
pub struct Signer {
    pair: Ed25519KeyPair,
    pub key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.key_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not an Ed25519 PKCS#8 key: {0}")]
    Private(String),
    #[error("public key line {line}: {why}")]
    Public { line: usize, why: String },
}

pub fn key_id(public: &[u8]) -> String {
    crate::sha256_hex(public)[..16].to_string()
}

impl Signer {
    /// A new key as PKCS#8 DER.
    pub fn generate_pkcs8() -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 key generation").as_ref().to_vec()
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Signer, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| KeyError::Private(e.to_string()))?;
        let key_id = key_id(pair.public_key().as_ref());
        Ok(Signer { pair, key_id })
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key file: `ed25519 <base64>  <key id>`, one line.
    pub fn public_key_line(&self) -> String {
        format!("ed25519 {} {}\n", B64.encode(self.public_key()), self.key_id)
    }

    pub fn sign(&self, seq: u64, at: &str, hash: &str) -> Checkpoint {
        let msg = Checkpoint::message(seq, at, hash, &self.key_id);
        let sig = self.pair.sign(msg.as_bytes());
        Checkpoint {
            seq,
            at: at.to_string(),
            hash: hash.to_string(),
            key_id: self.key_id.clone(),
            signature: B64.encode(sig.as_ref()),
        }
    }
}

/// The public keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<(String, Vec<u8>)>,
}

impl KeyRing {
    pub fn add(&mut self, public: &[u8]) {
        let id = key_id(public);
        if !self.keys.iter().any(|(k, _)| *k == id) {
            self.keys.push((id, public.to_vec()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Parses public key files: lines `ed25519 <base64> [key id]`; `#` comments and blank lines are skipped.
    pub fn parse(&mut self, text: &str) -> Result<(), KeyError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| KeyError::Public { line: i + 1, why: why.to_string() };
            let mut parts = line.split_whitespace();
            if parts.next() != Some("ed25519") {
                return Err(bad("expected `ed25519 <base64 public key>`"));
            }
            let raw = B64.decode(parts.next().ok_or_else(|| bad("missing key"))?).map_err(|e| bad(&e.to_string()))?;
            if raw.len() != 32 {
                return Err(bad("an Ed25519 public key is 32 bytes"));
            }
            self.add(&raw);
        }
        Ok(())
    }

    /// Checks a checkpoint's signature.
    pub fn verify(&self, cp: &Checkpoint) -> Result<(), String> {
        let Some((_, public)) = self.keys.iter().find(|(id, _)| *id == cp.key_id) else {
            return Err(format!("signed by unknown key {}", cp.key_id));
        };
        let sig = B64.decode(&cp.signature).map_err(|_| "signature is not base64".to_string())?;
        let msg = Checkpoint::message(cp.seq, &cp.at, &cp.hash, &cp.key_id);
        UnparsedPublicKey::new(&ED25519, public).verify(msg.as_bytes(), &sig).map_err(|_| "bad signature".to_string())
    }
}
