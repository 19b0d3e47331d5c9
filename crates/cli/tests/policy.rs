//! Policy, rate limits and human approval holds, end to end: a real gateway,
//! a real SQLite store, the demo upstream as a stdio child, an inventory
//! agent with an OAuth token, admin tokens with roles, teams and groups, and
//! a webhook receiver on loopback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Records every webhook POST: (path, JSON body).
async fn webhook_receiver() -> (std::net::SocketAddr, Arc<Mutex<Vec<(String, Value)>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else { return };
            let seen = s2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                            seen.lock()
                                .unwrap()
                                .push((path, serde_json::from_str(&body[..len]).unwrap_or(Value::Null)));
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

struct Env {
    tg: TestGateway,
    admin: String,
    http: reqwest::Client,
    agent_token: String,
}

fn config(hook: Option<std::net::SocketAddr>, extra_rules: &str, files: &str) -> String {
    let hooks = match hook {
        Some(a) => format!(
            "    webhooks:\n      - {{url: \"http://{a}/slack\", format: slack}}\n      - {{url: \"http://{a}/json\", format: json}}\n"
        ),
        None => String::new(),
    };
    let rules = [
        r#"{name: no-ssh, match: {args: [{pointer: "**", glob: "~/.ssh/**"}]}, tier: critical, action: deny, reason: SSH keys are off limits}"#,
        r#"{name: echo-metered, match: {tools: [echo], args: [{pointer: /text, glob: "metered*"}]}, tier: medium, action: rate_limit, limit: {rate: 2/min}}"#,
        r#"{name: quick-expiry, match: {tools: [delete_file], args: [{pointer: /path, glob: "/tmp/expire/*"}]}, tier: high, action: require_approval, timeout: 2s}"#,
        r#"{name: ledger, match: {tools: [delete_file], args: [{pointer: /path, path_prefix: /ledger}]}, tier: critical, action: require_approval, approvers: finance}"#,
        r#"{name: exec-audit, match: {tools: [exec]}, tier: medium, action: audit}"#,
    ]
    .iter()
    .map(|r| format!("    - {r}\n"))
    .collect::<String>();
    format!(
        "upstreams:\n{}store: {{poll_interval_ms: 100}}\nserver: {{drain_timeout_secs: 1}}\npolicy:\n{files}  approvals:\n    timeout: 30s\n    progress_interval: 1s\n{hooks}  tool_labels:\n    \"echo\": [private_data]\n    \"add\": [external_sink]\n  rules:\n{rules}{extra_rules}",
        stdio_upstream("demo", "")
    )
}

async fn env_with(yaml: &str, store: Arc<warden_store::Store>) -> Env {
    let (_, admin) =
        warden_gateway::admin::api::create_admin_token_in(&store, "root", "admin", &["*".into()], &[], "test")
            .await
            .unwrap();
    let tg = TestGateway::start_with(yaml, store).await;
    let http = reqwest::Client::new();
    let mut e = Env { tg, admin, http, agent_token: String::new() };
    e.agent_token = e.new_agent("pay-bot").await;
    e
}

impl Env {
    /// An inventory bot that may use everything, and an OAuth access token for it.
    async fn new_agent(&self, name: &str) -> String {
        let (s, v) = self
            .api(
                Method::POST,
                "/api/v1/agents",
                Some(json!({"name": name, "owner": "alice@example.com", "team": "payments", "purpose": "tests",
                            "allow_tools": ["*"], "allow_resources": ["*"], "allow_prompts": ["*"]})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (id, secret) = (v["client_id"].as_str().unwrap(), v["client_secret"].as_str().unwrap());
        let r = self
            .http
            .post(format!("{}/oauth/token", self.tg.base()))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    async fn api_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        api_call(&self.http, &self.tg.base(), Some(token), method, path, body).await
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_as(&self.admin.clone(), method, path, body).await
    }

    async fn approver(&self, name: &str, teams: &[&str], groups: &[&str]) -> String {
        let t: Vec<String> = teams.iter().map(|s| s.to_string()).collect();
        let g: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        warden_gateway::admin::api::create_admin_token_in(&self.tg.gw.store, name, "approver", &t, &g, "test")
            .await
            .unwrap()
            .1
    }

    async fn client(&self) -> Client {
        let mut c = self.tg.client(&self.agent_token);
        c.initialize().await;
        c
    }

    /// Waits for exactly one pending approval and returns it.
    async fn pending(&self) -> Value {
        let mut found = Value::Null;
        for _ in 0..200 {
            let (_, v) = self.api(Method::GET, "/api/v1/approvals?status=pending", None).await;
            if let Some(a) = v["approvals"].as_array().and_then(|a| a.first()) {
                found = a.clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(found.is_object(), "no pending approval appeared");
        found
    }

    async fn approval(&self, id: &str) -> Value {
        self.api(Method::GET, &format!("/api/v1/approvals/{id}"), None).await.1
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = self.http.get(format!("{}/metrics", self.tg.base())).send().await.unwrap().text().await.unwrap();
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} ")).map(|v| v.parse().unwrap())).unwrap_or(-1.0)
    }
}

fn call_with_progress(tool: &str, args: Value, id: i64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args, "_meta": {"progressToken": format!("p{id}")}}})
    .to_string()
}

#[tokio::test]
async fn deny_rate_limit_and_batch_smuggling() {
    let e = env_with(&config(None, "", ""), sqlite_store().await).await;
    let mut c = e.client().await;
    // Deny with the reason shown to the agent, for any spelling of the path.
    for path in ["/home/u/.ssh/id_rsa", "/home/u/../u/.ssh/id_rsa", "~/.ssh/config", "/proc/self/root/root/.ssh/k"] {
        let r = c.call("echo", json!({"text": path})).await;
        assert_eq!(r.body["error"]["code"], -32010, "{path}: {}", r.body);
        assert_eq!(r.body["error"]["data"]["rule"], "no-ssh");
        assert_eq!(r.body["error"]["data"]["tier"], "critical");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("SSH keys are off limits"));
    }
    // Read-only tools run by default.
    assert_eq!(c.call("echo", json!({"text": "hi"})).await.body["result"]["content"][0]["text"], "hi");
    // Rate limit: two per minute for this rule; the third is refused with a retry hint.
    for _ in 0..2 {
        assert!(c.call("echo", json!({"text": "metered-1"})).await.body["result"].is_object());
    }
    let r = c.call("echo", json!({"text": "metered-2"})).await;
    assert_eq!(r.body["error"]["code"], -32029, "{}", r.body);
    let retry = r.body["error"]["data"]["retryAfterMs"].as_u64().unwrap();
    assert!((1_000..=30_000).contains(&retry), "{retry}");
    assert!(e.metric("warden_rate_limited_total").await >= 1.0);
    // Other calls are not affected by that bucket.
    assert!(c.call("echo", json!({"text": "free"})).await.body["result"].is_object());
    // A batch smuggling a destructive call is refused whole: nothing is held or run.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 90, "method": "tools/call", "params": {"name": "delete_file", "arguments": {"path": "/x"}}},
        {"jsonrpc": "2.0", "id": 91, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "~/.ssh/id_rsa"}}}
    ]);
    let r = c.send_raw(c.request().body(batch.to_string())).await;
    assert_eq!(r.body["error"]["code"], -32600, "{}", r.body);
    let (_, v) = e.api(Method::GET, "/api/v1/approvals?status=all", None).await;
    assert_eq!(v["approvals"].as_array().unwrap().len(), 0);
    // Case and Unicode lookalikes of a tool name never reach policy or upstream.
    for name in ["Delete_file", "delete_fіle", "delete_file\u{200b}"] {
        assert_eq!(c.call(name, json!({"path": "/x"})).await.body["error"]["code"], -32602);
    }
}

#[tokio::test]
async fn held_call_is_approved_or_denied_with_progress_and_webhooks() {
    let (hook, seen) = webhook_receiver().await;
    let e = env_with(&config(Some(hook), "", ""), sqlite_store().await).await;
    let c = e.client().await;
    // A destructive call (default: high / require_approval) is held.
    let rb = c.request().body(call_with_progress(
        "delete_file",
        json!({"path": "/srv/a", "api_key": "sk-live-0123456789abcdefghij"}),
        7,
    ));
    let held = tokio::spawn(async move { c.send_raw(rb).await });
    let a = e.pending().await;
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(
        (a["agent"].as_str(), a["owner"].as_str(), a["team"].as_str()),
        (Some("pay-bot"), Some("alice@example.com"), Some("payments"))
    );
    assert_eq!(
        (a["tool"].as_str(), a["tier"].as_str(), a["rule"].as_str()),
        (Some("delete_file"), Some("high"), Some("default:write"))
    );
    assert_eq!(a["arguments"]["api_key"], "[REDACTED:key]", "secrets are redacted in the approval");
    assert_eq!(a["arguments"]["path"], "/srv/a");
    assert_eq!(a["trace_id"].as_str().unwrap().len(), 32);
    // Both webhooks got their payload.
    eventually("webhooks delivered", Duration::from_secs(10), || {
        let n = seen.lock().unwrap().len();
        async move { n == 2 }
    })
    .await;
    {
        let seen = seen.lock().unwrap();
        let slack = &seen.iter().find(|(p, _)| p == "/slack").unwrap().1;
        assert!(slack["text"].as_str().unwrap().contains("pay-bot wants to run delete_file"));
        assert!(slack["blocks"].as_array().unwrap().len() >= 3);
        assert!(!slack.to_string().contains("sk-live-0123456789abcdefghij"));
        let generic = &seen.iter().find(|(p, _)| p == "/json").unwrap().1;
        assert_eq!(generic["event"], "approval.requested");
        assert_eq!(generic["approval"]["id"], id.as_str());
    }
    // Let a couple of progress notifications flow, then approve.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (s, v) = e.api(Method::POST, &format!("/api/v1/approvals/{id}/approve"), Some(json!({"comment": "ok"}))).await;
    assert_eq!(s, 200, "{v}");
    let r = held.await.unwrap();
    assert_eq!(r.body["id"], 7);
    assert!(r.body["result"].is_object(), "{}", r.body);
    let progress: Vec<&Value> = r.events.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert!(progress.len() >= 2, "{:?}", r.events);
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "p7"));
    let a = e.approval(&id).await;
    assert_eq!(
        (a["status"].as_str(), a["decided_by"].as_str(), a["comment"].as_str()),
        (Some("approved"), Some("admin-token:root"), Some("ok"))
    );
    eventually("outcome recorded", Duration::from_secs(5), || {
        let e = &e;
        let id = id.clone();
        async move { e.approval(&id).await["outcome"] == "executed" }
    })
    .await;
    // Denied: the agent gets an error naming the decision and the comment.
    let mut c2 = e.client().await;
    let task = tokio::spawn(async move { c2.call("delete_file", json!({"path": "/srv/b"})).await });
    let a = e.pending().await;
    let id = a["id"].as_str().unwrap().to_string();
    let (s, _) = e.api(Method::POST, &format!("/api/v1/approvals/{id}/deny"), Some(json!({}))).await;
    assert_eq!(s, 400, "a denial needs a comment");
    let (s, _) =
        e.api(Method::POST, &format!("/api/v1/approvals/{id}/deny"), Some(json!({"comment": "not today"}))).await;
    assert_eq!(s, 200);
    let r = task.await.unwrap();
    assert_eq!(r.body["error"]["code"], -32011, "{}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("denied by admin-token:root") && msg.contains("not today"), "{msg}");
    // Deciding twice is a conflict.
    let (s, _) = e.api(Method::POST, &format!("/api/v1/approvals/{id}/approve"), None).await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn separation_of_duties() {
    let e = env_with(&config(None, "", ""), sqlite_store().await).await;
    let mut c = e.client().await;
    let task = tokio::spawn(async move { c.call("delete_file", json!({"path": "/ledger/2026"})).await });
    let a = e.pending().await;
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(a["approvers"], "finance");
    let path = format!("/api/v1/approvals/{id}/approve");
    // Agents can never approve, not even their own calls.
    assert_eq!(e.api_as(&e.agent_token, Method::POST, &path, None).await.0, 401);
    // Viewers and auditors cannot decide.
    let viewer =
        warden_gateway::admin::api::create_admin_token_in(&e.tg.gw.store, "v", "viewer", &["*".into()], &[], "t")
            .await
            .unwrap()
            .1;
    assert_eq!(e.api_as(&viewer, Method::POST, &path, None).await.0, 403);
    // An approver for another team, or without the rule's group, cannot either.
    let other = e.approver("other", &["marketing"], &["finance"]).await;
    let (s, v) = e.api_as(&other, Method::POST, &path, None).await;
    assert_eq!(s, 403, "{v}");
    let nogroup = e.approver("nogroup", &["payments"], &[]).await;
    let (s, v) = e.api_as(&nogroup, Method::POST, &path, None).await;
    assert_eq!(s, 403);
    assert!(v["error"]["message"].as_str().unwrap().contains("finance"));
    assert_eq!(e.approval(&id).await["status"], "pending", "refused attempts change nothing");
    // The right approver decides; the record names them.
    let fin = e.approver("fin", &["payments"], &["finance"]).await;
    let (s, v) = e.api_as(&fin, Method::POST, &path, Some(json!({"comment": "checked"}))).await;
    assert_eq!(s, 200, "{v}");
    assert!(task.await.unwrap().body["result"].is_object());
    let a = e.approval(&id).await;
    assert_eq!((a["decided_by"].as_str(), a["comment"].as_str()), (Some("admin-token:fin"), Some("checked")));
    // Unknown approval ids are 404s.
    assert_eq!(e.api(Method::POST, "/api/v1/approvals/apr_nope/approve", None).await.0, 404);
}

#[tokio::test]
async fn expiry_disconnect_and_grants() {
    let e = env_with(&config(None, "", ""), sqlite_store().await).await;
    // No decision before the rule's 2 s timeout: the call is denied, clearly.
    let mut c = e.client().await;
    let r = c.call("delete_file", json!({"path": "/tmp/expire/x"})).await;
    assert_eq!(r.body["error"]["code"], -32012, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("expired"));
    let (_, v) = e.api(Method::GET, "/api/v1/approvals?status=expired", None).await;
    let id = v["approvals"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = e.api(Method::POST, &format!("/api/v1/approvals/{id}/approve"), None).await;
    assert_eq!(s, 409, "an expired approval cannot be approved");
    // The agent disconnects while held: the approval is cancelled.
    let rb = c.request().timeout(Duration::from_millis(800)).body(
        json!({"jsonrpc": "2.0", "id": 50, "method": "tools/call", "params": {"name": "delete_file", "arguments": {"path": "/srv/gone"}}}).to_string(),
    );
    // (A held call answers on a stream at once: the body is what never comes.)
    match rb.send().await {
        Err(_) => {}
        Ok(r) => assert!(r.text().await.is_err(), "the client gave up"),
    }
    let (_, v) = e.api(Method::GET, "/api/v1/approvals?status=all", None).await;
    let gone = v["approvals"].as_array().unwrap().iter().find(|a| a["arguments"]["path"] == "/srv/gone").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("approval cancelled", Duration::from_secs(5), || {
        let e = &e;
        let gone = gone.clone();
        async move { e.approval(&gone).await["status"] == "cancelled" }
    })
    .await;
    // A scoped grant: approve once for 10 minutes, then the same call runs without asking.
    let mut c2 = e.client().await;
    let task = tokio::spawn(async move { c2.call("delete_file", json!({"path": "/srv/g"})).await });
    let a = e.pending().await;
    let (s, v) = e
        .api(
            Method::POST,
            &format!("/api/v1/approvals/{}/approve", a["id"].as_str().unwrap()),
            Some(json!({"grant_minutes": 10})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["grant"]["id"].as_str().unwrap().starts_with("grt_"));
    assert!(task.await.unwrap().body["result"].is_object());
    let r = c.call("delete_file", json!({"path": "/srv/g"})).await;
    assert!(r.body["result"].is_object(), "the grant covers the same call: {}", r.body);
    // Other arguments are not covered: held again.
    let mut c3 = e.client().await;
    let task = tokio::spawn(async move { c3.call("delete_file", json!({"path": "/srv/other"})).await });
    let a = e.pending().await;
    assert_eq!(a["arguments"]["path"], "/srv/other");
    e.api(
        Method::POST,
        &format!("/api/v1/approvals/{}/deny", a["id"].as_str().unwrap()),
        Some(json!({"comment": "no"})),
    )
    .await;
    assert_eq!(task.await.unwrap().body["error"]["code"], -32011);
}

#[tokio::test]
async fn information_flow_escalates_within_a_session() {
    let e = env_with(&config(None, "", ""), sqlite_store().await).await;
    let mut c = e.client().await;
    // `add` (external sink, read-only) runs in a fresh session...
    assert!(c.call("add", json!({"a": 1, "b": 2})).await.body["result"].is_object());
    // ...but after `echo` (private data) in the same session, it waits for a human.
    assert!(c.call("echo", json!({"text": "salary data"})).await.body["result"].is_object());
    let task = tokio::spawn(async move { c.call("add", json!({"a": 1, "b": 2})).await });
    let a = e.pending().await;
    assert_eq!(a["rule"], "flow:private_data_then_external_sink");
    e.api(
        Method::POST,
        &format!("/api/v1/approvals/{}/deny", a["id"].as_str().unwrap()),
        Some(json!({"comment": "no exfil"})),
    )
    .await;
    assert_eq!(task.await.unwrap().body["error"]["code"], -32011);
    // Another session is unaffected.
    let mut c2 = e.client().await;
    assert!(c2.call("add", json!({"a": 1, "b": 2})).await.body["result"].is_object());
}

#[tokio::test]
async fn decision_api_for_built_in_tools() {
    let e = env_with(&config(None, "", ""), sqlite_store().await).await;
    let decide = |token: String, body: Value| {
        let http = e.http.clone();
        let url = format!("{}/api/v1/decide", e.tg.base());
        async move {
            let r = http.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or_default())
        }
    };
    let t = e.agent_token.clone();
    let (s, v) = decide(t.clone(), json!({"tool": "exec", "params": {"command": "ls -la"}})).await;
    assert_eq!(
        (s, v["verdict"].as_str(), v["rule"].as_str(), v["tier"].as_str()),
        (200, Some("allow"), Some("exec-audit"), Some("medium"))
    );
    let (_, v) = decide(t.clone(), json!({"tool": "exec", "params": {"command": "cat ~/.ssh/id_rsa"}})).await;
    assert_eq!((v["verdict"].as_str(), v["rule"].as_str()), (Some("deny"), Some("no-ssh")), "{v}");
    // A flagged command needs a human: approval_required at once, then wait on it while a human approves.
    let (_, v) =
        decide(t.clone(), json!({"tool": "exec", "params": {"command": "rm -rf /var/lib/app"}, "session": "s1"})).await;
    assert_eq!(
        (v["verdict"].as_str(), v["rule"].as_str()),
        (Some("approval_required"), Some("shell:on_finding")),
        "{v}"
    );
    let id = v["approval_id"].as_str().unwrap().to_string();
    assert_eq!(e.approval(&id).await["status"], "pending", "returning without a decision keeps the approval");
    let waiter = tokio::spawn(decide(
        t.clone(),
        json!({"tool": "exec", "params": {"command": "rm -rf /var/lib/app"}, "approval_id": id, "wait_ms": 20000}),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, _) = e.api(Method::POST, &format!("/api/v1/approvals/{id}/approve"), None).await;
    assert_eq!(s, 200);
    let (s, v) = waiter.await.unwrap();
    assert_eq!((s, v["verdict"].as_str(), v["approval_id"].as_str()), (200, Some("allow"), Some(id.as_str())), "{v}");
    // The approval is spent.
    let (s, _) =
        decide(t.clone(), json!({"tool": "exec", "params": {"command": "rm -rf /var/lib/app"}, "approval_id": id}))
            .await;
    assert_eq!(s, 409);
    // Another agent presenting this agent's approval id learns nothing.
    let other = e.new_agent("other-bot").await;
    let (_, v) = decide(t.clone(), json!({"tool": "exec", "params": {"command": "shred x"}})).await;
    let id2 = v["approval_id"].as_str().unwrap().to_string();
    let (s, _) =
        decide(other.clone(), json!({"tool": "exec", "params": {"command": "shred x"}, "approval_id": id2})).await;
    assert_eq!(s, 404);
    // The same agent with other arguments cannot ride on it either.
    let (s, _) = decide(t.clone(), json!({"tool": "exec", "params": {"command": "shred y"}, "approval_id": id2})).await;
    assert_eq!(s, 404);
    // Bad input.
    let (s, _) = decide(t.clone(), json!({"params": {}})).await;
    assert_eq!(s, 400);
    let (s, _) = decide(t.clone(), json!({"tool": "exec", "params": "rm"})).await;
    assert_eq!(s, 400);
    let (s, _) = decide("garbage".into(), json!({"tool": "exec"})).await;
    assert_eq!(s, 401);
    let r = e
        .http
        .post(format!("{}/api/v1/decide", e.tg.base()))
        .bearer_auth(&t)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // The kill switch cancels the agent's pending approvals, in the same transaction.
    assert_eq!(e.approval(&id2).await["status"], "pending");
    let (s, v) = e.api(Method::POST, "/api/v1/agents/pay-bot/suspend", Some(json!({"reason": "incident"}))).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["revocation"]["revoked"].as_array().unwrap().iter().any(|r| r == "1 pending approval(s), cancelled"),
        "{v}"
    );
    let a = e.approval(&id2).await;
    assert_eq!(
        (a["status"].as_str(), a["outcome"].as_str()),
        (Some("cancelled"), Some("agent suspended: the call was not executed"))
    );
    let (s, _) = decide(t.clone(), json!({"tool": "exec", "params": {"command": "ls"}})).await;
    assert_eq!(s, 401, "a suspended agent cannot ask");
}

#[tokio::test]
async fn restart_interrupts_held_calls_honestly() {
    let store = sqlite_store().await;
    let yaml = config(None, "", "");
    let mut e = env_with(&yaml, store.clone()).await;
    let mut c = e.client().await;
    let task = tokio::spawn(async move { c.call("delete_file", json!({"path": "/srv/r"})).await });
    let a = e.pending().await;
    let id = a["id"].as_str().unwrap().to_string();
    // The gateway stops while the call is held.
    e.tg.stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), &mut e.tg.handle).await;
    // Its agent hears at the drain deadline that the call was not executed (-32013), not a cut connection.
    let r =
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("the held call was never answered").unwrap();
    assert_eq!(r.body["error"]["code"], -32013, "{:?}", r.body);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("was interrupted") && msg.contains("not executed"), "{:?}", r.body);
    // A new gateway on the same store reports it honestly: not pending, not approvable.
    let tg2 = TestGateway::start_with(&yaml, store.clone()).await;
    let admin = e.admin.clone();
    let http = reqwest::Client::new();
    let show = || {
        let (http, admin, url) = (http.clone(), admin.clone(), format!("{}/api/v1/approvals/{id}", tg2.base()));
        async move { http.get(url).bearer_auth(admin).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r =
        http.post(format!("{}/api/v1/approvals/{id}/approve", tg2.base())).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409, "a call whose gateway stopped cannot be approved");
    let a = show().await;
    assert_eq!(a["status"], "interrupted");
    assert!(a["outcome"].as_str().unwrap().contains("the call was not executed"), "{a}");
    // A gateway that died without a word (kill -9): its heartbeat goes stale, and the
    // approval is refused and marked, not approved into the void.
    let mut dead = store.approval(&id).await.unwrap().unwrap();
    dead.id = "apr_crashed".into();
    dead.status = warden_store::ApprovalStatus::Pending;
    dead.holder = "replica-crashed".into();
    dead.outcome = None;
    dead.expires_at = warden_core::time::Timestamp(warden_core::time::Timestamp::now().0 + 600);
    store.insert_approval(&dead).await.unwrap();
    store.heartbeat("replica-crashed", warden_core::time::now_ms() - 60_000).await.unwrap();
    let r = http
        .post(format!("{}/api/v1/approvals/apr_crashed/approve", tg2.base()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("restarted"), "{body}");
    let a = store.approval("apr_crashed").await.unwrap().unwrap();
    assert_eq!(a.status, warden_store::ApprovalStatus::Interrupted);
    assert!(a.outcome.unwrap().contains("gateway restarted"));
    // And the periodic sweep finds such orphans on its own.
    dead.id = "apr_orphan".into();
    store.insert_approval(&dead).await.unwrap();
    eventually("orphan swept", Duration::from_secs(5), || {
        let store = store.clone();
        async move {
            store.approval("apr_orphan").await.unwrap().unwrap().status == warden_store::ApprovalStatus::Interrupted
        }
    })
    .await;
}

/// Opens a held `tools/call` as an SSE client does and reads its priming
/// event: (event id, retry, the open response). Dropping the response
/// breaks the connection, as a dying replica or a proxy would.
async fn open_held(c: &Client, id: i64, args: Value) -> (String, Option<u64>, reqwest::Response) {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "delete_file", "arguments": args}});
    let mut resp = c.request().body(body.to_string()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut p = warden_mcp::sse::Parser::default();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await.unwrap().unwrap().unwrap();
        if let Some(ev) = p.feed(&chunk).into_iter().next() {
            assert_eq!(ev.data, "", "the first event primes the stream");
            return (ev.id.expect("the priming event has an id"), ev.retry, resp);
        }
    }
}

/// `GET /mcp` resuming a stream: the status and the events with data.
async fn resume_get(url: &str, token: &str, session: Option<&str>, last: &str) -> (u16, Vec<warden_mcp::sse::Event>) {
    let mut rb = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .header("last-event-id", last)
        .timeout(Duration::from_secs(20));
    if let Some(s) = session {
        rb = rb.header("mcp-session-id", s);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let evs = warden_mcp::sse::Parser::default().feed(text.as_bytes());
    (status, evs.into_iter().filter(|e| !e.data.is_empty() || e.id.is_some()).collect())
}

/// The answer a resumed stream ends with: its event id and message.
fn resumed_answer(evs: &[warden_mcp::sse::Event]) -> (String, Value) {
    let last = evs.iter().rev().find(|e| !e.data.is_empty()).expect("the resumed stream carried an answer");
    (last.id.clone().unwrap_or_default(), serde_json::from_str(&last.data).unwrap())
}

/// A held call's stream can be resumed on another replica (`GET` with
/// `Last-Event-ID`), which answers the original request with the call's fate
/// from the shared store: the holder lost its client (cancelled), the holder
/// died (interrupted by the sweep), or it ran the call and the result was
/// lost. Nobody else can resume it, and a finished stream is not reopened.
#[tokio::test]
async fn a_held_stream_resumes_on_another_replica_with_the_calls_fate() {
    let store = sqlite_store().await;
    // One issuer for both, so a token from one is good on the other.
    let yaml = format!("identity:\n  issuer: https://warden.example\n{}", config(None, "", ""));
    let e = env_with(&yaml, store.clone()).await;
    let b = TestGateway::start_with(&yaml, store.clone()).await;
    let c = e.client().await;
    let session = c.session.clone().unwrap();

    // 1. Held on A; the connection breaks (the response is dropped).
    let (ev_id, retry, resp) = open_held(&c, 41, json!({"path": "/srv/resume-1"})).await;
    assert!(ev_id.starts_with("h1.apr_") && ev_id.ends_with(".0"), "{ev_id}");
    assert_eq!(retry, Some(1000), "the client is told how soon to reconnect");
    let approval = e.pending().await["id"].as_str().unwrap().to_string();
    assert!(ev_id.contains(&approval), "{ev_id}");
    drop(resp);
    // The client resumes on B: A, which lost its client, cancelled the call, and B says so.
    let (status, evs) = resume_get(&b.url(), &e.agent_token, Some(&session), &ev_id).await;
    assert_eq!(status, 200);
    assert_eq!(evs[0].data, "", "a resumed stream is primed too");
    let (last_id, msg) = resumed_answer(&evs);
    assert!(last_id.ends_with(".end"), "{last_id}");
    assert_eq!((msg["id"].clone(), msg["error"]["code"].clone()), (json!(41), json!(-32013)), "{msg}");
    assert!(msg["error"]["message"].as_str().unwrap().contains("cancelled"), "{msg}");
    let a = store.approval(&approval).await.unwrap().unwrap();
    assert_eq!(a.status, warden_store::ApprovalStatus::Cancelled);
    // A stream that ended with its response is not reopened (405 stops MCP SDK clients).
    let (status, _) = resume_get(&b.url(), &e.agent_token, Some(&session), &last_id).await;
    assert_eq!(status, 405);

    // 2. The holder died without a word (a stale heartbeat): B waits for the
    // sweep and answers "interrupted", with the request id the client sent.
    let mut dead = a.clone();
    dead.id = "apr_resumedead".into();
    dead.status = warden_store::ApprovalStatus::Pending;
    dead.holder = "replica-killed".into();
    dead.decided_by = None;
    dead.decided_at = None;
    dead.outcome = None;
    dead.expires_at = warden_core::time::Timestamp(warden_core::time::Timestamp::now().0 + 600);
    store.insert_approval(&dead).await.unwrap();
    store.heartbeat("replica-killed", warden_core::time::now_ms() - 60_000).await.unwrap();
    let b64 = |v: &Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
    let dead_id = format!("h1.apr_resumedead.{}.3", b64(&json!("call-7")));
    let (status, evs) = resume_get(&b.url(), &e.agent_token, Some(&session), &dead_id).await;
    assert_eq!(status, 200);
    let (_, msg) = resumed_answer(&evs);
    assert_eq!((msg["id"].clone(), msg["error"]["code"].clone()), (json!("call-7"), json!(-32013)), "{msg}");
    let text = msg["error"]["message"].as_str().unwrap();
    assert!(text.contains("was interrupted") && text.contains("not executed"), "{msg}");
    assert_eq!(
        store.approval("apr_resumedead").await.unwrap().unwrap().status,
        warden_store::ApprovalStatus::Interrupted
    );

    // 3. Approved, and run by a holder whose answer was lost: the agent is
    // told it ran (not to call blindly again), with the trace to look up.
    let mut ran = dead.clone();
    ran.id = "apr_resumeran".into();
    ran.holder = e.tg.gw.approvals.replica.clone();
    store.insert_approval(&ran).await.unwrap();
    let now = warden_core::time::Timestamp::now();
    let approved =
        store.decide_approval("apr_resumeran", warden_store::ApprovalStatus::Approved, Some("alice"), None, now, false);
    assert!(approved.await.unwrap());
    store.set_approval_outcome("apr_resumeran", "executed").await.unwrap();
    let ran_id = format!("h1.apr_resumeran.{}.1", b64(&json!(9)));
    let (_, evs) = resume_get(&b.url(), &e.agent_token, Some(&session), &ran_id).await;
    let (_, msg) = resumed_answer(&evs);
    assert_eq!((msg["id"].clone(), msg["error"]["code"].clone()), (json!(9), json!(-32603)), "{msg}");
    let text = msg["error"]["message"].as_str().unwrap();
    assert!(text.contains("ran") && text.contains("lost") && text.contains(&ran.trace_id), "{msg}");

    // Nobody else resumes it: another agent, another session, an unknown
    // approval all get the same 404; a garbled id is not a resumption (the
    // session rules apply: 400 without one); no token is 401.
    let other = e.new_agent("resume-other-bot").await;
    let mut seen = (401, vec![]);
    for _ in 0..100 {
        // B learns of the new agent at its next poll.
        seen = resume_get(&b.url(), &other, None, &ran_id).await;
        if seen.0 != 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, evs) = seen;
    assert_eq!((status, evs.len()), (404, 0));
    let (status, _) = resume_get(&b.url(), &e.agent_token, Some("not-this-session"), &ran_id).await;
    assert_eq!(status, 404);
    let (status, _) =
        resume_get(&b.url(), &e.agent_token, Some(&session), &format!("h1.apr_nosuch.{}.1", b64(&json!(9)))).await;
    assert_eq!(status, 404);
    for garbled in ["h1.apr_resumeran", "h1.apr_resumeran.!!.1", "h9.apr_resumeran.OQ.1", "h1.apr_resumeran.OQ.x"] {
        let (status, _) = resume_get(&b.url(), &e.agent_token, None, garbled).await;
        assert_eq!(status, 400, "{garbled}");
    }
    let r = reqwest::Client::new()
        .get(b.url())
        .header("accept", "text/event-stream")
        .header("last-event-id", &ran_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A GET stream without text/event-stream is refused, resumption or not.
    let r = reqwest::Client::new()
        .get(b.url())
        .bearer_auth(&e.agent_token)
        .header("accept", "application/json")
        .header("last-event-id", &ran_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 406);
}

#[tokio::test]
async fn policy_hot_reload_and_reload_during_a_held_call() {
    let dir = std::env::temp_dir().join(format!("warden-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("extra.yaml");
    std::fs::write(
        &file,
        "rules:\n  - {name: srv-held, match: {tools: [delete_file]}, tier: high, action: require_approval}\n",
    )
    .unwrap();
    let yaml = config(None, "", &format!("  files: [{:?}]\n", file.display().to_string()));
    let e = env_with(&yaml, sqlite_store().await).await;
    let mut c = e.client().await;
    let task = tokio::spawn(async move { c.call("delete_file", json!({"path": "/srv/p"})).await });
    let a = e.pending().await;
    assert_eq!(a["rule"], "srv-held");
    // The policy changes while the call is held: now such deletes are denied.
    std::fs::write(
        &file,
        "rules:\n  - {name: no-deletes, match: {tools: [delete_file]}, tier: critical, action: deny, reason: frozen}\n",
    )
    .unwrap();
    eventually("policy reloaded", Duration::from_secs(5), || {
        let e = &e;
        async move { e.metric("warden_policy_reloads_total").await >= 1.0 }
    })
    .await;
    let (s, _) = e.api(Method::POST, &format!("/api/v1/approvals/{}/approve", a["id"].as_str().unwrap()), None).await;
    assert_eq!(s, 200);
    let r = task.await.unwrap();
    assert_eq!(r.body["error"]["code"], -32010, "the new policy wins: {}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("changed while the call was held"));
    // An invalid file keeps the previous policy and says so in the metrics.
    std::fs::write(&file, "rules:\n  - {name: broken, tier: low, action: allow, when: \"args.x >\"}\n").unwrap();
    eventually("reload refused", Duration::from_secs(5), || {
        let e = &e;
        async move { e.metric("warden_policy_reload_failures_total").await >= 1.0 }
    })
    .await;
    assert_eq!(e.metric("warden_policy_valid").await, 0.0);
    let mut c = e.client().await;
    let r = c.call("delete_file", json!({"path": "/srv/q"})).await;
    assert_eq!(
        (r.body["error"]["code"].as_i64(), r.body["error"]["data"]["rule"].as_str()),
        (Some(-32010), Some("no-deletes"))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn example_policy_pack_passes_its_cases() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = |args: &[&str]| {
        std::process::Command::new(warden_bin())
            .args(args)
            .current_dir(&root)
            .env("SLACK_WEBHOOK_URL", "https://hooks.example.com/x")
            .output()
            .unwrap()
    };
    let out = run(&["policy", "check", "--config", "examples/policy/warden.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["policy", "test", "examples/policy/tests.yaml", "--config", "examples/policy/warden.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // A wrong expectation fails the run.
    let dir = std::env::temp_dir().join(format!("warden-cases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "cases:\n  - {agent: {name: a-bot}, tool: github__merge_pull_request, expect: {action: allow}}\n",
    )
    .unwrap();
    let out = run(&["policy", "test", bad.to_str().unwrap(), "--config", "examples/policy/warden.yaml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"));
    // `policy check` reports shadowed rules and exits non-zero.
    let shadow = dir.join("shadow.yaml");
    std::fs::write(
        &shadow,
        "rules:\n  - {name: all, match: {tools: [\"gh__*\"]}, tier: low, action: allow}\n  - {name: merge, match: {tools: [\"gh__merge\"]}, tier: high, action: require_approval}\n",
    )
    .unwrap();
    let out = run(&["policy", "check", shadow.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("merge: shadowed"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Three replicas on one PostgreSQL share one bucket per limit: with the calls
/// split across them, no more get through than the limit allows in total
/// (capacity plus what refills while the calls run), and each replica's
/// refusals carry a retry hint. With per-replica buckets 3× the capacity
/// would get through.
#[tokio::test]
async fn rate_limits_hold_across_three_replicas() {
    let Some(base) = postgres_base() else { return };
    let url = warden_store::testing::fresh_postgres_db(&base).await;
    // 6 per minute, burst 6: within the few seconds of this test at most one
    // more token refills (every 10 s).
    let rule = r#"    - {name: shared-meter, match: {tools: [echo], args: [{pointer: /text, glob: "shared*"}]}, tier: medium, action: rate_limit, limit: {rate: 6/min}}
"#;
    // One issuer for all three, so a token from one is good on the others.
    let yaml = format!("identity:\n  issuer: https://warden.example\n{}", config(None, rule, ""));
    let a = env_with(&yaml, Arc::new(warden_store::Store::open(&url).await.unwrap())).await;
    let b = TestGateway::start_with(&yaml, Arc::new(warden_store::Store::open(&url).await.unwrap())).await;
    let c = TestGateway::start_with(&yaml, Arc::new(warden_store::Store::open(&url).await.unwrap())).await;
    // The agent created on A is known to B and C after their next poll.
    let mut clients = vec![a.client().await];
    for g in [&b, &c] {
        let mut cl = g.client(&a.agent_token);
        let mut ok = false;
        for _ in 0..100 {
            if cl.try_initialize().await.status == 200 {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "a replica never accepted the agent's token");
        cl.initialize().await;
        clients.push(cl);
    }
    let started = std::time::Instant::now();
    // 8 concurrent calls per replica, 24 in all, against a bucket of 6.
    let mut tasks = Vec::new();
    for (i, mut cl) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for k in 0..8 {
                let r = cl.call("echo", json!({"text": format!("shared-{i}-{k}")})).await;
                out.push(r.body);
            }
            out
        }));
    }
    let mut passed = 0;
    let mut refused = 0;
    for t in tasks {
        for body in t.await.unwrap() {
            if body["result"].is_object() {
                passed += 1;
            } else {
                assert_eq!(body["error"]["code"], -32029, "{body}");
                assert_eq!(body["error"]["data"]["rule"], "shared-meter", "{body}");
                let retry = body["error"]["data"]["retryAfterMs"].as_u64().unwrap();
                assert!((1..=10_000).contains(&retry), "{retry}: {body}");
                refused += 1;
            }
        }
    }
    let refills = (started.elapsed().as_secs_f64() / 10.0).floor() as i32;
    assert_eq!(passed + refused, 24);
    assert!(passed >= 6, "the first 6 calls must pass, {passed} did");
    assert!(passed <= 6 + refills, "{passed} calls passed a limit of 6 (+{refills} refilled) across 3 replicas");
    // Calls the rule does not match are not limited on any replica.
    let mut cl = c.client(&a.agent_token);
    cl.initialize().await;
    assert!(cl.call("echo", json!({"text": "free"})).await.body["result"].is_object());
}
