//! Who is acting on the admin surface, and whether they may. Admin tokens
//! (`wat_…`, looked up in the store on every request, so a revoked token stops
//! at once) authenticate the JSON API; console sessions (see
//! [`crate::admin::console::session`]) authenticate the console. Both produce a
//! [`Principal`], and both go through [`require`], which audits a refusal.

use axum::http::{HeaderMap, header};
use warden_auth::roles::{Principal, Role};

use crate::Gateway;
use crate::admin::error::ApiError;
use crate::http::{check_host, header_str};

/// Which rendering of the admin surface an action came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The JSON API (`/api/v1`), CLI and automation.
    Api,
    /// The web console.
    Console,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Api => "admin",
            Door::Console => "console",
        }
    }
}

/// The admin token in `Authorization: Bearer wat_…`.
pub async fn bearer(gw: &Gateway, h: &HeaderMap) -> Result<Principal, ApiError> {
    check_host(gw, h).map_err(|_| ApiError::forbidden("Host or Origin is not allowed"))?;
    let token = warden_core::identity::bearer(header_str(h, header::AUTHORIZATION))
        .map_err(|_| ApiError::unauthorized("an admin bearer token is required"))?;
    admin_token(gw, token).await
}

/// Looks up an admin token (`wat_…`); agent tokens are never admin tokens.
pub async fn admin_token(gw: &Gateway, token: &str) -> Result<Principal, ApiError> {
    if !token.starts_with("wat_") {
        tracing::info!("admin API refused a non-admin token");
        return Err(ApiError::unauthorized("not an admin token"));
    }
    let t = gw
        .store
        .admin_token(&warden_auth::secrets::sha256_hex(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked admin token"))?;
    let role = Role::parse(&t.role).ok_or_else(|| ApiError::unauthorized("admin token has an unknown role"))?;
    Ok(Principal {
        name: format!("admin-token:{}", t.name),
        role,
        teams: t.teams,
        groups: t.groups,
        subject: None,
        email: None,
        idp_groups: Vec::new(),
    })
}

/// Checks that `p` holds a role that allows `need`. A refusal answers 403 and
/// is audited (kind `admin`, verdict `refused`) with `method` naming the action.
pub async fn require(gw: &Gateway, p: &Principal, need: Role, door: Door, method: &str) -> Result<(), ApiError> {
    if p.role.allows(need) {
        return Ok(());
    }
    let message = format!("role {} cannot do this; it needs {}", p.role.as_str(), need.as_str());
    tracing::info!(principal = %p.name, role = p.role.as_str(), need = need.as_str(), method, "admin: role too weak");
    refused(gw, p, door, method, "", &message).await;
    Err(ApiError::forbidden(message))
}

/// Audits a refused admin action (role, team or group scope).
pub async fn refused(gw: &Gateway, p: &Principal, door: Door, method: &str, subject: &str, reason: &str) {
    let mut rec = record(p, door, method, "refused");
    rec.agent = subject.to_string();
    rec.reason = reason.to_string();
    audit(gw, rec).await;
}

/// An audit record of an admin action by `p`, with the human's identity.
pub fn record(p: &Principal, door: Door, method: &str, verdict: &str) -> warden_audit::Record {
    warden_audit::Record {
        id: uuid::Uuid::now_v7().to_string(),
        at: warden_audit::record::format_ms(warden_core::time::now_ms()),
        kind: "admin".into(),
        entry: door.as_str().into(),
        method: method.into(),
        verdict: verdict.into(),
        actor: p.name.clone(),
        actor_email: p.email.clone().unwrap_or_default(),
        actor_sub: p.subject.clone().unwrap_or_default(),
        actor_groups: p.idp_groups.clone(),
        ..Default::default()
    }
}

/// Audits a completed admin action. The action itself is already durable
/// (inventory changes are in the store's change log, in the same transaction;
/// approval decisions in the approval row), so a failure here is logged, not
/// turned into a second, contradictory answer.
pub async fn audit(gw: &Gateway, rec: warden_audit::Record) {
    let method = rec.method.clone();
    if let Err(e) = crate::pipeline::govern::commit(gw, rec, None).await {
        tracing::error!(error = %e, %method, "an admin action could not be audited");
    }
}
