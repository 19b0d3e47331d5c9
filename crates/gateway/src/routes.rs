//! Every route of every front door, assembled in one place: the MCP door
//! (`/mcp`), the model door (`/v1`), the admin API (`/api/v1`, with the
//! decision API), OAuth and its metadata, probes and `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post};

use crate::Gateway;
use crate::admin::console::{
    self, agents as c_agents, approvals as c_approvals, audit as c_audit, page, session, views,
};
use crate::admin::{api, decide, oauth, probes, report};
use crate::llm::proxy;
use crate::mcp;

pub fn router(gw: Arc<Gateway>) -> Router {
    let router = Router::new()
        // The MCP door.
        .route("/mcp", post(mcp::edge::mcp_post).get(mcp::edge::mcp_get).delete(mcp::edge::mcp_delete))
        // The model door (OpenAI-compatible).
        .route("/v1/chat/completions", post(proxy::chat))
        .route("/v1/responses", post(proxy::responses))
        .route("/v1/models", get(proxy::models))
        .route("/v1/embeddings", post(proxy::embeddings))
        // The admin API and the decision API (agents' pre-tool hooks).
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/api/v1/whoami", get(api::whoami))
        .route("/api/v1/agents", get(api::list_agents).post(api::create_agent))
        .route("/api/v1/agents/{name}", get(api::show_agent).put(api::update_agent))
        .route("/api/v1/agents/{name}/suspend", post(api::suspend))
        .route("/api/v1/agents/{name}/resume", post(api::resume))
        .route("/api/v1/agents/{name}/offboard", post(api::offboard))
        .route("/api/v1/agents/{name}/review", post(api::review))
        .route("/api/v1/agents/{name}/secret", post(api::rotate_secret))
        .route("/api/v1/agents/{name}/changes", get(api::agent_changes))
        .route("/api/v1/changes/{id}", get(api::change))
        .route("/api/v1/apply", post(api::apply))
        .route("/api/v1/exceptions", get(api::list_exceptions).post(api::put_exception))
        .route("/api/v1/inventory/report", get(api::report))
        .route("/api/v1/keys/rotate", post(api::rotate_keys))
        .route("/api/v1/admin/tokens", get(api::list_admin_tokens).post(api::create_admin_token))
        .route("/api/v1/admin/tokens/{id}", delete(api::revoke_admin_token))
        .route("/api/v1/tools/pins", get(api::list_pins))
        .route("/api/v1/tools/pins/decide", post(api::decide_pin))
        .route("/api/v1/approvals", get(api::list_approvals))
        .route("/api/v1/approvals/{id}", get(api::show_approval))
        .route("/api/v1/approvals/{id}/approve", post(api::approve))
        .route("/api/v1/approvals/{id}/deny", post(api::deny))
        .route("/api/v1/decide", post(decide::decide))
        .route("/api/v1/decide/outcome", post(decide::outcome))
        .route("/api/v1/audit/records", get(api::audit_records))
        .route("/api/v1/audit/records/{seq}", get(api::audit_record))
        .route("/api/v1/audit/verify", post(api::audit_verify))
        .route("/api/v1/audit/export", get(api::audit_export))
        .route("/api/v1/policy", get(api::policy_status))
        .route("/api/v1/policy/explain", post(api::policy_explain))
        .route("/api/v1/usage", get(api::usage_view))
        .route("/api/v1/health", get(api::health_view))
        // OAuth: token endpoint, key set and metadata.
        .route("/oauth/token", post(oauth::token))
        .route("/.well-known/jwks.json", get(oauth::jwks))
        .route("/.well-known/oauth-authorization-server", get(oauth::as_metadata))
        .route("/.well-known/oauth-protected-resource", get(oauth::resource_metadata))
        .route("/.well-known/oauth-protected-resource/mcp", get(oauth::resource_metadata))
        // Probes and Prometheus.
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(report::metrics));
    let router = if gw.console.enabled {
        let base = gw.console.base.clone();
        router.nest(&base, console_routes())
    } else {
        router
    };
    router.with_state(gw)
}

/// The console's pages, under `console.base_path`.
fn console_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/", get(console_home))
        .route("/login", get(session::login_page))
        .route("/logout", post(session::logout))
        .route("/auth/login", get(session::sso_start))
        .route("/auth/callback", get(session::callback))
        .route("/auth/token", post(session::token_login))
        .route("/auth/backchannel-logout", post(session::backchannel_logout))
        .route(
            "/static/console.css",
            get(|State(gw): State<Arc<Gateway>>| async move { page::asset(&gw, "text/css; charset=utf-8", page::CSS) }),
        )
        .route(
            "/static/console.js",
            get(|State(gw): State<Arc<Gateway>>| async move {
                page::asset(&gw, "text/javascript; charset=utf-8", page::JS)
            }),
        )
        .route("/approvals", get(c_approvals::list))
        .route("/approvals/{id}", get(c_approvals::detail))
        .route("/approvals/{id}/decide", post(c_approvals::decide))
        .route("/agents", get(c_agents::list))
        .route("/agents/{name}", get(c_agents::detail))
        .route("/agents/{name}/{op}", post(c_agents::act))
        .route("/audit", get(c_audit::list))
        .route("/audit/verify", post(c_audit::verify))
        .route("/audit/export", get(c_audit::export))
        .route("/audit/{seq}", get(c_audit::record))
        .route("/policy", get(views::policy))
        .route("/usage", get(views::usage))
        .route("/health", get(views::health))
}

async fn console_home(State(gw): State<Arc<Gateway>>) -> axum::response::Response {
    console::page::redirect(&gw, &format!("{}/approvals", gw.console.base))
}
