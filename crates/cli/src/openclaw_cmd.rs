//! `warden openclaw config`: the OpenClaw configuration that puts one agent behind Warden.
//!
//! One generator ([`settings`]) decides every key Warden writes into `openclaw.json`;
//! [`render`] prints them as a fresh JSON5 file with a comment on each, [`merge`] writes
//! them into an existing file. `warden serve --demo` prints the same output for demo-bot.
//!
//! What is written, and why (facts from OpenClaw 2026.9.6's own docs and config schema):
//!
//! - `models.providers.<provider>`: `baseUrl` `<server>/v1`, the agent's token as `apiKey`,
//!   `api: "openai-completions"`, and the models Warden exposes that the agent's
//!   `allow_models`/`deny_models` permit. `contextWindow`/`maxTokens` are not known to Warden
//!   (it proxies whatever the upstream serves), so they default to a conservative 32000/4096
//!   (OpenClaw compacts earlier rather than overflowing) and are set with `--context-window`
//!   and `--max-tokens`. `agents.defaults.model.primary` names the first one (embedding
//!   models skipped) unless `--primary`.
//! - `mcp.servers.<mcp-name>`: Warden's `/mcp` over streamable HTTP with a Bearer header.
//! - `tools.toolSearch: false` and `tools.codeMode: false`: tools are offered to the model
//!   under their own names, so proposed calls at `/v1`, MCP calls and the audit trail name the
//!   real tool instead of `tool_call`/`exec { code }` wrappers.
//! - The Warden plugin (`integrations/openclaw`): `plugins.load.paths` and
//!   `plugins.entries.warden`, so built-in tools (`exec`, `write`, `web_fetch`, ...) are decided
//!   by Warden's `/api/v1/decide` before they run.
//! - Defence in depth that does not fight Warden: `tools.fs.workspaceOnly: true` (file tools
//!   stay in the workspace), `tools.elevated.enabled: false` (no privileged path that skips
//!   approval checks), `tools.deny` adds `gateway`, `plugins` and `openclaw` (the tools an
//!   agent could use to rewrite its own OpenClaw config, e.g. unload the Warden plugin or point
//!   the provider elsewhere; Warden never needs the agent to have them), and
//!   `gateway.bind: "loopback"` (not for `--token kubernetes`, where a Service reaches the pod).
//!   Deliberately not set: `tools.exec.mode`/`ask` (`ask` in a headless run has no approval
//!   surface and is denied at once, so Warden's own approval hold never gets its say;
//!   `deny`/`allowlist` would refuse commands Warden's policy allows, without an audit record),
//!   and a sandbox (it needs a container backend that may not exist on the host; turn it on
//!   where one does).
//!
//! With `--merge`, Warden's wiring keys are overwritten, the defence keys are set only where
//! the file has no value of its own (a deliberate choice is kept and reported), and lists
//! (`tools.deny`, `plugins.load.paths`, an existing `plugins.allow`) gain the missing entries.
//! The file is edited with jsonc-parser's CST, so the user's comments and layout stay.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use warden_config::Config;
use warden_core::access::AccessRules;
use warden_core::inventory::{AgentRecord, Status};

use crate::audit_cmd::StoreArgs;

#[derive(Subcommand)]
pub enum OpenclawCommand {
    /// Print (or write, or merge) the openclaw.json that routes one agent's models, MCP tools and
    /// built-in tools through Warden.
    Config(Box<ConfigArgs>),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
pub enum Strategy {
    /// `${WARDEN_TOKEN}` from OpenClaw's environment (a config agent's static token).
    Static,
    /// OAuth client credentials: `warden token fetch` puts a short-lived JWT in WARDEN_TOKEN
    /// (a launcher; OpenClaw reads it at start) and in a file the plugin re-reads.
    ClientCredentials,
    /// A projected Kubernetes ServiceAccount token file.
    Kubernetes,
}

#[derive(Args)]
pub struct ConfigArgs {
    /// The agent (declared in the config's `agents:` or in the store's inventory).
    #[arg(long)]
    pub agent: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Warden's base URL as OpenClaw reaches it [default: server.public_url, else the listen address].
    #[arg(long)]
    pub server: Option<String>,
    /// Write a fresh file (refused if it exists, unless --force) instead of stdout.
    #[arg(long, conflicts_with = "merge")]
    pub out: Option<PathBuf>,
    /// With --out: overwrite an existing file.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Merge into an existing openclaw.json (JSON5); keeps its other keys and its comments, writes a .bak.
    #[arg(long)]
    pub merge: Option<PathBuf>,
    /// Where the agent's token comes from [default: static for a config agent, else client-credentials].
    #[arg(long, value_enum)]
    pub token: Option<Strategy>,
    /// Kubernetes: the projected ServiceAccount token file.
    #[arg(long, default_value = "/var/run/secrets/warden/token")]
    pub token_file: String,
    /// Client credentials: the file holding the client secret [default: ~/.config/warden/AGENT.secret].
    #[arg(long)]
    pub client_secret_file: Option<String>,
    /// Client credentials: the cached access token (the plugin's tokenFile) [default: ~/.cache/warden/AGENT.token].
    #[arg(long)]
    pub token_cache: Option<String>,
    /// The name OpenClaw gives Warden's MCP server; it must be one of Warden's
    /// `server.mcp_server_names`, so the model door knows its tools
    /// [default: the first of them, `warden`].
    #[arg(long)]
    pub mcp_name: Option<String>,
    #[arg(long, default_value = "warden")]
    pub provider_name: String,
    /// The Warden OpenClaw plugin directory [default: integrations/openclaw of this source tree].
    #[arg(long)]
    pub plugin_path: Option<String>,
    /// Models to offer when the config is not given (still filtered by the agent's allowlist).
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// The default model [default: the first permitted one that is not an embedding model].
    #[arg(long)]
    pub primary: Option<String>,
    /// contextWindow for each model (Warden does not know the upstream's).
    #[arg(long, default_value_t = 32000)]
    pub context_window: u64,
    /// maxTokens for each model.
    #[arg(long, default_value_t = 4096)]
    pub max_tokens: u64,
    /// Write the value of $WARDEN_TOKEN into the file instead of `${WARDEN_TOKEN}` (static only).
    #[arg(long)]
    pub show_secrets: bool,
}

/// Where the agent's credential comes from, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Static,
    ClientCredentials { secret_file: String, cache: String },
    Kubernetes { file: String },
}

/// Everything the generator needs; built from the config and inventory, or by the demo.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// Warden's base URL, no trailing slash.
    pub server: String,
    pub agent: String,
    /// Permitted exposed model names, in order.
    pub models: Vec<String>,
    pub primary: Option<String>,
    pub token: Token,
    pub mcp_name: String,
    pub provider_name: String,
    pub plugin_path: String,
    pub plugin_found: bool,
    pub context_window: u64,
    pub max_tokens: u64,
    /// `--show-secrets`: the literal token to write instead of `${WARDEN_TOKEN}`.
    pub inline_token: Option<String>,
}

pub const TOKEN_ENV: &str = "WARDEN_TOKEN";
pub const PLUGIN_ID: &str = "warden";
const PLUGIN_PLACEHOLDER: &str = "/path/to/warden/integrations/openclaw";

/// How `--merge` treats a key the file already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Warden's wiring: always written.
    Replace,
    /// Defence in depth: written only where the file has no value.
    KeepUser,
    /// A list: the missing entries are appended.
    Union,
    /// A list that is only extended when the file already has it (`plugins.allow`).
    UnionIfPresent,
}

#[derive(Debug, Clone)]
pub struct Setting {
    pub path: Vec<String>,
    pub value: Value,
    pub how: How,
    pub why: String,
}

fn set(path: &[&str], value: Value, how: How, why: impl Into<String>) -> Setting {
    Setting { path: path.iter().map(|s| s.to_string()).collect(), value, how, why: why.into() }
}

/// The default plugin directory: this source tree's `integrations/openclaw`, when it is there.
pub fn default_plugin_path() -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../integrations/openclaw");
    if dir.join("openclaw.plugin.json").is_file() {
        return Some(dir.canonicalize().unwrap_or(dir).display().to_string());
    }
    None
}

/// The default model: `--primary`, else the first permitted model that is not an embedding model.
fn pick_primary(models: &[String]) -> Option<String> {
    models.iter().find(|m| !m.to_ascii_lowercase().contains("embed")).or(models.first()).cloned()
}

/// Every key Warden writes, in file order.
pub fn settings(w: &Wiring) -> Vec<Setting> {
    let secret = || match &w.inline_token {
        Some(t) => t.clone(),
        None => format!("${{{TOKEN_ENV}}}"),
    };
    let (api_key, how_token) = match &w.token {
        Token::Static => {
            (secret(), format!("apiKey is the agent's Warden token, from ${TOKEN_ENV} in OpenClaw's environment"))
        }
        Token::ClientCredentials { .. } => (
            secret(),
            format!(
                "apiKey is a short-lived access token the launcher puts in ${TOKEN_ENV} (`warden token fetch`); \
                 OpenClaw reads it once at start, so restart it before the token expires"
            ),
        ),
        Token::Kubernetes { file } => (
            secret(),
            format!(
                "apiKey comes from ${TOKEN_ENV}, which the entrypoint reads from {file} at start \
                 (OpenClaw's file SecretRef refuses symlinked projected-volume files)"
            ),
        ),
    };
    let models: Vec<Value> = w
        .models
        .iter()
        .map(|m| {
            json!({"id": m, "name": m, "input": ["text"], "contextWindow": w.context_window, "maxTokens": w.max_tokens})
        })
        .collect();
    let p = w.provider_name.as_str();
    let m = w.mcp_name.as_str();
    let mut out = vec![set(
        &["models", "providers", p],
        json!({"baseUrl": format!("{}/v1", w.server), "apiKey": api_key, "api": "openai-completions", "models": models}),
        How::Replace,
        format!(
            "Every model call goes through Warden's /v1 (model allowlist, budget, guardrails, policy on proposed tool calls). \
             {how_token}. Models: those {}'s allowlist permits; contextWindow/maxTokens are conservative defaults \
             (Warden does not know the upstream's limits): --context-window, --max-tokens.",
            w.agent
        ),
    )];
    if let Some(primary) = &w.primary {
        out.push(set(
            &["agents", "defaults", "model", "primary"],
            json!(format!("{p}/{primary}")),
            How::Replace,
            "The default model is served through Warden.",
        ));
    }
    out.push(set(
        &["mcp", "servers", m],
        json!({"url": format!("{}/mcp", w.server), "transport": "streamable-http",
               "headers": {"Authorization": format!("Bearer {}", secret())}}),
        How::Replace,
        "One MCP URL: Warden shows this agent only the upstream tools, resources and prompts it may use. \
         MCP headers accept plain strings only (no SecretRef), so the token comes from the environment.",
    ));
    out.push(set(
        &["tools", "toolSearch"],
        json!(false),
        How::Replace,
        "Tools keep their own names for the model (no tool_search/tool_call wrappers), so Warden's audit trail names them.",
    ));
    out.push(set(
        &["tools", "codeMode"],
        json!(false),
        How::Replace,
        "No Code Mode: tool calls stay visible as calls, not as JavaScript inside exec.",
    ));
    out.push(set(
        &["plugins", "load", "paths"],
        json!([w.plugin_path]),
        How::Union,
        if w.plugin_found {
            "The Warden plugin: built-in tools (exec, write, web_fetch, ...) are decided by Warden before they run.".to_string()
        } else {
            format!(
                "The Warden plugin: built-in tools (exec, write, web_fetch, ...) are decided by Warden before they run. \
                 SET THIS to the integrations/openclaw directory of a Warden checkout (or pass --plugin-path); {PLUGIN_PLACEHOLDER} is a placeholder."
            )
        },
    ));
    out.push(set(
        &["plugins", "allow"],
        json!([PLUGIN_ID]),
        How::UnionIfPresent,
        "An existing plugin allowlist must name the Warden plugin.",
    ));
    let token_config = match &w.token {
        Token::Static => json!({"tokenEnv": TOKEN_ENV}),
        Token::ClientCredentials { cache, .. } => json!({"tokenFile": cache}),
        Token::Kubernetes { file } => json!({"tokenFile": file}),
    };
    let mut config = json!({"url": w.server, "timeoutMs": 5000, "approvalTimeoutMs": 120000, "mcpServers": [m]});
    if let (Value::Object(c), Value::Object(t)) = (&mut config, token_config) {
        c.extend(t);
    }
    let plugin_token = match &w.token {
        Token::Static => format!("token from ${TOKEN_ENV}"),
        Token::ClientCredentials { cache, .. } => {
            format!("token from {cache}, re-read when `warden token fetch` renews it")
        }
        Token::Kubernetes { file } => format!("token from {file}, re-read when the kubelet rotates it"),
    };
    out.push(set(
        &["plugins", "entries", PLUGIN_ID],
        json!({"enabled": true, "config": config}),
        How::Replace,
        format!(
            "Fails closed: no answer from Warden within timeoutMs blocks the call; a held call waits up to approvalTimeoutMs \
             for a human. Tools of MCP server {m:?} are already decided at /mcp and are not asked twice. The plugin's {plugin_token}."
        ),
    ));
    out.push(set(
        &["tools", "fs", "workspaceOnly"],
        json!(true),
        How::KeepUser,
        "Defence in depth: file tools stay inside the workspace.",
    ));
    out.push(set(
        &["tools", "elevated", "enabled"],
        json!(false),
        How::KeepUser,
        "Defence in depth: no elevated (privileged) execution path that skips approval checks.",
    ));
    out.push(set(
        &["tools", "deny"],
        json!(["gateway", "plugins", "openclaw"]),
        How::Union,
        "Defence in depth: the agent cannot rewrite its own OpenClaw config or plugins (e.g. unload the Warden plugin). \
         tools.exec.mode is left alone on purpose: `ask` has no approval surface in a headless run and denies at once, \
         which would cut off Warden's own approval holds; Warden's policy decides exec.",
    ));
    out.push(set(
        &["gateway", "mode"],
        json!("local"),
        How::KeepUser,
        "`openclaw gateway run` starts only with gateway.mode set (or --allow-unconfigured); local: this host runs it.",
    ));
    if !matches!(w.token, Token::Kubernetes { .. }) {
        out.push(set(
            &["gateway", "bind"],
            json!("loopback"),
            How::KeepUser,
            "Defence in depth: the OpenClaw Gateway listens on loopback only.",
        ));
    }
    out
}

// ---------------------------------------------------------------------------
// A fresh file: JSON with a `//` comment before each key Warden sets (JSON5).
// ---------------------------------------------------------------------------

enum Node {
    Obj(Vec<(String, Node, Option<String>)>),
    Leaf(Value),
}

fn insert(node: &mut Node, path: &[String], value: Value, why: &str) {
    let Node::Obj(entries) = node else { return };
    let (head, rest) = path.split_first().expect("non-empty path");
    if rest.is_empty() {
        entries.push((head.clone(), Node::Leaf(value), Some(why.to_string())));
        return;
    }
    let idx = match entries.iter().position(|(k, _, _)| k == head) {
        Some(i) => i,
        None => {
            entries.push((head.clone(), Node::Obj(Vec::new()), None));
            entries.len() - 1
        }
    };
    insert(&mut entries[idx].1, rest, value, why);
}

fn wrap(text: &str, indent: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + 3 + line.len() + 1 + word.len() > width {
            lines.push(format!("{indent}// {line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(format!("{indent}// {line}"));
    }
    lines
}

fn render_value(v: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let close = "  ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            out.push_str("{\n");
            let n = o.len();
            for (i, (k, v)) in o.iter().enumerate() {
                out.push_str(&format!("{pad}{}: ", Value::String(k.clone())));
                render_value(v, indent + 1, out);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{close}}}"));
        }
        Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            out.push_str("[\n");
            let n = a.len();
            for (i, v) in a.iter().enumerate() {
                out.push_str(&pad);
                render_value(v, indent + 1, out);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{close}]"));
        }
        Value::Array(a) => {
            out.push('[');
            out.push_str(&a.iter().map(Value::to_string).collect::<Vec<_>>().join(", "));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn render_node(node: &Node, indent: usize, out: &mut String) {
    match node {
        Node::Leaf(v) => render_value(v, indent, out),
        Node::Obj(entries) => {
            let pad = "  ".repeat(indent + 1);
            out.push_str("{\n");
            let n = entries.len();
            for (i, (k, child, why)) in entries.iter().enumerate() {
                if let Some(why) = why {
                    for l in wrap(why, &pad, 100) {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
                out.push_str(&format!("{pad}{}: ", Value::String(k.clone())));
                render_node(child, indent + 1, out);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", "  ".repeat(indent)));
        }
    }
}

/// A fresh `openclaw.json` (JSON5: JSON plus `//` comments) holding only Warden's keys.
pub fn render(w: &Wiring) -> String {
    let mut root = Node::Obj(Vec::new());
    for s in settings(w).into_iter().filter(|s| s.how != How::UnionIfPresent) {
        insert(&mut root, &s.path, s.value, &s.why);
    }
    let mut out = String::new();
    for l in wrap(
        &format!(
            "OpenClaw config for Warden agent {:?}: models, MCP tools and built-in tools all go through {}. \
             Generated by `warden openclaw config`; JSON5 (comments allowed).",
            w.agent, w.server
        ),
        "",
        100,
    ) {
        out.push_str(&l);
        out.push('\n');
    }
    render_node(&root, 0, &mut out);
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------
// Merging into an existing file, keeping its comments (jsonc-parser's CST).
// ---------------------------------------------------------------------------

fn parse_options() -> jsonc_parser::ParseOptions {
    // Everything JSON5 allows: comments, trailing commas, unquoted keys, single quotes, hex, +1, .5, Infinity.
    jsonc_parser::ParseOptions::default()
}

fn to_input(v: &Value) -> jsonc_parser::cst::CstInputValue {
    use jsonc_parser::cst::CstInputValue as I;
    match v {
        Value::Null => I::Null,
        Value::Bool(b) => I::Bool(*b),
        Value::Number(n) => I::Number(n.to_string()),
        Value::String(s) => I::String(s.clone()),
        Value::Array(a) => I::Array(a.iter().map(to_input).collect()),
        Value::Object(o) => I::Object(o.iter().map(|(k, v)| (k.clone(), to_input(v))).collect()),
    }
}

/// Parses JSON5 text (as OpenClaw reads it) into a value.
pub fn parse_json5(text: &str) -> anyhow::Result<Value> {
    let v: Option<Value> =
        jsonc_parser::parse_to_serde_value(text, &parse_options()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(v.unwrap_or(Value::Object(Default::default())))
}

/// Writes Warden's settings into `text`; returns the new text and notes for the user.
pub fn merge(text: &str, w: &Wiring) -> anyhow::Result<(String, Vec<String>)> {
    use jsonc_parser::cst::CstRootNode;
    let text = if text.trim().is_empty() { "{}" } else { text };
    let before = parse_json5(text)?;
    if !before.is_object() {
        bail!("the top level is not an object");
    }
    let root = CstRootNode::parse(text, &parse_options()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let top = root.object_value_or_set();
    let mut notes = Vec::new();
    for s in settings(w) {
        let (last, parents) = s.path.split_last().expect("non-empty path");
        let dotted = s.path.join(".");
        let mut at_path = Some(&before);
        for k in &s.path {
            at_path = at_path.and_then(|v| v.get(k));
        }
        if s.how == How::UnionIfPresent && !at_path.is_some_and(Value::is_array) {
            continue;
        }
        if s.how == How::KeepUser
            && let Some(existing) = at_path
        {
            if *existing != s.value {
                notes.push(format!("kept your {dotted} = {existing} (Warden suggests {})", s.value));
            }
            continue;
        }
        let mut obj = top.clone();
        for k in parents {
            obj = obj.object_value_or_set(k);
        }
        match s.how {
            How::Union | How::UnionIfPresent => {
                let arr = obj.array_value_or_set(last);
                let have: Vec<Value> = arr.elements().iter().filter_map(|e| e.to_serde_value()).collect();
                for item in s.value.as_array().into_iter().flatten() {
                    if !have.contains(item) {
                        arr.append(to_input(item));
                    }
                }
            }
            How::Replace | How::KeepUser => match obj.get(last) {
                Some(prop) => prop.set_value(to_input(&s.value)),
                None => {
                    obj.append(last, to_input(&s.value));
                }
            },
        }
    }
    let out = root.to_string();
    // The result must read back, and hold every value Warden wrote.
    let after = parse_json5(&out).context("the merged file does not parse (a bug: please report it)")?;
    for s in settings(w).iter().filter(|s| s.how == How::Replace) {
        let mut v = Some(&after);
        for k in &s.path {
            v = v.and_then(|x| x.get(k));
        }
        if v != Some(&s.value) {
            bail!("merging {} did not take (a bug: please report it)", s.path.join("."));
        }
    }
    Ok((out, notes))
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    let result = (|| -> anyhow::Result<()> {
        let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------
// Finding the agent.
// ---------------------------------------------------------------------------

/// What decides the agent's models, and where it was found.
pub struct Found {
    pub rules: AccessRules,
    pub static_agent: bool,
}

/// The agent's access rules: a config entry wins (as in the gateway), else its inventory spec.
/// A suspended or offboarded inventory record refuses either way.
pub fn find_agent(name: &str, config: Option<&Config>, record: Option<&AgentRecord>) -> anyhow::Result<Found> {
    if let Some(r) = record {
        match r.status {
            Status::Active => {}
            Status::Suspended => bail!(
                "agent {name} is suspended ({}): Warden refuses its tokens; `warden agent resume {name} --reason ...` first",
                if r.status_reason.is_empty() { "no reason given" } else { &r.status_reason }
            ),
            Status::Offboarded => {
                bail!("agent {name} is offboarded for good: its credentials are revoked; declare a new agent instead")
            }
        }
    }
    if let Some(a) = config.and_then(|c| c.agents.iter().find(|a| a.name.0 == name)) {
        return Ok(Found { rules: a.access_rules(), static_agent: true });
    }
    if let Some(r) = record {
        return Ok(Found { rules: r.spec.access_rules(), static_agent: false });
    }
    bail!("unknown agent {name:?}: it is neither in the config's agents nor in the inventory")
}

/// Exposed model names (config order of upstreams, names sorted within one) the rules permit.
pub fn permitted_models(config: Option<&Config>, extra: &[String], rules: &AccessRules) -> Vec<String> {
    let mut all: Vec<String> =
        config.map(|c| c.models.iter().flat_map(|m| m.models.keys().cloned()).collect()).unwrap_or_default();
    for m in extra {
        if !all.contains(m) {
            all.push(m.clone());
        }
    }
    all.into_iter().filter(|m| rules.models.permits(m)).collect()
}

/// Warden's base URL: explicit, else `server.public_url`, else the listen address (an
/// unspecified address becomes loopback), else the default.
pub fn server_url(explicit: Option<&str>, config: Option<&Config>) -> String {
    if let Some(s) = explicit {
        return s.trim_end_matches('/').to_string();
    }
    if let Some(u) = config.and_then(|c| c.server.public_url.as_ref()) {
        return u.0.as_str().trim_end_matches('/').to_string();
    }
    let mut addr = config
        .and_then(|c| c.server.listen.map(|l| l.0))
        .unwrap_or_else(|| warden_config::DEFAULT_LISTEN.parse().expect("static"));
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

fn home_path(rel: &str) -> String {
    match std::env::var("HOME") {
        Ok(h) if !h.is_empty() => format!("{h}/{rel}"),
        _ => rel.to_string(),
    }
}

/// The inventory record, when a store is there to ask. A missing default SQLite file is not
/// created (this command only reads).
async fn inventory(name: &str, store: &StoreArgs, config: Option<&Config>) -> anyhow::Result<Option<AgentRecord>> {
    let url = match store.store_url.clone().or_else(|| config.and_then(|c| c.store.url.as_ref().map(|u| u.0.clone()))) {
        Some(u) => u,
        None => {
            let db = store.data_dir.join("warden.db");
            if !db.is_file() {
                return Ok(None);
            }
            format!("sqlite://{}", db.display())
        }
    };
    let s =
        warden_store::Store::open(&url).await.with_context(|| format!("opening store {}", crate::redact_url(&url)))?;
    let r = s.agent(name).await;
    s.close().await;
    Ok(r?)
}

pub async fn run(cmd: OpenclawCommand) -> anyhow::Result<()> {
    let OpenclawCommand::Config(a) = cmd;
    let config = a.store.config.as_ref().map(|p| warden_config::load(p)).transpose()?;
    let record = inventory(&a.agent, &a.store, config.as_ref()).await?;
    if config.is_none()
        && record.is_none()
        && a.store.store_url.is_none()
        && !a.store.data_dir.join("warden.db").is_file()
    {
        bail!(
            "nothing to find agent {:?} in: pass --config warden.yaml, or --data-dir/--store-url of Warden's store",
            a.agent
        );
    }
    let found = find_agent(&a.agent, config.as_ref(), record.as_ref())?;
    let models = permitted_models(config.as_ref(), &a.models, &found.rules);
    if models.is_empty() {
        eprintln!(
            "warning: no model is offered to {} (none in the config's models, or none its allow_models permits); \
             the provider is written without models",
            a.agent
        );
    }
    if let Some(p) = &a.primary
        && !models.contains(p)
    {
        bail!("--primary {p}: not a model {} may use (permitted: {})", a.agent, models.join(", "));
    }
    let strategy = a.token.unwrap_or(if found.static_agent { Strategy::Static } else { Strategy::ClientCredentials });
    let token = match strategy {
        Strategy::Static => Token::Static,
        Strategy::ClientCredentials => Token::ClientCredentials {
            secret_file: a
                .client_secret_file
                .clone()
                .unwrap_or_else(|| home_path(&format!(".config/warden/{}.secret", a.agent))),
            cache: a.token_cache.clone().unwrap_or_else(|| home_path(&format!(".cache/warden/{}.token", a.agent))),
        },
        Strategy::Kubernetes => Token::Kubernetes { file: a.token_file.clone() },
    };
    let inline_token = if a.show_secrets {
        if token != Token::Static {
            bail!("--show-secrets only applies to --token static (the other strategies never put a token in the file)");
        }
        Some(
            std::env::var(TOKEN_ENV)
                .ok()
                .filter(|t| !t.is_empty())
                .with_context(|| format!("--show-secrets writes the value of ${TOKEN_ENV}, which is not set"))?,
        )
    } else {
        None
    };
    let (plugin_path, plugin_found) = match &a.plugin_path {
        Some(p) => (p.clone(), true),
        None => match default_plugin_path() {
            Some(p) => (p, true),
            None => (PLUGIN_PLACEHOLDER.to_string(), false),
        },
    };
    let known: Vec<String> = match &config {
        Some(c) => c.server.mcp_server_names.iter().map(|n| n.0.clone()).collect(),
        None => vec!["warden".to_string()],
    };
    let mcp_name = a.mcp_name.clone().unwrap_or_else(|| known.first().cloned().unwrap_or_else(|| "warden".into()));
    if !known.contains(&mcp_name) {
        bail!(
            "--mcp-name {mcp_name}: Warden's server.mcp_server_names is [{}]; add it there, or Warden's model door \
             will not know {mcp_name}__<tool> as its own MCP tools",
            known.join(", ")
        );
    }
    let w = Wiring {
        server: server_url(a.server.as_deref(), config.as_ref()),
        agent: a.agent.clone(),
        primary: a.primary.clone().or_else(|| pick_primary(&models)),
        models,
        token,
        mcp_name,
        provider_name: a.provider_name.clone(),
        plugin_path,
        plugin_found,
        context_window: a.context_window,
        max_tokens: a.max_tokens,
        inline_token,
    };
    let mode = if w.inline_token.is_some() { 0o600 } else { 0o644 };
    let mut notes = Vec::new();
    let target = if let Some(path) = &a.merge {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (merged, n) =
            merge(&text, &w).with_context(|| format!("{}: not a usable openclaw.json", path.display()))?;
        notes = n;
        let bak = PathBuf::from(format!("{}.bak", path.display()));
        std::fs::copy(path, &bak).with_context(|| format!("writing the backup {}", bak.display()))?;
        write_atomic(path, &merged, mode)?;
        eprintln!(
            "merged Warden's keys into {} (backup: {}); its comments and other keys are kept, \
             Warden's keys carry no explanations there (print them with the same command without --merge)",
            path.display(),
            bak.display()
        );
        Some(path.clone())
    } else if let Some(path) = &a.out {
        if path.exists() && !a.force {
            bail!("{} exists: pass --force to overwrite it, or --merge to merge into it", path.display());
        }
        write_atomic(path, &render(&w), mode)?;
        eprintln!("wrote {}", path.display());
        Some(path.clone())
    } else {
        print!("{}", render(&w));
        None
    };
    for n in &notes {
        eprintln!("note: {n}");
    }
    eprint!("{}", next_steps(&w, target.as_deref()));
    Ok(())
}

/// What the user still has to do, for stderr. Never holds a secret.
pub fn next_steps(w: &Wiring, file: Option<&Path>) -> String {
    let cfg = file.map(|p| p.display().to_string()).unwrap_or_else(|| "~/.openclaw/openclaw.json".into());
    let mut s = String::from("\nNext steps:\n");
    match &w.token {
        Token::Static => {
            s.push_str(&format!(
                "  1. Give OpenClaw the agent's token: export {TOKEN_ENV}=<{}'s token> in the Gateway's environment \
                 (or ~/.openclaw/.env). It is the token whose SHA-256 is the agent's token_sha256.\n",
                w.agent
            ));
        }
        Token::ClientCredentials { secret_file, cache } => {
            s.push_str(&format!(
                "  1. Put {agent}'s client secret (printed once by `warden agent create` or `rotate-secret`) in {secret_file}, \
                 mode 0600. OpenClaw reads ${TOKEN_ENV} once at start (MCP headers take no SecretRef, and its exec SecretRefs \
                 resolve only at startup or `openclaw secrets reload`), so start it through this launcher:\n\
                 \x20    {TOKEN_ENV}=\"$(warden token fetch --server {server} --client-id {agent} --client-secret-file {secret_file} --cache {cache})\" \\\n\
                 \x20      && export {TOKEN_ENV} && exec openclaw gateway run\n\
                 \x20    and restart it before the token expires (identity.token_ttl_secs, 900 s by default; up to 86400).\n\
                 \x20    Renew {cache} for the plugin meanwhile, e.g. every minute from cron: warden token fetch ... --cache {cache} >/dev/null\n",
                agent = w.agent,
                server = w.server,
            ));
        }
        Token::Kubernetes { file } => {
            s.push_str(&format!(
                "  1. Mount a projected ServiceAccount token at {file} (audience: Warden's, see identity.trusted_issuers) and start \
                 OpenClaw with {TOKEN_ENV}=\"$(cat {file})\" exec openclaw gateway run. The plugin re-reads {file}; the model \
                 provider and MCP server keep the token read at start, so keep the pod's restarts within the projected \
                 token's expirationSeconds.\n"
            ));
        }
    }
    if w.plugin_found {
        s.push_str(&format!(
            "  2. The plugin loads from {} (or install a copy: openclaw plugins install {}).\n",
            w.plugin_path, w.plugin_path
        ));
    } else {
        s.push_str(&format!(
            "  2. Set plugins.load.paths in {cfg}: {PLUGIN_PLACEHOLDER} is a placeholder for the integrations/openclaw \
             directory of a Warden checkout (or rerun with --plugin-path; or openclaw plugins install <dir>).\n"
        ));
    }
    s.push_str(&format!(
        "  3. Check: openclaw config validate; openclaw mcp doctor {} --probe; \
         curl -s {}/v1/models -H \"Authorization: Bearer ${TOKEN_ENV}\"\n",
        w.mcp_name, w.server
    ));
    if file.is_none() {
        s.push_str(
            "  The config went to stdout: save it as ~/.openclaw/openclaw.json, or use --out FILE / --merge FILE.\n",
        );
    }
    s
}

/// The wiring `warden serve --demo` prints: demo-bot, its static token from the environment.
pub fn demo_wiring(config: &Config, addr: &std::net::SocketAddr) -> Wiring {
    let found = find_agent("demo-bot", Some(config), None).expect("the demo config declares demo-bot");
    let models = permitted_models(Some(config), &[], &found.rules);
    let (plugin_path, plugin_found) = match default_plugin_path() {
        Some(p) => (p, true),
        None => (PLUGIN_PLACEHOLDER.to_string(), false),
    };
    Wiring {
        server: format!("http://{addr}"),
        agent: "demo-bot".into(),
        primary: pick_primary(&models),
        models,
        token: Token::Static,
        mcp_name: "warden".into(),
        provider_name: "warden".into(),
        plugin_path,
        plugin_found,
        context_window: 32000,
        max_tokens: 4096,
        inline_token: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring(token: Token) -> Wiring {
        Wiring {
            server: "http://127.0.0.1:8470".into(),
            agent: "a-bot".into(),
            models: vec!["demo-small".into()],
            primary: Some("demo-small".into()),
            token,
            mcp_name: "warden".into(),
            provider_name: "warden".into(),
            plugin_path: "/opt/warden/integrations/openclaw".into(),
            plugin_found: true,
            context_window: 32000,
            max_tokens: 4096,
            inline_token: None,
        }
    }

    #[test]
    fn fresh_file_parses_and_holds_every_setting() {
        let w = wiring(Token::Static);
        let text = render(&w);
        assert!(text.contains("// "), "comments expected");
        let v = parse_json5(&text).unwrap();
        assert_eq!(v["models"]["providers"]["warden"]["baseUrl"], "http://127.0.0.1:8470/v1");
        assert_eq!(v["models"]["providers"]["warden"]["apiKey"], "${WARDEN_TOKEN}");
        assert_eq!(v["mcp"]["servers"]["warden"]["headers"]["Authorization"], "Bearer ${WARDEN_TOKEN}");
        assert_eq!(v["agents"]["defaults"]["model"]["primary"], "warden/demo-small");
        assert_eq!(v["plugins"]["entries"]["warden"]["config"]["tokenEnv"], "WARDEN_TOKEN");
        assert_eq!(v["tools"]["toolSearch"], false);
        assert_eq!(v["gateway"]["bind"], "loopback");
        assert_eq!(v["gateway"]["mode"], "local");
        assert!(v["plugins"].get("allow").is_none());
    }

    #[test]
    fn merge_keeps_user_keys_and_comments() {
        let text = "// mine\n{\n  models: { providers: { other: { baseUrl: 'http://x/v1', }, }, },\n  // keep me\n  tools: { deny: ['browser'], fs: { workspaceOnly: false } },\n  plugins: { allow: ['foo'] },\n}\n";
        let (out, notes) = merge(text, &wiring(Token::Static)).unwrap();
        assert!(out.contains("// mine") && out.contains("// keep me"), "{out}");
        let v = parse_json5(&out).unwrap();
        assert_eq!(v["models"]["providers"]["other"]["baseUrl"], "http://x/v1");
        assert_eq!(v["tools"]["deny"], json!(["browser", "gateway", "plugins", "openclaw"]));
        assert_eq!(v["tools"]["fs"]["workspaceOnly"], false);
        assert_eq!(v["plugins"]["allow"], json!(["foo", "warden"]));
        assert!(notes.iter().any(|n| n.contains("tools.fs.workspaceOnly")), "{notes:?}");
        // Merging twice changes nothing more.
        let (again, _) = merge(&out, &wiring(Token::Static)).unwrap();
        assert_eq!(parse_json5(&again).unwrap(), v);
    }

    #[test]
    fn strategies_shape_the_plugin_token() {
        let cc = settings(&wiring(Token::ClientCredentials { secret_file: "/s".into(), cache: "/c".into() }));
        let plugin = cc.iter().find(|s| s.path.join(".") == "plugins.entries.warden").unwrap();
        assert_eq!(plugin.value["config"]["tokenFile"], "/c");
        let k = settings(&wiring(Token::Kubernetes { file: "/var/run/secrets/warden/token".into() }));
        assert!(k.iter().all(|s| s.path.join(".") != "gateway.bind"));
    }

    #[test]
    fn primary_skips_embedding_models() {
        assert_eq!(pick_primary(&["demo-embed".into(), "demo-large".into()]).as_deref(), Some("demo-large"));
        assert_eq!(pick_primary(&["e-embed".into()]).as_deref(), Some("e-embed"));
        assert_eq!(pick_primary(&[]), None);
    }
}
