//! The human report: one block per skill (or loose file), worst first,
//! findings sorted by place; ANSI colour when asked (on a TTY).

use std::fmt::Write;

use crate::Report;
use crate::finding::Severity;

fn paint(s: &str, sev: Severity, colour: bool) -> String {
    if !colour {
        return s.to_string();
    }
    let code = match sev {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// `min`: findings below it are counted, not listed.
pub fn render(r: &Report, min: Severity, colour: bool) -> String {
    let mut out = String::new();
    let mut units: Vec<_> = r.units.iter().filter(|u| !u.findings.is_empty()).collect();
    units.sort_by(|a, b| b.worst().cmp(&a.worst()).then(a.name.cmp(&b.name)));
    let mut hidden = 0;
    for u in units {
        let shown: Vec<_> = u.findings.iter().filter(|f| f.severity >= min).collect();
        hidden += u.findings.len() - shown.len();
        if shown.is_empty() {
            continue;
        }
        let worst = u.worst().unwrap_or(Severity::Info);
        let what = if u.skill { "skill" } else { "file" };
        let _ = writeln!(
            out,
            "{} {} ({}, {} finding{})",
            paint(&format!("[{}]", worst.as_str().to_uppercase()), worst, colour),
            u.name,
            what,
            shown.len(),
            if shown.len() == 1 { "" } else { "s" }
        );
        for f in shown {
            let decoded = f.decoded_from.map(|d| format!(" (decoded from {d})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<8} {}:{}:{}  {}{}\n           {}\n           > {}",
                paint(f.severity.as_str(), f.severity, colour),
                f.file,
                f.line,
                f.column,
                f.rule,
                decoded,
                f.message,
                f.evidence
            );
        }
        out.push('\n');
    }
    let total = r.findings().count();
    let _ = write!(
        out,
        "{} file{} ({} bytes) in {} unit{}: {} finding{}",
        r.files,
        if r.files == 1 { "" } else { "s" },
        r.bytes,
        r.units.len(),
        if r.units.len() == 1 { "" } else { "s" },
        total,
        if total == 1 { "" } else { "s" }
    );
    if hidden > 0 {
        let _ = write!(out, " ({hidden} below {} not shown)", min.as_str());
    }
    match r.worst() {
        Some(w) => {
            let _ = writeln!(out, "; worst: {}", paint(w.as_str(), w, colour));
        }
        None => out.push_str("; clean\n"),
    }
    out
}
