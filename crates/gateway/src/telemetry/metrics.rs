//! Prometheus primitives: labelled counters and histograms, rendered in the
//! text exposition format. Every metric family writes its HELP and TYPE lines
//! even before its first sample, so dashboards and alerts can rely on names.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Latency buckets, seconds: 50 µs to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    60.0,
];

/// Human decision time buckets, seconds: 1 s to 1 day.
pub const DECISION_BUCKETS: &[f64] =
    &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0];

#[derive(Debug, Clone, Default)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A counter family keyed by label values.
pub struct Counter {
    pub name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, f64>>,
}

impl Counter {
    pub const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Counter {
        Counter { name, help, labels, values: Mutex::new(BTreeMap::new()) }
    }

    pub fn add(&self, labels: &[&str], v: f64) {
        debug_assert_eq!(labels.len(), self.labels.len(), "{}", self.name);
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        *self.values.lock().unwrap().entry(key).or_insert(0.0) += v;
    }

    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1.0);
    }

    pub fn get(&self, labels: &[&str]) -> f64 {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.values.lock().unwrap().get(&key).copied().unwrap_or(0.0)
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter", self.name, self.help, self.name);
        for (k, v) in self.values.lock().unwrap().iter() {
            let _ = writeln!(out, "{}{} {}", self.name, label_set(self.labels, k, None), v);
        }
    }
}

/// A histogram family keyed by label values.
pub struct Histogram {
    pub name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
    values: Mutex<BTreeMap<Vec<String>, Hist>>,
}

impl Histogram {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Histogram {
        Histogram { name, help, labels, buckets, values: Mutex::new(BTreeMap::new()) }
    }

    pub fn observe(&self, labels: &[&str], secs: f64) {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        let mut m = self.values.lock().unwrap();
        let h = m.entry(key).or_insert_with(|| Hist { counts: vec![0; self.buckets.len()], ..Default::default() });
        if let Some(i) = self.buckets.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    pub fn count(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.values.lock().unwrap().get(&key).map_or(0, |h| h.count)
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} histogram", self.name, self.help, self.name);
        for (k, h) in self.values.lock().unwrap().iter() {
            let mut cum = 0;
            for (i, b) in self.buckets.iter().enumerate() {
                cum += h.counts[i];
                let _ = writeln!(out, "{}_bucket{} {cum}", self.name, label_set(self.labels, k, Some(&b.to_string())));
            }
            let _ = writeln!(out, "{}_bucket{} {}", self.name, label_set(self.labels, k, Some("+Inf")), h.count);
            let _ = writeln!(out, "{}_sum{} {}", self.name, label_set(self.labels, k, None), h.sum);
            let _ = writeln!(out, "{}_count{} {}", self.name, label_set(self.labels, k, None), h.count);
        }
    }
}

/// A gauge computed at scrape time: one sample per value of `label`, or one
/// unlabelled sample when `label` is empty.
pub fn gauge(out: &mut String, name: &str, help: &str, label: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (value, v) in samples {
        if label.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {v}", escape(value));
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn label_set(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut parts: Vec<String> = names.iter().zip(values).map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

/// Every metric family Warden exports from its own counters (gauges computed
/// at scrape time are written by `report::metrics`). `docs/METRICS.md` lists them all.
pub struct Meters {
    pub requests: Counter,
    pub overhead: Histogram,
    pub upstream: Histogram,
    pub approval_decision: Histogram,
    pub tokens: Counter,
    pub cost: Counter,
    pub findings: Counter,
    pub audit_records: Counter,
    pub audit_failures: Counter,
    pub audit_commit: Histogram,
    pub audit_write: Histogram,
    pub audit_checkpoints: Counter,
    pub spans_exported: Counter,
    pub spans_dropped: Counter,
    pub secret_failures: Counter,
    pub secrets_redacted: Counter,
}

impl Default for Meters {
    fn default() -> Self {
        Meters {
            requests: Counter::new(
                "warden_requests_total",
                "Decisions on agents' requests, by entry point, agent, verdict and risk tier.",
                &["entry", "agent", "verdict", "tier"],
            ),
            overhead: Histogram::new(
                "warden_gateway_overhead_seconds",
                "Time a request spent in Warden itself (total minus upstream time), by entry point.",
                &["entry"],
                LATENCY_BUCKETS,
            ),
            upstream: Histogram::new(
                "warden_upstream_seconds",
                "Time upstream servers took to answer, by upstream.",
                &["upstream"],
                LATENCY_BUCKETS,
            ),
            approval_decision: Histogram::new(
                "warden_approval_decision_seconds",
                "Time from an approval request to its outcome, by outcome.",
                &["outcome"],
                DECISION_BUCKETS,
            ),
            tokens: Counter::new(
                "warden_llm_tokens_total",
                "Model tokens, by agent, model and direction (input, output).",
                &["agent", "model", "direction"],
            ),
            cost: Counter::new(
                "warden_llm_cost_usd_total",
                "Model cost in US dollars, by agent and model.",
                &["agent", "model"],
            ),
            findings: Counter::new(
                "warden_guardrail_findings_total",
                "Guardrail findings, by detector and direction (input, output).",
                &["detector", "direction"],
            ),
            audit_records: Counter::new("warden_audit_records_total", "Audit records durably committed.", &[]),
            secret_failures: Counter::new(
                "warden_secret_failures_total",
                "Secret references that could not be resolved at their point of use (the call failed), by reference.",
                &["reference"],
            ),
            secrets_redacted: Counter::new(
                "warden_secrets_redacted_total",
                "Known secret values found and redacted in output, by where (result, approval, audit).",
                &["where"],
            ),
            audit_failures: Counter::new(
                "warden_audit_write_failures_total",
                "Audit batches that could not be committed (their calls were refused).",
                &[],
            ),
            audit_commit: Histogram::new(
                "warden_audit_commit_seconds",
                "Time to commit one group of audit records (one transaction, one sync).",
                &[],
                LATENCY_BUCKETS,
            ),
            audit_write: Histogram::new(
                "warden_audit_write_seconds",
                "Time from queueing an audit record to its durable commit.",
                &[],
                LATENCY_BUCKETS,
            ),
            audit_checkpoints: Counter::new("warden_audit_checkpoints_total", "Signed audit checkpoints written.", &[]),
            spans_exported: Counter::new(
                "warden_otlp_spans_exported_total",
                "Spans accepted by the OTLP backend.",
                &[],
            ),
            spans_dropped: Counter::new(
                "warden_otlp_spans_dropped_total",
                "Spans dropped, by reason (queue_full, export_failed).",
                &["reason"],
            ),
        }
    }
}

impl Meters {
    pub fn render(&self, out: &mut String) {
        for c in [
            &self.requests,
            &self.tokens,
            &self.cost,
            &self.findings,
            &self.audit_records,
            &self.audit_failures,
            &self.audit_checkpoints,
            &self.spans_exported,
            &self.spans_dropped,
            &self.secret_failures,
            &self.secrets_redacted,
        ] {
            c.render(out);
        }
        for h in [&self.overhead, &self.upstream, &self.approval_decision, &self.audit_commit, &self.audit_write] {
            h.render(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exposition_format() {
        let c = Counter::new("x_total", "Things.", &["agent", "verdict"]);
        c.inc(&["a\"b", "allow"]);
        c.add(&["a\"b", "allow"], 2.0);
        let h = Histogram::new("lat_seconds", "Latency.", &["entry"], &[0.1, 1.0]);
        h.observe(&["mcp"], 0.05);
        h.observe(&["mcp"], 0.5);
        h.observe(&["mcp"], 5.0);
        let mut out = String::new();
        c.render(&mut out);
        h.render(&mut out);
        assert!(out.contains("# TYPE x_total counter\nx_total{agent=\"a\\\"b\",verdict=\"allow\"} 3\n"), "{out}");
        assert!(out.contains("lat_seconds_bucket{entry=\"mcp\",le=\"0.1\"} 1\n"));
        assert!(out.contains("lat_seconds_bucket{entry=\"mcp\",le=\"1\"} 2\n"));
        assert!(out.contains("lat_seconds_bucket{entry=\"mcp\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("lat_seconds_count{entry=\"mcp\"} 3\n"));
    }
}
