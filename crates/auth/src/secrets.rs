//! Agent client secrets (shown once, stored as argon2id PHC strings) and admin
//! tokens (high-entropy, stored as SHA-256).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).expect("system RNG");
    b
}

/// A new client secret: `wcs_` and 256 random bits.
pub fn new_client_secret() -> String {
    format!("wcs_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A new admin token: `wat_` and 256 random bits.
pub fn new_admin_token() -> String {
    format!("wat_{}", hex::encode(random_bytes::<32>()))
}

/// argon2id (default parameters: 19 MiB, 2 passes) with a random 16-byte salt.
pub fn hash_secret(secret: &str) -> String {
    let salt = random_bytes::<16>();
    Argon2::default().hash_password_with_salt(secret.as_bytes(), &salt).expect("argon2 with valid salt").to_string()
}

/// Constant-time verification against a stored PHC string; any parse error is a mismatch.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    Argon2::default().verify_password(secret.as_bytes(), phc).is_ok()
}

pub fn sha256_hex(s: &str) -> String {
    warden_core::identity::TokenHash::of(s).to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secret_roundtrip() {
        let s = new_client_secret();
        assert!(s.starts_with("wcs_") && s.len() > 40);
        assert_ne!(s, new_client_secret());
        let h = hash_secret(&s);
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains(&s[4..]));
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret(&format!("{s}x"), &h));
        assert!(!verify_secret(&s, "not a hash"));
        assert!(!verify_secret(&s, ""));
        assert_ne!(hash_secret(&s), h, "salted");
    }

    #[test]
    fn admin_tokens() {
        let t = new_admin_token();
        assert!(t.starts_with("wat_") && t.len() == 68);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
