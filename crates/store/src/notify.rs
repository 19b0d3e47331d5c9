//! Change notifications between replicas, on PostgreSQL.
//!
//! A write other replicas must see sends `pg_notify` on [`CHANNEL`] in its
//! own transaction, so the notification goes out when (and only if) the
//! write commits:
//! - `inventory:<version>`: any write that bumps `inventory_version`
//!   ([`crate::Write::commit`]): agents, suspensions, exceptions, signing keys,
//!   admin tokens, store secrets;
//! - `approval:<id>`: a pending approval was decided ([`Store::decide_approval`]);
//!   `approval:*`: several were (the kill switch cancels an agent's pending ones).
//!
//! Each replica holds one listening connection ([`Store::listen`], its own
//! connection named `warden-listener <replica>`, outside the pool) and turns what it
//! hears into wake-ups on [`Notices`]: the gateway then runs the same reload
//! its poll would, at once. Notifications sent while the listener is not
//! connected are lost, so every (re)connection is followed by a wake-up of
//! everything ("resync"): the gateway re-reads the inventory version and the
//! held approvals, which is where it catches up. A lost connection is retried
//! after 100 ms, then with a backoff doubling up to 5 s. Polling stays on as
//! the fallback: a listener whose TCP connection died silently is not noticed
//! by the listener itself, and on SQLite polling is the only path.
//!
//! Payloads are hints. The receiver always re-reads the store; a payload only
//! narrows which held approvals to re-read.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;

use crate::{Backend, Store};

/// The one channel Warden's replicas notify and listen on.
pub const CHANNEL: &str = "warden_changes";

/// The `application_name` of a listening connection is this, a space and the
/// listener's label (the gateway's replica id), to find it in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "warden-listener";

/// What the listener has heard, as wake-ups, plus its own state.
#[derive(Default)]
pub struct Notices {
    inventory: Notify,
    approvals: Notify,
    /// Approvals decided since the last [`Notices::take_decided`]; `all`: re-read every held one.
    decided: Mutex<Decided>,
    connected: AtomicBool,
    notifications: AtomicU64,
    reconnects: AtomicU64,
}

#[derive(Default)]
struct Decided {
    all: bool,
    ids: HashSet<String>,
}

/// Which held approvals to re-read after a wake-up.
#[derive(Debug, PartialEq, Eq)]
pub enum DecidedIds {
    All,
    Some(Vec<String>),
}

impl Notices {
    /// Waits until the inventory may have changed on another replica (at once
    /// if it may have since the last wait returned).
    pub async fn inventory_changed(&self) {
        self.inventory.notified().await
    }

    /// Waits until an approval may have been decided on another replica.
    pub async fn approvals_decided(&self) {
        self.approvals.notified().await
    }

    /// The approvals decided since the last call.
    pub fn take_decided(&self) -> DecidedIds {
        let mut d = self.decided.lock().unwrap();
        let out = if d.all { DecidedIds::All } else { DecidedIds::Some(d.ids.drain().collect()) };
        *d = Decided::default();
        out
    }

    /// Whether the listening connection is up (as far as it knows).
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Notifications received so far.
    pub fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }

    /// Times the listener connected again after losing its connection.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// One notification's payload.
    pub(crate) fn deliver(&self, payload: &str) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
        match payload.split_once(':') {
            Some(("inventory", _)) => self.inventory.notify_one(),
            Some(("approval", "*")) => {
                self.decided.lock().unwrap().all = true;
                self.approvals.notify_one();
            }
            Some(("approval", id)) => {
                self.decided.lock().unwrap().ids.insert(id.to_string());
                self.approvals.notify_one();
            }
            _ => {
                // From a newer replica, perhaps: re-read everything rather than miss it.
                tracing::debug!(payload, "unknown change notification; re-reading everything");
                self.resync();
            }
        }
    }

    /// Everything may have changed (the listener was not listening).
    pub(crate) fn resync(&self) {
        self.decided.lock().unwrap().all = true;
        self.inventory.notify_one();
        self.approvals.notify_one();
    }
}

/// The payload for the decision of approval `id`.
pub(crate) fn approval_payload(id: &str) -> String {
    format!("approval:{id}")
}

impl Store {
    /// What this store's listener has heard (never anything on SQLite).
    pub fn notices(&self) -> &Arc<Notices> {
        &self.notices
    }

    /// Starts listening for other replicas' changes, on PostgreSQL; `None` on
    /// SQLite. `label` names the connection (`warden-listener <label>`). Runs
    /// until the task is aborted.
    pub fn listen(&self, label: &str) -> Option<tokio::task::JoinHandle<()>> {
        if self.backend != Backend::Postgres {
            return None;
        }
        let url = self.url.clone();
        let notices = self.notices.clone();
        let name: String = format!("{APPLICATION_NAME} {label}").chars().take(63).collect();
        Some(tokio::spawn(listen_loop(url, name, notices)))
    }
}

async fn connect(url: &str, name: &str) -> Result<PgListener, sqlx::Error> {
    let opts = PgConnectOptions::from_str(url)?.application_name(name);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await?;
    let mut l = PgListener::connect_with(&pool).await?;
    // This loop reconnects itself, so that it can resync after every reconnection.
    l.eager_reconnect(false);
    l.ignore_pool_close_event(true);
    l.listen(CHANNEL).await?;
    Ok(l)
}

async fn listen_loop(url: String, name: String, notices: Arc<Notices>) {
    const FIRST_RETRY: Duration = Duration::from_millis(100);
    const MAX_RETRY: Duration = Duration::from_secs(5);
    let mut retry = FIRST_RETRY;
    let mut ever = false;
    loop {
        match connect(&url, &name).await {
            Ok(mut l) => {
                notices.connected.store(true, Ordering::Relaxed);
                if ever {
                    notices.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("change listener reconnected; re-reading what may have changed meanwhile");
                }
                ever = true;
                retry = FIRST_RETRY;
                // LISTEN is in place: anything committed from now on is heard; re-read what came before.
                notices.resync();
                let why = loop {
                    match l.try_recv().await {
                        Ok(Some(n)) => notices.deliver(n.payload()),
                        Ok(None) => break "connection lost".to_string(),
                        Err(e) => break e.to_string(),
                    }
                };
                notices.connected.store(false, Ordering::Relaxed);
                tracing::warn!(error = %why, "change listener lost its connection; polling until it is back");
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_ms = retry.as_millis() as u64, "change listener cannot connect");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}
