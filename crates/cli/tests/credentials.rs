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

/// What a bearer-checking upstream decided for each request: the principal, or why it refused.
type Decisions = Arc<std::sync::Mutex<Vec<Result<String, String>>>>;

/// A demo MCP upstream that accepts only tokens `idp` issued and still honours,
/// binds each session to its principal, and records every decision and token.
async fn guarded_upstream(idp: &warden_demo::idp::Idp) -> (SocketAddr, Decisions, warden_demo::HeaderLog) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (decisions, log) = guarded_upstream_on(l, idp);
    (addr, decisions, log)
}

fn guarded_upstream_on(l: tokio::net::TcpListener, idp: &warden_demo::idp::Idp) -> (Decisions, warden_demo::HeaderLog) {
    let decisions = Decisions::default();
    let log = warden_demo::HeaderLog::default();
    let (idp, d) = (idp.clone(), decisions.clone());
    let authorize: warden_demo::Authorize = Arc::new(move |h: &http::HeaderMap| {
        let got = match h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
            None => Err("missing".to_string()),
            Some(t) => idp.check(t).map(|i| i.subject).map_err(str::to_string),
        };
        d.lock().unwrap().push(got.clone());
        got
    });
    let options = warden_demo::HttpOptions { seen: Some(log.clone()), authorize: Some(authorize) };
    tokio::spawn(warden_demo::serve_http_with(l, options));
    (decisions, log)
}

async fn idp_server(idp: &warden_demo::idp::Idp) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(idp.clone().serve(l));
    addr
}

fn text_of(r: &Reply) -> String {
    r.body["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string()
}

fn refusals(d: &Decisions) -> Vec<String> {
    d.lock().unwrap().iter().filter_map(|x| x.clone().err()).collect()
}

const CLIENT_SECRET: &str = "warden-client-secret-7f3a9c2e1b";

#[tokio::test]
async fn oauth_client_credentials_are_cached_refreshed_and_fetched_again_once_on_401() {
    let dir = temp_dir("oauth");
    let secret_file = dir.join("client.secret");
    std::fs::write(&secret_file, CLIENT_SECRET).unwrap();
    let idp = warden_demo::idp::Idp::new(&[("warden-gw", CLIENT_SECRET)], std::time::Duration::from_secs(2), None);
    let idp_addr = idp_server(&idp).await;
    let (up, decisions, log) = guarded_upstream(&idp).await;
    let yaml = format!(
        "upstreams:\n{}agents:\n{}",
        http_upstream(
            "api",
            up,
            &format!(
                "    auth:\n      type: oauth_client_credentials\n      token_url: http://{idp_addr}/token\n      client_id: warden-gw\n      client_secret: file://{}\n      scopes: [mcp.read, mcp.write]\n      audience: api\n",
                secret_file.display()
            )
        ),
        agent("oauth-bot", TOKEN, "    allow_tools: [\"*\"]\n"),
    );
    let store = sqlite_store().await;
    let tg = TestGateway::start_with(&yaml, store.clone()).await;
    let mut c = tg.client(TOKEN);
    c.initialize().await;
    assert_eq!(text_of(&c.call("whoami", json!({})).await), "warden-gw");
    for _ in 0..5 {
        assert_eq!(text_of(&c.call("whoami", json!({})).await), "warden-gw");
    }
    // One token served discovery and six calls. The request is RFC 6749 section 4.4.
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["grant_type"], "client_credentials");
    assert_eq!(reqs[0]["scope"], "mcp.read mcp.write");
    assert_eq!(reqs[0]["audience"], "api");
    assert!(!reqs[0].contains_key("client_secret"), "client_secret_basic keeps the secret out of the body");

    // The token expires after 2 s: Warden fetches a new one before it does, so
    // the upstream never sees an expired token.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(text_of(&c.call("whoami", json!({})).await), "warden-gw");
    assert_eq!(idp.requests().len(), 2);
    assert_eq!(refusals(&decisions), Vec::<String>::new());

    // The provider considers the token expired before `expires_in` said: one 401,
    // one new token, the call goes through.
    idp.expire_all();
    assert_eq!(text_of(&c.call("whoami", json!({})).await), "warden-gw");
    assert_eq!(refusals(&decisions), ["expired"]);
    assert_eq!(idp.requests().len(), 3);
    // The same for a revoked token.
    idp.revoke_all();
    assert_eq!(text_of(&c.call("whoami", json!({})).await), "warden-gw");
    assert_eq!(refusals(&decisions), ["expired", "revoked"]);
    assert_eq!(idp.requests().len(), 4);

    // The token Warden holds is a secret like any other: an echo of it comes back redacted.
    let token = log.lock().unwrap().last().unwrap()["authorization"].to_str().unwrap()[7..].to_string();
    let r = c.call("echo", json!({"text": format!("token is {token}")})).await;
    assert_eq!(text_of(&r), "token is [REDACTED:oauth-token:api]");

    // The token endpoint refuses Warden's client (a wrong secret): the call fails
    // clearly, and nothing reaches the upstream without a valid token.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&secret_file, "not-the-client-secret").unwrap();
    idp.revoke_all();
    let r = c.call("whoami", json!({})).await;
    let msg = r.body["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("invalid_client") && msg.contains("oauth-token:api"), "{}", r.body);
    assert!(!msg.contains("not-the-client-secret") && !msg.contains(CLIENT_SECRET), "{msg}");
    assert_eq!(
        refusals(&decisions),
        ["expired", "revoked", "revoked"],
        "one try with the revoked token, none without a token"
    );
    let metrics = reqwest::get(format!("{}/metrics", tg.base())).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("warden_secret_failures_total{reference=\"oauth-token:api\"}")),
        "{metrics}"
    );
    drop(tg);
    std::fs::remove_dir_all(&dir).ok();
}

/// An STS that accepts only subject tokens Warden signed for it (audience: the STS URL).
fn sts_accepting_warden_tokens(
    keys: Vec<warden_store::SigningKey>,
    issuer: String,
    sts_url: String,
) -> warden_demo::idp::SubjectCheck {
    let settings = warden_auth::keys::TokenSettings { issuer, audience: sts_url, ttl_secs: 3600, leeway_secs: 0 };
    let ring = warden_auth::keys::Keyring::new(&keys, settings).unwrap();
    Arc::new(move |t: &str| ring.verify(t).map(|c| c.agent).map_err(|e| e.to_string()))
}

#[tokio::test]
async fn token_exchange_gives_each_agent_its_own_upstream_identity_and_session() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sts_addr = l.local_addr().unwrap();
    let sts_url = format!("http://{sts_addr}/token");
    // The gateway is built first, so the STS can trust its signing keys.
    let (up_l, up) = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    };
    drop(up_l);
    let yaml = format!(
        "upstreams:\n{}agents:\n{}{}",
        http_upstream(
            "repo",
            up,
            &format!(
                "    auth:\n      type: token_exchange\n      sts_url: {sts_url}\n      audience: repo-api\n      scopes: [repo]\n"
            )
        ),
        agent("bot-a", TOKEN_A, "    allow_tools: [\"*\"]\n"),
        agent("bot-b", TOKEN_B, "    allow_tools: [\"*\"]\n"),
    );
    let store = sqlite_store().await;
    let (gw, listener) = build(&yaml, store.clone()).await;
    // Signing keys exist once the inventory is loaded; the STS trusts exactly those.
    warden_gateway::admin::inventory::publish(&gw).await.unwrap();
    let issuer = gw.directory.settings().issuer.clone();
    let check = sts_accepting_warden_tokens(store.signing_keys().await.unwrap(), issuer, sts_url.clone());
    let idp = warden_demo::idp::Idp::new(&[], std::time::Duration::from_secs(300), Some(check));
    tokio::spawn(idp.clone().serve(l));
    let (decisions, log) = guarded_upstream_on(tokio::net::TcpListener::bind(up).await.unwrap(), &idp);
    gw.start().await.unwrap();
    let tg = TestGateway::serve(gw.clone(), listener).await;
    let (mut a, mut b) = (tg.client(TOKEN_A), tg.client(TOKEN_B));
    a.initialize().await;
    b.initialize().await;
    // Each agent acts under its own identity at the upstream; discovery ran as Warden.
    assert_eq!(text_of(&a.call("whoami", json!({})).await), "bot-a");
    assert_eq!(text_of(&b.call("whoami", json!({})).await), "bot-b");
    assert_eq!(text_of(&a.call("whoami", json!({})).await), "bot-a");
    let mut upstream_sessions: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|h| h.get("mcp-session-id").map(|v| v.to_str().unwrap().to_string()))
        .collect();
    upstream_sessions.sort();
    upstream_sessions.dedup();
    assert_eq!(upstream_sessions.len(), 3, "Warden's discovery session and one per agent");
    assert_eq!(gw.upstreams[0].agent_connections(), ["bot-a", "bot-b"]);
    let reqs = idp.requests();
    assert_eq!(reqs.len(), 3, "warden, bot-a, bot-b: one exchange each: {reqs:?}");
    for r in &reqs {
        assert_eq!(r["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
        assert_eq!(r["subject_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        assert_eq!(r["requested_token_type"], "urn:ietf:params:oauth:token-type:access_token");
        assert_eq!((r["audience"].as_str(), r["scope"].as_str()), ("repo-api", "repo"));
        // The subject token is Warden-signed for the STS: never the agent's own bearer token.
        assert!(r["subject_token"] != TOKEN_A && r["subject_token"] != TOKEN_B);
    }
    let seen = all_header_text(&log);
    assert!(!seen.contains(TOKEN_A) && !seen.contains(TOKEN_B), "an agent's token reached the upstream");
    assert_eq!(refusals(&decisions), Vec::<String>::new());

    // The STS refuses bot-b from now on; its token is revoked at the provider.
    idp.refuse_subject("bot-b");
    idp.revoke_all();
    let r = b.call("whoami", json!({})).await;
    let msg = r.body["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("invalid_grant") && msg.contains("sts-token:repo/bot-b"), "{}", r.body);
    // bot-a is unaffected: a fresh exchange, and on.
    assert_eq!(text_of(&a.call("whoami", json!({})).await), "bot-a");
    assert!(!refusals(&decisions).iter().any(|r| r == "missing"), "nothing was sent without a token");

    // Suspending bot-a closes its own upstream session and drops its token.
    gw.close_agent_sessions("bot-a").await;
    assert_eq!(gw.upstreams[0].agent_connections(), ["bot-b"]);
    drop(tg);
}

#[tokio::test]
async fn per_agent_credentials_are_used_tracked_audited_and_offboarded() {
    let dir = temp_dir("peragent");
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, Kek::generate_text()).unwrap();
    let kek = Kek::parse(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let db = format!("sqlite://{}", dir.join("warden.db").display());
    let store = Arc::new(warden_store::Store::open(&db).await.unwrap());
    for (name, value) in [
        ("shared", "shared-cred-0a1b2c3d4e5f6a7b"),
        ("own-a", "own-cred-a-9f8e7d6c5b4a3f2e"),
        ("own-c", "own-cred-c-1234abcd5678ef90"),
    ] {
        store.secret_put(name, &SealedSecret::seal(&kek, name, value), 1).await.unwrap();
    }
    let (up1, log1) = recording_upstream().await;
    let (up2, log2) = recording_upstream().await;
    let yaml = format!(
        "secrets:\n  master_key_file: {:?}\n  on_offboard: delete\nupstreams:\n{}{}agents:\n{}{}{}",
        key_file.display().to_string(),
        http_upstream(
            "one",
            up1,
            "    auth: {type: header, header: X-Api-Key, prefix: \"\", secret: store://shared}\n    credentials:\n      a-bot: store://own-a\n"
        ),
        http_upstream(
            "two",
            up2,
            "    resources: { exclude: [\"*\"] }\n    credentials:\n      c-bot: store://own-c\n"
        ),
        agent("a-bot", TOKEN_A, "    allow_tools: [\"*\"]\n"),
        agent("b-bot", TOKEN_B, "    allow_tools: [\"*\"]\n"),
        agent("c-bot", "token-c-0123456789", "    allow_tools: [\"*\"]\n"),
    );
    let tg = TestGateway::start_with(&yaml, store.clone()).await;
    let (mut a, mut b, mut cc) = (tg.client(TOKEN_A), tg.client(TOKEN_B), tg.client("token-c-0123456789"));
    for c in [&mut a, &mut b, &mut cc] {
        c.initialize().await;
    }
    let keys_for = |log: &warden_demo::HeaderLog, from: usize| -> Vec<String> {
        log.lock().unwrap()[from..].iter().map(|h| h["x-api-key"].to_str().unwrap_or("").to_string()).collect()
    };
    let bearer_for = |log: &warden_demo::HeaderLog, from: usize| -> Vec<String> {
        log.lock().unwrap()[from..]
            .iter()
            .map(|h| h.get("authorization").map_or("", |v| v.to_str().unwrap()).to_string())
            .collect()
    };
    // a-bot carries its own credential (on a session of its own); b-bot the shared one.
    let n = log1.lock().unwrap().len();
    assert_eq!(text_of(&a.call("one__echo", json!({"text": "a"})).await), "a");
    let own_a = keys_for(&log1, n);
    assert!(own_a.iter().all(|k| k == "own-cred-a-9f8e7d6c5b4a3f2e") && !own_a.is_empty(), "{own_a:?}");
    let n = log1.lock().unwrap().len();
    assert_eq!(text_of(&b.call("one__echo", json!({"text": "b"})).await), "b");
    assert_eq!(keys_for(&log1, n), ["shared-cred-0a1b2c3d4e5f6a7b"]);
    // Upstream two has no `auth`: only c-bot, which has a credential, may call it.
    let n = log2.lock().unwrap().len();
    assert_eq!(text_of(&cc.call("two__echo", json!({"text": "c"})).await), "c");
    assert!(bearer_for(&log2, n).iter().all(|v| v == "Bearer own-cred-c-1234abcd5678ef90"));
    let n = log2.lock().unwrap().len();
    let r = b.call("two__echo", json!({"text": "b"})).await;
    let msg = r.body["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("\"b-bot\" has no credential for upstream \"two\""), "{}", r.body);
    assert_eq!(log2.lock().unwrap().len(), n, "nothing was sent for b-bot");

    // Usage is recorded per credential and agent.
    tg.gw.custody.flush_usage().await;
    let usage = store.credential_usage().await.unwrap();
    let who: Vec<(String, String)> = usage.iter().map(|u| (u.reference.clone(), u.agent.clone())).collect();
    assert_eq!(
        who,
        [
            ("store://own-a".into(), "a-bot".into()),
            ("store://own-c".into(), "c-bot".into()),
            ("store://shared".into(), "b-bot".into())
        ]
    );
    assert!(usage.iter().all(|u| u.uses == 1 && u.last_used_at_ms > 0));

    // `warden secret audit` reports it all; a shared credential and a stale one are flagged.
    let cfg = dir.join("warden.yaml");
    std::fs::write(&cfg, &yaml).unwrap();
    let (code, out, err) =
        cli(&["secret", "audit", "--config", cfg.to_str().unwrap(), "--store-url", &db, "--json"], &[], "");
    assert_eq!(code, 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let entry =
        |r: &str| report["credentials"].as_array().unwrap().iter().find(|c| c["reference"] == r).unwrap().clone();
    assert_eq!(entry("store://own-a")["agents"], json!(["a-bot"]));
    assert_eq!(entry("store://own-a")["stale"], true, "stored with rotated_at = 1 ms after the epoch");
    assert!(entry("store://shared")["last_used_ms"].as_i64().unwrap() > 0);
    assert_eq!(report["plaintext_in_config"], json!([]));
    assert!(!out.contains("own-cred-a") && !out.contains("shared-cred"), "audit shows no values");

    // Offboarding a-bot: its own credential is deleted from the store (on_offboard: delete)
    // and listed for revocation at the provider.
    let spec =
        serde_json::from_value(json!({"name": "a-bot", "owner": "alice@example.com", "allow_tools": ["*"]})).unwrap();
    warden_gateway::admin::inventory::create(&tg.gw, spec, "test", "inventory record").await.unwrap();
    let (_, rev) = warden_gateway::admin::inventory::lifecycle(
        &tg.gw,
        "a-bot",
        warden_gateway::admin::inventory::Lifecycle::Offboard,
        "test",
        "left the team",
    )
    .await
    .unwrap();
    let actions: Vec<(String, &str)> = rev.credentials.iter().map(|a| (a.reference.clone(), a.action)).collect();
    assert_eq!(actions, [("store://own-a".to_string(), "deleted")]);
    assert!(rev.credentials[0].rotate.contains("revoke it at the provider"));
    assert!(rev.revoked.iter().any(|r| r.contains("store://own-a: deleted")), "{:?}", rev.revoked);
    assert!(store.secret_sealed("own-a").await.unwrap().is_none());
    assert!(store.secret_sealed("shared").await.unwrap().is_some(), "a shared credential is never deleted");
    assert!(store.credential_usage().await.unwrap().iter().any(|u| u.agent == "a-bot" && u.detached_at_ms.is_some()));
    drop(tg);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn serve_refuses_plaintext_credentials_in_the_config_unless_allowed() {
    let dir = temp_dir("plaintext");
    let cfg = dir.join("warden.yaml");
    let token = ["ghp_", "Zx9Qw3Er5Ty7Ui1Op3As5Df7Gh9Jk1Lz2Xc4"].concat();
    std::fs::write(
        &cfg,
        format!("upstreams:\n{}", stdio_upstream("local", &format!("    env:\n      GITHUB_TOKEN: {token}\n"))),
    )
    .unwrap();
    let data = dir.join("data");
    let (code, _, err) = cli(
        &["serve", "--config", cfg.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("credentials written in plaintext") && err.contains("env.GITHUB_TOKEN"), "{err}");
    assert!(err.contains("--allow-plaintext-secrets") && !err.contains(&token), "{err}");
    let (code, out, _) =
        cli(&["secret", "audit", "--config", cfg.to_str().unwrap(), "--data-dir", data.to_str().unwrap()], &[], "");
    assert_eq!(code, 1);
    assert!(out.contains("PLAINTEXT") && out.contains("env.GITHUB_TOKEN") && !out.contains(&token), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn vault_references_resolve_with_token_or_kubernetes_login_and_cache_by_lease() {
    use std::sync::atomic::Ordering;
    let dir = temp_dir("vault");
    let sa_jwt = dir.join("sa.jwt");
    std::fs::write(&sa_jwt, "eyJhbGciOiJSUzI1NiJ9.sa-token-for-warden.sig\n").unwrap();
    let root_file = dir.join("vault.token");
    std::fs::write(&root_file, "hvs.root-token-0123456789").unwrap();
    let k8s = warden_demo::vault::KubernetesRole {
        mount: "kubernetes".into(),
        role: "warden".into(),
        jwt: "eyJhbGciOiJSUzI1NiJ9.sa-token-for-warden.sig".into(),
        ttl: std::time::Duration::from_secs(3600),
    };
    let vault = warden_demo::vault::Vault::new("hvs.root-token-0123456789", Some(k8s), Some("team-a"));
    vault.put("secret", "github", json!({"token": "vault-gh-token-version-1"}));
    let vl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vaddr = vl.local_addr().unwrap();
    tokio::spawn(vault.clone().serve(vl));
    let (up, log) = recording_upstream().await;
    let (up2, log2) = recording_upstream().await;
    let config = |auth: &str| {
        format!(
            "secrets:\n  vault:\n    address: http://{vaddr}\n    namespace: team-a\n    cache_secs: 1\n    auth: {auth}\nupstreams:\n{}{}agents:\n{}",
            http_upstream("gh", up, "    auth: {type: header, secret: \"vault://secret/github#token\"}\n"),
            http_upstream(
                "nokey",
                up2,
                "    resources: { exclude: [\"*\"] }\n    auth: {type: header, secret: \"vault://secret/github#missing\"}\n"
            ),
            agent("vault-bot", TOKEN, "    allow_tools: [\"*\"]\n"),
        )
    };
    let bearer = |log: &warden_demo::HeaderLog| {
        log.lock().unwrap().last().and_then(|h| h.get("authorization").map(|v| v.to_str().unwrap().to_string()))
    };

    // Token auth: the Vault token is itself a reference (a file here).
    let tg = TestGateway::start_with(
        &config(&format!("{{method: token, token: \"file://{}\"}}", root_file.display())),
        sqlite_store().await,
    )
    .await;
    let mut c = tg.client(TOKEN);
    c.initialize().await;
    assert_eq!(text_of(&c.call("gh__echo", json!({"text": "1"})).await), "1");
    assert_eq!(bearer(&log).as_deref(), Some("Bearer vault-gh-token-version-1"));
    let reads = vault.reads.load(Ordering::Relaxed);
    for _ in 0..5 {
        c.call("gh__echo", json!({"text": "cached"})).await;
    }
    assert_eq!(vault.reads.load(Ordering::Relaxed), reads, "reads within cache_secs come from the cache");
    // A new version in Vault is used once the cached read ends.
    vault.put("secret", "github", json!({"token": "vault-gh-token-version-2"}));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    c.call("gh__echo", json!({"text": "2"})).await;
    assert_eq!(bearer(&log).as_deref(), Some("Bearer vault-gh-token-version-2"));
    // A key the secret does not have: that upstream never connects (health names
    // the reference), and it never receives a request without its credential.
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", tg.base())).await.unwrap().json().await.unwrap();
    let nokey = ready["upstreams"].as_array().unwrap().iter().find(|u| u["name"] == "nokey").unwrap().clone();
    let why = nokey["last_error"].as_str().or(nokey["error"].as_str()).unwrap_or_default().to_string();
    assert_ne!(nokey["status"], "healthy");
    assert!(why.contains("vault://secret/github#missing") && why.contains("has no key"), "{nokey}");
    assert_eq!(log2.lock().unwrap().len(), 0);
    // The echoed Vault value is known, so redacted.
    let r = c.call("gh__echo", json!({"text": "vault-gh-token-version-2"})).await;
    assert_eq!(text_of(&r), "[REDACTED:secret/github#token]");
    drop(tg);

    // Kubernetes auth: the service-account JWT is traded for a Vault token; when
    // Vault revokes it, Warden logs in again once and carries on.
    let tg = TestGateway::start_with(
        &config(&format!("{{method: kubernetes, role: warden, jwt_file: \"{}\"}}", sa_jwt.display())),
        sqlite_store().await,
    )
    .await;
    let mut c = tg.client(TOKEN);
    c.initialize().await;
    let logins = vault.logins.load(Ordering::Relaxed);
    assert!(logins >= 1);
    vault.revoke_issued_tokens();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(text_of(&c.call("gh__echo", json!({"text": "k8s"})).await), "k8s");
    assert_eq!(bearer(&log).as_deref(), Some("Bearer vault-gh-token-version-2"));
    assert_eq!(vault.logins.load(Ordering::Relaxed), logins + 1);
    drop(tg);

    // A wrong service-account token: Vault refuses the login; the upstream is not
    // connected, health says why, and it receives nothing.
    std::fs::write(&sa_jwt, "not-the-service-account-token").unwrap();
    let before = log.lock().unwrap().len();
    let tg = TestGateway::start_with(
        &config(&format!("{{method: kubernetes, role: warden, jwt_file: \"{}\"}}", sa_jwt.display())),
        sqlite_store().await,
    )
    .await;
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", tg.base())).await.unwrap().json().await.unwrap();
    let gh = ready["upstreams"].as_array().unwrap().iter().find(|u| u["name"] == "gh").unwrap().clone();
    let why = gh["last_error"].as_str().or(gh["error"].as_str()).unwrap_or_default().to_string();
    assert!(why.contains("Vault refused the Kubernetes login") && why.contains("permission denied"), "{gh}");
    assert_eq!(log.lock().unwrap().len(), before);
    drop(tg);
    std::fs::remove_dir_all(&dir).ok();
}

/// A raw OTLP/HTTP sink: keeps every exported body byte for byte.
async fn otlp_sink() -> (SocketAddr, Arc<std::sync::Mutex<Vec<u8>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap().extend_from_slice(&body);
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, got)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn canary_a_secret_an_upstream_leaks_is_found_in_no_output() {
    use base64::Engine;
    const CANARY: &str = "canary-5e1f0c9a7b3d2e4f6a8c";
    let dir = temp_dir("canary");
    let data = dir.join("data");
    let data_s = data.display().to_string();
    let (_, key, _) = cli(&["secret", "generate-key"], &[], "");
    let key = key.trim().to_string();
    let (code, _, err) =
        cli(&["secret", "set", "canary", "--data-dir", &data_s], &[("WARDEN_MASTER_KEY", &key)], CANARY);
    assert_eq!(code, 0, "{err}");
    let (otlp, exported) = otlp_sink().await;
    let port = free_port();
    let cfg = dir.join("warden.yaml");
    std::fs::write(
        &cfg,
        format!(
            "telemetry:\n  otlp:\n    endpoint: http://{otlp}/v1/traces\n    capture_content: true\n    batch_size: 1\nupstreams:\n{}agents:\n{}",
            stdio_upstream("leaky", "    env:\n      DEMO_CANARY: store://canary\n"),
            agent("canary-bot", TOKEN, "    allow_tools: [\"*\"]\n"),
        ),
    )
    .unwrap();
    let log_path = dir.join("warden.log");
    let mut child = std::process::Command::new(warden_bin())
        .args(["serve", "--config", cfg.to_str().unwrap(), "--data-dir", &data_s])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("WARDEN_MASTER_KEY", &key)
        .env("WARDEN_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually("warden ready", std::time::Duration::from_secs(20), || {
        let url = format!("{base}/readyz");
        async move { reqwest::get(url).await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let mut c = Client::new(format!("{base}/mcp"), Some(TOKEN));
    c.initialize().await;
    let mut responses = String::new();
    for to in ["result", "tool_error", "rpc_error", "stderr"] {
        let r = c.call("show_env", json!({"name": "DEMO_CANARY", "to": to})).await;
        responses.push_str(&r.body.to_string());
    }
    // The agent itself echoes the value, raw and base64-encoded.
    let b64 = base64::engine::general_purpose::STANDARD.encode(CANARY);
    for text in [CANARY.to_string(), format!("b64:{b64}")] {
        responses.push_str(&c.call("echo", json!({"text": text})).await.body.to_string());
    }
    assert!(responses.matches("[REDACTED:canary]").count() >= 5, "every path was exercised: {responses}");
    eventually("spans exported", std::time::Duration::from_secs(10), || {
        let e = exported.clone();
        async move { String::from_utf8_lossy(&e.lock().unwrap()).contains("show_env") }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // A clean stop: SIGTERM, drain, final checkpoint.
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("demo upstream debug: DEMO_CANARY=[REDACTED:canary]"), "the stderr line was logged, redacted");
    let mut db = Vec::new();
    for f in std::fs::read_dir(&data).unwrap() {
        db.extend(std::fs::read(f.unwrap().path()).unwrap_or_default());
    }
    let otlp_bytes = exported.lock().unwrap().clone();
    let hex_form = hex::encode(CANARY);
    let url_form: String = url::form_urlencoded::byte_serialize(CANARY.as_bytes()).collect();
    for (what, hay) in [
        ("HTTP responses", responses.into_bytes()),
        ("log", log.into_bytes()),
        ("database files (audit included)", db),
        ("OTLP payloads", otlp_bytes),
    ] {
        for form in [CANARY, &b64, &hex_form, &url_form] {
            assert!(!hay.windows(form.len()).any(|w| w == form.as_bytes()), "the canary ({form}) is in the {what}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_secret_stored_or_rotated_later_is_redacted_before_its_first_use() {
    let dir = temp_dir("later");
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, Kek::generate_text()).unwrap();
    let kek = Kek::parse(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let store = sqlite_store().await;
    let yaml = format!(
        "secrets:\n  master_key_file: {:?}\nupstreams:\n{}agents:\n{}",
        key_file.display().to_string(),
        stdio_upstream("demo", ""),
        agent("later-bot", TOKEN, "    allow_tools: [\"*\"]\n"),
    );
    let tg = TestGateway::start_with(&yaml, store.clone()).await;
    let mut c = tg.client(TOKEN);
    c.initialize().await;
    // `warden secret set` in another process, after the gateway started.
    // (The gateway's own 5 s refresh may see it first; the explicit refresh
    // stands for that tick, so nothing here depends on timing.)
    store.secret_put("later", &SealedSecret::seal(&kek, "later", "later-value-4c3b2a1908f7e6d5"), 2).await.unwrap();
    tg.gw.custody.refresh_store_secrets().await;
    assert_eq!(text_of(&c.call("echo", json!({"text": "later-value-4c3b2a1908f7e6d5"})).await), "[REDACTED:later]");
    // Rotated: the new value is redacted at once, and the old one still is.
    store.secret_put("later", &SealedSecret::seal(&kek, "later", "later-rotated-aa11bb22cc33dd44"), 3).await.unwrap();
    tg.gw.custody.refresh_store_secrets().await;
    let r = c.call("echo", json!({"text": "later-rotated-aa11bb22cc33dd44 later-value-4c3b2a1908f7e6d5"})).await;
    assert_eq!(text_of(&r), "[REDACTED:later] [REDACTED:later]");
    drop(tg);
    std::fs::remove_dir_all(&dir).ok();
}
