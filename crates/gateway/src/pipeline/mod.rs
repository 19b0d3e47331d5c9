//! The decision pipeline's stages, written once and shared by every door.
//! Nothing here imports a door.
//!
//! - [`directory`]: stages 1-2, bearer token → identity, against the live inventory;
//! - [`guard`]: stage 3, detectors per direction (messages, arguments, results);
//! - [`govern`]: stages 4-5, the `Action`, policy, rate limits, grants, holds;
//! - [`approvals`]: held calls: waiting, cross-replica decisions, webhooks;
//! - [`limits`]: stage 5's rate-limit buckets (in memory, or shared in PostgreSQL);
//! - [`ledger`]: one tool call seen at several doors is decided once;
//! - [`policy_source`]: loading and hot-reloading the policy;
//! - [`credentials`]: stage 6, secret resolution and egress credentials, and
//!   stage 8's known-secret redaction;
//! - [`audit`]: stage 9, the durable, hash-chained audit trail (group commit).

pub mod approvals;
pub mod audit;
pub mod credentials;
pub mod directory;
pub mod govern;
pub mod guard;
pub mod ledger;
pub mod limits;
pub mod policy_source;
