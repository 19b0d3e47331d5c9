//! The audit trail end to end: every decision is recorded before the agent
//! hears it, the chain verifies, each kind of tampering is named by
//! `warden audit verify` (which exits non-zero), an export verifies offline
//! with only the public key, a gateway killed with SIGKILL under load loses no
//! acknowledged call, and an audit that cannot commit refuses calls.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("warden-audit-{tag}-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn config(dir: &Path, extra: &str) -> String {
    format!(
        "upstreams:\n{}agents:\n{}{}audit:\n  signing_key_file: {}\n  checkpoint_every_records: 5\n{extra}\
         policy:\n  rules:\n    - name: no-deletes\n      match: {{tools: [delete_file]}}\n      tier: high\n      action: deny\n      reason: deleting is not for bots\n",
        stdio_upstream("demo", ""),
        agent("audit-bot", TOKEN_A, "    allow_tools: [\"*\"]\n"),
        agent("other-bot", TOKEN_B, "    allow_tools: [\"add\"]\n"),
        dir.join("audit-signing.key").display()
    )
}

/// Runs the CLI; returns (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(warden_bin()).args(args).output().expect("run warden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn store_args(dir: &Path, db: &Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.display().to_string(), "--store-url".into(), format!("sqlite://{}", db.display())]
}

fn verify(dir: &Path, db: &Path) -> (i32, String, String) {
    let mut args = vec!["audit".to_string(), "verify".into()];
    args.extend(store_args(dir, db));
    cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn query(dir: &Path, db: &Path, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit".to_string(), "query".into(), "--json".into(), "--limit".into(), "100000".into()];
    args.extend(store_args(dir, db));
    args.extend(filters.iter().map(|s| s.to_string()));
    let (code, out, err) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
}

async fn sql(db: &Path, stmts: &[&str]) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    for s in stmts {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(&mut c).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.close().await.unwrap();
}

/// A consistent copy of the database (for tampering with one copy per case).
async fn copy_db(db: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    sql(db, &[&format!("VACUUM INTO '{}'", to.display())]).await;
}

async fn open_gateway(dir: &Path, extra: &str) -> (TestGateway, PathBuf) {
    let db = dir.join("warden.db");
    let store = std::sync::Arc::new(warden_store::Store::open(&format!("sqlite://{}", db.display())).await.unwrap());
    (TestGateway::start_with(&config(dir, extra), store).await, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_decision_is_recorded_and_tampering_is_named() {
    let dir = temp_dir("chain");
    let (mut tg, db) = open_gateway(&dir, "").await;
    let mut c = tg.client(TOKEN_A);
    c.initialize().await;
    let names = c.tool_names().await;
    assert!(names.contains(&"echo".to_string()), "{names:?}");
    let r = c.call("echo", json!({"text": "hello", "api_key": "sk-live-abcdefghijklmnop1234"})).await;
    assert_eq!(r.body["result"]["content"][0]["text"], "hello");
    let r = c.call("delete_file", json!({"path": "/etc/passwd"})).await;
    assert_eq!(r.body["error"]["code"], -32010, "{:?}", r.body);
    let r = c.call("no_such_tool", json!({})).await;
    assert_eq!(r.body["error"]["code"], -32602);
    let r = c.call("fail", json!({})).await;
    assert!(r.body["result"]["isError"] == json!(true) || r.body.get("error").is_some(), "{:?}", r.body);
    let mut o = tg.client(TOKEN_B);
    o.initialize().await;
    assert_eq!(o.call("echo", json!({"text": "hidden"})).await.body["error"]["code"], -32602);
    assert_eq!(o.call("add", json!({"a": 2, "b": 3})).await.body["result"]["content"][0]["text"], "5");
    // Stopping signs a final checkpoint.
    tg.stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), &mut tg.handle).await;
    tg.gw.store.close().await;

    let all = query(&dir, &db, &["--agent", "audit-bot"]);
    let find = |method: &str, tool: &str| {
        all.iter()
            .find(|r| r["method"] == method && r["tool"] == tool)
            .unwrap_or_else(|| panic!("{method} {tool}: {all:#?}"))
            .clone()
    };
    let init = find("initialize", "");
    assert_eq!((init["kind"].as_str(), init["verdict"].as_str()), (Some("session"), Some("allow")));
    assert_eq!(find("tools/list", "")["kind"], "list");
    let echo = find("tools/call", "echo");
    assert_eq!(echo["verdict"], "allow");
    assert_eq!(echo["upstream"], "demo");
    assert_eq!(echo["upstream_status"], "ok");
    assert_eq!(echo["args"]["text"], "hello");
    assert!(!echo.to_string().contains("sk-live-abcdefghijklmnop1234"), "the secret argument is redacted: {echo}");
    assert_eq!(echo["args_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(echo["trace_id"].as_str().unwrap().len(), 32);
    assert!(echo["latency_us"].as_u64().unwrap() >= echo["upstream_us"].as_u64().unwrap());
    assert!(echo["session"].as_str().unwrap().len() >= 16);
    let deny = find("tools/call", "delete_file");
    assert_eq!(
        (deny["verdict"].as_str(), deny["rule"].as_str(), deny["tier"].as_str()),
        (Some("deny"), Some("no-deletes"), Some("high"))
    );
    assert_eq!(deny["upstream"], "", "a denied call never reaches the upstream");
    let hidden = find("tools/call", "no_such_tool");
    assert_eq!((hidden["verdict"].as_str(), hidden["rule"].as_str()), (Some("deny"), Some("access")));
    assert!(find("tools/call", "fail")["upstream_status"].as_str().unwrap() != "ok");
    let other = query(&dir, &db, &["--agent", "other-bot", "--tool", "echo"]);
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["verdict"], "deny");
    assert_eq!(query(&dir, &db, &["--verdict", "deny", "--since", "1h"]).len(), 3);
    assert!(query(&dir, &db, &["--agent", "audit-bot", "--until", "2020-01-01"]).is_empty());

    let (code, out, err) = verify(&dir, &db);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit chain OK") && !out.contains("not yet covered"), "{out}");

    // Usage comes from the audit store.
    let mut args =
        vec!["usage".to_string(), "--by".into(), "agent".into(), "--since".into(), "7d".into(), "--json".into()];
    args.extend(store_args(&dir, &db));
    let (code, out, err) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    let usage: Vec<Value> = serde_json::from_str(&out).unwrap();
    let bot = usage.iter().find(|u| u["key"] == "other-bot").unwrap();
    assert_eq!((bot["tool_calls"].as_i64(), bot["denials"].as_i64()), (Some(2), Some(1)), "{bot}");
    assert_eq!(bot["requests"], 3, "initialize + two calls: {bot}");

    // Each kind of tampering, on its own copy; `verify` exits 1 naming the first bad record.
    let target = echo["seq"].as_u64().unwrap();
    let last = all.last().unwrap()["seq"].as_u64().unwrap();
    let cases: Vec<(&str, Vec<String>, String)> = vec![
        (
            "edit",
            vec![format!(
                "UPDATE audit_records SET body = REPLACE(body, '\"hello\"', '\"HELLO\"') WHERE seq = {target}"
            )],
            format!("record {target} was edited"),
        ),
        (
            "edit an indexed column",
            vec![format!("UPDATE audit_records SET verdict = 'deny' WHERE seq = {target}")],
            format!("record {target} was edited"),
        ),
        (
            "delete",
            vec![format!("DELETE FROM audit_records WHERE seq = {target}")],
            format!("record {target} is missing"),
        ),
        (
            "insert",
            vec![
                format!("UPDATE audit_records SET seq = seq + 1000000 WHERE seq >= {target}"),
                format!("UPDATE audit_records SET seq = seq - 999999 WHERE seq >= 1000000"),
                format!(
                    "INSERT INTO audit_records SELECT {target}, at, kind, entry, agent, tool, method, verdict, model, input_tokens, output_tokens, cost_micros, body, hash FROM audit_records WHERE seq = {}",
                    target + 1
                ),
            ],
            format!("FAILED at record {target}"),
        ),
        (
            "reorder",
            vec![
                format!("UPDATE audit_records SET seq = -1 WHERE seq = {target}"),
                format!("UPDATE audit_records SET seq = {target} WHERE seq = {}", target + 1),
                format!("UPDATE audit_records SET seq = {} WHERE seq = -1", target + 1),
            ],
            "moved or reordered".into(),
        ),
        (
            "truncate",
            vec![format!("DELETE FROM audit_records WHERE seq >= {}", last - 1)],
            "deleted from the end".into(),
        ),
        (
            "forge checkpoint",
            vec!["UPDATE audit_checkpoints SET signature = 'AAAA' || substr(signature, 5)".into()],
            "bad signature".into(),
        ),
    ];
    for (name, stmts, expect) in cases {
        let copy = dir.join(format!("tampered-{}.db", name.replace(' ', "-")));
        copy_db(&db, &copy).await;
        sql(&copy, &stmts.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let (code, out, err) = verify(&dir, &copy);
        assert_eq!(code, 1, "{name}: verify must fail\n{out}{err}");
        assert!(err.contains(&expect), "{name}: expected {expect:?} in\n{err}");
    }
    // The untouched original still verifies.
    assert_eq!(verify(&dir, &db).0, 0);

    // Export, then verify offline with only the public key.
    let export = dir.join("segment.jsonl");
    let mut args = vec![
        "audit".to_string(),
        "export".into(),
        "--since".into(),
        "1h".into(),
        "--format".into(),
        "jsonl".into(),
        "--out".into(),
        export.display().to_string(),
    ];
    args.extend(store_args(&dir, &db));
    let (code, _, err) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    let mut args = vec!["audit".to_string(), "public-key".into()];
    args.extend(store_args(&dir, &db));
    let (code, key, _) = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0);
    let key_file = dir.join("audit.pub");
    std::fs::write(&key_file, &key).unwrap();
    let offline = |file: &Path, key: &Path| {
        cli(&["audit", "verify", "--file", &file.display().to_string(), "--public-key", &key.display().to_string()])
    };
    let (code, out, err) = offline(&export, &key_file);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.lines().next().unwrap().contains("warden-audit-export/1"));
    assert!(text.lines().last().unwrap().contains("\"type\":\"checkpoint\""), "a segment ends with its checkpoint");
    let bad = dir.join("segment-edited.jsonl");
    std::fs::write(&bad, text.replacen("\"hello\"", "\"HELLO\"", 1)).unwrap();
    let (code, _, err) = offline(&bad, &key_file);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("record {target} was edited")), "{err}");
    let other_key = dir.join("other.pub");
    let signer = warden_audit::Signer::from_pkcs8(&warden_audit::Signer::generate_pkcs8()).unwrap();
    std::fs::write(&other_key, signer.public_key_line()).unwrap();
    let (code, _, err) = offline(&export, &other_key);
    assert_eq!(code, 1);
    assert!(err.contains("unknown key"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_audit_that_cannot_commit_refuses_calls_and_recovers() {
    let dir = temp_dir("failclosed");
    let (tg, db) = open_gateway(&dir, "").await;
    let mut c = tg.client(TOKEN_A);
    c.initialize().await;
    assert_eq!(c.call("echo", json!({"text": "before"})).await.body["result"]["content"][0]["text"], "before");
    // The audit table goes away: the call's result is withheld, and later calls are refused up front.
    sql(&db, &["ALTER TABLE audit_records RENAME TO audit_records_away"]).await;
    let r = c.call("echo", json!({"text": "during"})).await;
    assert_eq!(r.body["error"]["code"], -32014, "{:?}", r.body);
    assert!(r.body.get("result").is_none(), "the result is withheld: {:?}", r.body);
    let r = c.call("echo", json!({"text": "again"})).await;
    assert_eq!(r.body["error"]["code"], -32014);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("audit"), "{:?}", r.body);
    let r = c.rpc("tools/list", json!({})).await;
    assert_eq!(r.body["error"]["code"], -32014, "lists are refused too");
    let metrics = reqwest::get(format!("{}/metrics", tg.base())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("warden_audit_healthy 0"), "{metrics}");
    assert!(metrics.contains("warden_audit_write_failures_total 1"), "{metrics}");
    // Back: the writer's probe notices and calls flow again.
    sql(&db, &["ALTER TABLE audit_records_away RENAME TO audit_records"]).await;
    eventually("audit recovers", Duration::from_secs(10), || {
        let mut c2 = Client::new(tg.url(), Some(TOKEN_A));
        c2.session = c.session.clone();
        async move { c2.call("echo", json!({"text": "after"})).await.body["result"]["content"][0]["text"] == "after" }
    })
    .await;
    // The chain is intact: the failed batch was rolled back whole.
    let (code, out, err) = verify(&dir, &db);
    assert_eq!(code, 0, "{out}{err}");
    let recovered = query(&dir, &db, &["--kind", "system"]);
    assert!(recovered.iter().any(|r| r["verdict"] == "recovered"), "{recovered:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGKILL under load: every call a client saw answered has its record, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_call() {
    let dir = temp_dir("kill9");
    let cfg = dir.join("warden.yaml");
    std::fs::write(&cfg, config(&dir, "")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spawn = || {
        Command::new(warden_bin())
            .args(["serve", "--config", &cfg.display().to_string(), "--listen", &format!("127.0.0.1:{port}")])
            .env("WARDEN_DATA_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn();
    let url = format!("http://127.0.0.1:{port}/mcp");
    eventually("gateway up", Duration::from_secs(20), || {
        let url = url.clone();
        async move { reqwest::get(url.replace("/mcp", "/readyz")).await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (url, acked) = (url.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            let mut c = Client::new(url, Some(TOKEN_A));
            c.initialize().await;
            for i in 0.. {
                let text = format!("w{w}-{i}");
                let msg = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": text}}});
                let Ok(resp) = c.request().body(msg.to_string()).send().await else { break };
                let Ok(body) = resp.text().await else { break };
                if body.contains(&format!("\"text\":\"{text}\"")) {
                    acked.lock().unwrap().push(text);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id();
    let killed = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let _ = child.wait();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the load produced calls: {}", acked.len());
    // Restart on the same data: the gateway comes back and appends to the same chain.
    let mut child = spawn();
    eventually("gateway back", Duration::from_secs(20), || {
        let url = url.clone();
        async move { reqwest::get(url.replace("/mcp", "/readyz")).await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let mut c = Client::new(url.clone(), Some(TOKEN_A));
    c.initialize().await;
    assert_eq!(
        c.call("echo", json!({"text": "after restart"})).await.body["result"]["content"][0]["text"],
        "after restart"
    );
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let _ = child.wait();
    let db = dir.join("warden.db");
    let (code, out, err) = verify(&dir, &db);
    assert_eq!(code, 0, "{out}{err}");
    let records = query(&dir, &db, &["--tool", "echo"]);
    let recorded: std::collections::HashSet<String> =
        records.iter().filter_map(|r| r["args"]["text"].as_str().map(str::to_owned)).collect();
    let missing: Vec<&String> = acked.iter().filter(|t| !recorded.contains(*t)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged calls have no record: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!("kill -9: {} acknowledged calls, {} echo records, chain verified", acked.len(), recorded.len());
    std::fs::remove_dir_all(&dir).ok();
}

/// `/metrics` and docs/METRICS.md name exactly the same families, with the same types.
#[tokio::test]
async fn metric_names_match_the_documented_list() {
    let dir = temp_dir("metrics");
    let (tg, _) = open_gateway(&dir, "").await;
    let mut c = tg.client(TOKEN_A);
    c.initialize().await;
    c.call("echo", json!({"text": "x"})).await;
    let text = reqwest::get(format!("{}/metrics", tg.base())).await.unwrap().text().await.unwrap();
    let mut served: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let mut p = l.split_whitespace();
            (p.next().unwrap().to_string(), p.next().unwrap().to_string())
        })
        .collect();
    served.sort();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/METRICS.md")).unwrap();
    let mut documented: Vec<(String, String)> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            let (name, rest) = l.split_once('`').unwrap();
            let kind = rest.trim_start_matches(" |").split('|').next().unwrap().trim();
            (name.to_string(), kind.to_string())
        })
        .collect();
    documented.sort();
    assert_eq!(served, documented, "/metrics vs docs/METRICS.md");
    // Samples carry the labels the table promises.
    assert!(
        text.contains("warden_requests_total{entry=\"mcp\",agent=\"audit-bot\",verdict=\"allow\",tier=\"low\"} 1"),
        "{text}"
    );
    assert!(text.contains("warden_upstream_up{upstream=\"demo\"} 1"));
    assert!(text.contains("warden_upstream_seconds_count{upstream=\"demo\"} 1"));
    assert!(text.contains("warden_audit_healthy 1"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The shipped Grafana dashboard queries only documented metric families.
#[test]
fn the_dashboard_uses_only_documented_metrics() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let doc = std::fs::read_to_string(format!("{root}docs/METRICS.md")).unwrap();
    let dash: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}deploy/grafana/warden-dashboard.json")).unwrap())
            .unwrap();
    let mut used = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("warden_"))
            {
                let family = ["_bucket", "_sum", "_count"].iter().fold(word, |w, s| w.strip_suffix(s).unwrap_or(w));
                assert!(doc.contains(&format!("| `{family}` |")), "dashboard uses undocumented {word}");
                used += 1;
            }
        }
    }
    assert!(used >= 20, "{used}");
}
