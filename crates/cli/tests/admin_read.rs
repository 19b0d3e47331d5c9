//! The admin read API end to end: a real gateway on loopback with a real
//! SQLite store and the demo upstream as a stdio child. Audit records
//! (paged, one by one, verified, exported and verified offline by the CLI,
//! tampered with), the policy's status and explain, usage, health; the
//! roles each needs, and the answers to bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn temp_dir(tag: &str) -> PathBuf {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("warden-admin-read-{tag}-{}-{t}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(dir: &Path) -> String {
    format!(
        "upstreams:\n{}agents:\n{}audit:\n  signing_key_file: {}\n  checkpoint_every_records: 5\n\
         policy:\n  files: [{:?}]\n  rules:\n    - name: no-deletes\n      match: {{tools: [delete_file]}}\n      tier: high\n      action: deny\n      reason: deleting is not for bots\n",
        stdio_upstream("demo", ""),
        agent("audit-bot", TOKEN_A, "    allow_tools: [\"*\"]\n"),
        dir.join("audit-signing.key").display(),
        dir.join("extra-policy.yaml").display().to_string(),
    )
}

const EXTRA_POLICY: &str = "rules:\n  - name: adding-is-audited\n    match: {tools: [add]}\n    tier: low\n    action: audit\n    reason: sums are watched\n";

struct Env {
    tg: TestGateway,
    dir: PathBuf,
    db: PathBuf,
    auditor: String,
    viewer: String,
    http: reqwest::Client,
}

async fn env(tag: &str) -> Env {
    let dir = temp_dir(tag);
    std::fs::write(dir.join("extra-policy.yaml"), EXTRA_POLICY).unwrap();
    let db = dir.join("warden.db");
    let store = std::sync::Arc::new(warden_store::Store::open(&format!("sqlite://{}", db.display())).await.unwrap());
    let token = |role: &'static str| {
        let store = store.clone();
        async move {
            warden_gateway::admin::api::create_admin_token_in(
                &store,
                &format!("t-{role}"),
                role,
                &["*".into()],
                &[],
                "test",
            )
            .await
            .unwrap()
            .1
        }
    };
    let (auditor, viewer) = (token("auditor").await, token("viewer").await);
    let tg = TestGateway::start_with(&config(&dir), store).await;
    Env { tg, dir, db, auditor, viewer, http: reqwest::Client::new() }
}

impl Env {
    async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        api_call(&self.http, &self.tg.base(), token, Method::GET, path, None).await
    }

    async fn post(&self, token: Option<&str>, path: &str, body: Option<Value>) -> (u16, Value) {
        api_call(&self.http, &self.tg.base(), token, Method::POST, path, body).await
    }

    /// Some MCP traffic: three echoes, one denied delete, one audited add.
    async fn traffic(&self) {
        let mut c = self.tg.client(TOKEN_A);
        c.initialize().await;
        for i in 0..3 {
            let r = c.call("echo", json!({"text": format!("hi {i}")})).await;
            assert_eq!(r.body["result"]["content"][0]["text"], format!("hi {i}"));
        }
        let r = c.call("delete_file", json!({"path": "/etc/passwd"})).await;
        assert_eq!(r.body["error"]["code"], -32010, "{:?}", r.body);
        let r = c.call("add", json!({"a": 1, "b": 2})).await;
        assert!(r.body["result"].is_object(), "{:?}", r.body);
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_verify_export_and_tampering() {
    let e = env("audit").await;
    e.traffic().await;
    let aud = Some(e.auditor.as_str());

    // Roles: auditors read the trail; viewers and strangers do not.
    for path in ["/api/v1/audit/records", "/api/v1/audit/records/1", "/api/v1/audit/export"] {
        assert_eq!(e.get(None, path).await.0, 401, "{path}");
        let (s, v) = e.get(Some(&e.viewer), path).await;
        assert_eq!((s, code(&v)), (403, "forbidden"), "{path}: {v}");
    }
    assert_eq!(e.post(None, "/api/v1/audit/verify", None).await.0, 401);
    assert_eq!(e.post(Some(&e.viewer), "/api/v1/audit/verify", None).await.0, 403);

    // Newest first, keyset paging by seq.
    let (s, page1) = e.get(aud, "/api/v1/audit/records?kind=call&limit=3").await;
    assert_eq!(s, 200, "{page1}");
    let recs = page1["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["tool"], "add", "newest first: {page1}");
    assert!(recs.windows(2).all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64()));
    assert!(recs.iter().all(|r| r["hash"].as_str().is_some_and(|h| h.len() == 64) && r["prev"].is_string()));
    let before = page1["next_before"].as_u64().expect("an older page");
    assert_eq!(before, recs[2]["seq"].as_u64().unwrap());
    let (_, page2) = e.get(aud, &format!("/api/v1/audit/records?kind=call&limit=3&before={before}")).await;
    let older = page2["records"].as_array().unwrap();
    assert_eq!(older.len(), 2, "{page2}");
    assert!(older.iter().all(|r| r["seq"].as_u64().unwrap() < before));
    assert!(page2["next_before"].is_null());
    // Filters: verdict, tier, agent, tool, time.
    let (_, denied) = e.get(aud, "/api/v1/audit/records?verdict=deny").await;
    let denied = denied["records"].as_array().unwrap().clone();
    assert_eq!(denied.len(), 1);
    assert_eq!((denied[0]["tool"].as_str(), denied[0]["rule"].as_str()), (Some("delete_file"), Some("no-deletes")));
    let (_, high) = e.get(aud, "/api/v1/audit/records?tier=high&kind=call").await;
    assert_eq!(high["records"].as_array().unwrap().len(), 1, "{high}");
    let (_, echoes) = e.get(aud, "/api/v1/audit/records?agent=audit-bot&tool=echo").await;
    assert_eq!(echoes["records"].as_array().unwrap().len(), 3);
    let (_, future) = e.get(aud, "/api/v1/audit/records?since=2999-01-01T00:00:00Z").await;
    assert!(future["records"].as_array().unwrap().is_empty());
    let now_ms = warden_core::time::now_ms() + 60_000;
    let (s, past) = e.get(aud, &format!("/api/v1/audit/records?until={now_ms}&kind=call")).await;
    assert_eq!((s, past["records"].as_array().unwrap().len()), (200, 5));
    // Bad input is refused, naming the field.
    for (q, field) in [
        ("since=yesterday", "since"),
        ("until=2025-13-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("before=-1", "before"),
        ("colour=red", "colour"),
    ] {
        let (s, v) = e.get(aud, &format!("/api/v1/audit/records?{q}")).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert_eq!(v["error"]["fields"][0]["field"], field, "{q}: {v}");
    }

    // One record and its place in the chain.
    let seq = denied[0]["seq"].as_u64().unwrap();
    let (s, one) = e.get(aud, &format!("/api/v1/audit/records/{seq}")).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!((one["seq"].as_u64(), one["record"]["tool"].as_str()), (Some(seq), Some("delete_file")));
    assert_eq!(one["hash"], denied[0]["hash"]);
    assert_eq!(one["prev"], denied[0]["prev"]);
    assert!(one["head_seq"].as_u64().unwrap() >= seq);
    assert_eq!(e.get(aud, "/api/v1/audit/records/999999").await.0, 404);
    assert_eq!(e.get(aud, "/api/v1/audit/records/abc").await.0, 400);

    // The chain verifies with the gateway's own key.
    let (s, v) = e.post(aud, "/api/v1/audit/verify", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["first_bad"].is_null() && v["records"].as_u64().unwrap() >= 5);

    // An export downloads as an attachment and verifies offline with the CLI and the public key alone.
    let r = e.http.get(format!("{}/api/v1/audit/export", e.tg.base())).bearer_auth(&e.auditor).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let cd = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(cd.starts_with("attachment; filename=\"warden-audit-") && cd.ends_with(".jsonl\""), "{cd}");
    let text = r.text().await.unwrap();
    assert!(text.lines().count() > 5, "{text}");
    let signer = warden_gateway::pipeline::audit::load_or_create_key(&e.dir.join("audit-signing.key")).unwrap();
    std::fs::write(e.dir.join("audit.pub"), signer.public_key_line()).unwrap();
    std::fs::write(e.dir.join("export.jsonl"), &text).unwrap();
    let verify_file = |file: &str| {
        let out = Command::new(warden_bin())
            .args(["audit", "verify", "--json", "--file"])
            .arg(e.dir.join(file))
            .arg("--public-key")
            .arg(e.dir.join("audit.pub"))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (status, out) = verify_file("export.jsonl");
    assert_eq!(status, Some(0), "{out}");
    // A part of the trail, too.
    let since = denied[0]["at"].as_str().unwrap();
    let (s, part) = e.get(aud, &format!("/api/v1/audit/export?since={}", since.replace(':', "%3A"))).await;
    assert_eq!(s, 200);
    std::fs::write(e.dir.join("part.jsonl"), part.as_str().unwrap()).unwrap();
    assert_eq!(verify_file("part.jsonl").0, Some(0));
    assert_eq!(e.get(aud, "/api/v1/audit/export?since=soon").await.0, 400);

    // Tampering with a stored record's body is named at that record.
    let target = echoes["records"][0]["seq"].as_u64().unwrap();
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", e.db.display())).await.unwrap();
        let done = sqlx::query("UPDATE audit_records SET body = REPLACE(body, '\"hi ', '\"bye ') WHERE seq = $1")
            .bind(target as i64)
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        c.close().await.unwrap();
    }
    let (s, v) = e.post(aud, "/api/v1/audit/verify", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_bad"].as_u64(), Some(target), "{v}");
    assert_eq!(v["kind"], "edited");
    assert!(v["problem"].as_str().is_some_and(|p| !p.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_usage_and_health() {
    let e = env("views").await;
    e.traffic().await;
    let view = Some(e.viewer.as_str());
    for path in ["/api/v1/policy", "/api/v1/usage", "/api/v1/health"] {
        assert_eq!(e.get(None, path).await.0, 401, "{path}");
    }
    assert_eq!(e.post(None, "/api/v1/policy/explain", Some(json!({}))).await.0, 401);

    // Policy status: the live policy, and each file as it reads now.
    let (s, p) = e.get(view, "/api/v1/policy").await;
    assert_eq!(s, 200, "{p}");
    assert_eq!((p["valid"].as_bool(), p["rules"].as_u64(), p["inline_rules"].as_u64()), (Some(true), Some(2), Some(1)));
    assert_eq!(p["files"][0]["ok"], true, "{p}");
    assert!(p["files"][0]["path"].as_str().unwrap().ends_with("extra-policy.yaml"));

    // Explain: the real agent, the live catalog's annotations, the live policy.
    let explain = |body: Value| e.post(view, "/api/v1/policy/explain", Some(body));
    let (s, x) = explain(json!({"agent": "audit-bot", "tool": "delete_file", "args": {"path": "/x"}})).await;
    assert_eq!(s, 200, "{x}");
    assert_eq!((x["decision"]["action"].as_str(), x["decision"]["rule"].as_str()), (Some("deny"), Some("no-deletes")));
    assert_eq!(x["decision"]["tier"], "high");
    assert_eq!(x["tool_known"], true);
    assert!(x["trace"].as_array().unwrap().iter().any(|t| t["rule"] == "no-deletes" && t["matched"] == true), "{x}");
    let (_, x) = explain(json!({"agent": "audit-bot", "tool": "add"})).await;
    assert_eq!(
        (x["decision"]["action"].as_str(), x["decision"]["rule"].as_str()),
        (Some("audit"), Some("adding-is-audited"))
    );
    let (_, x) = explain(json!({"agent": "audit-bot", "tool": "echo", "private_data": true})).await;
    assert_eq!(x["tool_known"], true, "{x}");
    let (s, x) = explain(json!({"agent": "audit-bot", "tool": "nowhere__tool"})).await;
    assert_eq!((s, x["tool_known"].as_bool()), (200, Some(false)), "{x}");
    let (s, x) = explain(json!({"agent": "ghost-bot", "tool": "echo"})).await;
    assert_eq!((s, code(&x)), (404, "not_found"), "{x}");
    let (s, x) = explain(json!({"agent": "audit-bot", "tool": "echo", "colour": "red"})).await;
    assert_eq!(s, 400, "{x}");
    let (s, x) = explain(json!({"tool": "echo"})).await;
    assert_eq!((s, x["error"]["fields"][0]["field"].as_str()), (400, Some("agent")), "{x}");
    let r = e
        .http
        .post(format!("{}/api/v1/policy/explain", e.tg.base()))
        .bearer_auth(&e.viewer)
        .header("content-type", "application/json")
        .body("{\"agent\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Explaining changed nothing: no audit record of kind call was added.
    let before =
        e.tg.gw
            .store
            .audit_query(&warden_store::AuditFilter { kind: Some("call".into()), limit: 100, ..Default::default() })
            .await
            .unwrap()
            .len();
    assert_eq!(before, 5);

    // Usage: every day of the range; model usage from the store, MCP calls from the audit trail.
    let today = warden_audit::record::format_ms(warden_core::time::now_ms())[..10].to_string();
    let u = warden_store::usage::Usage {
        agent: "audit-bot".into(),
        model: "gpt-test".into(),
        day: today.clone(),
        requests: 2,
        input_tokens: 100,
        output_tokens: 40,
        cost_micros: 1500,
    };
    e.tg.gw.store.usage_add(&u).await.unwrap();
    let (s, v) = e.get(view, "/api/v1/usage?days=7").await;
    assert_eq!(s, 200, "{v}");
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6], today.as_str());
    assert!(days[0].as_str() < days[6].as_str());
    let series = &v["series"][0];
    assert_eq!((series["agent"].as_str(), series["model"].as_str()), (Some("audit-bot"), Some("gpt-test")));
    assert_eq!(series["points"].as_array().unwrap().len(), 7);
    assert_eq!(series["points"][6]["input_tokens"], 100);
    assert_eq!(series["points"][0]["requests"], 0);
    assert_eq!(v["totals_by_agent"][0]["cost_micros"], 1500);
    assert_eq!(v["totals_by_model"][0]["key"], "gpt-test");
    assert_eq!(v["calls"][0]["agent"], "audit-bot");
    assert_eq!(v["calls"][0]["calls"][6], 5, "{v}");
    let (_, v) = e.get(view, "/api/v1/usage?days=1&agent=other-bot").await;
    assert_eq!((v["days"].as_array().unwrap().len(), v["series"].as_array().unwrap().len()), (1, 0));
    for q in ["days=0", "days=91", "days=x", "by=model"] {
        assert_eq!(e.get(view, &format!("/api/v1/usage?{q}")).await.0, 400, "{q}");
    }

    // Health: the upstream, this replica, the store, the policy.
    eventually("this replica's heartbeat", Duration::from_secs(10), || async {
        let (_, h) = e.get(view, "/api/v1/health").await;
        h["replicas"].as_array().is_some_and(|r| r.iter().any(|x| x["this"] == true && x["alive"] == true))
    })
    .await;
    let (s, h) = e.get(view, "/api/v1/health").await;
    assert_eq!(s, 200, "{h}");
    let up = &h["upstreams"][0];
    assert_eq!(
        (up["name"].as_str(), up["connected"].as_bool(), up["status"].as_str()),
        (Some("demo"), Some(true), Some("healthy"))
    );
    assert!(up["tools"].as_u64().unwrap() >= 5 && up["collisions"].as_array().unwrap().is_empty(), "{h}");
    assert_eq!((h["store"]["backend"].as_str(), h["store"]["ok"].as_bool()), (Some("sqlite"), Some(true)));
    assert!(h["store"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!((h["policy_valid"].as_bool(), h["held_approvals"].as_u64()), (Some(true), Some(0)));

    // A policy file that stops parsing: the file says why, and the live policy stays but is marked invalid.
    std::fs::write(e.dir.join("extra-policy.yaml"), "rules: [oops").unwrap();
    eventually("the reload to fail", Duration::from_secs(10), || async {
        e.get(view, "/api/v1/policy").await.1["valid"] == false
    })
    .await;
    let (_, p) = e.get(view, "/api/v1/policy").await;
    assert_eq!((p["files"][0]["ok"].as_bool(), p["rules"].as_u64()), (Some(false), Some(2)), "{p}");
    assert!(p["files"][0]["error"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(p["failures"].as_u64().unwrap() >= 1);
    assert_eq!(e.get(view, "/api/v1/health").await.1["policy_valid"], false);
}
