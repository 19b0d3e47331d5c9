//! What Warden tells operators, at the bottom of the gateway: nothing here
//! imports a door or a pipeline stage.
//!
//! - [`trace`]: W3C trace context from the agent's `traceparent`;
//! - [`otlp`]: spans and their bounded OTLP/HTTP export;
//! - [`metrics`]: Prometheus counters and histograms;
//! - [`log_redaction`]: the known-secret matcher applied to every log line.

pub mod log_redaction;
pub mod metrics;
pub mod otlp;
pub mod trace;
