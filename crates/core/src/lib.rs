//! Pure decision logic for Warden. Nothing in this crate performs I/O, so every
//! rule here is unit-tested directly and is cheap on the hot path.
//!
//! - [`glob`]: the one glob matcher used for every allow/deny/include/exclude list.
//! - [`names`]: Unicode NFC normalisation and name validation for tool/prompt names.
//! - [`identity`]: agents, bearer-token hashing and the per-request [`identity::Identity`].
//! - [`access`]: which tools/resources/prompts an identity may see and call.
//! - [`jsonrpc`]: JSON-RPC 2.0 message classification and the error codes Warden emits.
//! - [`inventory`]: bot inventory records, validation, the separation rule, reviews, diffs.
//! - [`time`]: instants and RFC 3339.

pub mod access;
pub mod glob;
pub mod identity;
pub mod inventory;
pub mod jsonrpc;
pub mod names;
pub mod redact;
pub mod time;
