//! Versioned schema migrations.
//!
//! The database records the version of its schema in `meta`
//! (`key = 'schema_version'`). [`STEPS`] lists every change in order, each
//! under the version it brings the schema to; [`SCHEMA_VERSION`] is the last.
//! Opening a store runs the steps above the recorded version, recording each
//! version once its step is done.
//!
//! - **SQLite:** all of it in one `BEGIN IMMEDIATE` transaction, which also
//!   serialises processes starting together; a failed step leaves the schema
//!   as it was.
//! - **PostgreSQL:** under a session advisory lock ([`LOCK_KEY`]), so replicas
//!   starting together migrate one after the other (the later ones find
//!   nothing left to do), but *one statement per transaction*. Replicas already
//!   serving keep writing while another one starts. In one transaction a
//!   `CREATE INDEX IF NOT EXISTS` keeps its SHARE lock on the table while a
//!   later statement waits for a row a serving replica holds (the audit head),
//!   and that replica waits for the table: PostgreSQL breaks the deadlock by
//!   failing one side, an audit commit (`-32014` to an agent) or the start
//!   (`tests/ha` found it; `postgres_migration_beside_an_audit_commit` is the
//!   regression test). One statement at a time holds at most one lock while
//!   it waits. The price: a step interrupted halfway is left half done, and
//!   its version unrecorded, so the next start runs the whole step again;
//!   which is why every statement must be idempotent (below).
//!
//! A database whose version is above [`SCHEMA_VERSION`] was upgraded by a
//! newer Warden: this binary refuses it ([`StoreError::SchemaTooNew`]) rather
//! than run against a schema it does not know.
//!
//! Version 1 is the schema as it stood when versioning began. Its statements
//! are idempotent (`IF NOT EXISTS`, columns added only when missing), so a
//! database from before versioning, which has no version row, is brought to
//! version 1 whatever subset of it already existed.
//!
//! # Writing a migration
//!
//! During a rolling upgrade replica N+1 migrates a database that replicas of
//! version N are still using, so every step must leave N working:
//! - add, never take away: new tables, new nullable columns (or columns with a
//!   default), new indexes. No `DROP`, no rename, no type change, no new
//!   `NOT NULL` without a default, no new constraint that rows N writes could
//!   break. Removing something takes two releases: stop using it in one,
//!   drop it in a later one (once no replica of the first can still run);
//! - append a new [`Step`] with the next version and bump [`SCHEMA_VERSION`];
//!   never edit a released step (databases already past it will not rerun it);
//! - make every statement idempotent (`IF NOT EXISTS`, `ON CONFLICT DO
//!   NOTHING`, [`Op::AddColumn`]): on PostgreSQL a step may be run again after
//!   an interruption;
//! - use SQL both backends accept (text and 64-bit integers, `$n`
//!   placeholders), or branch on the [`Backend`] inside the step's function;
//!   add columns with [`Op::AddColumn`], which checks the catalogue first;
//! - keep a step quick: it holds the migration lock and, on PostgreSQL, an
//!   exclusive lock on the tables it alters, while N's queries on them wait.
//!   A backfill of a large table belongs in the application, in batches.
//!
//! Replicas of version N that restart after the upgrade refuse the database:
//! an upgrade is rolled forward, or back by restoring the database too.

use std::borrow::Cow;

use sqlx::Row;

use crate::{Backend, Result, Store, StoreError};

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: i64 = 2;

/// The PostgreSQL advisory lock held while migrating (any fixed number works;
/// this one spells "WARDENSC" in ASCII).
pub(crate) const LOCK_KEY: i64 = 0x5741_5244_454e_5343;

/// One schema change.
pub(crate) enum Op {
    Sql(Cow<'static, str>),
    /// `ALTER TABLE table ADD COLUMN column decl`, when the column is missing.
    AddColumn {
        table: &'static str,
        column: &'static str,
        decl: &'static str,
    },
}

/// The changes that bring the schema to `version`.
#[derive(Clone, Copy)]
pub(crate) struct Step {
    pub version: i64,
    pub ops: fn(Backend) -> Vec<Op>,
}

pub(crate) const STEPS: &[Step] = &[Step { version: 1, ops: baseline }, Step { version: 2, ops: tool_pins }];

/// Version 1: every table as it stood when versioning began.
fn baseline(backend: Backend) -> Vec<Op> {
    let mut ops: Vec<Op> = crate::MIGRATIONS
        .iter()
        .chain(crate::approvals::MIGRATIONS)
        .chain(&[crate::audit::records_table(backend)])
        .chain(crate::audit::MIGRATIONS)
        .chain(crate::secrets::MIGRATIONS)
        .chain(crate::usage::MIGRATIONS)
        .chain(crate::console::MIGRATIONS)
        .chain(if backend == Backend::Postgres { crate::limits::MIGRATIONS } else { &[] })
        .map(|s| Op::Sql(Cow::Borrowed(*s)))
        .collect();
    ops.push(Op::AddColumn { table: "admin_tokens", column: "teams", decl: "TEXT" });
    ops.push(Op::AddColumn { table: "admin_tokens", column: "groups_list", decl: "TEXT" });
    ops
}

/// Version 2: tool pins (`pins.rs`).
fn tool_pins(_: Backend) -> Vec<Op> {
    crate::pins::MIGRATIONS.iter().map(|s| Op::Sql(Cow::Borrowed(*s))).collect()
}

impl Store {
    /// Brings the schema to the last version of `steps`; returns the version
    /// the database had before (0: none recorded).
    pub(crate) async fn migrate_with(&self, steps: &[Step]) -> Result<i64> {
        let _w = self.writer.lock().await;
        let found = match self.backend {
            Backend::Sqlite => {
                let mut tx = self.begin_write().await?;
                let found = run_steps(&mut tx, self.backend, steps).await?;
                tx.commit().await?;
                found
            }
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                // `::text` because `Any` has no `void`.
                sqlx::query("SELECT pg_advisory_lock($1)::text").bind(LOCK_KEY).execute(&mut *conn).await?;
                let done = run_steps(&mut conn, self.backend, steps).await;
                let unlocked =
                    sqlx::query("SELECT pg_advisory_unlock($1)::text").bind(LOCK_KEY).execute(&mut *conn).await;
                if unlocked.is_err() {
                    // Never hand a connection that may still hold the lock back to the pool.
                    let _ = sqlx::Connection::close(conn.detach()).await;
                }
                let found = done?;
                unlocked?;
                found
            }
        };
        let target = steps.last().map_or(0, |s| s.version);
        if found < target {
            tracing::info!(from = found, to = target, "store schema migrated");
        }
        Ok(found)
    }

    /// The schema version the database records (0: none).
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'schema_version'").fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    }
}

/// Runs the steps above the recorded version on `conn` (a transaction on
/// SQLite, an autocommit connection holding the migration lock on PostgreSQL);
/// returns the version found.
async fn run_steps(conn: &mut sqlx::AnyConnection, backend: Backend, steps: &[Step]) -> Result<i64> {
    let target = steps.last().map_or(0, |s| s.version);
    sqlx::query("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let found: Option<i64> = sqlx::query("SELECT value FROM meta WHERE key = 'schema_version'")
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let found = found.unwrap_or(0);
    if found > target {
        return Err(StoreError::SchemaTooNew { database: found, binary: target });
    }
    for step in steps.iter().filter(|s| s.version > found) {
        for op in (step.ops)(backend) {
            match op {
                Op::Sql(sql) => {
                    sqlx::query(sqlx::AssertSqlSafe(sql.into_owned())).execute(&mut *conn).await?;
                }
                Op::AddColumn { table, column, decl } => {
                    let exists = match backend {
                        Backend::Postgres => sqlx::query(
                            "SELECT 1 FROM information_schema.columns \
                             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
                        ),
                        Backend::Sqlite => sqlx::query("SELECT 1 FROM pragma_table_info($1) WHERE name = $2"),
                    }
                    .bind(table)
                    .bind(column)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_some();
                    if !exists {
                        // Safe: table, column and type are constants of this crate.
                        let sql = format!("ALTER TABLE {table} ADD COLUMN {column} {decl}");
                        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
                    }
                }
            }
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(step.version)
        .execute(&mut *conn)
        .await?;
    }
    Ok(found)
}
