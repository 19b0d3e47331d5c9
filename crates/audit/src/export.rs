//! The export format: JSON Lines, one object per line, `type` first.
//!
//! ```text
//! {"type":"header","format":"warden-audit-export/1","exported_at":…,"first_seq":N,"last_seq":M,"anchor":<checkpoint|null>}
//! {"type":"record", …every record field…, "hash":"…"}
//! {"type":"checkpoint","seq":…,"at":…,"hash":…,"key_id":…,"signature":…}
//! ```
//!
//! A segment starts right after its anchor checkpoint (or at record 1) and
//! ends with a checkpoint covering its last record, so it verifies on its own
//! with nothing but the public key. A SIEM can ingest the `record` lines as
//! flat JSON objects.

use serde_json::{Map, Value, json};

use crate::checkpoint::{Checkpoint, KeyRing};
use crate::verify::{Problem, ProblemKind, Report, Verifier};

pub const FORMAT: &str = "warden-audit-export/1";

pub fn header_line(exported_at: &str, first_seq: u64, last_seq: u64, anchor: Option<&Checkpoint>) -> String {
    json!({"type": "header", "format": FORMAT, "exported_at": exported_at, "first_seq": first_seq,
           "last_seq": last_seq, "anchor": anchor})
    .to_string()
}

/// A record line: the record's fields, then its hash.
pub fn record_line(body: &Value, hash: &str) -> String {
    let mut m = Map::new();
    m.insert("type".into(), json!("record"));
    if let Value::Object(b) = body {
        m.extend(b.clone());
    }
    m.insert("hash".into(), json!(hash));
    Value::Object(m).to_string()
}

pub fn checkpoint_line(cp: &Checkpoint) -> String {
    let mut v = serde_json::to_value(cp).expect("checkpoints serialise");
    v.as_object_mut().expect("object").insert("type".into(), json!("checkpoint"));
    v.to_string()
}

fn malformed(line: usize, why: impl std::fmt::Display) -> Report {
    Report {
        problem: Some(Problem { seq: 0, kind: ProblemKind::Malformed, message: format!("line {line}: {why}") }),
        ..Report::default()
    }
}

/// Verifies an exported segment with the given public keys.
pub fn verify_export(text: &str, keys: &KeyRing) -> Report {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return malformed(1, "empty export");
    };
    let header: Value = match serde_json::from_str(first) {
        Ok(v) => v,
        Err(e) => return malformed(1, e),
    };
    if header.get("type").and_then(Value::as_str) != Some("header")
        || header.get("format").and_then(Value::as_str) != Some(FORMAT)
    {
        return malformed(1, format!("not a {FORMAT} header"));
    }
    let anchor: Option<Checkpoint> = match header.get("anchor") {
        None | Some(Value::Null) => None,
        Some(a) => match serde_json::from_value(a.clone()) {
            Ok(cp) => Some(cp),
            Err(e) => return malformed(1, format!("anchor: {e}")),
        },
    };
    let mut v = Verifier::new(keys, anchor.as_ref());
    for (i, line) in lines {
        let n = i + 1;
        let mut obj: Map<String, Value> = match serde_json::from_str(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return malformed(n, "not a JSON object"),
            Err(e) => return malformed(n, e),
        };
        match obj.remove("type").as_ref().and_then(Value::as_str) {
            Some("record") => {
                let Some(Value::String(hash)) = obj.remove("hash") else {
                    return malformed(n, "record without hash");
                };
                v.record(None, &Value::Object(obj), &hash, &[]);
            }
            Some("checkpoint") => match serde_json::from_value::<Checkpoint>(Value::Object(obj)) {
                Ok(cp) => v.checkpoint(cp),
                Err(e) => return malformed(n, format!("checkpoint: {e}")),
            },
            _ => return malformed(n, "unknown line type"),
        }
        if v.done() {
            break;
        }
    }
    let mut report = v.finish();
    let expected_last = header.get("last_seq").and_then(Value::as_u64).unwrap_or(0);
    let end = if report.records > 0 { report.last_seq } else { anchor.as_ref().map_or(0, |a| a.seq) };
    if report.problem.is_none() && end != expected_last {
        report.problem = Some(Problem {
            seq: report.last_seq + 1,
            kind: ProblemKind::Truncated,
            message: format!(
                "the header says the segment ends at record {expected_last}, but its last record is {end}"
            ),
        });
    }
    if report.problem.is_none() && report.unsigned_tail > 0 {
        report.problem = Some(Problem {
            seq: report.last_checkpoint + 1,
            kind: ProblemKind::Truncated,
            message: format!(
                "records {}..{} are not covered by a checkpoint; a complete segment ends with one",
                report.last_checkpoint + 1,
                report.last_seq
            ),
        });
    }
    report
}
