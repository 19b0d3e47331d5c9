//! `warden-bench scan`: the scanner's throughput on one core. Builds
//! `--skills` skills by cycling the labelled corpus (each copy under its own
//! path, so nothing is cached), scans them in one thread, and reports MB/s
//! and the time per 1,000 skills. Same-run baseline: one SHA-256 pass over
//! the same bytes (what `--write-lock` costs, and a floor for "reading it").

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use warden_scan::source::{Limits, read_paths};
use warden_scan::{Input, Scanner};

#[derive(Parser)]
#[command(name = "warden-bench scan")]
pub struct ScanArgs {
    /// The corpus to cycle.
    #[arg(long, default_value = "tests/scan-corpus")]
    corpus: PathBuf,
    /// Skills to scan.
    #[arg(long, default_value_t = 1000)]
    skills: usize,
    /// Runs (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

pub fn run(a: ScanArgs) -> anyhow::Result<()> {
    let loaded = read_paths(std::slice::from_ref(&a.corpus), Limits::default());
    // Skills: the folders holding a SKILL.md; every file goes to the deepest one above it.
    let mut roots: Vec<String> =
        loaded.inputs.iter().filter_map(|i| i.path.strip_suffix("/SKILL.md").map(|r| format!("{r}/"))).collect();
    roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
    let mut by_root: std::collections::BTreeMap<&str, Vec<(String, &Input)>> = Default::default();
    for i in &loaded.inputs {
        if let Some(r) = roots.iter().find(|r| i.path.starts_with(r.as_str())) {
            by_root.entry(r).or_default().push((i.path[r.len()..].to_string(), i));
        }
    }
    let skills: Vec<Vec<(String, &Input)>> = by_root.into_values().collect();
    anyhow::ensure!(!skills.is_empty(), "no skills under {}", a.corpus.display());
    let mut inputs = Vec::new();
    for n in 0..a.skills {
        for (rest, i) in &skills[n % skills.len()] {
            inputs.push(Input { path: format!("s{n}/{rest}"), bytes: i.bytes.clone() });
        }
    }
    let bytes: usize = inputs.iter().map(|i| i.bytes.len()).sum();
    let scanner = Scanner::default();
    let _ = scanner.scan(&inputs[..inputs.len().min(50)], vec![]); // compile the rules
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut scan_s = Vec::new();
    let mut hash_s = Vec::new();
    let mut open_s = Vec::new();
    let mut findings = 0;
    for _ in 0..a.runs {
        let t = Instant::now();
        let mut x = 0u8;
        for i in &inputs {
            x ^= aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &i.bytes).as_ref()[0];
        }
        std::hint::black_box(x);
        hash_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = scanner.scan(&inputs, vec![]);
        scan_s.push(t.elapsed().as_secs_f64());
        findings = r.findings().count();
        // The same scan with every rule gate open (warden_detect::rx): what the gates save.
        warden_detect::rx::set_gates(false);
        let t = Instant::now();
        let r = scanner.scan(&inputs, vec![]);
        open_s.push(t.elapsed().as_secs_f64());
        warden_detect::rx::set_gates(true);
        anyhow::ensure!(r.findings().count() == findings, "the gates changed the findings");
    }
    let (s, h) = (median(scan_s), median(hash_s));
    let mb = bytes as f64 / 1e6;
    println!(
        "{} skills ({} files, {:.2} MB) from {} corpus skills, {} runs, one thread",
        a.skills,
        inputs.len(),
        mb,
        skills.len(),
        a.runs
    );
    println!("| pass | seconds (median) | MB/s | per 1,000 skills (s) |");
    println!("|---|---|---|---|");
    println!("| SHA-256 (baseline) | {h:.4} | {:.0} | {:.4} |", mb / h, h * 1000.0 / a.skills as f64);
    println!("| warden scan | {s:.4} | {:.1} | {:.3} |", mb / s, s * 1000.0 / a.skills as f64);
    let o = median(open_s);
    println!("| warden scan, gates open | {o:.4} | {:.1} | {:.3} |", mb / o, o * 1000.0 / a.skills as f64);
    println!("scan / SHA-256: {:.1}x the time; {findings} findings", s / h);
    let (per_tool, f) = definitions(200);
    println!("definition screening (gateway, at connect): {per_tool:.3} ms per tool over 200 tools, {f} findings");
    Ok(())
}

/// The gateway's screening of one MCP definition at connect time: every
/// tool of a 200-tool server built from realistic descriptions and schemas.
pub fn definitions(n: usize) -> (f64, usize) {
    let scanner = Scanner::default();
    let tools: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "name": format!("tool_{i}"),
                "description": format!("Search issues in project {i} by text, label and assignee. Returns at most `limit` issues, newest first, with their title, state, labels and URL. Use it before creating an issue to avoid duplicates."),
                "inputSchema": {"type": "object", "properties": {
                    "query": {"type": "string", "description": "Free text; supports quoted phrases."},
                    "labels": {"type": "array", "items": {"type": "string"}, "description": "Only issues with all of these labels."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "description": "How many to return."}
                }, "required": ["query"]},
                "annotations": {"readOnlyHint": true, "openWorldHint": true}
            })
        })
        .collect();
    let defs = warden_scan::mcp::definitions("bench", &serde_json::json!({"tools": tools}));
    let _ = scanner.scan_definitions(&defs[..10]);
    let t = Instant::now();
    let units = scanner.scan_definitions(&defs);
    let per_tool_ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    (per_tool_ms, units.iter().map(|u| u.findings.len()).sum())
}
