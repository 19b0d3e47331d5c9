//! `warden`: the governance gateway for autonomous AI agents.

mod admin;
mod audit_cmd;
mod guard_cmd;
mod openclaw_cmd;
mod policy_cmd;
mod scan_cmd;
mod secret_cmd;
mod token_fetch;

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use warden_config::Config;
use warden_core::identity::TokenHash;

#[derive(Parser)]
#[command(name = "warden", version, about = "Governance gateway for autonomous AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Config file (YAML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on [default: server.listen from the config, else 127.0.0.1:8470].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Directory for Warden's embedded state.
        #[arg(long, env = "WARDEN_DATA_DIR", default_value = "./warden-data")]
        data_dir: PathBuf,
        /// No config needed: a built-in demo upstream (stdio) and one demo agent whose token is printed.
        #[arg(long)]
        demo: bool,
        /// Start even when the config file holds credentials in plaintext (see `warden secret audit`).
        #[arg(long)]
        allow_plaintext_secrets: bool,
    },
    /// Policy as code: check, test, explain (offline).
    Policy {
        #[command(subcommand)]
        command: policy_cmd::PolicyCommand,
    },
    /// Upstream definitions held back by tool pinning or screening: list, diff, approve, reject
    /// (over the admin API).
    Tools {
        #[command(subcommand)]
        command: admin::ToolsCommand,
        #[command(flatten)]
        remote: admin::Remote,
    },
    /// Held calls waiting for a human (over the admin API).
    Approvals {
        #[command(subcommand)]
        command: admin::ApprovalsCommand,
        #[command(flatten)]
        remote: admin::Remote,
    },
    /// Validate configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Agent bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Apply a declared inventory (agents and separation exceptions). Idempotent.
    Apply {
        #[arg(long, short)]
        file: PathBuf,
        /// Print the diff; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Why (recorded with every change) [default: "warden apply -f FILE"].
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: admin::Remote,
    },
    /// Manage agents in the inventory (over the admin API).
    Agent {
        #[command(subcommand)]
        command: Box<admin::AgentCommand>,
        #[command(flatten)]
        remote: admin::Remote,
    },
    /// Inventory reports.
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
        #[command(flatten)]
        remote: admin::Remote,
    },
    /// Token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        remote: admin::Remote,
    },
    /// Admin access.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The tamper-evident audit trail: verify, query, export.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
        #[command(flatten)]
        store: audit_cmd::StoreArgs,
    },
    /// Warden's encrypted secret store: set, list, rotate, delete, rekey.
    Secret {
        #[command(subcommand)]
        command: secret_cmd::SecretCommand,
        #[command(flatten)]
        store: audit_cmd::StoreArgs,
    },
    /// Per agent (or tool, or model): requests, tool calls, denials, approvals, tokens and cost.
    Usage(audit_cmd::UsageArgs),
    /// The detectors offline: evaluate the prompt-injection detector, scan a text.
    Guard {
        #[command(subcommand)]
        command: guard_cmd::GuardCommand,
    },
    /// Scan skills, bundles, memory files and MCP definitions for droppers, obfuscation, hidden
    /// instructions, credential theft, exfiltration and persistence (offline). Exit 0 clean,
    /// 1 a finding at or above --fail-on, 2 an error.
    Scan(scan_cmd::ScanArgs),
    /// Wire an OpenClaw agent to Warden: models, MCP tools and built-in tools.
    Openclaw {
        #[command(subcommand)]
        command: openclaw_cmd::OpenclawCommand,
    },
    /// Run the built-in demo MCP server (stdio by default).
    DemoUpstream {
        /// Serve Streamable HTTP on this address instead of stdio.
        #[arg(long)]
        http: Option<std::net::SocketAddr>,
    },
    /// Run the local OpenAI-compatible model stub (for demos and tests; no model runs here).
    DemoLlm {
        #[arg(long, default_value = "127.0.0.1:8471")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum InventoryCommand {
    /// For every bot: owner, reachable systems, credentials, where stored, how revoked, review state.
    Report {
        #[arg(long, value_enum, default_value = "md")]
        format: admin::Format,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing with a new key; older keys verify until their tokens expire.
    Rotate,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Admin tokens.
    Token {
        #[command(subcommand)]
        command: AdminTokenCommand,
    },
}

#[derive(Subcommand)]
enum AdminTokenCommand {
    /// Create an admin token directly in the store (bootstrap; needs access to the data dir or database).
    Create {
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Teams whose agents the token may act on (approvals), comma-separated; `*` for all.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        teams: Vec<String>,
        /// Approver groups the holder belongs to, comma-separated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        #[arg(long, env = "WARDEN_DATA_DIR", default_value = "./warden-data")]
        data_dir: PathBuf,
        /// Store URL [default: sqlite in the data dir]; or the config's store.url via --config.
        #[arg(long, env = "WARDEN_STORE_URL")]
        store_url: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate FILE exactly as `serve` would, without serving.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new random token and its token_sha256 for the config.
    Generate,
    /// Read a token on stdin and print its token_sha256.
    Hash,
    /// Print an access token from Warden's /oauth/token (client credentials), cached and renewed.
    Fetch(token_fetch::FetchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => return scan_cmd::run(args),
        Command::Config { command: ConfigCommand::Check { file } } => config_check(&file),
        Command::Token { command: TokenCommand::Fetch(args) } => {
            runtime().and_then(|rt| rt.block_on(token_fetch::fetch(args)))
        }
        Command::Token { command } => token(command),
        Command::Openclaw { command } => runtime().and_then(|rt| rt.block_on(openclaw_cmd::run(command))),
        Command::Policy { command } => policy_cmd::run(command),
        Command::Tools { command, remote } => runtime().and_then(|rt| rt.block_on(admin::tools(&remote, command))),
        Command::Approvals { command, remote } => {
            runtime().and_then(|rt| rt.block_on(admin::approvals(&remote, command)))
        }
        Command::Audit { command, store } => runtime().and_then(|rt| rt.block_on(audit_cmd::audit(command, store))),
        Command::Secret { command, store } => runtime().and_then(|rt| rt.block_on(secret_cmd::secret(command, store))),
        Command::Guard { command } => guard_cmd::guard(command),
        Command::Usage(args) => runtime().and_then(|rt| rt.block_on(audit_cmd::usage(args))),
        Command::DemoUpstream { http } => runtime().and_then(|rt| rt.block_on(demo_upstream(http))),
        Command::DemoLlm { listen } => runtime().and_then(|rt| {
            rt.block_on(async {
                let l = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
                eprintln!("warden demo model stub: http://{}/v1", l.local_addr()?);
                warden_demo::llm::serve(l).await?;
                Ok(())
            })
        }),
        Command::Apply { file, dry_run, reason, remote } => {
            runtime().and_then(|rt| rt.block_on(admin::apply(&remote, &file, dry_run, reason)))
        }
        Command::Agent { command, remote } => runtime().and_then(|rt| rt.block_on(admin::agent(&remote, *command))),
        Command::Inventory { command: InventoryCommand::Report { format }, remote } => {
            runtime().and_then(|rt| rt.block_on(admin::report(&remote, format)))
        }
        Command::Keys { command: KeysCommand::Rotate, remote } => {
            runtime().and_then(|rt| rt.block_on(admin::rotate_keys(&remote)))
        }
        Command::Admin { command: AdminCommand::Token { command } } => {
            runtime().and_then(|rt| rt.block_on(admin_token(command)))
        }
        Command::Serve { config, listen, data_dir, demo, allow_plaintext_secrets } => {
            init_logging();
            runtime().and_then(|rt| rt.block_on(serve(config, listen, data_dir, demo, allow_plaintext_secrets)))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr(Vec::new()))
        .with_current_span(false)
        .init();
}

/// One log line, written to stderr with every secret Warden holds redacted.
struct RedactingStderr(Vec<u8>);

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        let line = warden_gateway::telemetry::log_redaction::redact(&self.0);
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &line);
    }
}

fn config_check(file: &std::path::Path) -> anyhow::Result<()> {
    let c = warden_config::load(file)?;
    let (policy, _) = warden_gateway::pipeline::policy_source::PolicySource::new(&c.policy, None)
        .load()
        .map_err(|e| anyhow::anyhow!("{}: policy:\n{e}", file.display()))?;
    println!(
        "{}: OK ({} upstreams, {} agents, {} policy rules)",
        file.display(),
        c.upstreams.len(),
        c.agents.len(),
        policy.rule_count()
    );
    Ok(())
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("system RNG");
    format!("wdn_{}", hex::encode(b))
}

fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Generate => {
            let t = random_token();
            println!("token:        {t}");
            println!("token_sha256: {}", TokenHash::of(&t).to_hex());
        }
        TokenCommand::Hash => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            let t = s.trim();
            if t.is_empty() {
                bail!("no token on stdin");
            }
            println!("{}", TokenHash::of(t).to_hex());
        }
        TokenCommand::Fetch(_) => unreachable!("handled in main"),
    }
    Ok(())
}

/// The checkpoint signing key's file name in the data dir.
pub(crate) const AUDIT_KEY_FILE: &str = "audit-signing.key";

/// The store URL: explicit, else the config's `store.url`, else SQLite in the data dir.
fn store_url(explicit: Option<String>, config: Option<&Config>, data_dir: &std::path::Path) -> anyhow::Result<String> {
    if let Some(u) = explicit.or_else(|| config.and_then(|c| c.store.url.as_ref().map(|u| u.0.clone()))) {
        return Ok(u);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
    Ok(format!("sqlite://{}", data_dir.join("warden.db").display()))
}

async fn admin_token(cmd: AdminTokenCommand) -> anyhow::Result<()> {
    let AdminTokenCommand::Create { role, name, teams, groups, data_dir, store_url: explicit, config } = cmd;
    let config = config.map(|p| warden_config::load(&p)).transpose()?;
    let url = store_url(explicit, config.as_ref(), &data_dir)?;
    let store = warden_store::Store::open(&url).await.with_context(|| format!("opening store {url}"))?;
    let by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let (t, token) = warden_gateway::admin::api::create_admin_token_in(&store, &name, &role, &teams, &groups, &by)
        .await
        .map_err(|e| match e {
            warden_gateway::admin::inventory::ControlError::Invalid(f) => {
                anyhow::anyhow!(f.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            }
            e => anyhow::anyhow!(e),
        })?;
    store.close().await;
    println!("admin token {} (role {}, id {})", t.name, t.role, t.id);
    println!("{token}");
    eprintln!("Shown once. Use it as WARDEN_ADMIN_TOKEN.");
    Ok(())
}

async fn demo_upstream(http: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    match http {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            eprintln!("warden demo upstream: http://{}/mcp", l.local_addr()?);
            warden_demo::serve_http(l).await?;
        }
        None => warden_demo::run_stdio().await,
    }
    Ok(())
}

/// The built-in demo setup: one stdio upstream (this binary), the local
/// OpenAI-compatible model stub at `llm`, and one agent.
fn demo_config(token: &str, llm: std::net::SocketAddr) -> anyhow::Result<Config> {
    let exe = std::env::current_exe()?.display().to_string();
    let hash = TokenHash::of(token).to_hex();
    let yaml = format!(
        r#"
upstreams:
  - name: demo
    transport: stdio
    command: {exe:?}
    args: [demo-upstream]
models:
  - name: demo-llm
    base_url: http://{llm}/v1
    models: {{demo-small: stub-small, demo-large: stub-large, demo-embed: stub-embed}}
agents:
  - name: demo-bot
    token_sha256: {hash}
    allow_tools: ["*"]
    deny_tools: ["crash"]
    allow_resources: ["*"]
    allow_prompts: ["*"]
    allow_models: ["*"]
"#
    );
    warden_config::parse(&yaml).map_err(anyhow::Error::msg)
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    data_dir: PathBuf,
    demo: bool,
    allow_plaintext_secrets: bool,
) -> anyhow::Result<()> {
    let mut demo_token = None;
    let config = match (config, demo) {
        (Some(_), true) => bail!("--demo runs a built-in config; drop --config (or drop --demo)"),
        (Some(path), false) => {
            let c = warden_config::load(&path)?;
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let plain = secret_cmd::plaintext_in_config(&text);
            if !plain.is_empty() && !allow_plaintext_secrets {
                bail!(
                    "{}: credentials written in plaintext:\n  {}\nMove each to a secret reference (store://, env://, file://, vault://), \
                     or start with --allow-plaintext-secrets",
                    path.display(),
                    plain.join("\n  ")
                );
            }
            for p in &plain {
                tracing::warn!(config = %path.display(), place = %p, "plaintext credential in the config (--allow-plaintext-secrets)");
            }
            c
        }
        (None, true) => {
            let t = std::env::var("WARDEN_DEMO_TOKEN").ok().filter(|t| !t.is_empty()).unwrap_or_else(random_token);
            // The demo's model upstream: the local OpenAI-compatible stub, on loopback.
            let llm = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the demo model stub")?;
            let c = demo_config(&t, llm.local_addr()?)?;
            tokio::spawn(warden_demo::llm::serve(llm));
            demo_token = Some(t);
            c
        }
        (None, false) => {
            bail!("no config: pass --config warden.yaml, or --demo for the built-in demo")
        }
    };
    let mut config = config;
    if config.audit.signing_key_file.is_none() {
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let path = data_dir.join(AUDIT_KEY_FILE).display().to_string();
        config.audit.signing_key_file = Some(warden_config::Str(path));
    }
    let url = store_url(None, Some(&config), &data_dir)?;
    let store = std::sync::Arc::new(
        warden_store::Store::open(&url).await.with_context(|| format!("opening store {}", redact_url(&url)))?,
    );
    let addr = listen
        .or(config.server.listen.map(|l| l.0))
        .unwrap_or_else(|| warden_config::DEFAULT_LISTEN.parse().expect("static"));
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let gw = warden_gateway::Gateway::new(&config, store, local)?;
    let conflicts = gw.start().await?;
    if !conflicts.is_empty() {
        gw.shutdown().await;
        bail!("name collisions between upstreams:\n  {}", conflicts.join("\n  "));
    }
    if let Some(t) = &demo_token {
        let admin_token = demo_inventory(&gw).await?;
        print_demo_banner(&config, &local, t, &admin_token);
    }
    warden_gateway::serve(gw, listener, shutdown_signal()).await
}

/// Hides a password in a database URL for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Demo: an inventory record for demo-bot (so the kill switch works on it) and a
/// fresh admin token (earlier demo admin tokens are revoked).
async fn demo_inventory(gw: &std::sync::Arc<warden_gateway::Gateway>) -> anyhow::Result<String> {
    if gw.store.agent("demo-bot").await?.is_none() {
        let spec: warden_core::inventory::AgentSpec = serde_json::from_value(serde_json::json!({
            "name": "demo-bot", "owner": "demo@example.com", "team": "demo",
            "purpose": "Warden demo agent", "allow_tools": ["*"], "deny_tools": ["crash"], "allow_models": ["*"],
            "allow_resources": ["*"], "allow_prompts": ["*"]
        }))?;
        warden_gateway::admin::inventory::create(gw, spec, "warden serve --demo", "demo setup")
            .await
            .map_err(|e| anyhow::anyhow!("demo inventory: {e:?}"))?;
    }
    let old: Vec<String> = gw
        .store
        .admin_tokens()
        .await?
        .into_iter()
        .filter(|t| t.name == "demo" && t.revoked_at.is_none())
        .map(|t| t.id)
        .collect();
    if !old.is_empty() {
        let mut w = gw.store.write().await?;
        for id in &old {
            w.revoke_admin_token(id).await?;
        }
        w.commit().await?;
    }
    let (_, token) = warden_gateway::admin::api::create_admin_token_in(
        &gw.store,
        "demo",
        "admin",
        &["*".into()],
        &[],
        "warden serve --demo",
    )
    .await
    .map_err(|e| anyhow::anyhow!("demo admin token: {e:?}"))?;
    Ok(token)
}

fn print_demo_banner(config: &Config, addr: &std::net::SocketAddr, token: &str, admin_token: &str) {
    let url = format!("http://{addr}/mcp");
    // The same file `warden openclaw config --agent demo-bot` writes for this demo.
    let wiring = openclaw_cmd::demo_wiring(config, addr);
    let openclaw = openclaw_cmd::render(&wiring);
    let plugin_note = if wiring.plugin_found {
        String::new()
    } else {
        "\n  (plugins.load.paths is a placeholder: set it to integrations/openclaw of a Warden checkout.)".to_string()
    };
    println!(
        r#"
Warden demo gateway is running.

  MCP URL:  {url}
  Agent:    demo-bot
  Token:    {token}

Try it:
  curl -s {url} -H 'Authorization: Bearer {token}' \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"curl","version":"1"}}}}}}'

Model proxy (OpenAI-compatible; a local stub model answers "echo: ..."):
  curl -s http://{addr}/v1/chat/completions -H 'Authorization: Bearer {token}' \
    -H 'Content-Type: application/json' \
    -d '{{"model":"demo-small","messages":[{{"role":"user","content":"hello"}}]}}'

Kill switch (admin token for this demo run: {admin_token}):
  WARDEN_ADMIN_TOKEN={admin_token} warden agent suspend demo-bot --reason "demo"
  WARDEN_ADMIN_TOKEN={admin_token} warden agent resume demo-bot --reason "demo"

Human approval: the destructive tool delete_file is held until someone decides:
  WARDEN_ADMIN_TOKEN={admin_token} warden approvals list
  WARDEN_ADMIN_TOKEN={admin_token} warden approvals approve apr_… --comment "ok"
  or in the web console: http://{addr}/console (sign in with the admin token above)

OpenClaw: models, MCP tools and built-in tools through Warden (the same as
`warden openclaw config --agent demo-bot`). Start OpenClaw with
  export WARDEN_TOKEN={token}
and this as ~/.openclaw/openclaw.json:{plugin_note}

{openclaw}"#
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
