//! Trains the prompt-injection model from the train splits and writes the
//! weight file. Deterministic: the same inputs give the same bytes.
//!
//! `cargo run --release -p warden-detect --example train_pi -- OUT.wpi FILE[:REPEAT]...`
//! (see `scripts/train-pi.sh` for the files and weights that make the shipped model).

use warden_detect::model;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: train_pi OUT.wpi TRAIN.jsonl[:REPEAT]...");
        std::process::exit(2);
    }
    let mut examples = Vec::new();
    for spec in &args[1..] {
        let (path, repeat) = match spec.rsplit_once(':') {
            Some((p, r)) if r.parse::<usize>().is_ok() => (p, r.parse().unwrap()),
            _ => (spec.as_str(), 1),
        };
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let ex = model::read_jsonl(&text, repeat).unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("{path}: {} examples (x{repeat})", ex.len() / repeat.max(1));
        examples.extend(ex);
    }
    let s = model::TrainSettings::default();
    let m = model::train(&examples, &s);
    let bytes = m.to_bytes();
    std::fs::write(&args[0], &bytes).unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    eprintln!("wrote {} ({} bytes, 2^{} features, {} epochs)", args[0], bytes.len(), s.bits, s.epochs);
}
