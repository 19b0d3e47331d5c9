//! What a durable audit append costs, by batch size: the store's own audit
//! writer (on SQLite, its thread and connection, `synchronous=FULL`) appending
//! records like the gateway benchmark's (1 KB arguments), one batch at a time.
//!
//! `cargo run --release -p warden-store --example append_cost -- [SECS] [BATCH ...]`
//! (default: 3 seconds each for batches of 1, 4, 17, 32, 64 and 128).
//! Prints wall and CPU time (user + system, the whole process) per commit and
//! per record. Building the records is timed apart and subtracted.

use std::time::{Duration, Instant};

use warden_audit::Record;

/// User + system CPU seconds of this process so far.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name: state is the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let mut sizes: Vec<usize> = args.map(|s| s.parse()).collect::<Result<_, _>>()?;
    if sizes.is_empty() {
        sizes = vec![1, 4, 17, 32, 64, 128];
    }
    let dir = std::env::temp_dir().join(format!("warden-append-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = warden_store::Store::open(&format!("sqlite://{}/warden.db?mode=rwc", dir.display())).await?;
    let mut appender = store.audit_appender();
    let arg = "x".repeat(1024);
    println!("own connection: {}; data in {}", appender.own_connection(), dir.display());
    println!("| batch | commits | wall per commit (µs) | CPU per commit (µs) | CPU per record (µs) |");
    println!("|---|---|---|---|---|");
    let mut round = 0u64;
    for n in sizes {
        let (cpu0, t0) = (cpu_secs(), Instant::now());
        let mut commits = 0u64;
        while t0.elapsed() < Duration::from_secs_f64(secs) {
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
