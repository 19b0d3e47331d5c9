//! The MCP door: one governed Streamable HTTP endpoint (`/mcp`) in front of
//! many upstream MCP servers.
//!
//! - [`edge`]: `/mcp` POST, GET and DELETE: HTTP checks, sessions, SSE answers;
//! - [`dispatch`]: what each MCP method does (lists from the catalog, calls
//!   routed to one upstream through the pipeline, events relayed back);
//! - [`resume`]: held calls' SSE streams, resumable on any replica;
//! - [`catalog`]: the merged, prefixed catalog of every healthy upstream;
//! - [`pinning`]: tool pinning and definition screening (quarantine);
//! - [`session`]: downstream sessions bound to identities.

pub mod catalog;
pub mod dispatch;
pub mod edge;
pub mod pinning;
pub(crate) mod resume;
pub mod session;
