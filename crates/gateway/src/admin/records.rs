//! The audit trail, read: filtered pages of records (newest first), one
//! record with its place in the chain, verification of the whole chain with
//! the gateway's own checkpoint key, and verifiable exports. The JSON API
//! (`/api/v1/audit/…`) and the console both call these; the caller checks
//! the auditor role first.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use warden_audit::{Checkpoint, KeyRing};
use warden_store::{AuditFilter, ExportError, StoredRecord};

use crate::Gateway;
use crate::admin::error::ApiError;

/// The most records one page holds.
pub const MAX_PAGE: usize = 500;

/// Which records to list: every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub verdict: Option<String>,
    /// Risk tier: `low`, `medium`, `high`, `critical`.
    pub tier: Option<String>,
    /// `call`, `list`, `decision`, `approval`, `inventory`, `policy`, `llm`, `admin`, …
    pub kind: Option<String>,
    /// At or after (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Before (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Only records older than this seq: the previous page's `next_before`.
    pub before_seq: Option<u64>,
    /// Records per page, clamped to 1..=500.
    pub limit: usize,
}

/// One page of records, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct RecordPage {
    /// Each record's stored JSON (the hashed body, with `seq` and `prev`) plus its `hash`.
    pub records: Vec<Value>,
    /// Pass as `before_seq` for the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
}

/// One record and where it stands in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct RecordDetail {
    /// The stored JSON plus its `hash`.
    pub record: Value,
    pub seq: u64,
    pub hash: String,
    /// The previous record's hash (all zeros for record 1).
    pub prev: String,
    /// The seq of the chain's head (the newest record).
    pub head_seq: u64,
    /// The signed checkpoint covering this record (the first at or after it), once there is one.
    pub checkpoint: Option<Checkpoint>,
}

/// The outcome of verifying the stored chain and its checkpoints.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyView {
    pub ok: bool,
    /// Records verified.
    pub records: u64,
    /// Checkpoint signatures verified.
    pub checkpoints: u64,
    /// The highest seq covered by a valid checkpoint.
    pub last_checkpoint: u64,
    /// Records after the last checkpoint: chained, not yet signed.
    pub unsigned_tail: u64,
    /// The seq where verification failed: the first tampered, missing or misplaced record.
    pub first_bad: Option<u64>,
    /// What kind of problem (`edited`, `deleted`, `broken_link`, `reordered`,
    /// `rewritten`, `bad_checkpoint`, `truncated`, `malformed`).
    pub kind: Option<String>,
    /// What is wrong, in words.
    pub problem: Option<String>,
}

fn record_json(r: &StoredRecord) -> Value {
    let mut v = r.body.clone();
    v["hash"] = json!(r.hash);
    v
}

/// A page of records matching `q`, newest first, paged by seq.
pub async fn query(gw: &Gateway, q: &RecordQuery) -> Result<RecordPage, ApiError> {
    let limit = q.limit.clamp(1, MAX_PAGE);
    let f = AuditFilter {
        agent: q.agent.clone(),
        tool: q.tool.clone(),
        verdict: q.verdict.clone(),
        kind: q.kind.clone(),
        tier: q.tier.clone(),
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        before_seq: q.before_seq,
        // One more than asked, to know whether an older page exists.
        limit: limit as i64 + 1,
    };
    let mut rows = gw.store.audit_query_newest(&f).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_before = if more { rows.last().map(|r| r.seq) } else { None };
    Ok(RecordPage { records: rows.iter().map(record_json).collect(), next_before })
}

/// Record `seq` with its hash, its predecessor's hash, the head and its checkpoint. 404 when not stored
/// (never written, or pruned by retention).
pub async fn record(gw: &Gateway, seq: u64) -> Result<RecordDetail, ApiError> {
    let r =
        gw.store.audit_record(seq).await?.ok_or_else(|| {
            ApiError::not_found(format!("audit record {seq} is not stored (never written, or pruned)"))
        })?;
    let head = gw.store.audit_head().await?;
    let checkpoint = gw.store.audit_checkpoint_at_or_after(seq).await?;
    Ok(RecordDetail {
        prev: r.body.get("prev").and_then(Value::as_str).unwrap_or_default().to_string(),
        record: record_json(&r),
        seq: r.seq,
        hash: r.hash,
        head_seq: head.seq,
        checkpoint,
    })
}

/// Verifies the whole stored chain and every checkpoint against this
/// gateway's checkpoint key (`audit.signing_key_file`; the same key
/// `warden audit verify` derives from that file).
pub async fn verify(gw: &Gateway) -> Result<VerifyView, ApiError> {
    let mut keys = KeyRing::default();
    keys.add(gw.audit.signer.public_key());
    let r = gw.store.verify_audit(&keys).await?;
    Ok(VerifyView {
        ok: r.ok(),
        records: r.records,
        checkpoints: r.checkpoints,
        last_checkpoint: r.last_checkpoint,
        unsigned_tail: r.unsigned_tail,
        first_bad: r.problem.as_ref().map(|p| p.seq),
        kind: r.problem.as_ref().map(|p| json!(p.kind).as_str().unwrap_or_default().to_string()),
        problem: r.problem.map(|p| p.message),
    })
}

/// A verifiable export (JSON Lines, `warden-audit-export/1`, the format
/// `warden audit export` writes, by the same code): a fresh checkpoint is
/// signed over the head first, then the segment runs from the checkpoint
/// before `since_ms` to the checkpoint covering the last record before
/// `until_ms` (or the fresh one). It verifies offline with
/// `warden audit verify --file F --public-key K`.
pub async fn export(gw: &Gateway, since_ms: Option<i64>, until_ms: Option<i64>) -> Result<String, ApiError> {
    if let Err(e) = gw.audit.checkpoint_now().await {
        tracing::warn!(error = %e, "export: no fresh checkpoint; the segment ends at the last one");
    }
    let mut buf = Vec::new();
    match gw.store.export_audit(since_ms, until_ms, &mut buf).await {
        Ok(_) => Ok(String::from_utf8(buf).unwrap_or_default()),
        Err(ExportError::Store(e)) => Err(ApiError::store(e)),
        Err(e @ (ExportError::NoCheckpoint | ExportError::NothingBefore)) => Err(ApiError::not_found(e.to_string())),
        Err(e) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())),
    }
}
