//! `warden scan`: skills, bundles, memory files and MCP definitions, offline.
//! Exit codes: 0 nothing at or above `--fail-on`; 1 a finding at or above
//! it; 2 the scan itself failed (a bad argument, lock or suppressions file).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use warden_scan::{Report, Scanner, Severity};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScanArgs {
    #[command(subcommand)]
    command: Option<ScanCommand>,
    /// Skill folders, bundles (.zip, .tar.gz, .tgz, nested), memory and
    /// instruction files, or whole OpenClaw workspace or state directories.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    out: Output,
    /// Record the content hash of every file scanned (the reviewed baseline).
    #[arg(long, value_name = "FILE")]
    write_lock: Option<PathBuf>,
    /// Report only what changed since this baseline, with its findings, and
    /// new persistent instructions in memory files.
    #[arg(long, value_name = "FILE", conflicts_with = "write_lock")]
    lock: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ScanCommand {
    /// Scan MCP definitions: every tool, prompt and resource (descriptions and
    /// schemas) and each server's instructions, from the configured upstreams
    /// or from saved `tools/list` JSON.
    Mcp {
        /// Connect to the upstreams of this config and scan what they serve.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Saved JSON: a `tools/list` result or response, or
        /// `{"server": {"tools": [...], "prompts": [...], "instructions": "..."}}`.
        #[arg(conflicts_with = "config")]
        files: Vec<PathBuf>,
        /// With --config: Warden's state directory (for store:// credentials), as for `serve`.
        #[arg(long, env = "WARDEN_DATA_DIR", default_value = "./warden-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Args, Clone)]
struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Level::High)]
    fail_on: Level,
    /// Text output: list findings at or above this severity (all are counted).
    #[arg(long, value_enum, default_value_t = Level::Low)]
    min_severity: Level,
    /// Reviewed suppressions (YAML: rule, path glob, reason, expires).
    #[arg(long, value_name = "FILE")]
    suppressions: Option<PathBuf>,
    /// Write the report here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = Colour::Auto)]
    color: Colour,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Clone, Copy, ValueEnum)]
enum Level {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    fn severity(self) -> Severity {
        match self {
            Level::Info => Severity::Info,
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
            Level::Critical => Severity::Critical,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Colour {
    Auto,
    Always,
    Never,
}

pub fn run(args: ScanArgs) -> std::process::ExitCode {
    match scan(args) {
        Ok(failed) => std::process::ExitCode::from(u8::from(failed)),
        Err(e) => {
            eprintln!("warden scan: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// True when a finding reaches `--fail-on`.
fn scan(args: ScanArgs) -> anyhow::Result<bool> {
    let scanner = Scanner::default();
    if let Some(ScanCommand::Mcp { config, files, data_dir, out }) = args.command {
        let defs = match config {
            Some(c) => crate::runtime()?.block_on(live_definitions(&c, &data_dir))?,
            None if files.is_empty() => {
                bail!("name saved tools/list JSON files, or --config to connect to the upstreams")
            }
            None => saved_definitions(&files)?,
        };
        let units = scanner.scan_definitions(&defs);
        let files = units.len();
        let bytes = defs.iter().map(|d| d.text.len() as u64).sum();
        return finish(Report { units, files, bytes }, &out);
    }
    if args.paths.is_empty() {
        bail!("name at least one path to scan (a skill folder, a bundle, a memory file or a workspace)");
    }
    let progress = std::io::stderr().is_terminal() && args.out.output.is_none();
    if progress {
        eprint!("reading…\r");
    }
    let loaded = warden_scan::source::read_paths(&args.paths, warden_scan::source::Limits::default());
    let mut last = std::time::Instant::now();
    let mut bar = |done: usize, total: usize| {
        // A bar on a terminal for large trees, redrawn at most ten times a second.
        if progress && total > 20 && last.elapsed().as_millis() >= 100 {
            last = std::time::Instant::now();
            let width = 30;
            let filled = done * width / total.max(1);
            eprint!("\r[{}{}] {done}/{total} units", "#".repeat(filled), ".".repeat(width - filled));
        }
    };
    let mut report = scanner.scan_with_progress(&loaded.inputs, loaded.findings, &mut bar);
    if progress {
        eprint!("\r{:60}\r", "");
    }
    if let Some(path) = &args.write_lock {
        let lock = warden_scan::lock::write(&loaded.inputs);
        std::fs::write(path, serde_json::to_string_pretty(&lock)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("baseline of {} files written to {}", lock.files.len(), path.display());
    }
    if let Some(path) = &args.lock {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let lock: warden_scan::lock::Lock =
            serde_json::from_str(&text).with_context(|| format!("{} is not a scan baseline", path.display()))?;
        warden_scan::lock::compare(&lock, &loaded.inputs, &mut report);
    }
    finish(report, &args.out)
}

fn finish(mut report: Report, out: &Output) -> anyhow::Result<bool> {
    if let Some(path) = &out.suppressions {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let list = warden_scan::suppress::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let today = time::OffsetDateTime::now_utc().date();
        let n = warden_scan::suppress::apply(&list, today, &mut report);
        if n > 0 {
            eprintln!("{n} finding(s) suppressed by {}", path.display());
        }
    }
    let colour = match out.color {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => {
            out.output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let text = match out.format {
        Format::Text => warden_scan::report::text::render(&report, out.min_severity.severity(), colour),
        Format::Json => serde_json::to_string_pretty(&warden_scan::report::json(&report))? + "\n",
        Format::Sarif => serde_json::to_string_pretty(&warden_scan::report::sarif::render(&report))? + "\n",
    };
    match &out.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(report.worst().is_some_and(|w| w >= out.fail_on.severity()))
}

/// Saved lists: a `tools/list` result (`{"tools": [...]}`), a JSON-RPC
/// response (`{"result": {...}}`), or servers by name.
fn saved_definitions(files: &[PathBuf]) -> anyhow::Result<Vec<warden_scan::mcp::Definition>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", f.display()))?;
        let v = v.get("result").cloned().unwrap_or(v);
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("saved");
        let known = ["tools", "prompts", "resources", "resourceTemplates", "instructions"];
        if known.iter().any(|k| v.get(k).is_some()) {
            out.extend(warden_scan::mcp::definitions(stem, &v));
        } else if let Some(servers) = v.as_object() {
            for (name, lists) in servers {
                out.extend(warden_scan::mcp::definitions(name, lists));
            }
        }
        if out.is_empty() {
            bail!("{}: no tools, prompts, resources or instructions found", f.display());
        }
    }
    Ok(out)
}

/// Connects to the config's upstreams as the gateway would (their
/// credentials from the config and store), lists everything, and returns
/// the definitions. An upstream that cannot be reached fails the scan.
async fn live_definitions(
    config: &std::path::Path,
    data_dir: &std::path::Path,
) -> anyhow::Result<Vec<warden_scan::mcp::Definition>> {
    let cfg = warden_config::load(config).map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    let url = crate::store_url(None, Some(&cfg), data_dir)?;
    let store = std::sync::Arc::new(
        warden_store::Store::open(&url).await.with_context(|| format!("opening store {}", crate::redact_url(&url)))?,
    );
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let gw = warden_gateway::Gateway::new(&cfg, store, addr)?;
    gw.start().await?;
    let mut out = Vec::new();
    for up in &gw.upstreams {
        let Some(conn) = up.connection() else {
            bail!("upstream {} could not be reached, so it was not scanned", up.name());
        };
        let mut lists = serde_json::json!({});
        if let Some(i) = conn.init_result().get("instructions") {
            lists["instructions"] = i.clone();
        }
        let caps = conn.init_result().get("capabilities").cloned().unwrap_or_default();
        for (cap, method, key) in [
            ("tools", "tools/list", "tools"),
            ("prompts", "prompts/list", "prompts"),
            ("resources", "resources/list", "resources"),
        ] {
            if caps.get(cap).is_none() {
                continue;
            }
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..100 {
                let params = cursor.as_ref().map(|c| serde_json::json!({"cursor": c}));
                let r = up
                    .request_as("warden-scan", method, params, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{} {method}: {e}", up.name()))?;
                let res = r.get("result").cloned().unwrap_or(r);
                all.extend(res.get(key).and_then(|x| x.as_array()).cloned().unwrap_or_default());
                cursor = res.get("nextCursor").and_then(|c| c.as_str()).map(str::to_string);
                if cursor.is_none() {
                    break;
                }
            }
            lists[key] = serde_json::Value::Array(all);
        }
        out.extend(warden_scan::mcp::definitions(up.name(), &lists));
    }
    Ok(out)
}
