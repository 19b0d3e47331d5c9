//! The model door: an OpenAI-compatible proxy at `/v1/*` with guardrails on
//! every message and the policy on every tool call the model proposes.
//!
//! - [`proxy`]: the request path (admission, allowlist, budget, input
//!   screening, upstream, answer screening);
//! - [`stream`]: the SSE relay of a streamed answer, screened as it flows;
//! - [`call`]: what the two share (one call in flight, its record, refusals);
//! - [`propose`]: a proposed tool call through the decision pipeline;
//! - [`models`]: model upstreams, routing and prices.
//!
//! `proxy` imports `stream`; `stream` never imports `proxy`: both import `call`.

pub mod call;
pub mod models;
pub mod propose;
pub mod proxy;
pub mod stream;

pub use models::Models;
