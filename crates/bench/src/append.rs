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
    /// Replicas instead: a PostgreSQL server URL (a database on it is created
    /// per run). Measures 1 writer, N writers on one chain, and N writers on N
    /// chains (N databases: what one chain per replica would cost to write).
    #[arg(long)]
    postgres: Option<String>,
    /// Writers (replicas) for `--postgres`.
    #[arg(long, default_value_t = 3)]
    writers: usize,
}

pub async fn run(a: AppendArgs) -> anyhow::Result<()> {
    if a.batch.contains(&0) || !a.secs.is_finite() || a.secs <= 0.0 {
        anyhow::bail!("--batch sizes and --secs must be above zero");
    }
    if let Some(base) = &a.postgres {
        return replicas(base, a.writers, a.secs, a.batch[0]).await;
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

/// `writers` appenders, each on a store handle of its own (a replica), append
/// batches of `n` for `secs` seconds; returns records/s and per-commit p50/p99 ms.
async fn contend(urls: &[String], writers: usize, secs: f64, n: usize) -> anyhow::Result<(f64, f64, f64)> {
    let mut stores = Vec::new();
    for w in 0..writers {
        stores.push(warden_store::Store::open(&urls[w % urls.len()]).await?);
    }
    let arg = "x".repeat(1024);
    let t0 = Instant::now();
    let tasks = stores.iter().enumerate().map(|(w, store)| {
        let arg = &arg;
        async move {
            let mut appender = store.audit_appender();
            let mut lat = Vec::new();
            let mut round = (w as u64) << 40;
            while t0.elapsed() < Duration::from_secs_f64(secs) {
                round += 1;
                let mut records = batch(n, round, arg);
                let t = Instant::now();
                appender.append(&mut records).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(lat)
        }
    });
    let mut all = Vec::new();
    for r in futures::future::join_all(tasks).await {
        all.extend(r?);
    }
    let wall = t0.elapsed().as_secs_f64();
    for s in &stores {
        // Every chain verifies: the writers extended it, none forked it.
        let report = s.verify_audit(&warden_audit::KeyRing::default()).await?;
        anyhow::ensure!(report.ok(), "chain broken: {report:?}");
    }
    for s in stores {
        s.close().await;
    }
    all.sort_by(f64::total_cmp);
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok((all.len() as f64 * n as f64 / wall, p(0.5), p(0.99)))
}

async fn replicas(base: &str, writers: usize, secs: f64, n: usize) -> anyhow::Result<()> {
    anyhow::ensure!(writers >= 1, "--writers must be at least 1");
    let one = warden_store::testing::fresh_postgres_db(base).await;
    let shared = warden_store::testing::fresh_postgres_db(base).await;
    let mut own = Vec::new();
    for _ in 0..writers {
        own.push(warden_store::testing::fresh_postgres_db(base).await);
    }
    println!("PostgreSQL, batches of {n} records (1 KB arguments), {secs} s each");
    println!("| writers | chains | records/s | vs 1 writer | commit p50 ms | commit p99 ms |");
    println!("|---|---|---|---|---|---|");
    let (r1, p50, p99) = contend(std::slice::from_ref(&one), 1, secs, n).await?;
    println!("| 1 | 1 | {r1:.0} | 1.00 | {p50:.2} | {p99:.2} |");
    let (r, p50, p99) = contend(std::slice::from_ref(&shared), writers, secs, n).await?;
    println!("| {writers} | 1 (shared head) | {r:.0} | {:.2} | {p50:.2} | {p99:.2} |", r / r1);
    let (r, p50, p99) = contend(&own, writers, secs, n).await?;
    println!("| {writers} | {writers} (one per writer) | {r:.0} | {:.2} | {p50:.2} | {p99:.2} |", r / r1);
    Ok(())
}
