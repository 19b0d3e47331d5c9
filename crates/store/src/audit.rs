//! The audit chain's storage: records (hashed body plus indexed copies of the
//! fields people filter on), signed checkpoints, and the chain head.
//!
//! Appending takes the head row first (`UPDATE audit_head`), which is the
//! write lock on SQLite and a row lock on PostgreSQL, so replicas sharing one
//! database extend one chain in one order. A batch of records is one
//! transaction: group commit happens above, in the gateway's writer.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use warden_audit::record::{format_ms, parse_ms};
use warden_audit::{Checkpoint, KeyRing, Record, Report, Verifier};

use sqlx::Any;

use crate::{Backend, Result, Store, StoreError};

/// `CREATE TABLE audit_records` with `$key` as the type of `seq`.
macro_rules! records_table {
    ($key:literal) => {
        concat!(
            "CREATE TABLE IF NOT EXISTS audit_records (seq ",
            $key,
            " PRIMARY KEY, at BIGINT NOT NULL, kind TEXT NOT NULL, entry TEXT NOT NULL, agent TEXT NOT NULL, \
             tool TEXT NOT NULL, method TEXT NOT NULL, verdict TEXT NOT NULL, model TEXT NOT NULL, \
             input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cost_micros BIGINT NOT NULL, \
             body TEXT NOT NULL, hash TEXT NOT NULL)"
        )
    };
}

/// The records table. On SQLite `seq INTEGER PRIMARY KEY` makes seq the rowid:
/// one B-tree fewer per record than a separate primary-key index (databases
/// created before keep that index; both read and write alike).
pub(crate) fn records_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => records_table!("INTEGER"),
        Backend::Postgres => records_table!("BIGINT"),
    }
}

/// After [`records_table`].
pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS audit_records_at ON audit_records (at)",
    "CREATE INDEX IF NOT EXISTS audit_records_agent ON audit_records (agent, at)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, hash TEXT NOT NULL, \
     key_id TEXT NOT NULL, signature TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, \
     checkpoint_seq BIGINT NOT NULL, anchor_seq BIGINT NOT NULL)",
    "INSERT INTO audit_head (id, seq, hash, checkpoint_seq, anchor_seq) \
     VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0, 0) ON CONFLICT (id) DO NOTHING",
];

/// Where the chain stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
    /// The highest signed seq.
    pub checkpoint_seq: u64,
    /// Records up to here were pruned by retention; the checkpoint at this seq anchors the rest.
    pub anchor_seq: u64,
}

/// One stored record as read back: its body exactly as hashed, and its hash.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub seq: u64,
    pub body: Value,
    pub hash: String,
    /// The indexed columns, as (body field, value) pairs.
    pub index: Vec<(&'static str, Value)>,
}

/// Which records [`Store::audit_query`] and [`Store::audit_query_newest`] return:
/// every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub verdict: Option<String>,
    pub kind: Option<String>,
    /// The record's risk tier (`low`, `medium`, `high`, `critical`); not an
    /// indexed column, so it is read from the stored body.
    pub tier: Option<String>,
    /// At or after (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Before (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Only records with a seq below this (keyset paging, newest first).
    pub before_seq: Option<u64>,
    pub limit: i64,
}

/// What [`Store::export_audit`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub first_seq: u64,
    pub last_seq: u64,
    pub records: u64,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no signed checkpoint yet; nothing verifiable to export")]
    NoCheckpoint,
    #[error("no audit record was written before the end of the range")]
    NothingBefore,
    #[error("no checkpoint anchors record {0}")]
    Unanchored(u64),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Usage of one agent (or tool, or model) over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageRow {
    pub key: String,
    pub requests: i64,
    pub tool_calls: i64,
    pub denials: i64,
    pub approvals: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// The verdicts that refused an agent's request.
pub const DENIAL_VERDICTS: &[&str] =
    &["deny", "rate_limited", "approval_denied", "approval_expired", "approval_unavailable", "blocked"];

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn stored_from_row(row: &AnyRow) -> Result<StoredRecord> {
    let seq: i64 = row.try_get("seq")?;
    let body: String = row.try_get("body")?;
    let body: Value =
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("audit record {seq}: {e}")))?;
    let s = |c: &str| -> Result<Value> { Ok(json!(row.try_get::<String, _>(c)?)) };
    let n = |c: &str| -> Result<Value> { Ok(json!(row.try_get::<i64, _>(c)?)) };
    let index = vec![
        ("at", json!(format_ms(row.try_get::<i64, _>("at")?))),
        ("kind", s("kind")?),
        ("entry", s("entry")?),
        ("agent", s("agent")?),
        ("tool", s("tool")?),
        ("method", s("method")?),
        ("verdict", s("verdict")?),
        ("model", s("model")?),
        ("input_tokens", n("input_tokens")?),
        ("output_tokens", n("output_tokens")?),
        ("cost_micros", n("cost_micros")?),
    ];
    Ok(StoredRecord { seq: seq as u64, body, hash: row.try_get("hash")?, index })
}

fn checkpoint_from_row(row: &AnyRow) -> Result<Checkpoint> {
    Ok(Checkpoint {
        seq: row.try_get::<i64, _>("seq")? as u64,
        at: format_ms(row.try_get::<i64, _>("at")?),
        hash: row.try_get("hash")?,
        key_id: row.try_get("key_id")?,
        signature: row.try_get("signature")?,
    })
}

fn head_from_row(row: &AnyRow) -> Result<AuditHead> {
    Ok(AuditHead {
        seq: row.try_get::<i64, _>("seq")? as u64,
        hash: row.try_get("hash")?,
        checkpoint_seq: row.try_get::<i64, _>("checkpoint_seq")? as u64,
        anchor_seq: row.try_get::<i64, _>("anchor_seq")? as u64,
    })
}

const COLS: usize = 14;
const ROWS_PER_INSERT: usize = 64;

/// A sealed record as stored: its time (ms), canonical body and hash.
pub(crate) type Sealed = (i64, String, String);

/// Seals `records` after `head` (seq, prev, hash each); returns the new head and,
/// per record, its time, canonical body and hash.
pub(crate) fn seal_all(records: &mut [Record], head: &AuditHead) -> Result<(AuditHead, Vec<Sealed>)> {
    let mut next = head.clone();
    let mut sealed = Vec::with_capacity(records.len());
    for r in records.iter_mut() {
        let (body, hash) = r.seal_canonical(next.seq + 1, &next.hash);
        next.seq += 1;
        next.hash.clone_from(&hash);
        let at = parse_ms(&r.at).ok_or_else(|| StoreError::Corrupt(format!("audit record time {:?}", r.at)))?;
        sealed.push((at, body, hash));
    }
    Ok((next, sealed))
}

/// `INSERT INTO audit_records … VALUES` for `rows` rows. SQLite gets anonymous
/// `?` parameters (numbered ones cost a name lookup per parameter, quadratic in a
/// large batch); PostgreSQL needs `$n`, numbered from 1.
fn insert_sql(rows: usize, backend: Backend) -> String {
    let mut sql = String::with_capacity(160 + rows * COLS * 5);
    sql.push_str(
        "INSERT INTO audit_records (seq, at, kind, entry, agent, tool, method, verdict, model, input_tokens, \
         output_tokens, cost_micros, body, hash) VALUES ",
    );
    for i in 0..rows {
        sql.push_str(if i > 0 { ",(" } else { "(" });
        for c in 0..COLS {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    use std::fmt::Write;
                    let _ = write!(sql, "${}", i * COLS + c + 1);
                }
            }
        }
        sql.push(')');
    }
    sql
}

type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

fn bind_rows<'q>(mut q: Query<'q>, recs: &'q [Record], sealed: &'q [Sealed]) -> Query<'q> {
    for (r, (at, body, hash)) in recs.iter().zip(sealed) {
        q = q
            .bind(to_i64(r.seq))
            .bind(*at)
            .bind(r.kind.as_str())
            .bind(r.entry.as_str())
            .bind(r.agent.as_str())
            .bind(r.tool.as_str())
            .bind(r.method.as_str())
            .bind(r.verdict.as_str())
            .bind(r.model.as_str())
            .bind(to_i64(r.input_tokens))
            .bind(to_i64(r.output_tokens))
            .bind(to_i64(r.cost_micros))
            .bind(body.as_str())
            .bind(hash.as_str());
    }
    q
}

/// Moves the head from `old` to `new` and inserts the sealed records, inside
/// `conn`'s transaction. Returns false, having written nothing that counts,
/// when the head is no longer at `old` (another writer appended meanwhile);
/// the caller rolls back, re-reads the head and seals again.
async fn write_sealed(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    old: &AuditHead,
    new: &AuditHead,
    records: &[Record],
    sealed: &[Sealed],
) -> Result<bool> {
    // The conditional head update comes first: it takes the row lock (PostgreSQL;
    // SQLite's write transaction already holds the file lock) and detects a race.
    let mut chunks = records.chunks(ROWS_PER_INSERT).zip(sealed.chunks(ROWS_PER_INSERT));
    let move_head =
        |q: Query<'static>| q.bind(to_i64(new.seq)).bind(new.hash.clone()).bind(to_i64(old.seq)).bind(old.hash.clone());
    if backend == Backend::Sqlite {
        // SQLite runs the head update and the first insert as one call to its
        // connection thread: each call is a thread hop, costly on a busy machine.
        if let Some((recs, rows)) = chunks.next() {
            let sql = format!(
                "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?; {}",
                insert_sql(recs.len(), backend)
            );
            let q = bind_rows(move_head(sqlx::query(sqlx::AssertSqlSafe(sql))), recs, rows);
            match q.execute(&mut *conn).await {
                Ok(done) if done.rows_affected() == recs.len() as u64 + 1 => {}
                Ok(_) => return Ok(false),
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    } else {
        let q = sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4");
        if move_head(q).execute(&mut *conn).await?.rows_affected() != 1 {
            return Ok(false);
        }
    }
    for (recs, rows) in chunks {
        let sql = insert_sql(recs.len(), backend);
        bind_rows(sqlx::query(sqlx::AssertSqlSafe(sql)), recs, rows).execute(&mut *conn).await?;
    }
    Ok(true)
}

/// The stored head; with `lock` on PostgreSQL, its row stays locked until the transaction ends.
async fn read_head(conn: &mut sqlx::AnyConnection, lock: bool) -> Result<AuditHead> {
    let sql =
        if lock { "SELECT * FROM audit_head WHERE id = 1 FOR UPDATE" } else { "SELECT * FROM audit_head WHERE id = 1" };
    let row = sqlx::query(sql).fetch_one(&mut *conn).await?;
    head_from_row(&row)
}

/// Appends `records` (sealing each: seq, prev, hash) inside `conn`'s transaction,
/// which must already hold the write lock (SQLite) or will take the head's row lock.
pub(crate) async fn append(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    records: &mut [Record],
) -> Result<AuditHead> {
    // Lock the head row as it is read (SQLite's write transaction holds the file lock already).
    let head = read_head(conn, backend == Backend::Postgres).await?;
    let (next, sealed) = seal_all(records, &head)?;
    if !write_sealed(conn, backend, &head, &next, records, &sealed).await? {
        return Err(StoreError::Corrupt("the audit head moved while its row was locked".into()));
    }
    Ok(next)
}

/// A write transaction: `BEGIN IMMEDIATE` on SQLite takes the write lock first.
async fn begin_write(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<sqlx::Transaction<'_, Any>> {
    Ok(match backend {
        Backend::Sqlite => sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?,
        Backend::Postgres => sqlx::Connection::begin(conn).await?,
    })
}

/// The audit writer's handle: one connection of its own (no pool checkout per
/// batch) and the chain head kept in memory, so a batch is sealed before its
/// transaction and written with a conditional head update. If another writer
/// (a replica, an inventory change, the CLI) moved the head, the batch is
/// sealed again on the fresh head.
///
/// On a SQLite file the batch goes to a thread with a connection of its own
/// (`audit_sqlite.rs`): one hand-off per batch instead of a round trip per
/// statement.
pub struct AuditAppender<'a> {
    store: &'a Store,
    thread: Option<crate::audit_sqlite::Thread>,
    /// Detached from the pool, so closing the store does not wait for the writer.
    conn: Option<sqlx::AnyConnection>,
    head: Option<AuditHead>,
}

impl AuditAppender<'_> {
    /// Appends a batch as one durable transaction; on return every record is
    /// committed (SQLite `synchronous=FULL`, PostgreSQL's default commit) and
    /// sealed in place (seq, prev, hash).
    pub async fn append(&mut self, records: &mut Vec<Record>) -> Result<AuditHead> {
        if let Some(thread) = &self.thread {
            let _w = self.store.writer.lock().await;
            return thread.append(records).await;
        }
        let r = self.try_append(records).await;
        if r.is_err() {
            // Start over from a fresh connection and the stored head.
            self.conn = None;
            self.head = None;
        }
        r
    }

    /// True when batches go to a connection and thread of the appender's own
    /// (a SQLite file); false when they go through the pool.
    pub fn own_connection(&self) -> bool {
        self.thread.is_some()
    }

    async fn try_append(&mut self, records: &mut [Record]) -> Result<AuditHead> {
        let _w = self.store.writer.lock().await;
        let backend = self.store.backend;
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(self.store.pool.acquire().await?.detach()),
        };
        // First, the head kept in memory: the batch is sealed before the
        // transaction and written with a conditional head update (no read).
        if let Some(head) = self.head.take() {
            let (next, sealed) = seal_all(records, &head)?;
            let mut tx = begin_write(conn, backend).await?;
            if write_sealed(&mut tx, backend, &head, &next, records, &sealed).await? {
                tx.commit().await?;
                self.head = Some(next.clone());
                return Ok(next);
            }
            tx.rollback().await?;
        }
        // Another writer (replica) moved the head, or none is known yet: read it
        // under the lock (PostgreSQL's row lock, SQLite's write lock), where
        // nobody else can move it. Retrying optimistically instead can lose
        // every time when several replicas write at once.
        let mut tx = begin_write(conn, backend).await?;
        let next = append(&mut tx, backend, records).await?;
        tx.commit().await?;
        self.head = Some(next.clone());
        Ok(next)
    }
}

impl Store {
    /// Appends a batch as one durable transaction; on return every record is
    /// committed (SQLite `synchronous=FULL`, PostgreSQL's default commit).
    /// Through the pool: a long-lived writer takes [`Store::audit_appender`].
    pub async fn append_audit(&self, records: &mut Vec<Record>) -> Result<AuditHead> {
        AuditAppender { store: self, thread: None, conn: None, head: None }.append(records).await
    }

    /// A handle for a long-lived audit writer (see [`AuditAppender`]).
    pub fn audit_appender(&self) -> AuditAppender<'_> {
        let thread = self.sqlite_file.as_deref().and_then(|path| match crate::audit_sqlite::Thread::start(path) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "audit writer: no connection of its own; writing through the pool");
                None
            }
        });
        AuditAppender { store: self, thread, conn: None, head: None }
    }

    pub async fn audit_head(&self) -> Result<AuditHead> {
        let row = sqlx::query("SELECT * FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        head_from_row(&row)
    }

    /// Stores a signed checkpoint (idempotent) and advances the head's mark.
    pub async fn insert_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let at = parse_ms(&cp.at).ok_or_else(|| StoreError::Corrupt(format!("checkpoint time {:?}", cp.at)))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, at, hash, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(to_i64(cp.seq))
        .bind(at)
        .bind(&cp.hash)
        .bind(&cp.key_id)
        .bind(&cp.signature)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE audit_head SET checkpoint_seq = CASE WHEN checkpoint_seq < $1 THEN $1 ELSE checkpoint_seq END WHERE id = 1",
        )
        .bind(to_i64(cp.seq))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs and stores a checkpoint over the head, unless the head is already
    /// signed. Returns the new checkpoint.
    pub async fn checkpoint_head(&self, signer: &warden_audit::Signer) -> Result<Option<Checkpoint>> {
        let head = self.audit_head().await?;
        if head.seq <= head.checkpoint_seq {
            return Ok(None);
        }
        let cp = signer.sign(head.seq, &format_ms(warden_core::time::now_ms()), &head.hash);
        self.insert_checkpoint(&cp).await?;
        Ok(Some(cp))
    }

    /// The hash of record `seq`, if it exists.
    pub async fn audit_hash(&self, seq: u64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT hash FROM audit_records WHERE seq = $1")
            .bind(to_i64(seq))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Records with seq in `(after, after + limit]`, in chain order.
    pub async fn audit_page(&self, after: u64, limit: i64) -> Result<Vec<StoredRecord>> {
        let rows = sqlx::query("SELECT * FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(to_i64(after))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Checkpoints with `from <= seq <= to`, in order.
    pub async fn audit_checkpoints(&self, from: u64, to: u64) -> Result<Vec<Checkpoint>> {
        let rows = sqlx::query("SELECT * FROM audit_checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY seq")
            .bind(to_i64(from))
            .bind(to_i64(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// The newest checkpoint at or before `seq`.
    pub async fn audit_checkpoint_at_or_before(&self, seq: u64) -> Result<Option<Checkpoint>> {
        let row = sqlx::query("SELECT * FROM audit_checkpoints WHERE seq <= $1 ORDER BY seq DESC LIMIT 1")
            .bind(to_i64(seq))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    /// The first record at or after `since_ms`, if any.
    pub async fn audit_first_since(&self, since_ms: i64) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT MIN(seq) FROM audit_records WHERE at >= $1")
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.map(|s| s as u64))
    }

    /// The last record before `until_ms`, if any.
    pub async fn audit_last_before(&self, until_ms: i64) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT MAX(seq) FROM audit_records WHERE at < $1")
            .bind(until_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.map(|s| s as u64))
    }

    /// Verifies the whole stored chain and every checkpoint against `keys`.
    pub async fn verify_audit(&self, keys: &KeyRing) -> Result<Report> {
        const PAGE: i64 = 2000;
        let head = self.audit_head().await?;
        let first = self.audit_page(0, 1).await?.first().map(|r| r.seq);
        let anchor = match first {
            Some(f) if f > 1 => self.audit_checkpoints(f - 1, f - 1).await?.into_iter().next(),
            None if head.anchor_seq > 0 => self.audit_checkpoints(head.anchor_seq, head.anchor_seq).await?.pop(),
            _ => None,
        };
        let mut v = Verifier::new(keys, anchor.as_ref());
        if let Some(f) = first
            && f > 1
            && f - 1 != head.anchor_seq
        {
            return Ok(deleted_head(v, head.anchor_seq + 1, f - 1));
        }
        let mut after = first.map_or(0, |f| f - 1);
        loop {
            let page = self.audit_page(after, PAGE).await?;
            let Some(last) = page.last().map(|r| r.seq) else { break };
            for cp in self.audit_checkpoints(after + 1, last).await? {
                v.checkpoint(cp);
            }
            for r in &page {
                v.record(Some(r.seq), &r.body, &r.hash, &r.index);
            }
            if v.done() {
                break;
            }
            after = last;
        }
        if !v.done() {
            // Checkpoints past the last record: the end of the chain was cut off.
            for cp in self.audit_checkpoints(after + 1, u64::MAX >> 1).await? {
                v.checkpoint(cp);
            }
        }
        let mut report = v.finish();
        // The head was read first: a live gateway may append more while this runs, never fewer.
        if report.ok() && report.last_seq.max(head.anchor_seq) < head.seq {
            report.problem = Some(warden_audit::Problem {
                seq: report.last_seq + 1,
                kind: warden_audit::verify::ProblemKind::Truncated,
                message: format!(
                    "the chain head says record {} was written, but the chain ends at record {}: records were deleted from the end",
                    head.seq, report.last_seq
                ),
            });
        }
        Ok(report)
    }

    /// Records matching `f`, oldest first (the newest `f.limit` of them).
    pub async fn audit_query(&self, f: &AuditFilter) -> Result<Vec<StoredRecord>> {
        let mut out = self.audit_query_newest(f).await?;
        out.reverse();
        Ok(out)
    }

    /// Records matching `f`, newest first (highest seq first), at most
    /// `f.limit`; page on with `before_seq` set to the last seq returned.
    pub async fn audit_query_newest(&self, f: &AuditFilter) -> Result<Vec<StoredRecord>> {
        let mut sql = String::from("SELECT * FROM audit_records WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut add = |col: &str, op: &str, b: Bind| {
            binds.push(b);
            sql.push_str(&format!(" AND {col} {op} ${}", binds.len()));
        };
        if let Some(a) = &f.agent {
            add("agent", "=", Bind::S(a.clone()));
        }
        if let Some(t) = &f.tool {
            add("tool", "=", Bind::S(t.clone()));
        }
        if let Some(v) = &f.verdict {
            add("verdict", "=", Bind::S(v.clone()));
        }
        if let Some(k) = &f.kind {
            add("kind", "=", Bind::S(k.clone()));
        }
        if let Some(t) = &f.tier {
            let col = match self.backend {
                Backend::Sqlite => "json_extract(body, '$.tier')",
                Backend::Postgres => "(CAST(body AS jsonb) ->> 'tier')",
            };
            add(col, "=", Bind::S(t.clone()));
        }
        if let Some(s) = f.since_ms {
            add("at", ">=", Bind::I(s));
        }
        if let Some(u) = f.until_ms {
            add("at", "<", Bind::I(u));
        }
        if let Some(b) = f.before_seq {
            add("seq", "<", Bind::I(to_i64(b)));
        }
        binds.push(Bind::I(f.limit.max(1)));
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", binds.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                Bind::S(s) => q.bind(s),
                Bind::I(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// Record `seq`, if it is stored.
    pub async fn audit_record(&self, seq: u64) -> Result<Option<StoredRecord>> {
        let row = sqlx::query("SELECT * FROM audit_records WHERE seq = $1")
            .bind(to_i64(seq))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(stored_from_row).transpose()
    }

    /// The oldest checkpoint at or after `seq`: the one that covers record `seq`.
    pub async fn audit_checkpoint_at_or_after(&self, seq: u64) -> Result<Option<Checkpoint>> {
        let row = sqlx::query("SELECT * FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1")
            .bind(to_i64(seq))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    /// MCP tool calls (records of kind `call`: every `tools/call` at `/mcp`,
    /// whatever its verdict) per agent and UTC day since `since_ms`:
    /// (agent, day number since the epoch, count).
    pub async fn audit_calls_per_day(&self, since_ms: i64, agent: Option<&str>) -> Result<Vec<(String, i64, i64)>> {
        let sql = "SELECT agent, CAST(at / 86400000 AS BIGINT) AS d, CAST(COUNT(*) AS BIGINT) AS n \
                   FROM audit_records WHERE kind = 'call' AND at >= $1 AND ($2 = '' OR agent = $2) \
                   GROUP BY agent, CAST(at / 86400000 AS BIGINT) ORDER BY agent, d";
        let rows = sqlx::query(sql).bind(since_ms).bind(agent.unwrap_or("")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("agent")?, r.try_get("d")?, r.try_get("n")?))).collect()
    }

    /// Writes a verifiable export segment (the JSON Lines format of
    /// [`warden_audit::export`]) to `w`: from right after the checkpoint before
    /// the first record at or after `since_ms` (else from the oldest record
    /// kept) to the checkpoint covering the last record before `until_ms`
    /// (else the newest checkpoint). A segment starts and ends on checkpoints,
    /// so it may hold a few records outside the range; it verifies offline
    /// with only the public key (`warden audit verify --file`). Sign a fresh
    /// checkpoint over the head first, or the newest records are left out.
    pub async fn export_audit<W: std::io::Write>(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        w: &mut W,
    ) -> std::result::Result<ExportSummary, ExportError> {
        use warden_audit::export::{checkpoint_line, header_line, record_line};
        let head = self.audit_head().await?;
        let newest = self.audit_checkpoint_at_or_before(head.seq).await?.ok_or(ExportError::NoCheckpoint)?;
        let end = match until_ms {
            None => newest,
            Some(u) => {
                let last = self.audit_last_before(u).await?.ok_or(ExportError::NothingBefore)?;
                match self.audit_checkpoint_at_or_after(last).await? {
                    Some(cp) if cp.seq <= newest.seq => cp,
                    _ => newest,
                }
            }
        };
        // Start right after a checkpoint, so the segment verifies on its own.
        let wanted = match since_ms {
            Some(s) => self.audit_first_since(s).await?.unwrap_or(end.seq + 1),
            None => 1,
        };
        let first_kept = self.audit_page(0, 1).await?.first().map_or(end.seq + 1, |r| r.seq);
        let from = wanted.max(first_kept).min(end.seq + 1);
        let anchor = if from > 1 { self.audit_checkpoint_at_or_before(from - 1).await? } else { None };
        let start = anchor.as_ref().map_or(1, |a| a.seq + 1);
        if start > 1 && anchor.is_none() {
            return Err(ExportError::Unanchored(from));
        }
        writeln!(w, "{}", header_line(&format_ms(warden_core::time::now_ms()), start, end.seq, anchor.as_ref()))?;
        let mut after = start - 1;
        let mut n = 0u64;
        while after < end.seq {
            let page = self.audit_page(after, 2000).await?;
            let Some(last) = page.last().map(|r| r.seq.min(end.seq)) else { break };
            let cps = self.audit_checkpoints(after + 1, last).await?;
            for r in page.iter().filter(|r| r.seq <= end.seq) {
                writeln!(w, "{}", record_line(&r.body, &r.hash))?;
                n += 1;
                if let Some(cp) = cps.iter().find(|c| c.seq == r.seq) {
                    writeln!(w, "{}", checkpoint_line(cp))?;
                }
            }
            after = last;
        }
        w.flush()?;
        Ok(ExportSummary { first_seq: start, last_seq: end.seq, records: n })
    }

    /// Usage per `by` (`agent`, `tool` or `model`) from the audit records of agents' requests.
    pub async fn audit_usage(&self, by: &str, since_ms: i64, until_ms: i64) -> Result<Vec<UsageRow>> {
        let col = match by {
            "agent" | "tool" | "model" => by,
            _ => return Err(StoreError::Config(format!("usage by {by:?}: use agent, tool or model"))),
        };
        let denials = DENIAL_VERDICTS.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {col} AS k, COUNT(*) AS requests, \
             CAST(SUM(CASE WHEN method = 'tools/call' OR kind = 'decision' THEN 1 ELSE 0 END) AS BIGINT) AS tool_calls, \
             CAST(SUM(CASE WHEN verdict IN ({denials}) THEN 1 ELSE 0 END) AS BIGINT) AS denials, \
             CAST(SUM(CASE WHEN verdict = 'approval_required' THEN 1 ELSE 0 END) AS BIGINT) AS approvals, \
             CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
             CAST(SUM(cost_micros) AS BIGINT) AS cost_micros \
             FROM audit_records WHERE at >= $1 AND at < $2 AND entry IN ('mcp', 'decide', 'llm') \
             GROUP BY {col} ORDER BY {col}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since_ms).bind(until_ms).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    key: r.try_get("k")?,
                    requests: r.try_get("requests")?,
                    tool_calls: r.try_get("tool_calls")?,
                    denials: r.try_get("denials")?,
                    approvals: r.try_get("approvals")?,
                    input_tokens: r.try_get("input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    cost_micros: r.try_get("cost_micros")?,
                })
            })
            .collect()
    }

    /// Retention: deletes records older than `cutoff_ms` up to the newest
    /// checkpoint among them, which stays as the anchor of what is kept.
    /// Returns how many records were deleted.
    pub async fn prune_audit(&self, cutoff_ms: i64) -> Result<u64> {
        let _w = self.writer.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut *tx).await?;
        let row = sqlx::query(
            "SELECT MAX(c.seq) FROM audit_checkpoints c JOIN audit_records r ON r.seq = c.seq WHERE r.at < $1",
        )
        .bind(cutoff_ms)
        .fetch_one(&mut *tx)
        .await?;
        let Some(anchor) = row.try_get::<Option<i64>, _>(0)? else {
            return Ok(0);
        };
        let gone = sqlx::query("DELETE FROM audit_records WHERE seq <= $1").bind(anchor).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM audit_checkpoints WHERE seq < $1").bind(anchor).execute(&mut *tx).await?;
        sqlx::query("UPDATE audit_head SET anchor_seq = $1 WHERE id = 1").bind(anchor).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(gone.rows_affected())
    }
}

enum Bind {
    S(String),
    I(i64),
}

fn deleted_head(v: Verifier<'_>, from: u64, to: u64) -> Report {
    let mut r = v.finish();
    r.problem = Some(warden_audit::Problem {
        seq: from,
        kind: warden_audit::verify::ProblemKind::Deleted,
        message: format!(
            "records {from}..{to} are missing from the start of the chain, and retention did not prune them (deleted)"
        ),
    });
    r
}

impl crate::Write<'_> {
    /// Appends records to the chain inside this write (an inventory change and its record commit together).
    pub async fn audit(&mut self, records: &mut [Record]) -> Result<AuditHead> {
        append(&mut self.tx, self.backend, records).await
    }
}
