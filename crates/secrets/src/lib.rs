//! Credential custody, the pure parts. Agents never hold upstream secrets:
//! Warden resolves a [`SecretRef`] at the point of use, attaches the value at
//! egress, and redacts every value it holds wherever output leaves it.
//!
//! - [`reference`]: `env://`, `file://`, `store://` and `vault://` references.
//! - [`envelope`]: AES-256-GCM envelope encryption for Warden's own store.
//! - [`matcher`]: the known-secret matcher (Aho-Corasick over every value and
//!   its base64, URL-encoded and hex forms).
//! - [`Secret`]: a value that is zeroised when dropped and never printed.

pub mod envelope;
pub mod matcher;
pub mod reference;

pub use envelope::{Kek, SealedSecret};
pub use matcher::KnownSecrets;
pub use reference::SecretRef;

use zeroize::Zeroizing;

/// A secret value. Its memory is zeroised when dropped; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret([{} bytes])", self.0.len())
    }
}

#[cfg(test)]
mod tests;
