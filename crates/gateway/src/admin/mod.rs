//! The admin surface and the agent-facing APIs beside it.
//!
//! - [`api`]: the admin REST API under `/api/v1` (+ `openapi.json`);
//! - [`console`]: the web console (HTML) over the same [`actions`] and read services;
//! - [`actions`], [`principal`], [`error`]: what both renderings share;
//! - [`decide`]: `POST /api/v1/decide`, the decision API for agents' pre-tool hooks;
//! - [`inventory`]: inventory changes, one transaction each, and their publication;
//! - [`report`]: the inventory report and `/metrics`;
//! - [`oauth`]: `/oauth/token`, the key set and the `/.well-known` metadata;
//! - [`probes`]: `/healthz` and `/readyz`;
//! - read services the JSON API and the console share, each taking the
//!   [`crate::Gateway`] and typed parameters and returning a typed view or an
//!   [`error::ApiError`]: [`records`] (the audit trail), [`policy_view`],
//!   [`usage`], [`health`];
//!   ([`console::charts`] draws the usage charts).

pub mod actions;
pub mod api;
pub mod console;
pub mod decide;
pub mod error;
pub mod health;
pub mod inventory;
pub mod oauth;
pub mod policy_view;
pub mod principal;
pub mod probes;
pub mod records;
pub mod report;
pub mod usage;
