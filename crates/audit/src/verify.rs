//! Streaming chain verification. Records arrive in chain order (with the seq
//! the store keeps them under, when there is one); checkpoints arrive before
//! the records they cover. The first inconsistency is named by its seq and
//! kind, and verification stops there.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::{Checkpoint, KeyRing};
use crate::record::{GENESIS, record_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A record's content no longer matches its hash, or its indexed columns disagree with it.
    Edited,
    /// Records are missing from the chain.
    Deleted,
    /// A record does not follow its predecessor (something was inserted or replaced before it).
    BrokenLink,
    /// Records are out of order or duplicated.
    Reordered,
    /// A signed checkpoint does not match the record it covers: history was rewritten.
    Rewritten,
    /// A checkpoint's signature is invalid or by an unknown key.
    BadCheckpoint,
    /// A checkpoint covers records that are gone from the end of the chain.
    Truncated,
    /// A record or line that cannot be read.
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub seq: u64,
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub records: u64,
    pub checkpoints: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The highest seq covered by a valid checkpoint.
    pub last_checkpoint: u64,
    /// Records after the last checkpoint: chained, but not yet signed.
    pub unsigned_tail: u64,
    pub problem: Option<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

pub struct Verifier<'k> {
    keys: &'k KeyRing,
    expected: u64,
    prev: String,
    pending: BTreeMap<u64, Checkpoint>,
    report: Report,
}

impl<'k> Verifier<'k> {
    /// A chain starting at seq 1, or (with `anchor`) right after a signed checkpoint.
    pub fn new(keys: &'k KeyRing, anchor: Option<&Checkpoint>) -> Verifier<'k> {
        let mut v = Verifier {
            keys,
            expected: 1,
            prev: GENESIS.to_string(),
            pending: BTreeMap::new(),
            report: Report::default(),
        };
        if let Some(a) = anchor {
            match keys.verify(a) {
                Ok(()) => {
                    v.expected = a.seq + 1;
                    v.prev = a.hash.clone();
                    v.report.last_checkpoint = a.seq;
                    v.report.checkpoints = 1;
                }
                Err(why) => v.fail(
                    a.seq,
                    ProblemKind::BadCheckpoint,
                    format!("the anchor checkpoint at record {} cannot be trusted: {why}", a.seq),
                ),
            }
        }
        v
    }

    pub fn done(&self) -> bool {
        self.report.problem.is_some()
    }

    fn fail(&mut self, seq: u64, kind: ProblemKind, message: String) {
        if self.report.problem.is_none() {
            self.report.problem = Some(Problem { seq, kind, message });
        }
    }

    /// A checkpoint, fed before the record it covers or right after it.
    pub fn checkpoint(&mut self, cp: Checkpoint) {
        if self.done() {
            return;
        }
        if self.report.records == 0 && cp.seq + 1 == self.expected {
            return; // the anchor itself, listed again
        }
        if self.report.records > 0 && cp.seq + 1 == self.expected {
            let hash = self.prev.clone();
            return self.settle(cp, &hash);
        }
        if cp.seq < self.expected && self.report.records > 0 {
            let at = cp.seq;
            return self.fail(at, ProblemKind::Reordered, format!("checkpoint {at} arrived after later records"));
        }
        self.pending.insert(cp.seq, cp);
    }

    /// Checks a checkpoint against the hash of the record it covers.
    fn settle(&mut self, cp: Checkpoint, hash: &str) {
        let at = cp.seq;
        if let Err(why) = self.keys.verify(&cp) {
            return self.fail(at, ProblemKind::BadCheckpoint, format!("checkpoint at record {at}: {why}"));
        }
        if cp.hash != hash {
            return self.fail(
                at,
                ProblemKind::Rewritten,
                format!(
                    "checkpoint at record {at} (signed {}) does not match the record: the chain up to {at} was rewritten after it was signed",
                    cp.at
                ),
            );
        }
        self.report.checkpoints += 1;
        self.report.last_checkpoint = at;
    }

    /// One record: `stored_seq` is the position the store keeps it under (none
    /// for an export), `body` the record without its hash, `hash` the stored
    /// hash, `index` the store's indexed copies of body fields.
    pub fn record(&mut self, stored_seq: Option<u64>, body: &Value, hash: &str, index: &[(&str, Value)]) {
        if self.done() {
            return;
        }
        let Some(seq) = body.get("seq").and_then(Value::as_u64) else {
            let at = stored_seq.unwrap_or(self.expected);
            return self.fail(at, ProblemKind::Malformed, format!("record at position {at} has no seq"));
        };
        if let Some(col) = stored_seq
            && col != seq
        {
            return self.fail(
                col.min(seq),
                ProblemKind::Reordered,
                format!("the store holds record {seq} under seq {col}: records were inserted, deleted, moved or reordered here"),
            );
        }
        if seq < self.expected {
            let after = self.expected - 1;
            return self.fail(
                seq,
                ProblemKind::Reordered,
                format!("record {seq} appears after record {after}: records are out of order or duplicated"),
            );
        }
        if seq > self.expected {
            let e = self.expected;
            let what = if seq - 1 == e { format!("record {e} is") } else { format!("records {e}..{} are", seq - 1) };
            return self.fail(e, ProblemKind::Deleted, format!("{what} missing from the chain (deleted)"));
        }
        if record_hash(body) != hash {
            return self.fail(
                seq,
                ProblemKind::Edited,
                format!("record {seq} was edited: its content does not match its hash"),
            );
        }
        if body.get("prev").and_then(Value::as_str) != Some(self.prev.as_str()) {
            let before = if seq == 1 { "the start of the chain".to_string() } else { format!("record {}", seq - 1) };
            return self.fail(
                seq,
                ProblemKind::BrokenLink,
                format!(
                    "record {seq} does not follow {before}: its prev hash differs (a record was inserted, deleted or replaced there)"
                ),
            );
        }
        for (field, val) in index {
            if body.get(*field) != Some(val) {
                return self.fail(
                    seq,
                    ProblemKind::Edited,
                    format!("record {seq} was edited: the stored {field} ({val}) differs from its hashed content"),
                );
            }
        }
        if self.report.records == 0 {
            self.report.first_seq = seq;
        }
        self.report.records += 1;
        self.report.last_seq = seq;
        self.expected = seq + 1;
        self.prev = hash.to_string();
        while let Some((&at, _)) = self.pending.first_key_value() {
            if at > seq {
                break;
            }
            let cp = self.pending.pop_first().expect("non-empty").1;
            if at < seq {
                // Only possible when it precedes the first record fed (an export's older checkpoint).
                continue;
            }
            self.settle(cp, hash);
        }
    }

    pub fn finish(mut self) -> Report {
        if !self.done()
            && let Some((&at, _)) = self.pending.last_key_value()
        {
            let last = self.report.last_seq;
            self.fail(
                last + 1,
                ProblemKind::Truncated,
                format!(
                    "a checkpoint covers record {at}, but the chain ends at record {last}: records were deleted from the end"
                ),
            );
        }
        self.report.unsigned_tail = self.report.last_seq.saturating_sub(self.report.last_checkpoint);
        self.report
    }
}
