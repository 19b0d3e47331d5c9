//! Inventory changes: create, update, suspend/resume/offboard, review, secret
//! rotation, exceptions and declarative apply. Each is one store transaction
//! that validates, writes the record and its change entry (who, when, what,
//! why), commits, and then publishes the new state to the live directory,
//! which closes whatever the change revoked.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warden_core::inventory::{
    AgentRecord, AgentSpec, FieldChange, FieldError, SeparationException, Status, UpstreamView, check_separation,
    connected_systems, connected_systems_with, diff,
};
use warden_core::time::{Timestamp, now_ms};
use warden_store::{Change, SecretUpdate, StoreError};

use crate::Gateway;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ControlError {
    fn field(field: &str, message: impl Into<String>) -> ControlError {
        ControlError::Invalid(vec![FieldError::new(field, message)])
    }
}

fn store_conflict(e: StoreError) -> ControlError {
    match e {
        StoreError::Conflict(m) => ControlError::Conflict(m),
        e => ControlError::Store(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Suspend,
    Resume,
    Offboard,
}

/// What `offboard` (and `suspend`) revoked, as written to the offboarding record.
#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
    pub agent: String,
    pub status: Status,
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
    pub revoked: Vec<String>,
    /// Offboarding: the agent's upstream credentials, detached or deleted, and
    /// what must still be rotated at each provider.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<crate::pipeline::credentials::CredentialAction>,
}

fn require_reason(reason: &str) -> Result<(), ControlError> {
    if reason.trim().is_empty() {
        return Err(ControlError::field("reason", "is required: say why"));
    }
    if reason.len() > 2000 {
        return Err(ControlError::field("reason", "must be at most 2000 characters"));
    }
    Ok(())
}

fn validated(gw: &Gateway, spec: &AgentSpec) -> Result<(), ControlError> {
    let errors = spec.validate(&gw.directory.naming);
    if errors.is_empty() { Ok(()) } else { Err(ControlError::Invalid(errors)) }
}

fn to_value<T: Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}

async fn hash_secret(secret: String) -> String {
    tokio::task::spawn_blocking(move || warden_auth::secrets::hash_secret(&secret)).await.expect("argon2 task")
}

/// Publishes the store's state to the directory and closes what it revoked.
pub async fn publish(gw: &Arc<Gateway>) -> Result<(), StoreError> {
    let revoked = gw.directory.reload(&gw.store).await?;
    for name in revoked {
        let closed = gw.close_agent_sessions(&name).await;
        tracing::warn!(agent = %name, sessions_closed = closed, "agent revoked: sessions closed, tokens refused");
    }
    Ok(())
}

pub async fn create(
    gw: &Arc<Gateway>,
    spec: AgentSpec,
    actor: &str,
    reason: &str,
) -> Result<(AgentRecord, String), ControlError> {
    validated(gw, &spec)?;
    let secret = warden_auth::secrets::new_client_secret();
    let hash = hash_secret(secret.clone()).await;
    let now = Timestamp::now();
    let rec = new_record(spec, now);
    let mut w = gw.store.write().await?;
    if w.agent(&rec.spec.name).await?.is_some() {
        return Err(ControlError::Conflict(format!("agent {:?} already exists", rec.spec.name)));
    }
    check_separation(&rec.spec, &w.exceptions().await?, now).map_err(|e| ControlError::Invalid(vec![e]))?;
    w.insert_agent(&rec, Some(&hash)).await.map_err(store_conflict)?;
    let mut c = Change::new(&rec.spec.name, actor, "create", reason);
    c.after = to_value(&rec);
    w.log(&c).await?;
    w.commit().await.map_err(store_conflict)?;
    publish(gw).await?;
    tracing::info!(agent = %rec.spec.name, %actor, "agent created");
    Ok((rec, secret))
}

/// A new, active record with a client secret about to be set.
fn new_record(spec: AgentSpec, now: Timestamp) -> AgentRecord {
    AgentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        spec,
        status: Status::Active,
        status_reason: String::new(),
        created_at: now,
        updated_at: now,
        last_review: None,
        tokens_not_before_ms: 0,
        has_client_secret: true,
    }
}

async fn existing(w: &mut warden_store::Write<'_>, name: &str) -> Result<AgentRecord, ControlError> {
    w.agent(name).await?.ok_or_else(|| ControlError::NotFound(format!("agent {name:?} does not exist")))
}

/// Replaces the declared part of a record. Returns the record and whether it changed.
pub async fn update(
    gw: &Arc<Gateway>,
    name: &str,
    spec: AgentSpec,
    actor: &str,
    reason: &str,
) -> Result<(AgentRecord, bool), ControlError> {
    if spec.name != name {
        return Err(ControlError::field("name", format!("agents cannot be renamed ({name:?} -> {:?})", spec.name)));
    }
    validated(gw, &spec)?;
    let mut w = gw.store.write().await?;
    let before = existing(&mut w, name).await?;
    if before.status == Status::Offboarded {
        return Err(ControlError::Conflict(format!("agent {name:?} is offboarded; its record is closed")));
    }
    if before.spec == spec {
        return Ok((before, false));
    }
    let now = Timestamp::now();
    check_separation(&spec, &w.exceptions().await?, now).map_err(|e| ControlError::Invalid(vec![e]))?;
    let mut after = before.clone();
    after.spec = spec;
    after.updated_at = now;
    w.update_agent(&after, SecretUpdate::Keep).await.map_err(store_conflict)?;
    let mut c = Change::new(name, actor, "update", reason);
    c.before = to_value(&before);
    c.after = to_value(&after);
    w.log(&c).await?;
    w.commit().await?;
    publish(gw).await?;
    Ok((after, true))
}

pub async fn lifecycle(
    gw: &Arc<Gateway>,
    name: &str,
    op: Lifecycle,
    actor: &str,
    reason: &str,
) -> Result<(AgentRecord, Revocation), ControlError> {
    require_reason(reason)?;
    // Planned before the write lock is taken (planning reads the store), carried out after the commit.
    let credentials = match op {
        Lifecycle::Offboard => gw.custody.offboard_plan(name, gw.on_offboard).await?,
        _ => Vec::new(),
    };
    let mut w = gw.store.write().await?;
    let before = existing(&mut w, name).await?;
    let (to, verb) = match (op, before.status) {
        (_, Status::Offboarded) => {
            return Err(ControlError::Conflict(format!("agent {name:?} is already offboarded")));
        }
        (Lifecycle::Suspend, Status::Active) => (Status::Suspended, "suspend"),
        (Lifecycle::Resume, Status::Suspended) => (Status::Active, "resume"),
        (Lifecycle::Offboard, _) => (Status::Offboarded, "offboard"),
        (Lifecycle::Suspend, s) | (Lifecycle::Resume, s) => {
            return Err(ControlError::Conflict(format!("agent {name:?} is {s}")));
        }
    };
    let now_ms = now_ms();
    let mut after = before.clone();
    after.status = to;
    after.status_reason = reason.to_string();
    after.updated_at = Timestamp(now_ms / 1000);
    let mut revoked = Vec::new();
    let mut secret = SecretUpdate::Keep;
    if to != Status::Active {
        after.tokens_not_before_ms = now_ms;
        revoked.push(format!("access tokens issued before {}", Timestamp(now_ms / 1000)));
        let sessions = gw.sessions.all().iter().filter(|s| s.agent_name == name).count();
        revoked.push(format!("{sessions} open MCP session(s) on this replica (others close within one poll interval)"));
        let outcome = format!("agent {to}: the call was not executed");
        let n = w.cancel_pending_approvals(name, Timestamp(now_ms / 1000), &outcome).await?;
        revoked.push(format!("{n} pending approval(s), cancelled"));
    }
    if to == Status::Offboarded {
        if before.has_client_secret {
            revoked.push("OAuth client secret".into());
        }
        secret = SecretUpdate::Clear;
        after.has_client_secret = false;
        for a in &credentials {
            revoked.push(format!("upstream credential {}: {}; {}", a.reference, a.action, a.rotate));
        }
        if credentials.is_empty() {
            revoked.push("upstream credentials: none attached to this agent".into());
        }
    }
    w.update_agent(&after, secret).await?;
    let record = Revocation {
        agent: name.to_string(),
        status: to,
        by: actor.to_string(),
        at: Timestamp(now_ms / 1000),
        reason: reason.to_string(),
        revoked: revoked.clone(),
        credentials,
    };
    let mut c = Change::new(name, actor, verb, reason);
    c.before = to_value(&before);
    c.after = Some(json!({"record": after, "revocation": record}));
    w.log(&c).await?;
    w.commit().await?;
    publish(gw).await?;
    if to == Status::Offboarded {
        // After the commit: the agent can no longer call, so nothing re-attaches a credential.
        gw.custody.offboard_apply(name, &record.credentials).await?;
    }
    tracing::warn!(agent = %name, %actor, status = %to, %reason, "agent lifecycle change");
    Ok((after, record))
}

pub async fn review(gw: &Arc<Gateway>, name: &str, actor: &str, note: &str) -> Result<AgentRecord, ControlError> {
    if note.trim().is_empty() {
        return Err(ControlError::field("note", "is required: what the review found"));
    }
    let mut w = gw.store.write().await?;
    let before = existing(&mut w, name).await?;
    if before.status == Status::Offboarded {
        return Err(ControlError::Conflict(format!("agent {name:?} is offboarded; it is no longer reviewed")));
    }
    let mut after = before.clone();
    let now = Timestamp::now();
    after.last_review = Some(now);
    after.updated_at = now;
    w.update_agent(&after, SecretUpdate::Keep).await?;
    let mut c = Change::new(name, actor, "review", note);
    c.before = to_value(&before);
    c.after = to_value(&after);
    w.log(&c).await?;
    w.commit().await?;
    publish(gw).await?;
    Ok(after)
}

/// Issues a new client secret; the old one stops working at once.
pub async fn rotate_secret(gw: &Arc<Gateway>, name: &str, actor: &str, reason: &str) -> Result<String, ControlError> {
    require_reason(reason)?;
    let secret = warden_auth::secrets::new_client_secret();
    let hash = hash_secret(secret.clone()).await;
    let mut w = gw.store.write().await?;
    let before = existing(&mut w, name).await?;
    if before.status == Status::Offboarded {
        return Err(ControlError::Conflict(format!("agent {name:?} is offboarded")));
    }
    let mut after = before.clone();
    after.has_client_secret = true;
    after.updated_at = Timestamp::now();
    w.update_agent(&after, SecretUpdate::Set(hash)).await?;
    w.log(&Change::new(name, actor, "rotate-secret", reason)).await?;
    w.commit().await?;
    publish(gw).await?;
    Ok(secret)
}

pub async fn put_exception(
    gw: &Arc<Gateway>,
    ex: SeparationException,
    actor: &str,
    reason: &str,
) -> Result<SeparationException, ControlError> {
    let errors = ex.validate();
    if !errors.is_empty() {
        return Err(ControlError::Invalid(errors));
    }
    let mut w = gw.store.write().await?;
    let before = w.exceptions().await?.into_iter().find(|e| e.name == ex.name);
    w.put_exception(&ex).await?;
    let mut c = Change::new(&format!("exception:{}", ex.name), actor, "put-exception", reason);
    c.before = before.as_ref().and_then(to_value);
    c.after = to_value(&ex);
    w.log(&c).await?;
    w.commit().await?;
    publish(gw).await?;
    Ok(ex)
}

/// The declarative document of `warden apply`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApplyDoc {
    #[serde(default)]
    pub agents: Vec<AgentSpec>,
    #[serde(default)]
    pub exceptions: Vec<SeparationException>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub kind: &'static str,
    pub name: String,
    /// `create`, `update` or `unchanged`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub dry_run: bool,
    pub plan: Vec<PlanItem>,
    /// Client secrets of agents this apply created (shown once).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub client_secrets: BTreeMap<String, String>,
}

/// Applies a whole document or none of it.
pub async fn apply(
    gw: &Arc<Gateway>,
    doc: ApplyDoc,
    dry_run: bool,
    actor: &str,
    reason: &str,
) -> Result<ApplyReport, ControlError> {
    // 1. Every record valid on its own, no duplicates in the file.
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    for (i, a) in doc.agents.iter().enumerate() {
        for e in a.validate(&gw.directory.naming) {
            errors.push(FieldError::new(format!("agents[{i}].{}", e.field), e.message));
        }
        if !names.insert(a.name.as_str()) {
            errors.push(FieldError::new(format!("agents[{i}].name"), format!("{:?} appears twice", a.name)));
        }
    }
    let mut ex_names = HashSet::new();
    for (i, x) in doc.exceptions.iter().enumerate() {
        for e in x.validate() {
            errors.push(FieldError::new(format!("exceptions[{i}].{}", e.field), e.message));
        }
        if !ex_names.insert(x.name.as_str()) {
            errors.push(FieldError::new(format!("exceptions[{i}].name"), format!("{:?} appears twice", x.name)));
        }
    }
    if !errors.is_empty() {
        return Err(ControlError::Invalid(errors));
    }
    // 2. Plan against the current state, in one transaction.
    let now = Timestamp::now();
    let mut w = gw.store.write().await?;
    let mut exceptions = w.exceptions().await?;
    let mut plan = Vec::new();
    for x in &doc.exceptions {
        let (action, changes) = match exceptions.iter().position(|e| e.name == x.name) {
            None => ("create", Vec::new()),
            Some(i) if exceptions[i] == *x => ("unchanged", Vec::new()),
            Some(i) => {
                let changes = diff(&exceptions[i], x);
                exceptions[i] = x.clone();
                ("update", changes)
            }
        };
        if action == "create" {
            exceptions.push(x.clone());
        }
        plan.push(PlanItem { kind: "exception", name: x.name.clone(), action, changes });
    }
    let mut writes: Vec<(Option<AgentRecord>, AgentSpec)> = Vec::new();
    for (i, spec) in doc.agents.iter().enumerate() {
        let current = w.agent(&spec.name).await?;
        if let Err(e) = check_separation(spec, &exceptions, now) {
            errors.push(FieldError::new(format!("agents[{i}].{}", e.field), e.message));
            continue;
        }
        match &current {
            Some(c) if c.status == Status::Offboarded && c.spec != *spec => errors.push(FieldError::new(
                format!("agents[{i}].name"),
                format!("agent {:?} is offboarded; its record is closed", spec.name),
            )),
            Some(c) if c.spec == *spec => {
                plan.push(PlanItem { kind: "agent", name: spec.name.clone(), action: "unchanged", changes: vec![] })
            }
            Some(c) => {
                plan.push(PlanItem {
                    kind: "agent",
                    name: spec.name.clone(),
                    action: "update",
                    changes: diff(&c.spec, spec),
                });
                writes.push((current.clone(), spec.clone()));
            }
            None => {
                plan.push(PlanItem { kind: "agent", name: spec.name.clone(), action: "create", changes: vec![] });
                writes.push((None, spec.clone()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ControlError::Invalid(errors));
    }
    let mut report = ApplyReport { dry_run, plan, client_secrets: BTreeMap::new() };
    if dry_run {
        return Ok(report); // the transaction is rolled back on drop
    }
    // 3. Write everything, then commit once.
    for x in &doc.exceptions {
        if report.plan.iter().any(|p| p.kind == "exception" && p.name == x.name && p.action != "unchanged") {
            w.put_exception(x).await?;
            let mut c = Change::new(&format!("exception:{}", x.name), actor, "put-exception", reason);
            c.after = to_value(x);
            w.log(&c).await?;
        }
    }
    for (current, spec) in writes {
        match current {
            Some(before) => {
                let mut after = before.clone();
                after.spec = spec;
                after.updated_at = now;
                w.update_agent(&after, SecretUpdate::Keep).await.map_err(store_conflict)?;
                let mut c = Change::new(&after.spec.name, actor, "update", reason);
                c.before = to_value(&before);
                c.after = to_value(&after);
                w.log(&c).await?;
            }
            None => {
                let secret = warden_auth::secrets::new_client_secret();
                let hash = hash_secret(secret.clone()).await;
                let rec = new_record(spec, now);
                w.insert_agent(&rec, Some(&hash)).await.map_err(store_conflict)?;
                let mut c = Change::new(&rec.spec.name, actor, "create", reason);
                c.after = to_value(&rec);
                w.log(&c).await?;
                report.client_secrets.insert(rec.spec.name.clone(), secret);
            }
        }
    }
    w.commit().await.map_err(store_conflict)?;
    publish(gw).await?;
    Ok(report)
}

/// The upstream systems an agent reaches through Warden plus its declared extras.
pub fn systems_of(gw: &Gateway, spec: &AgentSpec) -> Vec<String> {
    Systems::of(gw).reached(gw, spec)
}

/// The upstreams' tool lists, read once for many agents.
pub struct Systems {
    tools: Vec<Option<Vec<String>>>,
}

impl Systems {
    pub fn of(gw: &Gateway) -> Systems {
        let cat = gw.catalog.load();
        Systems { tools: (0..gw.upstreams.len()).map(|i| cat.has_upstream(i).then(|| cat.tool_names_of(i))).collect() }
    }

    /// The systems `spec` reaches. Its compiled access rules are taken from the
    /// live directory when the spec there is the same one (compiling the globs
    /// is most of the cost), else compiled here.
    pub fn reached(&self, gw: &Gateway, spec: &AgentSpec) -> Vec<String> {
        let views: Vec<UpstreamView<'_>> = gw
            .upstream_names
            .iter()
            .enumerate()
            .map(|(i, name)| UpstreamView {
                name,
                prefix: gw.prefixes[i].as_deref(),
                tools: self.tools.get(i).and_then(|t| t.as_deref()),
            })
            .collect();
        let live = gw.directory.live();
        match live.by_name.get(&spec.name).filter(|a| a.record.spec == *spec) {
            Some(a) => connected_systems_with(spec, &a.agent.access, &views),
            None => connected_systems(spec, &views),
        }
    }
}
