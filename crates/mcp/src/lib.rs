//! Warden's MCP client side: one live session per upstream, multiplexing
//! every agent's requests over it, plus a session per agent for agents that
//! carry a credential of their own (see [`upstream::AgentAuth`]).
//!
//! - [`connection`]: the transport-independent session (request ids, pending
//!   calls, progress-token routing, server→client requests).
//! - [`stdio`]: a supervised child process speaking newline-delimited JSON-RPC.
//! - [`http`]: a Streamable HTTP client (JSON or SSE responses, session expiry,
//!   SEP-1699 stream resumption, the standalone GET stream).
//! - [`upstream`]: the supervisor that connects, reconnects with backoff and
//!   reports health.
//!
//! Messages are kept as `serde_json::Value` end to end so nothing an upstream
//! sends is lost in translation.

pub mod connection;
pub mod http;
pub mod sse;
pub mod stdio;
pub mod upstream;

pub use connection::{CallEvent, Connection, ServerRequest, UpstreamError};
pub use upstream::{
    AgentAuth, AgentCredential, EnvSource, Health, TransportSpec, Upstream, UpstreamEvents, UpstreamSpec,
};

/// Protocol versions Warden speaks, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18"];
/// Versions accepted in an `MCP-Protocol-Version` header (older clients still send them).
pub const KNOWN_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
pub const LATEST_VERSION: &str = "2025-11-25";
