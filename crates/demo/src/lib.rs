//! A small MCP server shipped with Warden: the upstream behind `warden serve
//! --demo`, the integration tests and the benchmark. It speaks stdio
//! (newline-delimited JSON-RPC) or Streamable HTTP (JSON responses, sessions).
//!
//! Tools: `echo`, `add`, `sleep`, `progress`, `fail`, `crash`, `delete_file`
//! (annotated destructive; it deletes nothing), `whoami` (the principal the
//! HTTP server authenticated) and `show_env` (a `DEMO_*` environment variable,
//! written where asked: the leak a credential-custody test looks for). One
//! resource, one resource template, one prompt.

pub mod idp;
pub mod llm;
pub mod vault;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

fn tools() -> Value {
    json!([
        {"name": "echo", "description": "Returns its text argument.",
         "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
         "annotations": {"readOnlyHint": true}},
        {"name": "add", "description": "Adds two numbers.",
         "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]},
         "outputSchema": {"type": "object", "properties": {"sum": {"type": "number"}}, "required": ["sum"]},
         "annotations": {"readOnlyHint": true}},
        {"name": "sleep", "description": "Waits `ms` milliseconds, then answers.",
         "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}},
         "annotations": {"readOnlyHint": true}},
        {"name": "progress", "description": "Reports `steps` progress notifications.",
         "inputSchema": {"type": "object", "properties": {"steps": {"type": "integer"}}},
         "annotations": {"readOnlyHint": true}},
        {"name": "fail", "description": "Returns a tool error (isError).",
         "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}},
        {"name": "crash", "description": "Exits the server process mid-call (failure testing; changes no data).",
         "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}},
        {"name": "delete_file", "description": "Pretends to delete a file (nothing is deleted).",
         "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
         "annotations": {"destructiveHint": true}},
        {"name": "whoami", "description": "Names the principal this server authenticated for the session.",
         "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}},
        {"name": "show_env", "description": "Shows the DEMO_* environment variable `name`: in the result, as a tool error, as a JSON-RPC error, or on stderr (`to`).",
         "inputSchema": {"type": "object", "properties": {"name": {"type": "string"},
            "to": {"type": "string", "enum": ["result", "tool_error", "rpc_error", "stderr"]}}, "required": ["name"]},
         "annotations": {"readOnlyHint": true}},
    ])
}

fn text(s: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": s.into()}]})
}

fn err(id: &Value, code: i64, msg: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": msg}})
}

/// Handles one request. `notify` carries notifications sent before the answer.
/// `principal`: who the HTTP server authenticated (None: stdio or no authentication).
async fn handle(msg: &Value, notify: &mpsc::UnboundedSender<Value>, principal: Option<&str>) -> Option<Value> {
    let id = msg.get("id")?.clone();
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    let params = msg.get("params").cloned().unwrap_or(json!({}));
    let result = match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or("");
            let v = if VERSIONS.contains(&asked) { asked } else { VERSIONS[0] };
            json!({"protocolVersion": v,
                   "capabilities": {"tools": {"listChanged": false}, "resources": {}, "prompts": {}, "logging": {}},
                   "serverInfo": {"name": "warden-demo", "version": env!("CARGO_PKG_VERSION")},
                   "instructions": "Demo upstream shipped with Warden."})
        }
        "ping" => json!({}),
        "logging/setLevel" => json!({}),
        "tools/list" => json!({"tools": tools()}),
        "resources/list" => json!({"resources": [
            {"uri": "demo://readme", "name": "readme", "mimeType": "text/plain"}]}),
        "resources/templates/list" => json!({"resourceTemplates": [
            {"uriTemplate": "demo://notes/{id}", "name": "note", "mimeType": "text/plain"}]}),
        "resources/read" => {
            let uri = params.get("uri").and_then(Value::as_str).unwrap_or("");
            let body = if uri == "demo://readme" {
                "Warden demo upstream.".to_string()
            } else if let Some(n) = uri.strip_prefix("demo://notes/") {
                format!("note {n}")
            } else {
                return Some(err(&id, -32002, &format!("Resource not found: {uri}")));
            };
            json!({"contents": [{"uri": uri, "mimeType": "text/plain", "text": body}]})
        }
        "prompts/list" => json!({"prompts": [
            {"name": "greet", "description": "Greets someone.", "arguments": [{"name": "name", "required": true}]}]}),
        "prompts/get" => {
            if params.get("name").and_then(Value::as_str) != Some("greet") {
                return Some(err(&id, -32602, "Unknown prompt"));
            }
            let who = params.pointer("/arguments/name").and_then(Value::as_str).unwrap_or("there");
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": format!("Say hello to {who}.")}}]})
        }
        "completion/complete" => {
            let v = params.pointer("/argument/value").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = ["alice", "bob", "carol"].into_iter().filter(|n| n.starts_with(v)).collect();
            json!({"completion": {"values": values, "total": values.len(), "hasMore": false}})
        }
        "tools/call" => {
            let name = params.get("name").and_then(Value::as_str).unwrap_or("");
            let args = params.get("arguments").cloned().unwrap_or(json!({}));
            match name {
                "echo" => text(args.get("text").and_then(Value::as_str).unwrap_or("")),
                "add" => {
                    let sum = args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0);
                    json!({"content": [{"type": "text", "text": sum.to_string()}], "structuredContent": {"sum": sum}})
                }
                "sleep" => {
                    let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(100).min(600_000);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    text(format!("slept {ms} ms"))
                }
                "progress" => {
                    let steps = args.get("steps").and_then(Value::as_u64).unwrap_or(3).min(1000);
                    if let Some(tok) = params.pointer("/_meta/progressToken") {
                        for i in 1..=steps {
                            let _ = notify.send(json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                "params": {"progressToken": tok, "progress": i, "total": steps}}));
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    text(format!("{steps} steps done"))
                }
                "fail" => {
                    json!({"content": [{"type": "text", "text": "this tool always fails"}], "isError": true})
                }
                "crash" => {
                    eprintln!("demo upstream: crash requested, exiting");
                    std::process::exit(3);
                }
                "delete_file" => {
                    text(format!("pretended to delete {}", args.get("path").and_then(Value::as_str).unwrap_or("?")))
                }
                "whoami" => text(principal.unwrap_or("anonymous")),
                "show_env" => {
                    let var = args.get("name").and_then(Value::as_str).unwrap_or("");
                    if !var.starts_with("DEMO_") {
                        return Some(err(&id, -32602, "only DEMO_* variables are shown"));
                    }
                    let value = std::env::var(var).unwrap_or_default();
                    match args.get("to").and_then(Value::as_str).unwrap_or("result") {
                        "tool_error" => {
                            json!({"content": [{"type": "text", "text": format!("failed with {value}")}], "isError": true})
                        }
                        "rpc_error" => return Some(err(&id, -32603, &format!("internal error near {value}"))),
                        "stderr" => {
                            eprintln!("demo upstream debug: {var}={value}");
                            text("written to stderr")
                        }
                        _ => text(value),
                    }
                }
                _ => return Some(err(&id, -32602, &format!("Unknown tool: {name}"))),
            }
        }
        _ => return Some(err(&id, -32601, &format!("Method not found: {method}"))),
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// Serves MCP over stdin/stdout until stdin closes.
pub async fn run_stdio() {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(m) = out_rx.recv().await {
            let mut line = serde_json::to_vec(&m).expect("json");
            line.push(b'\n');
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            let _ = out_tx.send(err(&Value::Null, -32700, "Parse error"));
            continue;
        };
        let tx = out_tx.clone();
        tokio::spawn(async move {
            if let Some(resp) = handle(&msg, &tx, None).await {
                let _ = tx.send(resp);
            }
        });
    }
    drop(out_tx);
    let _ = writer.await;
}

#[derive(Clone, Default)]
struct HttpState {
    /// Session id → the principal that opened it.
    sessions: Arc<Mutex<HashMap<String, Option<String>>>>,
    /// When set, the headers of every request received (tests of credential injection).
    seen: Option<HeaderLog>,
    authorize: Option<Authorize>,
}

/// Every request's headers, in arrival order.
pub type HeaderLog = Arc<Mutex<Vec<HeaderMap>>>;

/// Authenticates a request from its headers: the principal, or why not (a 401).
pub type Authorize = Arc<dyn Fn(&HeaderMap) -> Result<String, String> + Send + Sync>;

/// How the HTTP server runs.
#[derive(Clone, Default)]
pub struct HttpOptions {
    pub seen: Option<HeaderLog>,
    /// When set, every request must authenticate, and a session answers only
    /// the principal that opened it (as the MCP spec asks of servers).
    pub authorize: Option<Authorize>,
}

/// Serves MCP over Streamable HTTP at `/mcp` (JSON responses; progress is not
/// streamed in this mode). `POST /admin/expire-sessions` forgets every session,
/// so tests can exercise a client's re-initialisation.
pub async fn serve_http(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_http_recording(listener, None).await
}

/// [`serve_http`], recording every request's headers in `seen`.
pub async fn serve_http_recording(listener: tokio::net::TcpListener, seen: Option<HeaderLog>) -> std::io::Result<()> {
    serve_http_with(listener, HttpOptions { seen, authorize: None }).await
}

/// [`serve_http`] with options.
pub async fn serve_http_with(listener: tokio::net::TcpListener, options: HttpOptions) -> std::io::Result<()> {
    let state = HttpState { seen: options.seen, authorize: options.authorize, ..HttpState::default() };
    let app = axum::Router::new()
        .route("/mcp", post(http_post).get(|| async { StatusCode::METHOD_NOT_ALLOWED }).delete(http_delete))
        .route("/admin/expire-sessions", post(expire))
        .with_state(state);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

async fn expire(State(st): State<HttpState>) -> StatusCode {
    st.sessions.lock().unwrap().clear();
    StatusCode::NO_CONTENT
}

async fn http_delete(State(st): State<HttpState>, headers: HeaderMap) -> StatusCode {
    let sid = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    if st.sessions.lock().unwrap().remove(sid).is_some() { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND }
}

async fn http_post(State(st): State<HttpState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Some(log) = &st.seen {
        log.lock().unwrap().push(headers.clone());
    }
    let principal = match &st.authorize {
        None => None,
        Some(check) => match check(&headers) {
            Ok(p) => Some(p),
            Err(why) => {
                let mut r = (StatusCode::UNAUTHORIZED, why).into_response();
                r.headers_mut().insert(
                    "www-authenticate",
                    "Bearer error=\"invalid_token\"".parse().expect("a valid header value"),
                );
                return r;
            }
        },
    };
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(err(&Value::Null, -32700, "Parse error"))).into_response();
    };
    let method = msg.get("method").and_then(Value::as_str).unwrap_or("");
    let sid = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut new_session = None;
    if method == "initialize" {
        let s = uuid::Uuid::new_v4().simple().to_string();
        st.sessions.lock().unwrap().insert(s.clone(), principal.clone());
        new_session = Some(s);
    } else {
        let owner = sid.as_ref().and_then(|s| st.sessions.lock().unwrap().get(s).cloned());
        match (sid, owner) {
            (Some(_), Some(owner)) if owner == principal => {}
            (Some(_), Some(_)) => {
                return (
                    StatusCode::FORBIDDEN,
                    axum::Json(err(&Value::Null, -32001, "Session belongs to another principal")),
                )
                    .into_response();
            }
            (Some(_), None) => {
                return (StatusCode::NOT_FOUND, axum::Json(err(&Value::Null, -32001, "Session not found")))
                    .into_response();
            }
            (None, _) => {
                return (StatusCode::BAD_REQUEST, axum::Json(err(&Value::Null, -32600, "Missing session")))
                    .into_response();
            }
        }
    }
    let (tx, _rx) = mpsc::unbounded_channel();
    match handle(&msg, &tx, principal.as_deref()).await {
        Some(resp) => {
            let mut r = axum::Json(resp).into_response();
            if let Some(s) = new_session {
                r.headers_mut().insert("mcp-session-id", s.parse().expect("uuid is a valid header"));
            }
            r
        }
        None => StatusCode::ACCEPTED.into_response(),
    }
}
