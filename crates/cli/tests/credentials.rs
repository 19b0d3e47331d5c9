//! Credential custody (issue 5), end to end: Warden attaches each upstream's
//! credential at egress from secret references, the agent's own credentials
//! never reach an upstream, no upstream sees another's credential, a missing
//! secret fails the call instead of calling unauthenticated, values Warden holds
//! are redacted from results and audit records, and a wrong master key stops
//! startup without touching data.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use serde_json::json;
use warden_secrets::{Kek, SealedSecret};

const TOKEN: &str = "agent-token-credentials-0123456789";
const SECRET_A: &str = "upA-s3cr3t-value-9f8e7d6c5b4a";
const SECRET_B: &str = "upB-s3cr3t-value-0a1b2c3d4e5f";
const SECRET_B2: &str = "upB-rotated-value-77aa88bb99cc";

async fn recording_upstream() -> (SocketAddr, warden_demo::HeaderLog) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let log = warden_demo::HeaderLog::default();
    tokio::spawn(warden_demo::serve_http_recording(l, Some(log.clone())));
    (addr, log)
}

fn all_header_text(log: &warden_demo::HeaderLog) -> String {
    let log = log.lock().unwrap();
    log.iter()
        .flat_map(|h| h.iter().map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes()))))
        .collect()
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("warden-cred-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn credentials_are_injected_scoped_and_redacted() {
    let dir = temp_dir("inject");
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, Kek::generate_text()).unwrap();
    let kek = Kek::parse(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let b_file = dir.join("b.key");
    std::fs::write(&b_file, format!("{SECRET_B}\n")).unwrap();
    let c_file = dir.join("c.key");
    std::fs::write(&c_file, "upC-s3cr3t-value-c0ffee").unwrap();

    let store = sqlite_store().await;
    store.secret_put("up-a", &SealedSecret::seal(&kek, "up-a", SECRET_A), 1).await.unwrap();
    let (a_addr, a_log) = recording_upstream().await;
    let (b_addr, b_log) = recording_upstream().await;
    let (c_addr, c_log) = recording_upstream().await;
    let yaml = format!(
        "secrets:\n  master_key_file: {:?}\nupstreams:\n{}{}{}agents:\n{}",
        key_file.display().to_string(),
        http_upstream("a", a_addr, "    auth:\n      type: header\n      secret: store://up-a\n"),
        http_upstream(
            "b",
            b_addr,
            &format!(
                "    resources: {{ exclude: [\"*\"] }}\n    headers:\n      X-Api-Key: file://{}\n",
                b_file.display()
            )
        ),
        http_upstream(
            "c",
            c_addr,
            &format!(
                "    resources: {{ exclude: [\"*\"] }}\n    headers:\n      X-Api-Key: file://{}\n",
                c_file.display()
            )
        ),
        agent("cred-bot", TOKEN, "    allow_tools: [\"*\"]\n"),
    );
    let tg = TestGateway::start_with(&yaml, store.clone()).await;
    let mut c = tg.client(TOKEN);
    // The agent tries to pass its own credentials along: a cookie and an Mcp auth header.
    c.initialize().await;
    let rb = c
        .request()
        .header("cookie", "session=agent-cookie-value-123")
        .header("mcp-authorization", "agent-mcp-auth-456")
        .body(json!({"jsonrpc": "2.0", "id": 90, "method": "tools/call", "params": {"name": "a__echo", "arguments": {"text": "hi"}}}).to_string());
    assert_eq!(c.send_raw(rb).await.body["result"]["content"][0]["text"], "hi");
    assert_eq!(c.call("b__echo", json!({"text": "hello b"})).await.body["result"]["content"][0]["text"], "hello b");

    // Each upstream got its own credential on every request, and nothing else's.
    let (a_seen, b_seen) = (all_header_text(&a_log), all_header_text(&b_log));
    let a_requests = a_log.lock().unwrap().len();
    assert!(a_requests >= 2, "initialize and the call: {a_seen}");
    assert!(a_log.lock().unwrap().iter().all(|h| h["authorization"] == format!("Bearer {SECRET_A}")), "{a_seen}");
    assert!(b_log.lock().unwrap().iter().all(|h| h["x-api-key"] == SECRET_B), "{b_seen}");
    assert!(b_log.lock().unwrap().iter().all(|h| h.get("authorization").is_none()), "{b_seen}");
    for (seen, foreign) in [(&a_seen, SECRET_B), (&b_seen, SECRET_A)] {
        assert!(!seen.contains(foreign), "another upstream's credential leaked: {seen}");
    }
    for seen in [&a_seen, &b_seen, &all_header_text(&c_log)] {
        for agent_cred in [TOKEN, "agent-cookie-value-123", "agent-mcp-auth-456"] {
            assert!(!seen.contains(agent_cred), "the agent's credential {agent_cred} reached an upstream: {seen}");
        }
    }

    // A result carrying a secret Warden holds is redacted, in every encoding.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("token={SECRET_A}"));
    let leak = format!("raw {SECRET_A} b64 {b64} hex {}", hex::encode(SECRET_B));
    let r = c.call("a__echo", json!({"text": leak})).await;
    let text = r.body["result"]["content"][0]["text"].as_str().unwrap().to_string();
    assert!(text.contains("[REDACTED:up-a]") && text.contains("[REDACTED:"), "{text}");
    for v in [SECRET_A, SECRET_B, &b64, &hex::encode(SECRET_B)] {
        assert!(!r.body.to_string().contains(v), "{v} reached the agent: {}", r.body);
    }

    // Rotation of a file secret takes effect on the next call, without reconnecting.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&b_file, SECRET_B2).unwrap();
    let before = b_log.lock().unwrap().len();
    assert_eq!(c.call("b__echo", json!({"text": "again"})).await.body["result"]["content"][0]["text"], "again");
    assert_eq!(b_log.lock().unwrap()[before..].iter().map(|h| h["x-api-key"].clone()).collect::<Vec<_>>(), [SECRET_B2]);

    // A secret that disappears fails the call with a clear message; nothing is sent unauthenticated.
    std::fs::remove_file(&c_file).unwrap();
    let before = c_log.lock().unwrap().len();
    let r = c.call("c__echo", json!({"text": "x"})).await;
    let msg = r.body["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("credential") && msg.contains(&format!("file://{}", c_file.display())), "{:?}", r.body);
    assert_eq!(c_log.lock().unwrap().len(), before, "no request reached upstream c without its credential");
    let metrics = reqwest::get(format!("{}/metrics", tg.base())).await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("warden_secret_failures_total{reference=\"file://") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(metrics.lines().any(|l| l.starts_with("warden_secrets_redacted_total{where=\"result\"}")), "{metrics}");

    // The audit trail holds no secret either (the echoed argument is redacted in the record).
    let recs = store
        .audit_query(&warden_store::AuditFilter { agent: Some("cred-bot".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    let all = recs.iter().map(|r| r.body.to_string()).collect::<String>();
    assert!(all.contains("[REDACTED:up-a]"), "{all}");
    for v in [SECRET_A, SECRET_B, SECRET_B2] {
        assert!(!all.contains(v), "{v} is in the audit trail");
    }
    drop(tg);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_wrong_master_key_stops_startup_and_touches_nothing() {
    let dir = temp_dir("wrongkey");
    let (good, bad) = (dir.join("good.key"), dir.join("bad.key"));
    std::fs::write(&good, Kek::generate_text()).unwrap();
    std::fs::write(&bad, Kek::generate_text()).unwrap();
    let store = sqlite_store().await;
    let yaml = |k: &std::path::Path| format!("secrets:\n  master_key_file: {:?}\n", k.display().to_string());
    // First start seals the store's check value under the good key.
    let (gw, _l) = build(&yaml(&good), store.clone()).await;
    gw.start().await.expect("first start");
    let kek = Kek::parse(&std::fs::read_to_string(&good).unwrap()).unwrap();
    store.secret_put("db", &SealedSecret::seal(&kek, "db", "postgres-password-1234"), 1).await.unwrap();
    let snapshot = |s: Arc<warden_store::Store>| async move { s.secret_list().await.unwrap() };
    let before = snapshot(store.clone()).await;
    let sealed_before = store.secret_sealed("db").await.unwrap();

    let (gw, _l) = build(&yaml(&bad), store.clone()).await;
    let err = gw.start().await.expect_err("a wrong master key must stop startup").to_string();
    assert!(
        err.contains("master key does not open this secret store") && err.contains("Nothing was read or changed"),
        "{err}"
    );
    assert_eq!(snapshot(store.clone()).await, before);
    assert_eq!(store.secret_sealed("db").await.unwrap(), sealed_before);
    // No key at all, for a store that has encrypted secrets: also refused.
    let (gw, _l) = build("", store.clone()).await;
    assert!(gw.start().await.unwrap_err().to_string().contains("no master key was given"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs the CLI with `stdin`; returns (exit code, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(warden_bin());
    cmd.args(args).env_remove("WARDEN_MASTER_KEY").env_remove("WARDEN_NEW_MASTER_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_secret_cli_never_shows_values_and_rekeys_atomically() {
    let dir = temp_dir("cli");
    let data = dir.display().to_string();
    let (code, key, _) = cli(&["secret", "generate-key"], &[], "");
    assert_eq!(code, 0);
    let key = key.trim().to_string();
    let env = [("WARDEN_MASTER_KEY", key.as_str())];
    let run = |args: &[&str], env: &[(&str, &str)], stdin: &str| {
        let mut a = args.to_vec();
        a.extend(["--data-dir", &data]);
        cli(&a, env, stdin)
    };
    let value = "gh-token-value-abcdef123456";
    let (code, out, err) = run(&["secret", "set", "gh-triage"], &env, &format!("{value}\n"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("store://gh-triage") && !out.contains(value), "{out}");
    // Setting an existing name is refused (rotate is the verb for that); empty stdin is refused.
    assert_ne!(run(&["secret", "set", "gh-triage"], &env, "other").0, 0);
    assert!(run(&["secret", "set", "empty"], &env, "").2.contains("no value on stdin"));
    assert!(run(&["secret", "set", "bad/name"], &env, "x").2.contains("secret names"));
    let (code, out, _) = run(&["secret", "rotate", "gh-triage"], &env, "gh-token-rotated-999999");
    assert_eq!(code, 0);
    assert!(out.contains("version 2"), "{out}");
    let (code, list, _) = run(&["secret", "list", "--json"], &env, "");
    assert_eq!(code, 0);
    assert!(!list.contains(value) && !list.contains("rotated-999999") && !list.contains("ciphertext"), "{list}");
    let parsed: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!((parsed[0]["name"].as_str(), parsed[0]["version"].as_i64()), (Some("gh-triage"), Some(2)));
    let old_kek = parsed[0]["kek_id"].as_str().unwrap().to_string();

    // A wrong master key is refused before anything is read or changed.
    let wrong = Kek::generate_text();
    let (code, _, err) = run(&["secret", "list"], &[("WARDEN_MASTER_KEY", &wrong)], "");
    assert_ne!(code, 0);
    assert!(err.contains("does not open this secret store"), "{err}");
    assert!(run(&["secret", "list"], &[], "").2.contains("no master key was given"));

    // Rekey: every data key moves to the new master key; the old key stops working.
    let new_key = Kek::generate_text();
    let (code, out, err) = run(&["secret", "rekey"], &[env[0], ("WARDEN_NEW_MASTER_KEY", &new_key)], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rewrapped 2 data keys"), "the secret and the check value: {out}");
    let (code, list, err) = run(&["secret", "list", "--json"], &[("WARDEN_MASTER_KEY", &new_key)], "");
    assert_eq!(code, 0, "{err}");
    assert!(!list.contains(&old_kek), "{list}");
    assert_ne!(run(&["secret", "list"], &env, "").0, 0, "the old master key no longer opens the store");
    let (code, _, _) = run(&["secret", "delete", "gh-triage"], &[("WARDEN_MASTER_KEY", &new_key)], "");
    assert_eq!(code, 0);
    assert_eq!(run(&["secret", "list", "--json"], &[("WARDEN_MASTER_KEY", &new_key)], "").1.trim(), "[]");
    std::fs::remove_dir_all(&dir).ok();
}
