//! The admin surface and the agent-facing APIs beside it.
//!
//! - [`api`]: the admin REST API under `/api/v1` (+ `openapi.json`);
//! - [`decide`]: `POST /api/v1/decide`, the decision API for agents' pre-tool hooks;
//! - [`inventory`]: inventory changes, one transaction each, and their publication;
//! - [`report`]: the inventory report and `/metrics`;
//! - [`oauth`]: `/oauth/token`, the key set and the `/.well-known` metadata;
//! - [`probes`]: `/healthz` and `/readyz`.

pub mod actions;
pub mod api;
pub mod decide;
pub mod error;
pub mod inventory;
pub mod oauth;
pub mod principal;
pub mod probes;
pub mod report;
