//! `warden audit verify|query|export|public-key|checkpoint` and `warden usage`.
//! They read the store directly (the data dir, `--store-url`, or the config's
//! `store.url`), so verification does not depend on a running gateway.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use warden_audit::export::verify_export;
use warden_audit::{KeyRing, Report};
use warden_store::{AuditFilter, Store};

#[derive(Args, Clone)]
pub struct StoreArgs {
    #[arg(long, env = "WARDEN_DATA_DIR", default_value = "./warden-data", global = true)]
    pub data_dir: PathBuf,
    /// Store URL [default: the config's store.url, else SQLite in the data dir].
    #[arg(long, env = "WARDEN_STORE_URL", global = true)]
    pub store_url: Option<String>,
    /// The gateway's config (for store.url and audit.signing_key_file).
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain and every checkpoint signature; exit 1 naming the first tampering.
    Verify {
        /// Verify an exported segment offline instead of the store.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Trusted public key file(s) (`warden audit public-key`) [default: derived from the local signing key].
        #[arg(long = "public-key")]
        public_keys: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Records matching every filter given, oldest first.
    Query {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        tool: Option<String>,
        #[arg(long)]
        verdict: Option<String>,
        /// call, list, session, decision, approval, inventory, policy, llm.
        #[arg(long)]
        kind: Option<String>,
        /// RFC 3339 instant, YYYY-MM-DD, or an age such as 30m, 24h, 7d.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Write a verifiable segment: from the checkpoint before --since to a fresh checkpoint.
    Export {
        #[arg(long)]
        since: Option<String>,
        /// End at the checkpoint covering the last record before this instant [default: now].
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Output file [default: stdout].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Print the checkpoint public key (give it to whoever verifies exports).
    PublicKey,
    /// Sign a checkpoint over the current head now.
    Checkpoint,
    /// Apply retention now: prune records older than N days (keeping the chain verifiable).
    Prune {
        #[arg(long)]
        older_than_days: u64,
    },
}

#[derive(Args)]
pub struct UsageArgs {
    /// agent, tool or model.
    #[arg(long, default_value = "agent")]
    pub by: String,
    #[arg(long, default_value = "7d")]
    pub since: String,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

struct Ctx {
    store: Store,
    key_path: PathBuf,
}

async fn open(a: &StoreArgs) -> anyhow::Result<Ctx> {
    let config = a.config.as_ref().map(|p| warden_config::load(p)).transpose()?;
    let url = crate::store_url(a.store_url.clone(), config.as_ref(), &a.data_dir)?;
    let store = Store::open(&url).await.with_context(|| format!("opening store {}", crate::redact_url(&url)))?;
    let key_path = config
        .as_ref()
        .and_then(|c| c.audit.signing_key_file.as_ref().map(|p| PathBuf::from(p.as_str())))
        .unwrap_or_else(|| a.data_dir.join(crate::AUDIT_KEY_FILE));
    Ok(Ctx { store, key_path })
}

fn local_signer(path: &Path) -> anyhow::Result<warden_audit::Signer> {
    if !path.exists() {
        bail!("no audit signing key at {} (pass --config or --data-dir of the gateway)", path.display());
    }
    warden_gateway::pipeline::audit::load_or_create_key(path)
}

/// Milliseconds since the epoch for `7d`, `24h`, `30m`, `45s` (ago), an RFC 3339 instant or a date.
pub fn parse_when(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if let Ok(age) = warden_config::DurationValue::parse(s) {
        return Ok(warden_core::time::now_ms() - age.as_millis() as i64);
    }
    if let Some(ms) = warden_audit::record::parse_ms(s) {
        return Ok(ms);
    }
    if let Some(t) = warden_core::time::parse_instant_or_date(s) {
        // A bare date means its start here.
        return Ok((t.0 - 86_399) * 1000);
    }
    bail!("{s:?}: use an age such as 30m, 24h or 7d, an RFC 3339 instant, or YYYY-MM-DD")
}

fn print_report(r: &Report, what: &str, json_out: bool) -> anyhow::Result<()> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else if let Some(p) = &r.problem {
        eprintln!("{what} FAILED at record {} ({:?}): {}", p.seq, p.kind, p.message);
        if r.records > 0 {
            eprintln!("  records {}..{} verified before that", r.first_seq, r.last_seq);
        }
    } else {
        println!(
            "{what} OK: {} records (seq {}..{}), {} checkpoints verified, last signed record {}",
            r.records, r.first_seq, r.last_seq, r.checkpoints, r.last_checkpoint
        );
        if r.unsigned_tail > 0 {
            println!("  {} newer records are chained but not yet covered by a checkpoint", r.unsigned_tail);
        }
    }
    if !r.ok() {
        std::process::exit(1);
    }
    Ok(())
}

pub async fn audit(cmd: AuditCommand, a: StoreArgs) -> anyhow::Result<()> {
    if let AuditCommand::Verify { file: Some(file), public_keys, json } = &cmd {
        // Offline: nothing but the export and the public key.
        if public_keys.is_empty() {
            bail!("verifying an export needs --public-key FILE (from `warden audit public-key`)");
        }
        let keys = read_keys(public_keys)?;
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return print_report(&verify_export(&text, &keys), "audit export", *json);
    }
    let ctx = open(&a).await?;
    match cmd {
        AuditCommand::Verify { public_keys, json, .. } => {
            let keys = if public_keys.is_empty() {
                let mut k = KeyRing::default();
                k.add(local_signer(&ctx.key_path)?.public_key());
                k
            } else {
                read_keys(&public_keys)?
            };
            let r = ctx.store.verify_audit(&keys).await?;
            print_report(&r, "audit chain", json)
        }
        AuditCommand::Query { agent, tool, verdict, kind, since, until, limit, json } => {
            let f = AuditFilter {
                agent,
                tool,
                verdict,
                kind,
                since_ms: since.as_deref().map(parse_when).transpose()?,
                until_ms: until.as_deref().map(parse_when).transpose()?,
                limit,
                ..AuditFilter::default()
            };
            let rows = ctx.store.audit_query(&f).await?;
            if json {
                let out: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let mut v = r.body.clone();
                        v["hash"] = json!(r.hash);
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            println!(
                "{:>7}  {:<24}  {:<20}  {:<14}  {:<28}  {:<20}  {:<16}  {:>9}",
                "SEQ", "AT", "AGENT", "METHOD", "TOOL", "VERDICT", "RULE", "LATENCY"
            );
            for r in rows {
                let b = &r.body;
                let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let us = b.get("latency_us").and_then(Value::as_u64).unwrap_or(0);
                println!(
                    "{:>7}  {:<24}  {:<20}  {:<14}  {:<28}  {:<20}  {:<16}  {:>7.1}ms",
                    r.seq,
                    s("at"),
                    s("agent"),
                    s("method"),
                    s("tool"),
                    s("verdict"),
                    s("rule"),
                    us as f64 / 1000.0
                );
            }
            Ok(())
        }
        AuditCommand::Export { since, until, format, out } => {
            if format != "jsonl" {
                bail!("--format {format:?}: only jsonl is supported");
            }
            export(&ctx, since.as_deref(), until.as_deref(), out.as_deref()).await
        }
        AuditCommand::PublicKey => {
            print!("{}", local_signer(&ctx.key_path)?.public_key_line());
            Ok(())
        }
        AuditCommand::Checkpoint => {
            match ctx.store.checkpoint_head(&local_signer(&ctx.key_path)?).await? {
                Some(cp) => println!("signed checkpoint at record {} ({})", cp.seq, cp.key_id),
                None => println!("nothing to sign: the chain is empty or its head is already signed"),
            }
            Ok(())
        }
        AuditCommand::Prune { older_than_days } => {
            let cutoff = warden_core::time::now_ms() - older_than_days as i64 * 86_400_000;
            let n = ctx.store.prune_audit(cutoff).await?;
            println!(
                "pruned {n} records; the chain is anchored at record {}",
                ctx.store.audit_head().await?.anchor_seq
            );
            Ok(())
        }
    }
}

fn read_keys(files: &[PathBuf]) -> anyhow::Result<KeyRing> {
    let mut keys = KeyRing::default();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        keys.parse(&text).with_context(|| format!("{}", f.display()))?;
    }
    Ok(keys)
}

async fn export(ctx: &Ctx, since: Option<&str>, until: Option<&str>, out: Option<&Path>) -> anyhow::Result<()> {
    // End on a fresh checkpoint when the signing key is here; else on the last one.
    if let Ok(signer) = local_signer(&ctx.key_path) {
        ctx.store.checkpoint_head(&signer).await?;
    }
    let since = since.map(parse_when).transpose()?;
    let until = until.map(parse_when).transpose()?;
    let mut w: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let s = ctx.store.export_audit(since, until, &mut w).await?;
    eprintln!(
        "exported records {}..{} ({} records), ending with a signed checkpoint",
        s.first_seq, s.last_seq, s.records
    );
    Ok(())
}

pub async fn usage(a: UsageArgs) -> anyhow::Result<()> {
    let ctx = open(&a.store).await?;
    let since = parse_when(&a.since)?;
    let until = a.until.as_deref().map(parse_when).transpose()?.unwrap_or(warden_core::time::now_ms() + 1);
    let rows = ctx.store.audit_usage(&a.by, since, until).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<28}  {:>9}  {:>10}  {:>8}  {:>9}  {:>12}  {:>12}  {:>10}",
        a.by.to_uppercase(),
        "REQUESTS",
        "TOOL CALLS",
        "DENIALS",
        "APPROVALS",
        "TOKENS IN",
        "TOKENS OUT",
        "COST USD"
    );
    for r in rows {
        println!(
            "{:<28}  {:>9}  {:>10}  {:>8}  {:>9}  {:>12}  {:>12}  {:>10.4}",
            if r.key.is_empty() { "-" } else { &r.key },
            r.requests,
            r.tool_calls,
            r.denials,
            r.approvals,
            r.input_tokens,
            r.output_tokens,
            r.cost_micros as f64 / 1e6
        );
    }
    Ok(())
}
