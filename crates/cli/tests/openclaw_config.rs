//! `warden openclaw config` and `warden token fetch`, end to end: the real binary, a real
//! Warden process on loopback with a SQLite store where the inventory matters.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn temp_dir(tag: &str) -> PathBuf {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("warden-occfg-{tag}-{}-{t}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the CLI; returns (exit code, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(warden_bin());
    cmd.args(args).env_remove("WARDEN_TOKEN").env_remove("WARDEN_SERVER").env_remove("WARDEN_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json5(text: &str) -> Value {
    jsonc_parser::parse_to_serde_value::<Option<Value>>(text, &Default::default())
        .unwrap_or_else(|e| panic!("not JSON5: {e}\n{text}"))
        .unwrap()
}

const SMALL: &str = "0000000000000000000000000000000000000000000000000000000000000001";

fn config_text(extra: &str) -> String {
    format!(
        "upstreams:\n{}models:\n  - name: llm\n    base_url: http://127.0.0.1:9/v1\n    models: {{demo-small: s, demo-large: l, demo-embed: e}}\n\
         agents:\n  - name: small-bot\n    token_sha256: {SMALL}\n    allow_models: [demo-small]\n\
         \x20 - name: all-bot\n    token_sha256: {}\n    allow_models: [\"*\"]\n    deny_models: [demo-large]\n{extra}",
        stdio_upstream("demo", ""),
        hash(TOKEN_A)
    )
}

fn write_config(dir: &Path, extra: &str) -> String {
    let p = dir.join("warden.yaml");
    std::fs::write(&p, config_text(extra)).unwrap();
    p.display().to_string()
}

/// A `warden serve` child on a free loopback port, killed on drop.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(cfg: &str, data: &Path) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(warden_bin())
        .args(["serve", "--config", cfg, "--data-dir", &data.display().to_string(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/readyz");
    eventually("warden up", Duration::from_secs(30), || {
        let ready = ready.clone();
        async move { reqwest::get(ready).await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    Served { child, base }
}

fn admin_token(data: &Path) -> String {
    let (code, out, err) =
        cli(&["admin", "token", "create", "--role", "admin", "--data-dir", &data.display().to_string()], &[]);
    assert_eq!(code, 0, "{err}");
    out.lines().last().unwrap().trim().to_string()
}

/// Creates an inventory agent over the admin API; returns its client secret.
async fn create_agent(base: &str, admin: &str, name: &str, allow_models: Value) -> String {
    let spec = json!({"name": name, "owner": "o@example.com", "purpose": "test", "allow_models": allow_models});
    let (s, v) =
        api_call(&reqwest::Client::new(), base, Some(admin), reqwest::Method::POST, "/api/v1/agents", Some(spec)).await;
    assert_eq!(s, 201, "{v}");
    v["client_secret"].as_str().unwrap().to_string()
}

fn model_ids(v: &Value) -> Vec<String> {
    v["models"]["providers"]["warden"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_fresh_config_offers_only_the_models_the_allowlist_permits_and_no_secret() {
    let dir = temp_dir("fresh");
    let cfg = write_config(&dir, "");
    let env = [("WARDEN_TOKEN", "wdn_the-real-secret-value")];
    let (code, out, err) = cli(
        &[
            "openclaw",
            "config",
            "--agent",
            "small-bot",
            "--config",
            &cfg,
            "--plugin-path",
            "/opt/p",
            "--data-dir",
            &dir.display().to_string(),
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("// "), "explanations as comments: {out}");
    let v = json5(&out);
    assert_eq!(model_ids(&v), ["demo-small"]);
    let provider = &v["models"]["providers"]["warden"];
    assert_eq!(provider["baseUrl"], "http://127.0.0.1:8470/v1");
    assert_eq!(provider["api"], "openai-completions");
    assert_eq!(provider["apiKey"], "${WARDEN_TOKEN}");
    assert_eq!(provider["models"][0]["input"], json!(["text"]));
    assert_eq!(provider["models"][0]["contextWindow"], 32000);
    assert_eq!(v["agents"]["defaults"]["model"]["primary"], "warden/demo-small");
    let mcp = &v["mcp"]["servers"]["warden"];
    assert_eq!(mcp["url"], "http://127.0.0.1:8470/mcp");
    assert_eq!(mcp["transport"], "streamable-http");
    assert_eq!(mcp["headers"]["Authorization"], "Bearer ${WARDEN_TOKEN}");
    assert_eq!(v["tools"]["toolSearch"], false);
    assert_eq!(v["tools"]["fs"]["workspaceOnly"], true);
    assert_eq!(v["plugins"]["load"]["paths"], json!(["/opt/p"]));
    let plugin = &v["plugins"]["entries"]["warden"];
    assert_eq!(plugin["enabled"], true);
    assert_eq!(
        plugin["config"],
        json!({"url": "http://127.0.0.1:8470", "tokenEnv": "WARDEN_TOKEN", "timeoutMs": 5000,
               "approvalTimeoutMs": 120000, "mcpServers": ["warden"]})
    );
    assert!(!out.contains("the-real-secret") && !err.contains("the-real-secret"), "a secret was printed");
    assert!(err.contains("Next steps") && err.contains("export WARDEN_TOKEN"), "{err}");

    // "*" minus a deny; the embedding model is offered but is not the default.
    let (code, out, err) =
        cli(&["openclaw", "config", "--agent", "all-bot", "--config", &cfg, "--server", "https://w.example/"], &env);
    assert_eq!(code, 0, "{err}");
    let v = json5(&out);
    assert_eq!(model_ids(&v), ["demo-embed", "demo-small"]);
    assert_eq!(v["agents"]["defaults"]["model"]["primary"], "warden/demo-small");
    assert_eq!(v["models"]["providers"]["warden"]["baseUrl"], "https://w.example/v1");

    // --show-secrets writes the token itself.
    let (code, out, _) = cli(&["openclaw", "config", "--agent", "small-bot", "--config", &cfg, "--show-secrets"], &env);
    assert_eq!(code, 0);
    assert_eq!(json5(&out)["models"]["providers"]["warden"]["apiKey"], "wdn_the-real-secret-value");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn merge_keeps_the_users_providers_servers_and_comments() {
    let dir = temp_dir("merge");
    let cfg = write_config(&dir, "");
    let file = dir.join("openclaw.json");
    let original = r#"// my OpenClaw config
{
  models: {
    providers: {
      ollama: { baseUrl: 'http://127.0.0.1:11434/v1', api: "openai-completions", models: [], }, // local
      warden: { baseUrl: "http://stale/v1", headers: { 'X-Old': "1" } },
    },
  },
  mcp: { servers: { docs: { url: "https://docs.example/mcp", transport: "streamable-http", }, }, },
  tools: {
    deny: ["browser",],
    fs: { workspaceOnly: false }, /* I need the home dir */
  },
  gateway: { port: 18789, bind: "lan" },
}
"#;
    std::fs::write(&file, original).unwrap();
    let (code, out, err) = cli(
        &[
            "openclaw",
            "config",
            "--agent",
            "small-bot",
            "--config",
            &cfg,
            "--merge",
            &file.display().to_string(),
            "--plugin-path",
            "/opt/p",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "a merge prints nothing on stdout: {out}");
    assert_eq!(std::fs::read_to_string(dir.join("openclaw.json.bak")).unwrap(), original);
    let merged = std::fs::read_to_string(&file).unwrap();
    for c in ["// my OpenClaw config", "// local", "/* I need the home dir */"] {
        assert!(merged.contains(c), "comment {c:?} lost:\n{merged}");
    }
    let v = json5(&merged);
    assert_eq!(v["models"]["providers"]["ollama"]["baseUrl"], "http://127.0.0.1:11434/v1");
    assert_eq!(v["mcp"]["servers"]["docs"]["url"], "https://docs.example/mcp");
    // Warden's own entries are replaced whole.
    assert_eq!(v["models"]["providers"]["warden"]["baseUrl"], "http://127.0.0.1:8470/v1");
    assert!(v["models"]["providers"]["warden"].get("headers").is_none());
    assert_eq!(v["mcp"]["servers"]["warden"]["headers"]["Authorization"], "Bearer ${WARDEN_TOKEN}");
    assert_eq!(v["plugins"]["entries"]["warden"]["config"]["mcpServers"], json!(["warden"]));
    // Lists gain entries; deliberate choices are kept and reported.
    assert_eq!(v["tools"]["deny"], json!(["browser", "gateway", "plugins", "openclaw"]));
    assert_eq!(v["tools"]["fs"]["workspaceOnly"], false);
    // The user's bind is kept; mode is added (`openclaw gateway run` refuses to start without it).
    assert_eq!(v["gateway"], json!({"port": 18789, "bind": "lan", "mode": "local"}));
    assert!(err.contains("kept your tools.fs.workspaceOnly") && err.contains("kept your gateway.bind"), "{err}");
    assert!(err.contains(".bak"), "{err}");
    // A second merge is a no-op.
    let (code, _, err) = cli(
        &[
            "openclaw",
            "config",
            "--agent",
            "small-bot",
            "--config",
            &cfg,
            "--merge",
            &file.display().to_string(),
            "--plugin-path",
            "/opt/p",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(json5(&std::fs::read_to_string(&file).unwrap()), v);
    // Not JSON5: refused, file untouched.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{ models: ").unwrap();
    let (code, _, err) = cli(
        &["openclaw", "config", "--agent", "small-bot", "--config", &cfg, "--merge", &bad.display().to_string()],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("not a usable openclaw.json"), "{err}");
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "{ models: ");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn out_refuses_to_overwrite_without_force() {
    let dir = temp_dir("out");
    let cfg = write_config(&dir, "");
    let out_file = dir.join("oc.json");
    let args = |force: bool| {
        let mut a = vec!["openclaw", "config", "--agent", "small-bot", "--config", &cfg];
        let p = Box::leak(out_file.display().to_string().into_boxed_str());
        a.extend(["--out", p]);
        if force {
            a.push("--force");
        }
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| cli(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let (code, out, err) = run(args(false));
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    let first = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(model_ids(&json5(&first)), ["demo-small"]);
    std::fs::write(&out_file, "mine").unwrap();
    let (code, _, err) = run(args(false));
    assert_ne!(code, 0);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "mine");
    let (code, _, err) = run(args(true));
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), first);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn token_strategies_shape_provider_mcp_and_plugin() {
    let dir = temp_dir("strategies");
    let cfg = write_config(&dir, "");
    let base = ["openclaw", "config", "--agent", "small-bot", "--config", &cfg];
    let run = |extra: &[&str]| {
        let (code, out, err) = cli(&[&base[..], extra].concat(), &[("WARDEN_TOKEN", "wdn_secret-in-env")]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("secret-in-env") && !err.contains("secret-in-env"));
        (json5(&out), err)
    };
    let (v, _) = run(&["--token", "static"]);
    assert_eq!(v["plugins"]["entries"]["warden"]["config"]["tokenEnv"], "WARDEN_TOKEN");
    assert_eq!(v["gateway"]["bind"], "loopback");

    let (v, err) = run(&[
        "--token",
        "client-credentials",
        "--client-secret-file",
        "/s/bot.secret",
        "--token-cache",
        "/c/bot.token",
    ]);
    let plugin = &v["plugins"]["entries"]["warden"]["config"];
    assert_eq!(plugin["tokenFile"], "/c/bot.token");
    assert!(plugin.get("tokenEnv").is_none());
    assert_eq!(v["models"]["providers"]["warden"]["apiKey"], "${WARDEN_TOKEN}");
    assert_eq!(v["mcp"]["servers"]["warden"]["headers"]["Authorization"], "Bearer ${WARDEN_TOKEN}");
    assert!(
        err.contains("warden token fetch --server http://127.0.0.1:8470 --client-id small-bot --client-secret-file /s/bot.secret --cache /c/bot.token"),
        "the launcher: {err}"
    );

    let (v, err) = run(&["--token", "kubernetes"]);
    assert_eq!(v["plugins"]["entries"]["warden"]["config"]["tokenFile"], "/var/run/secrets/warden/token");
    assert_eq!(v["gateway"], json!({"mode": "local"}), "no loopback bind in a pod, but the mode");
    assert!(err.contains("cat /var/run/secrets/warden/token"), "{err}");
    let (v, _) = run(&["--token", "kubernetes", "--token-file", "/t/tok"]);
    assert_eq!(v["plugins"]["entries"]["warden"]["config"]["tokenFile"], "/t/tok");

    let (code, _, err) = cli(&[&base[..], &["--token", "kubernetes", "--show-secrets"]].concat(), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--show-secrets"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_agents_unknown_and_suspended_agents() {
    let dir = temp_dir("inventory");
    let cfg = write_config(&dir, "");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let admin = admin_token(&data);
    let w = serve(&cfg, &data).await;
    create_agent(&w.base, &admin, "inv-bot", json!(["demo-large"])).await;
    let data_s = data.display().to_string();
    let occfg =
        |agent: &str| cli(&["openclaw", "config", "--agent", agent, "--config", &cfg, "--data-dir", &data_s], &[]);

    // An inventory agent: its spec's allowlist, client credentials by default.
    let (code, out, err) = occfg("inv-bot");
    assert_eq!(code, 0, "{err}");
    let v = json5(&out);
    assert_eq!(model_ids(&v), ["demo-large"]);
    assert!(v["plugins"]["entries"]["warden"]["config"]["tokenFile"].as_str().unwrap().ends_with("inv-bot.token"));

    let (code, out, err) = occfg("nobody-bot");
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(err.contains("unknown agent \"nobody-bot\""), "{err}");

    let http = reqwest::Client::new();
    let (s, v) = api_call(
        &http,
        &w.base,
        Some(&admin),
        reqwest::Method::POST,
        "/api/v1/agents/inv-bot/suspend",
        Some(json!({"reason": "incident 7"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (code, out, err) = occfg("inv-bot");
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(err.contains("inv-bot is suspended (incident 7)") && err.contains("resume"), "{err}");
    let (s, v) = api_call(
        &http,
        &w.base,
        Some(&admin),
        reqwest::Method::POST,
        "/api/v1/agents/inv-bot/offboard",
        Some(json!({"reason": "gone"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (code, _, err) = occfg("inv-bot");
    assert_ne!(code, 0);
    assert!(err.contains("offboarded"), "{err}");

    // A static (config) agent with a suspended inventory record of the same name is refused too.
    create_agent(&w.base, &admin, "small-bot", json!([])).await;
    let (s, _) = api_call(
        &http,
        &w.base,
        Some(&admin),
        reqwest::Method::POST,
        "/api/v1/agents/small-bot/suspend",
        Some(json!({"reason": "r"})),
    )
    .await;
    assert_eq!(s, 200);
    let (code, _, err) = occfg("small-bot");
    assert_ne!(code, 0);
    assert!(err.contains("small-bot is suspended"), "{err}");

    // Nothing to look in.
    let (code, _, err) =
        cli(&["openclaw", "config", "--agent", "x-bot", "--data-dir", &dir.join("none").display().to_string()], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("nothing to find agent"), "{err}");
    drop(w);
    std::fs::remove_dir_all(&dir).ok();
}

/// A JWT-shaped token with these claims (the verb reads, never verifies, them).
fn fake_jwt(iat: i64, exp: i64, agent: &str) -> String {
    use base64::Engine;
    let p = json!({"iat": iat, "exp": exp, "agent": agent}).to_string();
    format!("e30.{}.x", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_fetch_caches_refetches_near_expiry_and_refuses_a_wrong_secret() {
    let dir = temp_dir("fetch");
    let cfg = write_config(&dir, "identity:\n  token_ttl_secs: 600\n");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let admin = admin_token(&data);
    let w = serve(&cfg, &data).await;
    let secret = create_agent(&w.base, &admin, "fetch-bot", json!(["demo-small"])).await;
    let secret_file = dir.join("fetch-bot.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let cache = dir.join("cache/fetch-bot.token");
    let fetch = |secret_file: &Path| {
        cli(
            &[
                "token",
                "fetch",
                "--server",
                &w.base,
                "--client-id",
                "fetch-bot",
                "--client-secret-file",
                &secret_file.display().to_string(),
                "--cache",
                &cache.display().to_string(),
            ],
            &[],
        )
    };
    let (code, first, err) = fetch(&secret_file);
    assert_eq!(code, 0, "{err}");
    let first = first.trim().to_string();
    assert_eq!(first.split('.').count(), 3, "a JWT: {first}");
    assert_eq!(std::fs::read_to_string(&cache).unwrap().trim(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Warden accepts it (the model list this agent may see).
    let r = reqwest::Client::new().get(format!("{}/v1/models", w.base)).bearer_auth(&first).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let models: Value = r.json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "demo-small", "{models}");

    // Cached: the same token, without asking Warden (the secret file is not even read).
    let (code, again, err) = fetch(&dir.join("missing.secret"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(again.trim(), first);

    // Less than a fifth of its lifetime left: fetched anew.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let stale = fake_jwt(now - 500, now + 90, "fetch-bot");
    std::fs::write(&cache, &stale).unwrap();
    let (code, renewed, err) = fetch(&secret_file);
    assert_eq!(code, 0, "{err}");
    let renewed = renewed.trim().to_string();
    assert_ne!(renewed, stale);
    assert_eq!(std::fs::read_to_string(&cache).unwrap().trim(), renewed);
    let r = reqwest::Client::new().get(format!("{}/v1/models", w.base)).bearer_auth(&renewed).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // More than a fifth left: kept.
    let kept = fake_jwt(now - 100, now + 500, "fetch-bot");
    std::fs::write(&cache, &kept).unwrap();
    assert_eq!(fetch(&secret_file).1.trim(), kept);

    // A wrong secret: non-zero, a clear error, no token (not even the stale cached one).
    std::fs::write(&cache, &stale).unwrap();
    let wrong = dir.join("wrong.secret");
    std::fs::write(&wrong, "not-the-secret").unwrap();
    let (code, out, err) = fetch(&wrong);
    assert_ne!(code, 0);
    assert!(out.trim().is_empty(), "printed {out:?}");
    assert!(err.contains("refused client \"fetch-bot\"") && err.contains("invalid_client"), "{err}");
    assert!(!err.contains(&secret), "the secret in an error");
    drop(w);
    std::fs::remove_dir_all(&dir).ok();
}

/// `serve --demo` prints exactly what `warden openclaw config --agent demo-bot` writes for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_banner_prints_the_generated_config() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("demo");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(warden_bin())
        .args(["serve", "--demo", "--data-dir", &dir.display().to_string(), "--listen", &format!("127.0.0.1:{port}")])
        .env("WARDEN_DEMO_TOKEN", "wdn_demo-token-for-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(stdout).lines() {
            let l = l.unwrap();
            let end = l == "}";
            lines.push(l);
            if end {
                break;
            }
        }
        lines.join("\n")
    });
    let banner = tokio::time::timeout(Duration::from_secs(60), banner).await.expect("banner in time").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains("export WARDEN_TOKEN=wdn_demo-token-for-test"), "{banner}");
    let start = banner.find("// OpenClaw config for Warden agent").expect("the generated file in the banner");
    let snippet = format!("{}\n", &banner[start..]);
    let server = format!("http://127.0.0.1:{port}");
    let (code, out, err) = cli(
        &[
            "openclaw",
            "config",
            "--agent",
            "demo-bot",
            "--data-dir",
            &dir.display().to_string(),
            "--server",
            &server,
            "--token",
            "static",
            "--model",
            "demo-embed",
            "--model",
            "demo-large",
            "--model",
            "demo-small",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(snippet, out);
    let v = json5(&out);
    assert_eq!(model_ids(&v), ["demo-embed", "demo-large", "demo-small"]);
    assert_eq!(v["agents"]["defaults"]["model"]["primary"], "warden/demo-large");
    assert!(!out.contains("wdn_demo-token-for-test"));
    std::fs::remove_dir_all(&dir).ok();
}
