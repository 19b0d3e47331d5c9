//! How the gateway stands: each MCP upstream, the replicas sharing the
//! store, the store itself, the policy and the calls held for a human. The
//! JSON API (`/api/v1/health`) and the console both call this; the caller
//! checks the viewer role first. (`/readyz` is the unauthenticated probe.)

use std::time::{Duration, Instant};

use serde::Serialize;
use warden_mcp::upstream::HealthState;

use crate::Gateway;

#[derive(Debug, Clone, Serialize)]
pub struct UpstreamHealth {
    pub name: String,
    /// Healthy and serving its lists.
    pub connected: bool,
    /// `healthy`, `connecting` or `unhealthy`.
    pub status: String,
    /// The last connection or protocol error, if any.
    pub error: Option<String>,
    /// Tools it contributes to the catalog (after include/exclude and collisions).
    pub tools: usize,
    /// Tool names it exposes that another upstream exposes too (exposed,
    /// prefixed names). Only the first upstream's tool is served under such
    /// a name; set a distinct `prefix` on one of them.
    pub collisions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaHealth {
    pub id: String,
    /// Its last heartbeat, ms since the epoch.
    pub seen_at_ms: i64,
    /// This process.
    pub this: bool,
    /// Seen within the window after which its held calls are declared lost.
    pub alive: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreHealth {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub ok: bool,
    /// Round trip of a trivial query.
    pub latency_ms: f64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub upstreams: Vec<UpstreamHealth>,
    /// Replicas with a heartbeat in the store, most recently seen first
    /// (empty when the store cannot be read).
    pub replicas: Vec<ReplicaHealth>,
    pub store: StoreHealth,
    /// The last policy reload succeeded.
    pub policy_valid: bool,
    /// Calls this replica holds waiting for a human decision.
    pub held_approvals: usize,
}

const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// The gateway's health now. Never fails: a store that cannot be reached is reported in `store`.
pub async fn health(gw: &Gateway) -> HealthView {
    let cat = gw.catalog.load();
    let upstreams = gw
        .upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let h = u.health();
            let status = match h.state {
                HealthState::Healthy => "healthy",
                HealthState::Connecting => "connecting",
                HealthState::Unhealthy => "unhealthy",
            };
            let mut collisions: Vec<String> = cat
                .tool_collisions
                .iter()
                .filter(|(_, kept, dropped)| *kept == i || *dropped == i)
                .map(|(name, _, _)| name.clone())
                .collect();
            collisions.dedup();
            UpstreamHealth {
                name: u.name().to_string(),
                connected: h.state == HealthState::Healthy && cat.has_upstream(i),
                status: status.to_string(),
                error: h.last_error,
                tools: cat.tool_names_of(i).len(),
                collisions,
            }
        })
        .collect();
    let started = Instant::now();
    let ping = tokio::time::timeout(STORE_TIMEOUT, gw.store.ping()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match ping {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", STORE_TIMEOUT.as_secs())),
    };
    let replicas = if error.is_none() {
        let stale =
            warden_core::time::now_ms() - crate::pipeline::approvals::stale_after(gw.store_poll).as_millis() as i64;
        match gw.store.replicas().await {
            Ok(list) => list
                .into_iter()
                .map(|(id, seen_at_ms)| ReplicaHealth {
                    this: id == gw.approvals.replica,
                    alive: seen_at_ms >= stale || id == gw.approvals.replica,
                    id,
                    seen_at_ms,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "health: replicas could not be read");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let backend = match gw.store.backend {
        warden_store::Backend::Sqlite => "sqlite",
        warden_store::Backend::Postgres => "postgres",
    };
    HealthView {
        upstreams,
        replicas,
        store: StoreHealth { backend: backend.to_string(), ok: error.is_none(), latency_ms, error },
        policy_valid: gw.policy_metrics.valid.load(std::sync::atomic::Ordering::Relaxed),
        held_approvals: gw.approvals.held(),
    }
}
