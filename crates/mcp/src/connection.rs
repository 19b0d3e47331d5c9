//! One live MCP session with an upstream, shared by every agent.
//!
//! Warden rewrites request ids (its own counter) and progress tokens (`w<id>`)
//! so calls from different agents never collide, and maps them back on the
//! way out. Messages the upstream sends are routed to the call they belong to:
//! by progress token, by the HTTP stream they arrived on, or — for stdio, where
//! the wire carries no association — to the most recent call in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::http::HttpWire;
use crate::stdio::StdioWire;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum UpstreamError {
    #[error("upstream '{0}' is unavailable: {1}")]
    Unavailable(String, String),
    #[error("upstream '{0}' did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("upstream '{0}' protocol error: {1}")]
    Protocol(String, String),
    /// Warden's credential for the upstream could not be resolved: the call is not sent.
    #[error("upstream '{0}': Warden's credential for it is unavailable: {1}")]
    Credential(String, String),
}

impl UpstreamError {
    pub fn code(&self) -> i64 {
        match self {
            UpstreamError::Timeout(..) => warden_core::jsonrpc::REQUEST_TIMEOUT,
            UpstreamError::Unavailable(..) | UpstreamError::Credential(..) => {
                warden_core::jsonrpc::UPSTREAM_UNAVAILABLE
            }
            UpstreamError::Protocol(..) => warden_core::jsonrpc::INTERNAL_ERROR,
        }
    }
}

/// Something the upstream sent in the course of one call.
#[derive(Debug)]
pub enum CallEvent {
    /// A notification (progress with the caller's own token restored, log message, ...).
    Notification(Value),
    /// A server→client request (sampling, elicitation, roots) to relay to the caller.
    Request(ServerRequest),
}

/// A request the upstream made of its client. Answer it exactly once with
/// [`ServerRequest::respond`]; dropping it unanswered answers with an error.
#[derive(Debug)]
pub struct ServerRequest {
    /// The request as the upstream sent it (its own id included).
    pub message: Value,
    conn: Option<Arc<Connection>>,
}

impl ServerRequest {
    pub fn method(&self) -> &str {
        self.message.get("method").and_then(Value::as_str).unwrap_or("")
    }

    /// Sends `outcome` (a JSON-RPC `result` value, or an `error` object) back upstream.
    pub async fn respond(mut self, outcome: Result<Value, Value>) {
        let Some(conn) = self.conn.take() else { return };
        let id = self.message.get("id").cloned().unwrap_or(Value::Null);
        let msg = match outcome {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
        };
        if let Err(e) = conn.send(msg).await {
            tracing::warn!(upstream = %conn.name, error = %e, "could not deliver response to upstream request");
        }
    }
}

impl Drop for ServerRequest {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let id = self.message.get("id").cloned().unwrap_or(Value::Null);
            let msg = json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": warden_core::jsonrpc::INTERNAL_ERROR, "message": "request could not be relayed to a client"}});
            tokio::spawn(async move {
                let _ = conn.send(msg).await;
            });
        }
    }
}

/// Messages not tied to any call: list_changed, resources/updated, log
/// messages and requests outside a call.
pub enum Unsolicited {
    Notification(Value),
    Request(ServerRequest),
}

pub(crate) type UnsolicitedSink = Arc<dyn Fn(Unsolicited) + Send + Sync>;

struct Pending {
    done: oneshot::Sender<Value>,
    events: Option<mpsc::Sender<CallEvent>>,
}

pub(crate) enum Wire {
    Stdio(StdioWire),
    Http(HttpWire),
}

pub struct Connection {
    pub name: String,
    wire: Wire,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Warden's progress token → (call id, the caller's own token).
    progress: Mutex<HashMap<String, (u64, Value)>>,
    unsolicited: UnsolicitedSink,
    closed: watch::Sender<bool>,
    /// The upstream's `initialize` result (capabilities, serverInfo, instructions).
    init: Mutex<Value>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("name", &self.name).finish()
    }
}

struct CallGuard<'a> {
    conn: &'a Arc<Connection>,
    id: u64,
    token: Option<String>,
    finished: bool,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.conn.pending.lock().unwrap().remove(&self.id);
        if let Some(t) = &self.token {
            self.conn.progress.lock().unwrap().remove(t);
        }
        if !self.finished && !self.conn.is_closed() {
            // The caller went away or timed out: tell the upstream to stop working on it.
            let conn = self.conn.clone();
            let id = self.id;
            tokio::spawn(async move {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": id, "reason": "cancelled by the client or timed out at the gateway"}});
                let _ = conn.send(note).await;
            });
        }
    }
}

impl Connection {
    pub(crate) fn new(name: &str, wire: Wire, unsolicited: UnsolicitedSink) -> Arc<Connection> {
        Arc::new(Connection {
            name: name.to_string(),
            wire,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            unsolicited,
            closed: watch::channel(false).0,
            init: Mutex::new(Value::Null),
        })
    }

    pub(crate) fn wire(&self) -> &Wire {
        &self.wire
    }

    pub fn init_result(&self) -> Value {
        self.init.lock().unwrap().clone()
    }

    pub fn capabilities(&self) -> Value {
        self.init.lock().unwrap().get("capabilities").cloned().unwrap_or(Value::Null)
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Marks the connection dead; every call in flight fails at once.
    pub fn close(&self) {
        self.closed.send_replace(true);
        self.pending.lock().unwrap().clear();
        if let Wire::Stdio(s) = &self.wire {
            s.shutdown();
        }
    }

    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Performs the MCP `initialize` handshake.
    pub(crate) async fn initialize(self: &Arc<Self>, timeout: Duration) -> Result<(), UpstreamError> {
        let params = json!({
            "protocolVersion": crate::LATEST_VERSION,
            "capabilities": {"sampling": {}, "elicitation": {"form": {}, "url": {}}},
            "clientInfo": {"name": "warden", "version": env!("CARGO_PKG_VERSION")},
        });
        let resp = self.request("initialize", Some(params), None, timeout).await?;
        let result = resp.get("result").cloned().ok_or_else(|| {
            UpstreamError::Protocol(
                self.name.clone(),
                format!("initialize failed: {}", resp.get("error").unwrap_or(&resp)),
            )
        })?;
        let version = result.get("protocolVersion").and_then(Value::as_str).unwrap_or("");
        if !crate::KNOWN_VERSIONS.contains(&version) {
            return Err(UpstreamError::Protocol(
                self.name.clone(),
                format!("unsupported protocol version {version:?}"),
            ));
        }
        if let Wire::Http(h) = &self.wire {
            h.set_protocol_version(version);
        }
        *self.init.lock().unwrap() = result;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await
    }

    /// Sends a request and waits for its response message (which carries either
    /// `result` or `error`, with Warden's upstream id). Events the upstream sends
    /// during the call go to `events`. Dropping the future cancels the call upstream.
    pub async fn request(
        self: &Arc<Self>,
        method: &str,
        params: Option<Value>,
        events: Option<mpsc::Sender<CallEvent>>,
        timeout: Duration,
    ) -> Result<Value, UpstreamError> {
        if self.is_closed() {
            return Err(UpstreamError::Unavailable(self.name.clone(), "connection closed".into()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"jsonrpc": "2.0", "id": id, "method": method});
        let mut token = None;
        if let Some(mut p) = params {
            if let Some(orig) = p.get("_meta").and_then(|m| m.get("progressToken")).cloned() {
                let ours = format!("w{id}");
                p["_meta"]["progressToken"] = Value::String(ours.clone());
                self.progress.lock().unwrap().insert(ours.clone(), (id, orig));
                token = Some(ours);
            }
            msg["params"] = p;
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, Pending { done: tx, events });
        let mut guard = CallGuard { conn: self, id, token, finished: false };
        let exchange = async {
            match &self.wire {
                Wire::Stdio(s) => s.write(&msg).await.map_err(|e| self.unavailable(e))?,
                Wire::Http(h) => h.exchange(self, id, &msg).await?,
            }
            rx.await.map_err(|_| self.unavailable("connection closed during the call".into()))
        };
        let out = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout(self.name.clone(), timeout)),
        };
        guard.finished = out.is_ok();
        out
    }

    /// Sends a notification or a response (no reply expected).
    pub async fn send(&self, msg: Value) -> Result<(), UpstreamError> {
        match &self.wire {
            Wire::Stdio(s) => s.write(&msg).await.map_err(|e| self.unavailable(e)),
            Wire::Http(h) => h.post_oneway(self, &msg).await,
        }
    }

    pub(crate) fn unavailable(&self, why: String) -> UpstreamError {
        UpstreamError::Unavailable(self.name.clone(), why)
    }

    pub(crate) fn has_pending(&self, id: u64) -> bool {
        self.pending.lock().unwrap().contains_key(&id)
    }

    /// Routes one message from the upstream. `origin` is the call whose HTTP
    /// stream carried it, if any.
    pub(crate) fn dispatch(self: &Arc<Self>, mut msg: Value, origin: Option<u64>) {
        let is_response = msg.get("method").is_none() && (msg.get("result").is_some() || msg.get("error").is_some());
        if is_response {
            let Some(id) = msg.get("id").and_then(Value::as_u64) else {
                tracing::warn!(upstream = %self.name, "response with an id Warden never sent; dropped");
                return;
            };
            if let Some(p) = self.pending.lock().unwrap().remove(&id) {
                let _ = p.done.send(msg);
            }
            return;
        }
        let Some(method) = msg.get("method").and_then(Value::as_str).map(str::to_owned) else {
            tracing::warn!(upstream = %self.name, "message without method or result; dropped");
            return;
        };
        let is_request = msg.get("id").is_some_and(|i| !i.is_null());
        let mut target = origin;
        if method == "notifications/progress" {
            let tok = msg.pointer("/params/progressToken").and_then(Value::as_str).map(str::to_owned);
            if let Some(tok) = tok
                && let Some((call, orig)) = self.progress.lock().unwrap().get(&tok).cloned()
            {
                msg["params"]["progressToken"] = orig;
                target = Some(call);
            } else {
                return; // progress for a call that is gone: nothing to relay it to
            }
        } else if target.is_none()
            && matches!(self.wire, Wire::Stdio(_))
            && (is_request || method == "notifications/message")
        {
            // stdio carries no association; attribute to the most recent call in flight.
            target = self.pending.lock().unwrap().iter().filter(|(_, p)| p.events.is_some()).map(|(id, _)| *id).max();
        }
        let sink = target.and_then(|id| self.pending.lock().unwrap().get(&id).and_then(|p| p.events.clone()));
        let event = if is_request {
            let req = ServerRequest { message: msg, conn: Some(self.clone()) };
            match sink {
                Some(tx) => match tx.try_send(CallEvent::Request(req)) {
                    Ok(()) => return,
                    Err(e) => match e.into_inner() {
                        CallEvent::Request(r) => Unsolicited::Request(r),
                        CallEvent::Notification(_) => unreachable!(),
                    },
                },
                None => Unsolicited::Request(req),
            }
        } else {
            match sink {
                Some(tx) => {
                    // A full or closed sink drops the notification rather than block the reader.
                    let _ = tx.try_send(CallEvent::Notification(msg));
                    return;
                }
                None => Unsolicited::Notification(msg),
            }
        };
        (self.unsolicited)(event);
    }
}
