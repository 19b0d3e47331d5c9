//! Liveness and readiness probes: `/healthz` and `/readyz` (upstream health,
//! store reachability and its change listener, catalog size and conflicts).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::Gateway;
use crate::http::json_response;

pub async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

pub async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let cat = gw.catalog.load();
    let upstreams: Vec<Value> = gw
        .upstreams
        .iter()
        .map(|u| {
            let h = u.health();
            let state = match h.state {
                warden_mcp::upstream::HealthState::Healthy => "healthy",
                warden_mcp::upstream::HealthState::Connecting => "connecting",
                warden_mcp::upstream::HealthState::Unhealthy => "unhealthy",
            };
            let mut v = json!({"name": u.name(), "status": state, "since_s": h.since.elapsed().as_secs(), "connects": h.connects});
            if let Some(e) = h.last_error {
                v["error"] = Value::String(e);
            }
            v
        })
        .collect();
    let quarantined: Vec<Value> = {
        let q = gw.quarantine.load();
        let mut v: Vec<Value> = q
            .held
            .iter()
            .map(|((u, kind, name), why)| json!({"upstream": gw.upstream_names[*u], "kind": kind, "name": name, "status": why.status.as_str(), "reason": why.reason}))
            .collect();
        v.sort_by_key(|x| x.to_string());
        v
    };
    let store_ok = matches!(tokio::time::timeout(std::time::Duration::from_secs(2), gw.store.ping()).await, Ok(Ok(())));
    let ready = gw.ready() && store_ok;
    let body = json!({
        "status": if !gw.ready() { "draining" } else if !store_ok { "store unavailable" } else { "ready" },
        "store": if store_ok { "ok" } else { "unavailable" },
        // Informational: without the listener, other replicas' changes still arrive by polling.
        "store_listener": match gw.store.backend {
            warden_store::Backend::Sqlite => "none (polling)",
            warden_store::Backend::Postgres if !gw.store_listen => "off (store.listen: false; polling)",
            warden_store::Backend::Postgres if gw.store.notices().connected() => "listening",
            warden_store::Backend::Postgres => "reconnecting (polling meanwhile)",
        },
        "upstreams": upstreams,
        "tools": cat.tools.entries.len(),
        "sessions": gw.sessions.len(),
        "conflicts": cat.conflicts,
        // Held back by tool pinning or screening (`warden tools list --status pending`); informational.
        "quarantined": quarantined,
    });
    json_response(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
}
