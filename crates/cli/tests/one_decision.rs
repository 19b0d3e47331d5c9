//! One action, decided once, whichever door sees it first (issue 20, part 3):
//! a tool call proposed in the model's answer (`/v1`), asked about by the
//! agent's pre-tool hook (`/api/v1/decide`) and, for Warden's own MCP tools,
//! called at `/mcp`. Warden's MCP tools under the client's `<server>__<tool>`
//! names pass `/v1` at once and are decided at `/mcp`; a built-in call
//! approved at `/v1` is not held again at `/decide`; every record of one call
//! carries its `call_id`; the hook's outcome report joins them.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "agent-token-one-decision-0123456789";

async fn stub() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(warden_demo::llm::serve(l));
    a
}

fn config(stub: SocketAddr) -> String {
    format!(
        r#"upstreams:
{}models:
  - name: stub
    base_url: http://{stub}/v1
    models: {{small: stub-small}}
server: {{mcp_server_names: [warden, gov]}}
guardrails:
  proposed_call_wait_secs: 3
policy:
  approvals: {{timeout: 30s, progress_interval: 1s}}
  rules:
    - {{name: no-etc, match: {{tools: [delete_file], args: [{{pointer: /path, glob: "/etc/**"}}]}}, tier: critical, action: deny, reason: never under /etc}}
    - {{name: held, match: {{tools: [exec], args: [{{pointer: /command, glob: "held*"}}]}}, tier: high, action: require_approval, reason: a human approves}}
    - {{name: plain-exec, match: {{tools: [exec]}}, tier: medium, action: allow}}
agents:
{}"#,
        stdio_upstream("demo", ""),
        agent("claw-bot", TOKEN, "    allow_tools: [\"*\"]\n    allow_models: [\"*\"]\n"),
    )
}

struct Env {
    tg: TestGateway,
    http: reqwest::Client,
    admin: String,
}

impl Env {
    async fn start() -> Env {
        let store = sqlite_store().await;
        let (_, admin) =
            warden_gateway::admin::api::create_admin_token_in(&store, "root", "admin", &["*".into()], &[], "test")
                .await
                .unwrap();
        let tg = TestGateway::start_with(&config(stub().await), store).await;
        Env { tg, http: reqwest::Client::new(), admin }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r =
            self.http.post(format!("{}{path}", self.tg.base())).bearer_auth(TOKEN).json(&body).send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn raw(&self, path: &str, token: Option<&str>, body: &str) -> u16 {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.tg.base()))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().await.unwrap().status().as_u16()
    }

    async fn chat(&self, directive: &str) -> (u16, Value) {
        self.post(
            "/v1/chat/completions",
            json!({"model": "small", "messages": [{"role": "user", "content": directive}]}),
        )
        .await
    }

    async fn records(&self) -> Vec<Value> {
        let q = warden_store::AuditFilter { limit: 10_000, ..Default::default() };
        self.tg.gw.store.audit_query(&q).await.unwrap().into_iter().map(|r| r.body).collect()
    }

    async fn approvals(&self) -> Vec<Value> {
        let (s, v) =
            api_call(&self.http, &self.tg.base(), Some(&self.admin), Method::GET, "/api/v1/approvals?limit=100", None)
                .await;
        assert_eq!(s, 200, "{v}");
        v["approvals"].as_array().cloned().unwrap_or_default()
    }
}

fn calls_of(answer: &Value) -> Vec<Value> {
    answer["choices"][0]["message"]["tool_calls"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn warden_mcp_tools_pass_the_model_door_at_once_and_are_decided_at_mcp() {
    let e = Env::start().await;
    // `echo` is read-only; without recognition it would be an unknown write tool held for 3 s.
    let t0 = Instant::now();
    let (s, v) = e.chat(r#"[[tool:warden__echo {"text": "hi"}]]"#).await;
    assert_eq!(s, 200, "{v}");
    assert!(t0.elapsed() < Duration::from_secs(2), "held for {:?}", t0.elapsed());
    let calls = calls_of(&v);
    assert_eq!(calls.len(), 1, "{v}");
    assert_eq!(calls[0]["function"]["name"], "warden__echo", "the agent's own name is kept");
    let call_id = calls[0]["id"].as_str().unwrap().to_string();
    // The other configured server name, a lower-cased name and the streamed answer pass too.
    let (_, v) = e.chat(r#"[[tool:gov__echo {"text": "b"}]] [[tool:WARDEN__ECHO {"text": "c"}]]"#).await;
    assert_eq!(calls_of(&v).len(), 2, "{v}");
    let r = e
        .http
        .post(format!("{}/v1/chat/completions", e.tg.base()))
        .bearer_auth(TOKEN)
        .json(&json!({"model": "small", "stream": true, "messages": [{"role": "user", "content": r#"[[tool:warden__echo {"text": "s"}]]"#}]}))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("warden__echo") && !text.contains("Warden held"), "{text}");
    // A tool its rules deny is removed at once, with the reason.
    let (_, v) = e.chat(r#"[[tool:warden__delete_file {"path": "/etc/passwd"}]]"#).await;
    assert!(calls_of(&v).is_empty(), "{v}");
    let said = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
    assert!(said.contains("never under /etc"), "{said}");
    // A name that is not Warden's server stays an unknown tool: held, then withheld.
    let (_, v) = e.chat(r#"[[tool:other__echo {"text": "x"}]]"#).await;
    assert!(calls_of(&v).is_empty(), "{v}");
    assert_eq!(e.approvals().await.len(), 1, "only the unknown tool was held");
    // The agent runs the proposed call at /mcp: that record carries the proposal's call id.
    let mut c = e.tg.client(TOKEN);
    c.initialize().await;
    let r = c.call("echo", json!({"text": "hi"})).await;
    assert!(r.body["result"].is_object(), "{}", r.body);
    let recs = e.records().await;
    let of_call: Vec<&Value> = recs.iter().filter(|r| r["call_id"] == call_id.as_str()).collect();
    let story: Vec<(&str, &str, &str)> = of_call
        .iter()
        .map(|r| (r["entry"].as_str().unwrap(), r["tool"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(story, [("llm", "echo", "deferred"), ("mcp", "echo", "allow")], "{of_call:?}");
    assert!(of_call[0]["reason"].as_str().unwrap().contains("decided at /mcp"), "{}", of_call[0]);
    let denied = recs.iter().find(|r| r["tool"] == "delete_file" && r["entry"] == "llm").expect("the deny is recorded");
    assert_eq!((denied["verdict"].as_str(), denied["rule"].as_str()), (Some("deny"), Some("no-etc")));
    // Records without a call id do not carry the field at all (old records hash as before).
    assert!(recs.iter().any(|r| r["kind"] == "session" && r.get("call_id").is_none()));
}

#[tokio::test]
async fn a_call_approved_at_the_model_door_is_not_held_again_by_the_hook() {
    let e = Env::start().await;
    let chat = {
        let (http, base) = (e.http.clone(), e.tg.base());
        tokio::spawn(async move {
            let body = json!({"model": "small", "messages": [{"role": "user", "content": r#"[[tool:exec {"command": "held-build"}]]"#}]});
            let r =
                http.post(format!("{base}/v1/chat/completions")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    let mut pending = Vec::new();
    for _ in 0..100 {
        pending = e.approvals().await;
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(pending.len(), 1, "{pending:?}");
    let id = pending[0]["id"].as_str().unwrap().to_string();
    let (s, v) = api_call(
        &e.http,
        &e.tg.base(),
        Some(&e.admin),
        Method::POST,
        &format!("/api/v1/approvals/{id}/approve"),
        Some(json!({"comment": "fine"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let answer = chat.await.unwrap();
    let calls = calls_of(&answer);
    assert_eq!(calls.len(), 1, "{answer}");
    let call_id = calls[0]["id"].as_str().unwrap().to_string();
    // The hook asks about the same call: answered from the approval, at once.
    let t0 = Instant::now();
    let ask = json!({"tool": "exec", "params": {"command": "held-build"}, "tool_call_id": call_id, "run_id": "run-1",
        "session": "agent:main:main", "requester": {"channel": "slack", "sender_id": "U42", "sender_is_owner": true},
        "wait_ms": 10000});
    let (s, v) = e.post("/api/v1/decide", ask.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(
        (v["verdict"].as_str(), v["rule"].as_str(), v["approval_id"].as_str(), v["call_id"].as_str()),
        (Some("allow"), Some("held"), Some(id.as_str()), Some(call_id.as_str())),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains("decided at /v1"), "{v}");
    assert_eq!(e.approvals().await.len(), 1, "one action, one approval");
    // The same call id with other params is another action: decided afresh (held again).
    let mut other = ask.clone();
    other["params"] = json!({"command": "held-other"});
    other["wait_ms"] = json!(0);
    let (_, v) = e.post("/api/v1/decide", other).await;
    assert_eq!(v["verdict"], "approval_required", "{v}");
    assert_ne!(v["approval_id"].as_str(), Some(id.as_str()));
    // The hook reports how the call ended.
    let (s, v) = e
        .post(
            "/api/v1/decide/outcome",
            json!({"tool": "exec", "tool_call_id": call_id, "run_id": "run-1", "session": "agent:main:main",
                   "status": "error", "error": "exit code 2\u{7}", "duration_ms": 41}),
        )
        .await;
    assert_eq!((s, v["recorded"].as_bool(), v["decision"].as_str()), (200, Some(true), Some("allow")), "{v}");
    let recs = e.records().await;
    let story: Vec<(String, String, String)> = recs
        .iter()
        .filter(|r| r["call_id"] == call_id.as_str())
        .map(|r| {
            (
                r["entry"].as_str().unwrap().into(),
                r["kind"].as_str().unwrap().into(),
                r["verdict"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("llm", "decision", "approval_required"),
        ("llm", "decision", "allow"),
        ("decide", "decision", "allow"),
        ("decide", "decision", "approval_required"),
        ("decide", "outcome", "allow"),
    ];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(story, want, "{recs:?}");
    let decided = recs
        .iter()
        .find(|r| r["call_id"] == call_id.as_str() && r["entry"] == "decide" && r["kind"] == "decision")
        .unwrap();
    assert_eq!(decided["approval"], id.as_str());
    assert_eq!(decided["comment"], "requested by slack:U42 (owner)");
    let out = recs.iter().find(|r| r["kind"] == "outcome").unwrap();
    assert_eq!(
        (out["upstream_status"].as_str(), out["reason"].as_str(), out["latency_us"].as_u64()),
        (Some("error"), Some("exit code 2"), Some(41_000))
    );
    assert_eq!(out["approval"], id.as_str());
}

#[tokio::test]
async fn the_hook_door_defers_warden_tools_and_refuses_bad_input() {
    let e = Env::start().await;
    // Warden's MCP tool under the client's name: allow, decided at /mcp; its deny stands.
    let (_, v) = e.post("/api/v1/decide", json!({"tool": "warden__echo", "params": {"text": "x"}})).await;
    assert_eq!((v["verdict"].as_str(), v["rule"].as_str()), (Some("allow"), Some("mcp")), "{v}");
    let (_, v) =
        e.post("/api/v1/decide", json!({"tool": "warden__delete_file", "params": {"path": "/etc/hosts"}})).await;
    assert_eq!((v["verdict"].as_str(), v["rule"].as_str()), (Some("deny"), Some("no-etc")), "{v}");
    // An ask, then its outcome, linked by the call id; an outcome nobody asked about is `undecided`.
    let (_, v) =
        e.post("/api/v1/decide", json!({"tool": "exec", "params": {"command": "ls"}, "tool_call_id": "c-7"})).await;
    assert_eq!(v["verdict"], "allow", "{v}");
    let (_, v) = e.post("/api/v1/decide/outcome", json!({"tool": "exec", "tool_call_id": "c-7", "status": "ok"})).await;
    assert_eq!(v["decision"], "allow", "{v}");
    let (_, v) =
        e.post("/api/v1/decide/outcome", json!({"tool": "exec", "tool_call_id": "never-asked", "status": "ok"})).await;
    assert_eq!((v["recorded"].as_bool(), v["decision"].as_str()), (Some(true), Some("undecided")), "{v}");
    let (_, v) =
        e.post("/api/v1/decide/outcome", json!({"tool": "warden__echo", "tool_call_id": "m1", "status": "ok"})).await;
    assert_eq!(v["recorded"], false, "{v}");
    let undecided = e.records().await.into_iter().find(|r| r["call_id"] == "never-asked").unwrap();
    assert_eq!(undecided["comment"], "no Warden decision on record for this call id");
    // A denied call the agent says it ran anyway is recorded as such.
    let (_, v) = e
        .post("/api/v1/decide", json!({"tool": "delete_file", "params": {"path": "/etc/x"}, "tool_call_id": "d-1"}))
        .await;
    assert_eq!(v["verdict"], "deny", "{v}");
    let (_, v) =
        e.post("/api/v1/decide/outcome", json!({"tool": "delete_file", "tool_call_id": "d-1", "status": "ok"})).await;
    assert_eq!(v["decision"], "deny", "{v}");
    let ran = e.records().await.into_iter().find(|r| r["call_id"] == "d-1" && r["kind"] == "outcome").unwrap();
    assert_eq!(ran["comment"], "ran although Warden's verdict was deny");
    // Bad input: each refused with a clear status, nothing recorded for it.
    let before = e.records().await.len();
    let long = "x".repeat(201);
    let cases = [
        ("/api/v1/decide", format!(r#"{{"tool": "exec", "tool_call_id": "{long}"}}"#), 400),
        ("/api/v1/decide", r#"{"tool": "exec", "run_id": "a\u0007b"}"#.to_string(), 400),
        ("/api/v1/decide", r#"{"tool": "exec", "requester": {"channel": "x", "bogus": 1}}"#.to_string(), 400),
        ("/api/v1/decide", r#"{"tool": "exec", "requester": 7}"#.to_string(), 400),
        ("/api/v1/decide/outcome", r#"{"tool": "exec", "status": "maybe"}"#.to_string(), 400),
        ("/api/v1/decide/outcome", r#"{"tool": "exec", "status": "ok", "action_id": "a"}"#.to_string(), 400),
        ("/api/v1/decide/outcome", r#"{"status": "ok"}"#.to_string(), 400),
        ("/api/v1/decide/outcome", r#"{"tool": "", "status": "ok"}"#.to_string(), 400),
        ("/api/v1/decide/outcome", "not json".to_string(), 400),
    ];
    for (path, body, want) in &cases {
        assert_eq!(e.raw(path, Some(TOKEN), body).await, *want, "{path} {body}");
    }
    assert_eq!(e.raw("/api/v1/decide/outcome", None, r#"{"tool": "exec", "status": "ok"}"#).await, 401);
    assert_eq!(
        e.raw("/api/v1/decide/outcome", Some("wrong-token-000000000000"), r#"{"tool": "exec", "status": "ok"}"#).await,
        401
    );
    let r = e
        .http
        .post(format!("{}/api/v1/decide/outcome", e.tg.base()))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body(r#"{"tool": "exec", "status": "ok"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(e.records().await.len(), before, "refused input left no record");
}

/// The records of an answer's proposed calls are durable before the agent
/// sees the calls: when they cannot be committed, the calls are withheld
/// (streamed) or the answer is refused (non-streamed). Fail closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proposed_calls_are_withheld_when_their_records_cannot_be_committed() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("warden-one-decision-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("warden.db");
    let store = std::sync::Arc::new(warden_store::Store::open(&format!("sqlite://{}", db.display())).await.unwrap());
    let tg = TestGateway::start_with(&config(stub().await), store).await;
    let http = reqwest::Client::new();
    let chat = |stream: bool, directive: &str| {
        let body = json!({"model": "small", "stream": stream, "messages": [{"role": "user", "content": directive}]});
        http.post(format!("{}/v1/chat/completions", tg.base())).bearer_auth(TOKEN).json(&body).send()
    };
    let ok = chat(false, r#"[[tool:exec {"command": "ls"}]]"#).await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(calls_of(&ok).len(), 1, "{ok}");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("ALTER TABLE audit_records RENAME TO audit_records_away").execute(&mut c).await.unwrap();
    // Streamed: the allowed call and Warden's MCP tool are decided, their records fail: neither is sent.
    let text = chat(true, r#"[[tool:exec {"command": "ls -l"}]] [[tool:warden__echo {"text": "x"}]]"#)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(r#""type":"function""#), "a call was sent although its record failed: {text}");
    assert!(text.contains("audit trail"), "{text}");
    // Non-streamed: refused up front now that the writer knows it is failing.
    let r = chat(false, r#"[[tool:exec {"command": "pwd"}]]"#).await.unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert!(calls_of(&v).is_empty(), "{v}");
    assert!(status == 503 || v.to_string().contains("audit"), "{status} {v}");
    sqlx::query("ALTER TABLE audit_records_away RENAME TO audit_records").execute(&mut c).await.unwrap();
    c.close().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
