//! Spans and their export over OTLP/HTTP (protobuf).
//!
//! A [`Trace`] collects the spans of one request (entry → policy decision →
//! approval wait → upstream call) and hands them to the [`Exporter`] when the
//! request ends. The exporter queue is bounded: when the backend is slow or
//! down, spans are dropped and counted (`warden_otlp_spans_dropped_total`),
//! and agent calls never wait on it.
//!
//! The protobuf encoding of `ExportTraceServiceRequest` is written by hand
//! (the message is small and stable), which keeps the OpenTelemetry SDK and its
//! runtime pitfalls out of the build.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::telemetry::metrics::Meters;
use crate::telemetry::trace::TraceContext;

#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Str(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

#[derive(Debug, Clone)]
pub struct SpanData {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub kind: Kind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attrs: Vec<(String, Attr)>,
    pub error: Option<String>,
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Hex ids were validated when the trace context was parsed or made.
fn parse_hex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let _ = hex::decode_to_slice(s, &mut out);
    out
}

pub fn new_span_id() -> [u8; 8] {
    let b = *uuid::Uuid::new_v4().as_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[..8]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

/// The spans of one request.
#[derive(Debug)]
pub struct Trace {
    pub ctx: TraceContext,
    pub root: [u8; 8],
    start_ns: u64,
    exporter: Option<Arc<Exporter>>,
    spans: Mutex<Vec<SpanData>>,
}

impl Trace {
    /// `exporter` None: ids only (for the audit record and propagation), nothing collected.
    pub fn new(ctx: TraceContext, exporter: Option<Arc<Exporter>>) -> Arc<Trace> {
        let exporter = exporter.filter(|_| ctx.sampled);
        Arc::new(Trace { ctx, root: new_span_id(), start_ns: now_ns(), exporter, spans: Mutex::new(Vec::new()) })
    }

    pub fn trace_id(&self) -> &str {
        &self.ctx.trace_id
    }

    pub fn recording(&self) -> bool {
        self.exporter.is_some()
    }

    /// A child of the entry span that started at `start_ns` and ends now.
    pub fn child(
        &self,
        id: [u8; 8],
        name: &str,
        kind: Kind,
        start_ns: u64,
        attrs: Vec<(String, Attr)>,
        error: Option<String>,
    ) {
        if !self.recording() {
            return;
        }
        let span = SpanData {
            trace_id: parse_hex(&self.ctx.trace_id),
            span_id: id,
            parent: Some(self.root),
            name: name.into(),
            kind,
            start_ns,
            end_ns: now_ns(),
            attrs,
            error,
        };
        self.spans.lock().unwrap().push(span);
    }

    /// Ends the entry span and queues the whole trace for export.
    pub fn finish(&self, name: &str, attrs: Vec<(String, Attr)>, error: Option<String>) {
        let Some(exp) = &self.exporter else { return };
        let root = SpanData {
            trace_id: parse_hex(&self.ctx.trace_id),
            span_id: self.root,
            parent: self.ctx.parent_span.as_deref().map(parse_hex),
            name: name.into(),
            kind: Kind::Server,
            start_ns: self.start_ns,
            end_ns: now_ns(),
            attrs,
            error,
        };
        let mut spans = std::mem::take(&mut *self.spans.lock().unwrap());
        spans.insert(0, root);
        exp.push(spans);
    }
}

pub fn s(k: &str, v: impl Into<String>) -> (String, Attr) {
    (k.to_string(), Attr::Str(v.into()))
}

pub fn i(k: &str, v: i64) -> (String, Attr) {
    (k.to_string(), Attr::Int(v))
}

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub queue: usize,
    pub batch: usize,
    pub service: String,
}

impl ExportSettings {
    /// Config first, then the standard `OTEL_EXPORTER_OTLP_*` variables. None: export is off.
    pub fn resolve(cfg: &warden_config::OtlpConfig, env: &dyn Fn(&str) -> Option<String>) -> Option<ExportSettings> {
        let url = cfg.endpoint.as_ref().map(|u| u.0.to_string()).or_else(|| {
            env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.is_empty()).or_else(|| {
                env("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .filter(|v| !v.is_empty())
                    .map(|b| format!("{}/v1/traces", b.trim_end_matches('/')))
            })
        })?;
        if let Some(p) = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            && !p.is_empty()
            && p != "http/protobuf"
        {
            tracing::warn!(protocol = %p, "only OTLP http/protobuf is supported; exporting with it");
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for var in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            for pair in env(var).unwrap_or_default().split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    let k = k.trim().to_string();
                    headers.retain(|(x, _)| !x.eq_ignore_ascii_case(&k));
                    headers.push((k, percent_decode(v.trim())));
                }
            }
        }
        for (k, v) in &cfg.headers {
            headers.retain(|(x, _)| !x.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.0.clone()));
        }
        let timeout = env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(cfg.timeout_ms.0);
        let service = cfg
            .service_name
            .as_ref()
            .map(|s| s.0.clone())
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| "warden".into());
        Some(ExportSettings {
            url,
            headers,
            timeout: Duration::from_millis(timeout.max(1)),
            queue: cfg.queue_size.0.max(1),
            batch: cfg.batch_size.0.max(1),
            service,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The bounded export queue and its sender task.
pub struct Exporter {
    queue: Mutex<VecDeque<SpanData>>,
    wake: Notify,
    settings: ExportSettings,
    meters: Arc<Meters>,
    pub sent: AtomicU64,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exporter({})", self.settings.url)
    }
}

impl Exporter {
    pub fn start(settings: ExportSettings, http: reqwest::Client, meters: Arc<Meters>) -> Arc<Exporter> {
        let e = Arc::new(Exporter {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            settings,
            meters,
            sent: AtomicU64::new(0),
        });
        tracing::info!(url = %e.settings.url, "exporting spans over OTLP/HTTP");
        tokio::spawn(e.clone().run(http));
        e
    }

    fn push(&self, spans: Vec<SpanData>) {
        let mut q = self.queue.lock().unwrap();
        let room = self.settings.queue.saturating_sub(q.len());
        let n = spans.len();
        q.extend(spans.into_iter().take(room));
        let wake = q.len() >= self.settings.batch;
        drop(q);
        if n > room {
            self.meters.spans_dropped.add(&["queue_full"], (n - room) as f64);
        }
        if wake {
            self.wake.notify_one();
        }
    }

    async fn run(self: Arc<Self>, http: reqwest::Client) {
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(500), self.wake.notified()).await;
            loop {
                let batch: Vec<SpanData> = {
                    let mut q = self.queue.lock().unwrap();
                    let n = q.len().min(self.settings.batch);
                    q.drain(..n).collect()
                };
                if batch.is_empty() {
                    break;
                }
                let body = encode_request(&self.settings.service, &batch);
                let mut rb = http
                    .post(&self.settings.url)
                    .timeout(self.settings.timeout)
                    .header("content-type", "application/x-protobuf")
                    .body(body);
                for (k, v) in &self.settings.headers {
                    rb = rb.header(k, v);
                }
                match rb.send().await {
                    Ok(r) if r.status().is_success() => {
                        self.meters.spans_exported.add(&[], batch.len() as f64);
                        self.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        tracing::warn!(%status, body = %text.chars().take(200).collect::<String>(), "OTLP export refused; spans dropped");
                        self.meters.spans_dropped.add(&["export_failed"], batch.len() as f64);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "OTLP export failed; spans dropped");
                        self.meters.spans_dropped.add(&["export_failed"], batch.len() as f64);
                    }
                }
            }
        }
    }
}

// --- protobuf ------------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, ((field as u64) << 3) | wire as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn message(out: &mut Vec<u8>, field: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    bytes_field(out, field, &inner);
}

fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn key_value(out: &mut Vec<u8>, field: u32, k: &str, v: &Attr) {
    message(out, field, |kv| {
        bytes_field(kv, 1, k.as_bytes());
        message(kv, 2, |any| match v {
            Attr::Str(s) => bytes_field(any, 1, s.as_bytes()),
            Attr::Bool(b) => {
                key(any, 2, 0);
                varint(any, *b as u64);
            }
            Attr::Int(n) => {
                key(any, 3, 0);
                varint(any, *n as u64);
            }
        });
    });
}

/// `ExportTraceServiceRequest` with one resource and one scope.
pub fn encode_request(service: &str, spans: &[SpanData]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * spans.len());
    message(&mut out, 1, |rs| {
        message(rs, 1, |res| {
            key_value(res, 1, "service.name", &Attr::Str(service.into()));
            key_value(res, 1, "service.version", &Attr::Str(env!("CARGO_PKG_VERSION").into()));
        });
        message(rs, 2, |ss| {
            message(ss, 1, |scope| {
                bytes_field(scope, 1, b"warden");
                bytes_field(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            for sp in spans {
                message(ss, 2, |m| {
                    bytes_field(m, 1, &sp.trace_id);
                    bytes_field(m, 2, &sp.span_id);
                    if let Some(p) = &sp.parent {
                        bytes_field(m, 4, p);
                    }
                    bytes_field(m, 5, sp.name.as_bytes());
                    key(m, 6, 0);
                    varint(m, sp.kind as u64);
                    fixed64(m, 7, sp.start_ns);
                    fixed64(m, 8, sp.end_ns.max(sp.start_ns));
                    for (k, v) in &sp.attrs {
                        key_value(m, 9, k, v);
                    }
                    message(m, 15, |st| {
                        if let Some(e) = &sp.error {
                            bytes_field(st, 2, e.as_bytes());
                            key(st, 3, 0);
                            varint(st, 2);
                        } else {
                            key(st, 3, 0);
                            varint(st, 1);
                        }
                    });
                });
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_varints_and_a_minimal_span() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let span = SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: None,
            name: "x".into(),
            kind: Kind::Server,
            start_ns: 5,
            end_ns: 6,
            attrs: vec![s("k", "v"), i("n", -1)],
            error: None,
        };
        let b = encode_request("svc", &[span]);
        // Outer field 1 (resource_spans), length-delimited.
        assert_eq!(b[0], 0x0a);
        let hay = String::from_utf8_lossy(&b);
        assert!(hay.contains("service.name") && hay.contains("svc") && hay.contains("warden"));
        // trace_id: field 1, 16 bytes of 0x01.
        let tid = [&[0x0a, 16][..], &[1u8; 16][..]].concat();
        assert!(b.windows(tid.len()).any(|w| w == tid.as_slice()));
        // A negative int64 is a 10-byte varint.
        assert!(b.windows(11).any(|w| w[0] == 0x18 && w[1..10].iter().all(|x| *x == 0xff) && w[10] == 0x01));
    }

    #[test]
    fn settings_follow_the_otel_environment() {
        let cfg = warden_config::OtlpConfig::default();
        let env = |k: &str| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:4318/".to_string()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-mlflow-experiment-id=7, authorization=Bearer%20abc".to_string()),
            "OTEL_SERVICE_NAME" => Some("gw".to_string()),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("250".to_string()),
            _ => None,
        };
        let s = ExportSettings::resolve(&cfg, &env).unwrap();
        assert_eq!(s.url, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(
            s.headers,
            vec![
                ("x-mlflow-experiment-id".to_string(), "7".to_string()),
                ("authorization".to_string(), "Bearer abc".to_string())
            ]
        );
        assert_eq!((s.service.as_str(), s.timeout), ("gw", Duration::from_millis(250)));
        assert!(ExportSettings::resolve(&cfg, &|_| None).is_none());
    }
}
