//! What a durable audit append costs, by batch size: the store's own audit
//! writer (on SQLite, its thread and connection, `synchronous=FULL`) appending
//! records like the gateway benchmark's (1 KB arguments), one batch at a time.
//!
//! `warden-bench append [--secs S] [--batch N ...]` (default: 3 seconds each for
//! batches of 1, 4, 17, 32, 64 and 128). Prints wall and CPU time (user +
//! system, the whole process) per commit and per record. Building the records
//! is timed apart and subtracted.

use std::time::{Duration, Instant};

use clap::Parser;
use warden_audit::Record;

fn batch(n: usize, round: u64, arg: &str) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            id: format!("{round:016x}-{i:04x}"),
            at: "2026-11-21T10:00:00.000Z".into(),
            kind: "call".into(),
            entry: "mcp".into(),
            agent: "bench-bot".into(),
            owner: "platform-team".into(),
            session: "0195f2a1-7c4e-7d3a-9b1e-2f6a8c0d4e5f".into(),
            tool: "demo__echo".into(),
            method: "tools/call".into(),
            verdict: "allow".into(),
            rule: "default".into(),
            tier: "low".into(),
            upstream: "demo".into(),
            upstream_status: "ok".into(),
            args: serde_json::json!({ "text": arg }),
            args_sha256: "ab".repeat(32),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            latency_us: 420,
            upstream_us: 130,
            ..Record::default()
        })
        .collect()
}

#[derive(Parser)]
#[command(name = "warden-bench append")]
pub struct AppendArgs {
    /// Seconds per batch size.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Batch sizes to measure.
    #[arg(long, num_args = 1.., default_values_t = [1usize, 4, 17, 32, 64, 128])]
    batch: Vec<usize>,
}

pub async fn run(a: AppendArgs) -> anyhow::Result<()> {
    if a.batch.contains(&0) || !a.secs.is_finite() || a.secs <= 0.0 {
        anyhow::bail!("--batch sizes and --secs must be above zero");
    }
    let cpu_secs = || crate::cpu_secs(std::process::id());
    let dir = std::env::temp_dir().join(format!("warden-append-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = warden_store::Store::open(&format!("sqlite://{}/warden.db?mode=rwc", dir.display())).await?;
    let mut appender = store.audit_appender();
    let arg = "x".repeat(1024);
    println!("own connection: {}; data in {}", appender.own_connection(), dir.display());
    println!("| batch | commits | wall per commit (µs) | CPU per commit (µs) | CPU per record (µs) |");
    println!("|---|---|---|---|---|");
    let mut round = 0u64;
    for n in a.batch {
        let (cpu0, t0) = (cpu_secs(), Instant::now());
        let mut commits = 0u64;
        while t0.elapsed() < Duration::from_secs_f64(a.secs) {
            round += 1;
            let mut records = batch(n, round, &arg);
            appender.append(&mut records).await?;
            commits += 1;
        }
        let (cpu, wall) = (cpu_secs() - cpu0, t0.elapsed().as_secs_f64());
        // The same number of batches built and dropped, without the append.
        let c1 = cpu_secs();
        for r in 0..commits {
            std::hint::black_box(batch(n, r, &arg));
        }
        let cpu = (cpu - (cpu_secs() - c1)).max(0.0);
        let per = |x: f64, k: u64| x / k as f64 * 1e6;
        println!(
            "| {n} | {commits} | {:.0} | {:.0} | {:.1} |",
            per(wall, commits),
            per(cpu, commits),
            per(cpu, commits * n as u64)
        );
    }
    drop(appender);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
