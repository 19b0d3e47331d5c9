//! Reports: human text grouped by skill, JSON, and SARIF 2.1.0 for GitHub
//! code scanning.

pub mod sarif;
pub mod text;

use crate::Report;

/// The JSON report: every unit with its findings, and the totals.
pub fn json(r: &Report) -> serde_json::Value {
    let mut by_sev = serde_json::Map::new();
    for f in r.findings() {
        let e = by_sev.entry(f.severity.as_str()).or_insert(serde_json::json!(0));
        *e = serde_json::json!(e.as_u64().unwrap_or(0) + 1);
    }
    serde_json::json!({
        "version": 1,
        "files": r.files,
        "bytes": r.bytes,
        "worst": r.worst().map(|s| s.as_str()),
        "counts": by_sev,
        "units": r.units,
    })
}
