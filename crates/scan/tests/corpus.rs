//! The labelled corpus (`tests/scan-corpus`): every malicious skill must be
//! flagged (a finding at `high` or above) and no benign one may be, on
//! every split; and OpenClaw's own bundled skills (real-world, benign),
//! when the test dependencies are installed, must not be flagged either.
//! Prints recall per family and the false-positive rate (BENCHMARKS.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use warden_scan::source::{Limits, read_paths};
use warden_scan::{Scanner, Severity};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn flagged(scanner: &Scanner, dir: &Path) -> (bool, Vec<String>) {
    let loaded = read_paths(&[dir.to_path_buf()], Limits::default());
    let r = scanner.scan(&loaded.inputs, loaded.findings);
    let high: Vec<String> = r
        .findings()
        .filter(|f| f.severity >= Severity::High)
        .map(|f| format!("{} {}:{}", f.rule, f.file, f.line))
        .collect();
    (!high.is_empty(), high)
}

#[test]
fn the_labelled_corpus_is_classified_on_every_split() {
    let corpus = root().join("tests/scan-corpus");
    let labels: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus.join("labels.json")).unwrap()).unwrap();
    let scanner = Scanner::default();
    let mut failures = Vec::new();
    // split -> (tp, fn, fp, tn); family -> (flagged, total)
    let mut splits: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut families: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (key, v) in &labels {
        let split = key.split('/').next().unwrap().to_string();
        let malicious = v["label"] == "malicious";
        let (hit, why) = flagged(&scanner, &corpus.join(key));
        let s = splits.entry(split).or_default();
        match (malicious, hit) {
            (true, true) => s[0] += 1,
            (true, false) => {
                s[1] += 1;
                failures.push(format!("missed {key}"));
            }
            (false, true) => {
                s[2] += 1;
                failures.push(format!("false positive {key}: {why:?}"));
            }
            (false, false) => s[3] += 1,
        }
        for f in v["families"].as_array().into_iter().flatten() {
            let e = families.entry(f.as_str().unwrap().to_string()).or_default();
            e.1 += 1;
            e.0 += usize::from(hit);
        }
    }
    println!("| split | malicious flagged | recall | benign flagged | false-positive rate |");
    println!("|---|---|---|---|---|");
    for (split, [tp, fneg, fp, tn]) in &splits {
        println!(
            "| {split} | {tp}/{} | {:.1}% | {fp}/{} | {:.1}% |",
            tp + fneg,
            100.0 * *tp as f64 / (tp + fneg) as f64,
            fp + tn,
            100.0 * *fp as f64 / (fp + tn) as f64
        );
    }
    println!("| family | skills flagged |");
    println!("|---|---|");
    for (f, (hit, n)) in &families {
        println!("| {f} | {hit}/{n} |");
    }
    assert!(labels.len() >= 100, "the corpus shrank: {}", labels.len());
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn openclaws_bundled_skills_are_not_flagged() {
    let skills = root().join(".tools/openclaw/node_modules/openclaw/skills");
    if !skills.is_dir() {
        assert!(std::env::var("CI").is_err(), "CI installs OpenClaw (scripts/install-test-deps.sh) before the tests");
        eprintln!("skipped: {} is not installed", skills.display());
        return;
    }
    let scanner = Scanner::default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&skills)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("SKILL.md").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 40, "{} skills", dirs.len());
    let flagged: Vec<(PathBuf, Vec<String>)> = dirs
        .iter()
        .map(|d| (d.clone(), flagged(&scanner, d)))
        .filter(|(_, (h, _))| *h)
        .map(|(d, (_, w))| (d, w))
        .collect();
    println!("OpenClaw bundled skills flagged: {}/{}", flagged.len(), dirs.len());
    assert!(flagged.is_empty(), "{flagged:#?}");
}
