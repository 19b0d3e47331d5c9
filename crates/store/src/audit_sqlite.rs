//! The audit writer's SQLite path: one connection of its own, on a thread of
//! its own, with cached prepared statements.
//!
//! Through sqlx a batch costs several round trips to the connection's worker
//! thread (begin, head update plus insert, commit), each a wake-up on both
//! sides. Here a batch is one hand-off: the thread seals the records, writes
//! them in one `BEGIN IMMEDIATE` transaction (conditional head update, one
//! cached `INSERT` per record) and commits with `synchronous=FULL`, then
//! answers. The chain rules are those of the sqlx path (`audit.rs`): if another
//! writer moved the head, the batch is rolled back and sealed again.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::oneshot;
use warden_audit::Record;

use super::audit::{AuditHead, Sealed, seal_all, to_i64};
use crate::{Result, StoreError};

const UPDATE_HEAD: &str = "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1 AND seq = ?3 AND hash = ?4";
const INSERT: &str = "INSERT INTO audit_records (seq, at, kind, entry, agent, tool, method, verdict, model, \
     input_tokens, output_tokens, cost_micros, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
     ?13, ?14)";

/// The file behind a `sqlite:` store URL, or None for an in-memory database
/// (which a second connection could not see).
pub(crate) fn file_of(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

type Reply = (Vec<Record>, Result<AuditHead>);

struct Job {
    records: Vec<Record>,
    reply: oneshot::Sender<Reply>,
}

/// A handle on the writer thread; the thread ends when the handle is dropped.
pub(crate) struct Thread {
    jobs: mpsc::Sender<Job>,
}

impl Thread {
    /// Opens the existing database file (its schema is in place) and starts the
    /// thread. Fails when the file cannot be opened read-write.
    pub(crate) fn start(path: &Path) -> Result<Thread> {
        let conn = open(path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("warden-audit".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::AuditWriter(format!("cannot start its thread: {e}")))?;
        Ok(Thread { jobs })
    }

    /// Seals and durably appends `records` (taken, and given back sealed).
    pub(crate) async fn append(&self, records: &mut Vec<Record>) -> Result<AuditHead> {
        let (reply, answer) = oneshot::channel();
        let job = Job { records: std::mem::take(records), reply };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            *records = job.records;
            return Err(StoreError::AuditWriter("its thread has stopped".into()));
        }
        match answer.await {
            Ok((back, result)) => {
                *records = back;
                result
            }
            // The thread panicked with the batch: nothing says it was committed.
            Err(_) => Err(StoreError::AuditWriter("its thread stopped during a write".into())),
        }
    }
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite_err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite_err)?;
    // WAL is a property of the file (set by the pool); FULL is per connection.
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite_err)?;
    Ok(conn)
}

fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::AuditWriter(e.to_string())
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    // The head as this thread last wrote it; None means read it from the file.
    let mut head: Option<AuditHead> = None;
    while let Ok(Job { mut records, reply }) = jobs.recv() {
        let result = append(&mut conn, &mut head, &mut records);
        if result.is_err() {
            head = None;
        }
        let _ = reply.send((records, result));
    }
}

fn read_head(conn: &Connection) -> Result<AuditHead> {
    conn.query_row("SELECT seq, hash, checkpoint_seq, anchor_seq FROM audit_head WHERE id = 1", [], |r| {
        Ok(AuditHead {
            seq: r.get::<_, i64>(0)? as u64,
            hash: r.get(1)?,
            checkpoint_seq: r.get::<_, i64>(2)? as u64,
            anchor_seq: r.get::<_, i64>(3)? as u64,
        })
    })
    .map_err(sqlite_err)
}

fn append(conn: &mut Connection, head: &mut Option<AuditHead>, records: &mut [Record]) -> Result<AuditHead> {
    // First, the head kept in memory, sealed before the transaction (no read).
    if let Some(old) = head.take() {
        let (next, sealed) = seal_all(records, &old)?;
        // Dropping the transaction without commit rolls it back.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite_err)?;
        if write(&tx, &old, &next, records, &sealed)? {
            tx.commit().map_err(sqlite_err)?;
            *head = Some(next.clone());
            return Ok(next);
        }
    }
    // Another process moved the head, or none is known yet: read it under the
    // write lock, where nobody else can move it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite_err)?;
    let old = read_head(&tx)?;
    let (next, sealed) = seal_all(records, &old)?;
    if !write(&tx, &old, &next, records, &sealed)? {
        return Err(StoreError::Corrupt("the audit head moved while the write lock was held".into()));
    }
    tx.commit().map_err(sqlite_err)?;
    *head = Some(next.clone());
    Ok(next)
}

/// Moves the head and inserts the rows; false when another writer moved the
/// head first (the caller rolls back and seals again).
fn write(conn: &Connection, old: &AuditHead, new: &AuditHead, records: &[Record], sealed: &[Sealed]) -> Result<bool> {
    let moved = conn
        .prepare_cached(UPDATE_HEAD)
        .and_then(|mut s| s.execute(params![to_i64(new.seq), new.hash, to_i64(old.seq), old.hash]))
        .map_err(sqlite_err)?;
    if moved != 1 {
        return Ok(false);
    }
    let mut insert = conn.prepare_cached(INSERT).map_err(sqlite_err)?;
    for (r, (at, body, hash)) in records.iter().zip(sealed) {
        let row = params![
            to_i64(r.seq),
            at,
            r.kind,
            r.entry,
            r.agent,
            r.tool,
            r.method,
            r.verdict,
            r.model,
            to_i64(r.input_tokens),
            to_i64(r.output_tokens),
            to_i64(r.cost_micros),
            body,
            hash
        ];
        match insert.execute(row) {
            Ok(_) => {}
            // A seq already taken: the head moved under a writer that skipped it.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(sqlite_err(e)),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::file_of;
    use std::path::PathBuf;

    #[test]
    fn store_urls_name_their_file() {
        assert_eq!(file_of("sqlite:///tmp/w/warden.db?mode=rwc"), Some(PathBuf::from("/tmp/w/warden.db")));
        assert_eq!(file_of("sqlite://rel/warden.db"), Some(PathBuf::from("rel/warden.db")));
        assert_eq!(file_of("sqlite:warden.db"), Some(PathBuf::from("warden.db")));
        assert_eq!(file_of("sqlite::memory:"), None);
        assert_eq!(file_of("sqlite://"), None);
        assert_eq!(file_of("postgres://u@h/db"), None);
    }
}
