//! What a human (or automation) can do on the admin surface, written once.
//! The JSON API ([`crate::admin::api`]) and the console
//! ([`crate::admin::console`]) authenticate, parse their own input format,
//! then call these: each checks the role and the team/group scope, acts, and
//! writes an audit record with the actor's identity.

use std::sync::Arc;

use serde_json::{Value, json};
use warden_auth::roles::{Principal, Role};
use warden_core::inventory::AgentRecord;
use warden_core::time::Timestamp;
use warden_store::{Approval, ApprovalStatus, Grant};

use crate::Gateway;
use crate::admin::error::ApiError;
use crate::admin::inventory::{self, Lifecycle, Revocation};
use crate::admin::principal::{self, Door};

/// A human decision on a held call.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    #[serde(default)]
    pub comment: Option<String>,
    /// Approve: also allow this agent+tool for N minutes without asking again.
    #[serde(default)]
    pub grant_minutes: Option<u64>,
    /// With `grant_minutes`: any arguments (default: only these exact arguments).
    #[serde(default)]
    pub grant_any_arguments: bool,
}

/// Why `p` may not decide `a`, if they may not: role, team, approver group.
pub fn may_decide(p: &Principal, a: &Approval) -> Result<(), String> {
    if !p.role.allows(Role::Approver) {
        return Err(format!("role {} cannot decide approvals; it needs approver", p.role.as_str()));
    }
    if !p.covers_team(&a.team) {
        return Err(format!("{} may not decide for team {:?}", p.name, a.team));
    }
    if let Some(g) = &a.approvers
        && !p.groups.iter().any(|x| x == g)
    {
        return Err(format!("rule {:?} needs an approver in group {g:?}", a.rule));
    }
    Ok(())
}

/// Approves or denies a held call. Separation of duties: the approver role,
/// the agent's team, and the rule's approver group; agents never get here
/// (their tokens are not admin tokens, and they have no console session).
pub async fn decide_approval(
    gw: &Arc<Gateway>,
    p: &Principal,
    door: Door,
    id: &str,
    approve: bool,
    b: &DecisionInput,
) -> Result<(Approval, Option<Grant>), ApiError> {
    let method = if approve { "approvals/approve" } else { "approvals/deny" };
    principal::require(gw, p, Role::Approver, door, method).await?;
    let comment = b.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if !approve && comment.is_none() {
        return Err(ApiError::field("comment", "a denial needs a comment"));
    }
    if comment.is_some_and(|c| c.len() > 2000) {
        return Err(ApiError::field("comment", "at most 2000 characters"));
    }
    if b.grant_minutes.is_some() && !approve {
        return Err(ApiError::field("grant_minutes", "applies only to approve"));
    }
    if b.grant_minutes.is_some_and(|m| m == 0 || m > 24 * 60) {
        return Err(ApiError::field("grant_minutes", "between 1 and 1440"));
    }
    let a = gw.store.approval(id).await?.ok_or_else(|| not_found_approval(id))?;
    if let Err(why) = may_decide(p, &a) {
        principal::refused(gw, p, door, method, &a.agent, &why).await;
        return Err(ApiError::forbidden(why));
    }
    if a.status != ApprovalStatus::Pending {
        return Err(ApiError::conflict(format!("approval {id} is already {}", a.status.as_str())));
    }
    let now = Timestamp::now();
    if a.expires_at.0 <= now.0 {
        return Err(ApiError::conflict(format!("approval {id} has expired; the call was refused")));
    }
    if a.entry == "mcp" && !crate::pipeline::approvals::holder_alive(gw, &a).await {
        if gw.store.decide_approval(id, ApprovalStatus::Interrupted, None, None, now, false).await? {
            let _ = gw
                .store
                .set_approval_outcome(id, "gateway restarted before a decision: the call was not executed")
                .await;
        }
        return Err(ApiError::conflict(format!(
            "approval {id}: the gateway holding the call restarted; the call was not executed and cannot be approved"
        )));
    }
    let to = if approve { ApprovalStatus::Approved } else { ApprovalStatus::Denied };
    if !gw.store.decide_approval(id, to, Some(&p.name), comment, now, true).await? {
        let cur = gw.store.approval(id).await?.map(|a| a.status.as_str()).unwrap_or("gone");
        return Err(ApiError::conflict(format!("approval {id} could not be decided: it is {cur}")));
    }
    let mut grant = None;
    if let Some(m) = b.grant_minutes {
        let g = Grant {
            id: format!("grt_{}", uuid::Uuid::now_v7().simple()),
            agent: a.agent.clone(),
            tool: a.tool.clone(),
            args_digest: (!b.grant_any_arguments).then(|| a.args_digest.clone()),
            created_by: p.name.clone(),
            created_at: now,
            expires_at: Timestamp(now.0 + (m * 60) as i64),
            approval_id: a.id.clone(),
        };
        gw.store.insert_grant(&g).await?;
        grant = Some(g);
    }
    let mut rec = principal::record(p, door, method, to.as_str());
    rec.kind = "approval".into();
    rec.agent = a.agent.clone();
    rec.owner = a.owner.clone();
    rec.session = a.session_id.clone().unwrap_or_default();
    rec.tool = a.tool.clone();
    rec.args_sha256 = a.args_digest.clone();
    rec.args = a.arguments.clone();
    rec.rule = a.rule.clone();
    rec.tier = a.tier.clone();
    rec.reason = a.reason.clone();
    rec.approval = a.id.clone();
    rec.approver = p.name.clone();
    rec.comment = comment.unwrap_or_default().into();
    rec.trace_id = a.trace_id.clone();
    principal::audit(gw, rec).await;
    // The decision's record is in the chain before the held call goes on.
    gw.approvals.notify(id, to);
    let a = gw.store.approval(id).await?.ok_or_else(|| not_found_approval(id))?;
    Ok((a, grant))
}

pub fn not_found_approval(id: &str) -> ApiError {
    ApiError::not_found(format!("no approval {id:?}"))
}

fn lifecycle_method(op: Lifecycle) -> &'static str {
    match op {
        Lifecycle::Suspend => "agents/suspend",
        Lifecycle::Resume => "agents/resume",
        Lifecycle::Offboard => "agents/offboard",
    }
}

/// Suspends, resumes or offboards an agent (admins only).
pub async fn lifecycle(
    gw: &Arc<Gateway>,
    p: &Principal,
    door: Door,
    name: &str,
    op: Lifecycle,
    reason: &str,
) -> Result<(AgentRecord, Revocation), ApiError> {
    let method = lifecycle_method(op);
    principal::require(gw, p, Role::Admin, door, method).await?;
    let (rec, revocation) = inventory::lifecycle(gw, name, op, &p.name, reason).await?;
    let mut r = principal::record(p, door, method, "changed");
    r.agent = name.to_string();
    r.owner = rec.spec.owner.clone();
    r.reason = reason.to_string();
    principal::audit(gw, r).await;
    Ok((rec, revocation))
}

/// Marks an agent reviewed (admins only).
pub async fn review(
    gw: &Arc<Gateway>,
    p: &Principal,
    door: Door,
    name: &str,
    note: &str,
) -> Result<AgentRecord, ApiError> {
    principal::require(gw, p, Role::Admin, door, "agents/review").await?;
    let rec = inventory::review(gw, name, &p.name, note).await?;
    let mut r = principal::record(p, door, "agents/review", "changed");
    r.agent = name.to_string();
    r.owner = rec.spec.owner.clone();
    r.comment = note.to_string();
    principal::audit(gw, r).await;
    Ok(rec)
}

/// Issues a new client secret (shown once); the old one stops working.
pub async fn rotate_secret(
    gw: &Arc<Gateway>,
    p: &Principal,
    door: Door,
    name: &str,
    reason: &str,
) -> Result<String, ApiError> {
    principal::require(gw, p, Role::Admin, door, "agents/rotate-secret").await?;
    let secret = inventory::rotate_secret(gw, name, &p.name, reason).await?;
    let mut r = principal::record(p, door, "agents/rotate-secret", "changed");
    r.agent = name.to_string();
    r.reason = reason.to_string();
    principal::audit(gw, r).await;
    Ok(secret)
}

/// An approval as the admin surface shows it: the stored row, plus whether
/// this principal may decide it (and why not).
pub fn approval_view(p: &Principal, a: &Approval) -> Value {
    let mut v = json!(a);
    match may_decide(p, a) {
        Ok(()) => v["you_may_decide"] = json!(a.status == ApprovalStatus::Pending),
        Err(why) => {
            v["you_may_decide"] = json!(false);
            v["why_not"] = json!(why);
        }
    }
    v
}
