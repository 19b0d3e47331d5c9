//! Envelope encryption for Warden's own secret store.
//!
//! Each secret value is encrypted with its own random AES-256-GCM data key
//! (DEK); the DEK is encrypted ("wrapped") with the key-encryption key (KEK)
//! that comes from `WARDEN_MASTER_KEY` or a key file (a Kubernetes Secret
//! mount). The secret's name is bound in as associated data, so a ciphertext
//! moved to another name does not open. Rotating the KEK (`rekey`) rewraps the
//! DEKs only; values are never re-encrypted under a key they were not sealed with.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use zeroize::Zeroizing;

use crate::Secret;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error(
        "sealed under master key {found}, but the master key given is {given}: wrong WARDEN_MASTER_KEY or key file"
    )]
    WrongKey { given: String, found: String },
    #[error("the ciphertext of {0:?} does not authenticate: it was altered, or moved from another secret")]
    Tampered(String),
    #[error("the master key must be 32 bytes, as 44 base64 or 64 hex characters ({0})")]
    BadKey(String),
}

/// The key-encryption key.
pub struct Kek {
    key: Zeroizing<[u8; 32]>,
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).expect("system RNG");
    b
}

impl Kek {
    pub fn from_bytes(bytes: [u8; 32]) -> Kek {
        let mut tagged = b"warden-kek-id:".to_vec();
        tagged.extend_from_slice(&bytes);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &tagged);
        let id = hex::encode(&digest.as_ref()[..8]);
        Kek { key: Zeroizing::new(bytes), id }
    }

    /// Parses a master key: 32 bytes as base64 (standard alphabet) or hex.
    pub fn parse(text: &str) -> Result<Kek, EnvelopeError> {
        let t = text.trim();
        let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|e| EnvelopeError::BadKey(e.to_string()))?
        } else {
            B64.decode(t).map_err(|_| EnvelopeError::BadKey("neither base64 nor hex".into()))?
        });
        let arr: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| EnvelopeError::BadKey(format!("{} bytes given", bytes.len())))?;
        Ok(Kek::from_bytes(arr))
    }

    /// A new random master key, as base64 (what `warden secret init` prints or writes).
    pub fn generate_text() -> String {
        B64.encode(Zeroizing::new(random::<32>()).as_ref())
    }

    /// A short public identifier of the key (never the key): 16 hex characters.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A stored secret: its data key wrapped by the KEK, and its value sealed by the data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The id of the KEK that wrapped the data key.
    pub kek_id: String,
    /// base64 of nonce ‖ encrypted DEK ‖ tag.
    pub wrapped_dek: String,
    /// base64 of nonce ‖ encrypted value ‖ tag.
    pub ciphertext: String,
}

fn seal_with(key: &[u8], aad: &str, plain: &[u8]) -> String {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let nonce = random::<NONCE_LEN>();
    let mut buf = Zeroizing::new(plain.to_vec());
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut *buf)
        .expect("AES-GCM seal");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    B64.encode(out)
}

fn open_with(key: &[u8], aad: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let raw = B64.decode(sealed).ok()?;
    if raw.len() < NONCE_LEN + 16 {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&raw[..NONCE_LEN]).ok()?;
    let mut buf = Zeroizing::new(raw[NONCE_LEN..].to_vec());
    let n = key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf).ok()?.len();
    buf.truncate(n);
    Some(buf)
}

fn dek_aad(name: &str) -> String {
    format!("warden-dek:{name}")
}

fn value_aad(name: &str) -> String {
    format!("warden-secret:{name}")
}

impl SealedSecret {
    /// Seals `value` under a fresh data key for the secret called `name`.
    pub fn seal(kek: &Kek, name: &str, value: &str) -> SealedSecret {
        let dek = Zeroizing::new(random::<32>());
        SealedSecret {
            kek_id: kek.id.clone(),
            wrapped_dek: seal_with(kek.key.as_ref(), &dek_aad(name), dek.as_ref()),
            ciphertext: seal_with(dek.as_ref(), &value_aad(name), value.as_bytes()),
        }
    }

    fn dek(&self, kek: &Kek, name: &str) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        if self.kek_id != kek.id {
            return Err(EnvelopeError::WrongKey { given: kek.id.clone(), found: self.kek_id.clone() });
        }
        open_with(kek.key.as_ref(), &dek_aad(name), &self.wrapped_dek)
            .filter(|d| d.len() == 32)
            .ok_or_else(|| EnvelopeError::Tampered(name.into()))
    }

    pub fn open(&self, kek: &Kek, name: &str) -> Result<Secret, EnvelopeError> {
        let dek = self.dek(kek, name)?;
        let plain =
            open_with(&dek, &value_aad(name), &self.ciphertext).ok_or_else(|| EnvelopeError::Tampered(name.into()))?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| EnvelopeError::Tampered(name.into()))?;
        Ok(Secret::new(text))
    }

    /// The same value and data key, with the data key wrapped by `new` instead of `old`.
    pub fn rewrap(&self, old: &Kek, new: &Kek, name: &str) -> Result<SealedSecret, EnvelopeError> {
        let dek = self.dek(old, name)?;
        Ok(SealedSecret {
            kek_id: new.id.clone(),
            wrapped_dek: seal_with(new.key.as_ref(), &dek_aad(name), &dek),
            ciphertext: self.ciphertext.clone(),
        })
    }
}

/// The name under which the store keeps a sealed check value, so a wrong
/// master key is refused at startup before any secret is touched.
pub const CHECK_NAME: &str = "warden:master-key-check";
pub const CHECK_VALUE: &str = "warden master key check v1";

/// Verifies `kek` against the store's check value.
pub fn check(kek: &Kek, sealed: &SealedSecret) -> Result<(), EnvelopeError> {
    let v = sealed.open(kek, CHECK_NAME)?;
    if v.expose() != CHECK_VALUE {
        return Err(EnvelopeError::Tampered(CHECK_NAME.into()));
    }
    Ok(())
}
