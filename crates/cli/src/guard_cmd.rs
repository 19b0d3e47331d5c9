//! `warden guard`: the detectors offline. `eval` reports the prompt-injection
//! detector's quality on a labelled JSON-lines file; `scan` prints the
//! findings on a text (stdin or a file).

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use warden_detect::{Detectors, Which, eval};

#[derive(clap::Subcommand, Debug)]
pub enum GuardCommand {
    /// Precision, recall, F1, FPR and recall at 1% FPR of the prompt-injection
    /// detector on `{"text", "label"}` lines (label 1 = injection); with
    /// `--secrets`, recall and false positives of the secret detector on a
    /// corpus of `{"text", "label", "type", "context", "secret"}` lines.
    Eval {
        file: PathBuf,
        /// Evaluate the secret detector (default rules) instead.
        #[arg(long)]
        secrets: bool,
        /// Score at or above which a text counts as an injection [default: the shipped threshold].
        #[arg(long)]
        threshold: Option<f32>,
        /// The rules only (no model).
        #[arg(long)]
        rules_only: bool,
        #[arg(long)]
        json: bool,
    },
    /// Findings of every detector on a text, as JSON lines.
    Scan {
        /// Read this file instead of stdin.
        file: Option<PathBuf>,
    },
}

pub fn guard(c: GuardCommand) -> anyhow::Result<()> {
    match c {
        GuardCommand::Eval { file, secrets: true, json, .. } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let cases = eval::read_secret_cases(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let q = eval::secrets(&warden_detect::SecretRules::defaults(), &cases);
            if json {
                println!("{}", serde_json::to_string(&q)?);
                return Ok(());
            }
            println!(
                "{}: {} positives, {} hard negatives\n  recall {:.3} ({} found)  false positives {:.3} ({})",
                file.display(),
                q.positives,
                q.negatives,
                q.recall,
                q.found,
                q.fpr,
                q.false_positives
            );
            let mut tally = std::collections::BTreeMap::<&str, usize>::new();
            for m in &q.misses {
                *tally.entry(m.as_str()).or_default() += 1;
            }
            for (what, n) in tally {
                println!("  missed {n}: {what}");
            }
            for f in &q.false_alarms {
                println!("  false positive: {f}");
            }
            Ok(())
        }
        GuardCommand::Eval { file, threshold, rules_only, json, .. } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let inj = warden_detect::Injection { use_model: !rules_only, ..Default::default() };
            let threshold = threshold.unwrap_or(inj.threshold);
            let mut scored = Vec::new();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let v: serde_json::Value =
                    serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", file.display(), n + 1))?;
                let (Some(t), Some(l)) = (v["text"].as_str(), v["label"].as_i64()) else {
                    anyhow::bail!("{}:{}: needs \"text\" (string) and \"label\" (0 or 1)", file.display(), n + 1);
                };
                scored.push((inj.score(t), l == 1));
            }
            let q = eval::quality(&scored, threshold);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"file": file.display().to_string(), "n": q.n, "positives": q.positives,
                        "threshold": q.threshold, "precision": q.precision, "recall": q.recall, "f1": q.f1,
                        "fpr": q.fpr, "recall_at_1pct_fpr": q.recall_at_1pct_fpr, "rules_only": rules_only})
                );
            } else {
                println!(
                    "{}: {} texts ({} injections), threshold {:.2}{}\n  precision {:.3}  recall {:.3}  F1 {:.3}  FPR {:.3}  recall@1%FPR {:.3}",
                    file.display(),
                    q.n,
                    q.positives,
                    q.threshold,
                    if rules_only { ", rules only" } else { "" },
                    q.precision,
                    q.recall,
                    q.f1,
                    q.fpr,
                    q.recall_at_1pct_fpr
                );
            }
            Ok(())
        }
        GuardCommand::Scan { file } => {
            let text = match file {
                Some(f) => std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
            };
            for f in Detectors::default().scan(&text, Which::all()) {
                println!("{}", serde_json::to_string(&f)?);
            }
            Ok(())
        }
    }
}
