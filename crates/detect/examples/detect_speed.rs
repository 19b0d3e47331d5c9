//! Detector speed on one core: a 22 KB agent request (OpenClaw-sized system
//! prompt plus history) scanned cold and through the per-message cache, and
//! raw throughput. `cargo run --release -p warden-detect --example detect_speed`
//! (bench/detect.sh runs it; BENCHMARKS.md has the figures). `ONLY_ALL=1` runs
//! just the all-detector loop for five seconds, for a profiler.

use std::sync::Arc;
use std::time::Instant;

use warden_detect::cache::ScanCache;
use warden_detect::{Detector, Detectors, Which};

fn p(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * q) as usize]
}

/// MB/s of scanning `messages` over and over for `secs`.
fn throughput(d: &Detectors, messages: &[String], which: Which, secs: f64) -> f64 {
    let t = Instant::now();
    let mut bytes = 0usize;
    while t.elapsed().as_secs_f64() < secs {
        for m in messages {
            std::hint::black_box(d.scan(m, which));
            bytes += m.len();
        }
    }
    bytes as f64 / t.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let d = Detectors::default();
    let para = "You are an autonomous engineering agent. Use the tools to read files, run tests and open pull requests. \
        Never push to main. Contact the owner at ops@example.com when blocked; the runbook lives at https://docs.example.com/runbook. ";
    let system: String = para.repeat(22_000 / para.len() + 1)[..20_000].to_string();
    let history: Vec<String> = (0..8)
        .map(|i| format!("turn {i}: please check the build log and summarise the failing tests in crate {i}"))
        .collect();
    let messages: Vec<String> = std::iter::once(system).chain(history).collect();
    let total: usize = messages.iter().map(String::len).sum();
    let which = Which::all();
    let mut cold = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        for m in &messages {
            std::hint::black_box(d.scan(m, which));
        }
        cold.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if std::env::var_os("ONLY_ALL").is_some() {
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < 5.0 {
            for m in &messages {
                std::hint::black_box(d.scan(m, which));
            }
        }
        return;
    }
    let cache = ScanCache::new(10_000);
    let mut warm = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        for (k, m) in messages.iter().enumerate() {
            // The newest message changes each turn; the rest is history.
            let text = if k == messages.len() - 1 { format!("{m} {i}") } else { m.clone() };
            let key = cache.key(b"all", &text);
            if cache.get(key).is_none() {
                cache.put(key, Arc::from(d.scan(&text, which)));
            }
        }
        warm.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mbs = throughput(&d, &messages, which, 3.0);
    let only = |d: Detector| Which::default().with(d);
    let parts = [
        ("secrets", only(Detector::Secrets)),
        ("credential instructions", only(Detector::CredentialInstructions)),
        ("prompt injection, rules", only(Detector::PromptInjection).without_injection_model()),
        ("prompt injection, rules + model", only(Detector::PromptInjection)),
        ("pii", only(Detector::Pii)),
        ("exfiltration", only(Detector::Exfiltration)),
    ];
    let per: Vec<(&str, f64)> = parts.iter().map(|&(name, w)| (name, throughput(&d, &messages, w, 1.0))).collect();
    println!("request: {total} bytes in {} messages", messages.len());
    println!("cold scan: p50 {:.3} ms  p99 {:.3} ms", p(&mut cold.clone(), 0.5), p(&mut cold, 0.99));
    println!("warm (history cached): p50 {:.3} ms  p99 {:.3} ms", p(&mut warm.clone(), 0.5), p(&mut warm, 0.99));
    println!("throughput, all detectors, one core: {mbs:.1} MB/s");
    for (name, mbs) in per {
        println!("  {name} alone: {mbs:.1} MB/s");
    }
}
