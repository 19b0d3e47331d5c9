//! Test harness: a real gateway on a loopback port, real upstreams (the demo
//! server as a child process over stdio, or in-process over HTTP), and a small
//! MCP client that speaks JSON and SSE responses.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use warden_core::identity::TokenHash;

pub const TOKEN_A: &str = "token-a-0123456789";
pub const TOKEN_B: &str = "token-b-0123456789";

/// The test PostgreSQL server's URL, or None (the test is skipped) when there is
/// none; `WARDEN_REQUIRE_POSTGRES` makes its absence a failure.
pub fn postgres_base() -> Option<String> {
    let Ok(base) = std::env::var("WARDEN_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("WARDEN_REQUIRE_POSTGRES").is_err(),
            "WARDEN_REQUIRE_POSTGRES set without WARDEN_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return None;
    };
    Some(base)
}

pub fn hash(t: &str) -> String {
    TokenHash::of(t).to_hex()
}

pub fn warden_bin() -> String {
    env!("CARGO_BIN_EXE_warden").to_string()
}

/// A YAML stdio upstream entry running the demo server.
pub fn stdio_upstream(name: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    transport: stdio\n    command: {:?}\n    args: [demo-upstream]\n{extra}",
        warden_bin()
    )
}

pub fn http_upstream(name: &str, addr: SocketAddr, extra: &str) -> String {
    format!("  - name: {name}\n    transport: streamable-http\n    url: http://{addr}/mcp\n{extra}")
}

pub fn agent(name: &str, token: &str, extra: &str) -> String {
    format!("  - name: {name}\n    token_sha256: {}\n{extra}", hash(token))
}

pub struct TestGateway {
    pub addr: SocketAddr,
    pub gw: Arc<warden_gateway::Gateway>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A fresh SQLite store in a temporary directory.
pub async fn sqlite_store() -> Arc<warden_store::Store> {
    let dir = std::env::temp_dir().join(format!("warden-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    Arc::new(warden_store::Store::open(&format!("sqlite://{}", dir.join("warden.db").display())).await.expect("store"))
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{t}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Builds a gateway on a fresh loopback port (not yet serving).
pub async fn build(
    yaml: &str,
    store: Arc<warden_store::Store>,
) -> (Arc<warden_gateway::Gateway>, tokio::net::TcpListener) {
    let config = warden_config::parse(yaml).unwrap_or_else(|e| panic!("test config invalid: {e}\n{yaml}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = warden_gateway::Gateway::new(&config, store, listener.local_addr().unwrap()).expect("gateway");
    (gw, listener)
}

impl TestGateway {
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_with(yaml, sqlite_store().await).await
    }

    pub async fn start_with(yaml: &str, store: Arc<warden_store::Store>) -> TestGateway {
        let (gw, listener) = build(yaml, store).await;
        let conflicts = gw.start().await.expect("start");
        assert!(conflicts.is_empty(), "unexpected conflicts: {conflicts:?}");
        Self::serve(gw, listener).await
    }

    pub async fn serve(gw: Arc<warden_gateway::Gateway>, listener: tokio::net::TcpListener) -> TestGateway {
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(warden_gateway::serve(gw.clone(), listener, async move {
            let _ = rx.await;
        }));
        TestGateway { addr, gw, stop: Some(tx), handle }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self, token: &str) -> Client {
        Client::new(self.url(), Some(token))
    }

    /// Sends the shutdown signal (like SIGTERM) and returns the serve task.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.stop();
    }
}

pub async fn http_demo_upstream() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(warden_demo::serve_http(l));
    addr
}

/// What one POST returned.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The JSON-RPC response (the last message for SSE), or the JSON body.
    pub body: Value,
    /// Messages before the response on an SSE stream.
    pub events: Vec<Value>,
}

pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    pub session: Option<String>,
    next_id: i64,
}

impl Client {
    pub fn new(url: String, token: Option<&str>) -> Client {
        Client { http: reqwest::Client::new(), url, token: token.map(str::to_owned), session: None, next_id: 1 }
    }

    pub fn request(&self) -> reqwest::RequestBuilder {
        let mut rb = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .timeout(Duration::from_secs(30));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            rb = rb.header("mcp-session-id", s);
        }
        rb
    }

    pub async fn send_raw(&self, rb: reqwest::RequestBuilder) -> Reply {
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let ctype = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = resp.text().await.unwrap_or_default();
        if ctype.starts_with("text/event-stream") {
            let mut p = warden_mcp::sse::Parser::default();
            let mut msgs: Vec<Value> = p
                .feed(text.as_bytes())
                .into_iter()
                .filter(|e| !e.data.is_empty())
                .map(|e| serde_json::from_str(&e.data).unwrap())
                .collect();
            let body = msgs.pop().unwrap_or(Value::Null);
            return Reply { status, headers, body, events: msgs };
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body, events: vec![] }
    }

    pub async fn rpc(&mut self, method: &str, params: Value) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(self.request().body(msg.to_string())).await
    }

    /// `initialize` whatever the outcome (for refusals).
    pub async fn try_initialize(&mut self) -> Reply {
        self.rpc(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await
    }

    pub async fn initialize(&mut self) -> Reply {
        let r = self
            .rpc("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t", "version": "1"}}))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        self.session = r.headers.get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
        assert!(self.session.is_some(), "initialize returned no session id");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let n = self.send_raw(self.request().body(note.to_string())).await;
        assert_eq!(n.status, 202);
        r
    }

    pub async fn call(&mut self, tool: &str, args: Value) -> Reply {
        self.rpc("tools/call", json!({"name": tool, "arguments": args})).await
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let r = self.rpc("tools/list", json!({})).await;
        r.body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    }
}

/// One admin/REST API call: (status, JSON body — or the text when it is not JSON).
pub async fn api_call(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = http.request(method, format!("{base}{path}"));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Polls `f` until it returns true (bounded): for state that settles asynchronously.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
