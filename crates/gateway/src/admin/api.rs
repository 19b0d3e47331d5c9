//! The admin REST API under `/api/v1`. Every route names the role it needs;
//! admins authenticate with admin tokens (`wat_…`), which are looked up in the
//! store on every request, so a revoked admin token stops at once. Agent tokens
//! are never admin tokens. Errors are JSON:
//! `{"error": {"code", "message", "fields": [{"field", "message"}]}}`.
//!
//! The OpenAPI 3.1 document (`openapi.json`, served at `/api/v1/openapi.json`)
//! lists exactly the routes in [`ROUTES`]; a test keeps the two in step.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use warden_auth::roles::{Principal, Role};
use warden_core::inventory::{AgentRecord, AgentSpec, FieldError, SeparationException, Status};
use warden_core::time::Timestamp;
use warden_store::AdminToken;

use crate::Gateway;
use crate::admin::actions::{self, DecisionInput};
pub use crate::admin::error::ApiError;
use crate::admin::inventory::{self, ApplyDoc, ControlError, Lifecycle};
use crate::admin::principal::{self, Door};
use crate::admin::{health, policy_view, records, usage};
use crate::http::{header_str, json_response};

pub const OPENAPI: &str = include_str!("openapi.json");

/// Every admin route: method, path (OpenAPI syntax). Kept equal to the OpenAPI document by a test.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents/{name}"),
    ("put", "/api/v1/agents/{name}"),
    ("post", "/api/v1/agents/{name}/suspend"),
    ("post", "/api/v1/agents/{name}/resume"),
    ("post", "/api/v1/agents/{name}/offboard"),
    ("post", "/api/v1/agents/{name}/review"),
    ("post", "/api/v1/agents/{name}/secret"),
    ("get", "/api/v1/agents/{name}/changes"),
    ("get", "/api/v1/changes/{id}"),
    ("post", "/api/v1/apply"),
    ("get", "/api/v1/exceptions"),
    ("post", "/api/v1/exceptions"),
    ("get", "/api/v1/inventory/report"),
    ("post", "/api/v1/keys/rotate"),
    ("get", "/api/v1/admin/tokens"),
    ("post", "/api/v1/admin/tokens"),
    ("delete", "/api/v1/admin/tokens/{id}"),
    ("get", "/api/v1/tools/pins"),
    ("post", "/api/v1/tools/pins/decide"),
    ("get", "/api/v1/approvals"),
    ("get", "/api/v1/approvals/{id}"),
    ("post", "/api/v1/approvals/{id}/approve"),
    ("post", "/api/v1/approvals/{id}/deny"),
    ("post", "/api/v1/decide"),
    ("post", "/api/v1/decide/outcome"),
    ("get", "/api/v1/audit/records"),
    ("get", "/api/v1/audit/records/{seq}"),
    ("post", "/api/v1/audit/verify"),
    ("get", "/api/v1/audit/export"),
    ("get", "/api/v1/policy"),
    ("post", "/api/v1/policy/explain"),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/health"),
];

type ApiResult = Result<Response, ApiError>;

fn ok(v: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, v))
}

/// Authenticates an admin token and checks the role `need` (a refusal is audited).
async fn admin(gw: &Gateway, h: &HeaderMap, need: Role) -> Result<Principal, ApiError> {
    let p = principal::bearer(gw, h).await?;
    principal::require(gw, &p, need, Door::Api, &format!("api (needs {})", need.as_str())).await?;
    Ok(p)
}

fn parse_json<T: DeserializeOwned>(h: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let ct = header_str(h, header::CONTENT_TYPE).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let mut err = ApiError::bad(format!("invalid body: {e}"));
        // serde names the offending field in its message: surface it per field too.
        let msg = e.to_string();
        if let Some(f) = msg.split('`').nth(1).filter(|_| msg.starts_with("unknown field")) {
            err.fields.push(FieldError::new(f, "unknown field"));
        } else if let Some(f) = msg.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            err.fields.push(FieldError::new(f, "is required"));
        }
        err
    })
}

/// `{"reason": "..."}` or `{"note": "..."}` bodies.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

fn reason_header(h: &HeaderMap, default: &str) -> String {
    header_str(h, "x-warden-reason").map(str::to_string).unwrap_or_else(|| default.to_string())
}

/// An agent record with what Warden derives from it.
pub fn agent_view(gw: &Gateway, r: &AgentRecord, now: Timestamp) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["connected_systems"] = json!(inventory::systems_of(gw, &r.spec));
    v["review_due"] = json!(r.review_due());
    v["review_overdue"] = json!(r.review_overdue(now));
    v
}

pub(crate) async fn openapi() -> Response {
    let mut r = (StatusCode::OK, OPENAPI).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) async fn whoami(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> ApiResult {
    let p = admin(&gw, &h, Role::Viewer).await?;
    ok(json!(p))
}

const LIST_FILTERS: &[&str] = &["team", "owner", "status", "overdue", "label"];

pub(crate) async fn list_agents(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    if let Some(k) = q.keys().find(|k| !LIST_FILTERS.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("unknown filter {k:?}; use {}", LIST_FILTERS.join(", "))));
    }
    let status = match q.get("status") {
        Some(s) => Some(Status::parse(s).ok_or_else(|| ApiError::bad(format!("unknown status {s:?}")))?),
        None => None,
    };
    let overdue = match q.get("overdue").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(o) => return Err(ApiError::bad(format!("overdue must be true or false, not {o:?}"))),
    };
    let label = q.get("label").map(|l| l.split_once('=').unwrap_or((l, "")));
    let now = Timestamp::now();
    let agents: Vec<Value> = gw
        .store
        .agents()
        .await?
        .iter()
        .filter(|r| q.get("team").is_none_or(|t| r.spec.team == *t))
        .filter(|r| q.get("owner").is_none_or(|o| r.spec.owner.eq_ignore_ascii_case(o)))
        .filter(|r| status.is_none_or(|s| r.status == s))
        .filter(|r| !overdue || r.review_overdue(now))
        .filter(|r| label.is_none_or(|(k, v)| r.spec.labels.get(k).is_some_and(|x| v.is_empty() || x == v)))
        .map(|r| agent_view(&gw, r, now))
        .collect();
    ok(json!({ "agents": agents }))
}

pub(crate) async fn create_agent(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let spec: AgentSpec = parse_json(&h, &body)?;
    let (rec, secret) = inventory::create(&gw, spec, &p.name, &reason_header(&h, "created")).await?;
    let mut v = agent_view(&gw, &rec, Timestamp::now());
    v["client_id"] = json!(rec.spec.name);
    v["client_secret"] = json!(secret);
    Ok(json_response(StatusCode::CREATED, v))
}

pub(crate) async fn show_agent(State(gw): State<Arc<Gateway>>, h: HeaderMap, Path(name): Path<String>) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    let rec = gw.store.agent(&name).await?;
    let rec =
        rec.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("agent {name:?} does not exist")))?;
    ok(agent_view(&gw, &rec, Timestamp::now()))
}

pub(crate) async fn update_agent(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let spec: AgentSpec = parse_json(&h, &body)?;
    let (rec, changed) = inventory::update(&gw, &name, spec, &p.name, &reason_header(&h, "updated")).await?;
    let mut v = agent_view(&gw, &rec, Timestamp::now());
    v["changed"] = json!(changed);
    ok(v)
}

async fn lifecycle(gw: Arc<Gateway>, h: HeaderMap, name: String, body: Bytes, op: Lifecycle) -> ApiResult {
    let p = principal::bearer(&gw, &h).await?;
    let b: ReasonBody = parse_json(&h, &body)?;
    let (rec, revocation) = actions::lifecycle(&gw, &p, Door::Api, &name, op, &b.reason).await?;
    let mut v = agent_view(&gw, &rec, Timestamp::now());
    v["revocation"] = json!(revocation);
    ok(v)
}

pub(crate) async fn suspend(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    lifecycle(gw, h, name, body, Lifecycle::Suspend).await
}

pub(crate) async fn resume(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    lifecycle(gw, h, name, body, Lifecycle::Resume).await
}

pub(crate) async fn offboard(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    lifecycle(gw, h, name, body, Lifecycle::Offboard).await
}

pub(crate) async fn review(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = principal::bearer(&gw, &h).await?;
    let b: ReasonBody = parse_json(&h, &body)?;
    let rec = actions::review(&gw, &p, Door::Api, &name, &b.note).await?;
    ok(agent_view(&gw, &rec, Timestamp::now()))
}

pub(crate) async fn rotate_secret(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p = principal::bearer(&gw, &h).await?;
    let b: ReasonBody = parse_json(&h, &body)?;
    let secret = actions::rotate_secret(&gw, &p, Door::Api, &name, &b.reason).await?;
    ok(json!({"client_id": name, "client_secret": secret}))
}

pub(crate) async fn agent_changes(State(gw): State<Arc<Gateway>>, h: HeaderMap, Path(name): Path<String>) -> ApiResult {
    admin(&gw, &h, Role::Auditor).await?;
    if gw.store.agent(&name).await?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("agent {name:?} does not exist")));
    }
    ok(json!({ "changes": gw.store.changes(Some(&name), 10_000).await? }))
}

pub(crate) async fn change(State(gw): State<Arc<Gateway>>, h: HeaderMap, Path(id): Path<String>) -> ApiResult {
    admin(&gw, &h, Role::Auditor).await?;
    match gw.store.change(&id).await? {
        Some(c) => ok(json!(c)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("change {id:?} does not exist"))),
    }
}

pub(crate) async fn apply(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let dry_run = match q.get("dry_run").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(o) => return Err(ApiError::bad(format!("dry_run must be true or false, not {o:?}"))),
    };
    let doc: ApplyDoc = parse_json(&h, &body)?;
    let report = inventory::apply(&gw, doc, dry_run, &p.name, &reason_header(&h, "apply")).await?;
    ok(json!(report))
}

pub(crate) async fn list_exceptions(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    let now = Timestamp::now();
    let only_expired = q.get("expired").map(String::as_str) == Some("true");
    let list: Vec<Value> = gw
        .store
        .exceptions()
        .await?
        .into_iter()
        .filter(|e| !only_expired || e.expired(now))
        .map(|e| {
            let expired = e.expired(now);
            let mut v = json!(e);
            v["expired"] = json!(expired);
            v
        })
        .collect();
    ok(json!({ "exceptions": list }))
}

pub(crate) async fn put_exception(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let ex: SeparationException = parse_json(&h, &body)?;
    let ex = inventory::put_exception(&gw, ex, &p.name, &reason_header(&h, "exception recorded")).await?;
    Ok(json_response(StatusCode::CREATED, json!(ex)))
}

pub(crate) async fn report(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    let format = q.get("format").map(String::as_str).unwrap_or("json");
    let rows = crate::admin::report::rows(&gw).await?;
    let (ct, body) = match format {
        "json" => ("application/json", serde_json::to_string_pretty(&rows).unwrap_or_default()),
        "md" => ("text/markdown; charset=utf-8", crate::admin::report::markdown(&rows)),
        "csv" => ("text/csv; charset=utf-8", crate::admin::report::csv(&rows)),
        other => return Err(ApiError::bad(format!("format {other:?} is not one of md, csv, json"))),
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(r)
}

pub(crate) async fn rotate_keys(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let k = warden_auth::keys::generate_key();
    let s = gw.directory.settings();
    let horizon = Timestamp(Timestamp::now().0 - s.ttl_secs - s.leeway_secs as i64 - 60);
    let mut w = gw.store.write().await?;
    w.insert_signing_key(&k).await?;
    w.retire_signing_keys_except(&k.kid).await?;
    w.prune_signing_keys(horizon).await?;
    w.log(&warden_store::Change::new("signing-keys", &p.name, "rotate", &format!("new key {}", k.kid))).await?;
    w.commit().await?;
    inventory::publish(&gw).await?;
    tracing::warn!(kid = %k.kid, by = %p.name, "token signing key rotated");
    ok(json!({"kid": k.kid, "jwks": gw.directory.keyring().jwks()}))
}

pub(crate) async fn list_admin_tokens(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> ApiResult {
    admin(&gw, &h, Role::Admin).await?;
    ok(json!({ "tokens": gw.store.admin_tokens().await? }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAdminToken {
    name: String,
    role: String,
    /// Teams whose agents the token may act on; default all (`*`).
    #[serde(default = "all_teams")]
    teams: Vec<String>,
    /// Approver groups the holder belongs to.
    #[serde(default)]
    groups: Vec<String>,
}

fn all_teams() -> Vec<String> {
    vec!["*".into()]
}

pub(crate) async fn create_admin_token(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let b: NewAdminToken = parse_json(&h, &body)?;
    let (t, token) = create_admin_token_in(&gw.store, &b.name, &b.role, &b.teams, &b.groups, &p.name)
        .await
        .map_err(ApiError::from)?;
    let mut v = json!(t);
    v["token"] = json!(token);
    Ok(json_response(StatusCode::CREATED, v))
}

/// Creates an admin token in the store (also used by `warden admin token create`).
pub async fn create_admin_token_in(
    store: &warden_store::Store,
    name: &str,
    role: &str,
    teams: &[String],
    groups: &[String],
    by: &str,
) -> Result<(AdminToken, String), ControlError> {
    let mut errors = Vec::new();
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "must be 1-64 printable characters"));
    }
    if Role::parse(role).is_none() {
        errors.push(FieldError::new("role", "must be one of admin, approver, auditor, viewer"));
    }
    let bad = |v: &String| v.is_empty() || v.len() > 64 || v.contains(',') || v.chars().any(char::is_whitespace);
    if teams.is_empty() || teams.iter().any(bad) {
        errors
            .push(FieldError::new("teams", "list one or more team names (or \"*\" for all), without commas or spaces"));
    }
    if groups.iter().any(bad) {
        errors.push(FieldError::new("groups", "group names may not be empty or hold commas or spaces"));
    }
    if !errors.is_empty() {
        return Err(ControlError::Invalid(errors));
    }
    let token = warden_auth::secrets::new_admin_token();
    let t = AdminToken {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        role: role.to_string(),
        teams: teams.to_vec(),
        groups: groups.to_vec(),
        created_at: Timestamp::now(),
        created_by: by.to_string(),
        revoked_at: None,
    };
    let mut w = store.write().await?;
    w.insert_admin_token(&t, &warden_auth::secrets::sha256_hex(&token)).await?;
    let mut c = warden_store::Change::new(&format!("admin-token:{}", t.name), by, "create", &format!("role {role}"));
    c.after = serde_json::to_value(&t).ok();
    w.log(&c).await?;
    w.commit().await?;
    Ok((t, token))
}

pub(crate) async fn revoke_admin_token(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let p = admin(&gw, &h, Role::Admin).await?;
    let mut w = gw.store.write().await?;
    if !w.revoke_admin_token(&id).await? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no live admin token {id:?}")));
    }
    w.log(&warden_store::Change::new(&format!("admin-token-id:{id}"), &p.name, "revoke", "revoked via API")).await?;
    w.commit().await?;
    ok(json!({"revoked": id}))
}

#[derive(serde::Deserialize)]
pub(crate) struct ApprovalQuery {
    status: Option<String>,
    limit: Option<i64>,
}

pub(crate) async fn list_approvals(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<ApprovalQuery>,
) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(warden_store::ApprovalStatus::parse(s).ok_or_else(|| {
            ApiError::bad(format!(
                "unknown status {s:?}: use pending, approved, denied, expired, cancelled, interrupted or all"
            ))
        })?),
    };
    let list = gw.store.approvals(status, q.limit.unwrap_or(100).clamp(1, 1000)).await?;
    ok(json!({"approvals": list}))
}

pub(crate) async fn show_approval(State(gw): State<Arc<Gateway>>, h: HeaderMap, Path(id): Path<String>) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    let a = gw.store.approval(&id).await?.ok_or_else(|| actions::not_found_approval(&id))?;
    ok(json!(a))
}

pub(crate) async fn approve(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    decide_approval(&gw, &h, &id, &body, true).await
}

pub(crate) async fn deny(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    decide_approval(&gw, &h, &id, &body, false).await
}

async fn decide_approval(gw: &Arc<Gateway>, h: &HeaderMap, id: &str, body: &[u8], approve: bool) -> ApiResult {
    let p = principal::bearer(gw, h).await?;
    let b: DecisionInput = if body.is_empty() { DecisionInput::default() } else { parse_json(h, body)? };
    let (a, grant) = actions::decide_approval(gw, &p, Door::Api, id, approve, &b).await?;
    ok(json!({"approval": a, "grant": grant}))
}

/// Refuses query parameters other than `known`.
fn only_params(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(k, format!("unknown parameter {k:?}; use {}", known.join(", ")))),
        None => Ok(()),
    }
}

/// An instant given as milliseconds since the epoch or as RFC 3339.
/// An HTML `datetime-local` value (`2025-01-31T12:00`) is read as UTC.
pub(crate) fn instant_param(q: &HashMap<String, String>, field: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = q.get(field).map(|v| v.trim()).filter(|v| !v.is_empty()) else { return Ok(None) };
    let local;
    let v = if v.len() == 16 && v.as_bytes()[10] == b'T' {
        local = format!("{v}:00Z");
        local.as_str()
    } else {
        v
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    warden_audit::record::parse_ms(v).map(Some).ok_or_else(|| {
        ApiError::field(
            field,
            format!("{v:?} is not an RFC 3339 instant (2025-01-31T12:00:00Z) or milliseconds since the epoch"),
        )
    })
}

fn number_param<T: std::str::FromStr>(q: &HashMap<String, String>, field: &str) -> Result<Option<T>, ApiError> {
    match q.get(field) {
        None => Ok(None),
        Some(v) => {
            v.trim().parse().map(Some).map_err(|_| ApiError::field(field, format!("{v:?} is not a whole number")))
        }
    }
}

const RECORD_PARAMS: &[&str] = &["agent", "tool", "verdict", "tier", "kind", "since", "until", "before", "limit"];

pub(crate) async fn audit_records(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Auditor).await?;
    only_params(&q, RECORD_PARAMS)?;
    let limit = number_param::<usize>(&q, "limit")?.unwrap_or(100);
    if !(1..=records::MAX_PAGE).contains(&limit) {
        return Err(ApiError::field("limit", format!("between 1 and {}", records::MAX_PAGE)));
    }
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let rq = records::RecordQuery {
        agent: text("agent"),
        tool: text("tool"),
        verdict: text("verdict"),
        tier: text("tier"),
        kind: text("kind"),
        since_ms: instant_param(&q, "since")?,
        until_ms: instant_param(&q, "until")?,
        before_seq: number_param(&q, "before")?,
        limit,
    };
    ok(json!(records::query(&gw, &rq).await?))
}

pub(crate) async fn audit_record(State(gw): State<Arc<Gateway>>, h: HeaderMap, Path(seq): Path<String>) -> ApiResult {
    admin(&gw, &h, Role::Auditor).await?;
    let seq: u64 = seq.parse().map_err(|_| ApiError::field("seq", format!("{seq:?} is not a record number")))?;
    ok(json!(records::record(&gw, seq).await?))
}

pub(crate) async fn audit_verify(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> ApiResult {
    admin(&gw, &h, Role::Auditor).await?;
    ok(json!(records::verify(&gw).await?))
}

pub(crate) async fn audit_export(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Auditor).await?;
    only_params(&q, &["since", "until"])?;
    let (since, until) = (instant_param(&q, "since")?, instant_param(&q, "until")?);
    let body = records::export(&gw, since, until).await?;
    let stamp: String = warden_audit::record::format_ms(warden_core::time::now_ms())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut r = (StatusCode::OK, body).into_response();
    let hs = r.headers_mut();
    hs.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"warden-audit-{stamp}.jsonl\"")) {
        hs.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

pub(crate) async fn policy_status(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    ok(json!(policy_view::status(&gw)))
}

pub(crate) async fn policy_explain(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    let input: policy_view::ExplainInput = parse_json(&h, &body)?;
    ok(json!(policy_view::explain(&gw, &input)?))
}

pub(crate) async fn usage_view(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    only_params(&q, &["days", "agent"])?;
    let days = number_param::<u32>(&q, "days")?.unwrap_or(7);
    let agent = q.get("agent").map(String::as_str).filter(|a| !a.is_empty());
    ok(json!(usage::usage(&gw, days, agent).await?))
}

pub(crate) async fn health_view(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    ok(json!(health::health(&gw).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for m in ["get", "put", "post", "delete", "patch"] {
                if item.get(m).is_some() {
                    documented.push((m.to_string(), path.clone()));
                }
            }
        }
        let mut routed: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
        // The model proxy's routes (llm.rs) are documented too, with OpenAI-shaped errors.
        let mut v1: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with("/v1/"))
            .flat_map(|(p, item)| item.as_object().unwrap().keys().map(move |m| format!("{m} {p}")))
            .collect();
        v1.sort();
        assert_eq!(v1, ["get /v1/models", "post /v1/chat/completions", "post /v1/embeddings", "post /v1/responses"]);
        assert!(doc["paths"]["/v1/chat/completions"]["post"]["responses"]["429"]["content"].is_object());
        // Every admin operation documents its security and its error shape.
        for (m, p) in ROUTES {
            let op = &doc["paths"][p][m];
            assert!(op["operationId"].is_string(), "{m} {p}: operationId");
            if *p != "/api/v1/openapi.json" {
                assert!(op["x-required-role"].is_string(), "{m} {p}: x-required-role");
                assert!(op["responses"]["401"].is_object(), "{m} {p}: 401");
            }
        }
    }

    /// The route table (routes.rs) serves exactly the routes this list and the
    /// OpenAPI document name: read from its source, `.route("/api/v1/…", get(…).post(…))`.
    #[test]
    fn the_route_table_serves_exactly_the_listed_routes() {
        let table = include_str!("../routes.rs");
        let mut served = Vec::new();
        for line in table.lines().map(str::trim).filter(|l| l.starts_with(".route(\"/api/v1/")) {
            let path = line.split('"').nth(1).unwrap().to_string();
            for m in ["get", "put", "post", "delete", "patch"] {
                if line.contains(&format!("({m}("))
                    || line.contains(&format!(".{m}("))
                    || line.contains(&format!(" {m}("))
                {
                    served.push((m.to_string(), path.clone()));
                }
            }
        }
        let mut listed: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        served.sort();
        listed.sort();
        assert!(served.len() > 20, "read {} routes from routes.rs", served.len());
        assert_eq!(served, listed);
    }
}

/// `GET /api/v1/tools/pins`: pinned definitions, each version with its
/// status; `status`, `upstream`, `kind` and `name` filter.
pub(crate) async fn list_pins(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    admin(&gw, &h, Role::Viewer).await?;
    only_params(&q, &["status", "upstream", "kind", "name"])?;
    let status = match q.get("status").map(String::as_str) {
        None | Some("all") => None,
        Some(s) => Some(warden_store::pins::PinStatus::parse(s).ok_or_else(|| {
            ApiError::field("status", format!("unknown status {s:?}: use pending, approved, rejected or all"))
        })?),
    };
    let pins: Vec<_> = gw
        .store
        .pins(status)
        .await?
        .into_iter()
        .filter(|p| q.get("upstream").is_none_or(|u| *u == p.upstream))
        .filter(|p| q.get("kind").is_none_or(|k| *k == p.kind))
        .filter(|p| q.get("name").is_none_or(|n| *n == p.name))
        .collect();
    let quarantined = gw.quarantine.load().held.len();
    ok(json!({"pins": pins, "quarantined_here": quarantined}))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PinDecision {
    upstream: String,
    kind: String,
    name: String,
    /// The version; default: the newest pending one.
    #[serde(default)]
    hash: Option<String>,
    /// `approve` or `reject`.
    decision: String,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /api/v1/tools/pins/decide`: approve or reject a quarantined
/// version. Every replica re-reads the pins (the write bumps the inventory
/// version) and serves or keeps hiding it.
pub(crate) async fn decide_pin(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> ApiResult {
    use warden_store::pins::PinStatus;
    let p = admin(&gw, &h, Role::Admin).await?;
    let d: PinDecision = parse_json(&h, &body)?;
    let to = match d.decision.as_str() {
        "approve" => PinStatus::Approved,
        "reject" => PinStatus::Rejected,
        other => return Err(ApiError::field("decision", format!("unknown decision {other:?}: use approve or reject"))),
    };
    let versions = gw.store.pin_versions(&d.upstream, &d.kind, &d.name).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("no pinned {} {:?} on upstream {:?}", d.kind, d.name, d.upstream)));
    }
    let target = match &d.hash {
        Some(hash) => {
            versions.iter().find(|v| v.hash == *hash || (hash.len() >= 12 && v.hash.starts_with(hash.as_str())))
        }
        None => versions.iter().find(|v| v.status == PinStatus::Pending),
    }
    .ok_or_else(|| ApiError::not_found("no such version (or nothing pending): name one with `hash`"))?
    .clone();
    let mut w = gw.store.write().await?;
    let moved = w
        .decide_pin((&target.upstream, &target.kind, &target.name, &target.hash), to, &p.name, Timestamp::now())
        .await?;
    if !moved {
        return Err(ApiError::conflict(format!(
            "version {} is already {}",
            &target.hash[..12],
            target.status.as_str()
        )));
    }
    let what = format!(
        "{} {} {} version {}{}",
        d.decision,
        target.kind,
        target.name,
        &target.hash[..12],
        d.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
    );
    w.log(&warden_store::Change::new(&format!("pin:{}", target.upstream), &p.name, &d.decision, &what)).await?;
    w.commit().await?;
    tracing::warn!(upstream = %target.upstream, kind = %target.kind, name = %target.name, by = %p.name, decision = %d.decision, "pinned definition decided");
    gw.reload_pins().await;
    gw.announce_lists();
    let versions = gw.store.pin_versions(&target.upstream, &target.kind, &target.name).await?;
    ok(json!({"decided": d.decision, "versions": versions}))
}
