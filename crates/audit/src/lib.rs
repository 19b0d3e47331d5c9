//! The audit trail's pure half: what a record holds, how records chain, how
//! checkpoints are signed, and how a chain (from the store or from an export)
//! is verified. No I/O here; the store persists records and the gateway's
//! group-commit writer feeds it.
//!
//! - [`record`]: the record and its canonical JSON (the bytes that are hashed).
//! - [`checkpoint`]: Ed25519-signed statements "record N has hash H".
//! - [`verify`]: a streaming verifier that names the first point of tampering.
//! - [`export`]: the JSON Lines segment format and its offline verification.

pub mod checkpoint;
pub mod export;
pub mod record;
pub mod verify;

pub use checkpoint::{Checkpoint, KeyRing, Signer};
pub use record::{GENESIS, Record, canonical_json, record_hash};
pub use verify::{Problem, Report, Verifier};

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

#[cfg(test)]
mod tests;
