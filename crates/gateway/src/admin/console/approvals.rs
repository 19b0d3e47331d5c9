//! The approvals queue and one approval's page, where a human decides.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use warden_core::time::Timestamp;
use warden_store::{Approval, ApprovalFacets, ApprovalFilter, ApprovalStatus};

use crate::Gateway;
use crate::admin::actions::{self, DecisionInput};
use crate::admin::console::page::{self, Chrome};
use crate::admin::console::session;
use crate::admin::error::ApiError;
use crate::admin::principal::Door;

pub const PAGE: i64 = 50;

/// One row of the queue, formatted for the page.
pub struct Row {
    pub id: String,
    pub status: &'static str,
    pub created: String,
    pub agent: String,
    pub owner: String,
    pub team: String,
    pub tool: String,
    pub tier: String,
    pub rule: String,
    /// "in 4 min", "expired", or who decided.
    pub when: String,
    pub outcome: String,
}

fn row(a: &Approval, now: i64) -> Row {
    let when = match a.status {
        ApprovalStatus::Pending if a.expires_at.0 > now => format!("expires in {}", human_secs(a.expires_at.0 - now)),
        ApprovalStatus::Pending => "expiring".into(),
        _ => a.decided_by.clone().map(|d| format!("by {d}")).unwrap_or_default(),
    };
    Row {
        id: a.id.clone(),
        status: a.status.as_str(),
        created: page::when(a.created_at.0),
        agent: a.agent.clone(),
        owner: a.owner.clone(),
        team: a.team.clone(),
        tool: a.tool.clone(),
        tier: a.tier.clone(),
        rule: a.rule.clone(),
        when,
        outcome: a.outcome.clone().unwrap_or_default(),
    }
}

fn human_secs(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    total: i64,
    status: String,
    team: String,
    tier: String,
    agent: String,
    facets: ApprovalFacets,
    prev: Option<String>,
    next: Option<String>,
    page_no: i64,
}

#[derive(Template)]
#[template(path = "console/approvals_rows.html")]
struct RowsFragment {
    rows: Vec<Row>,
    c: Chrome,
}

/// The statuses a `status=` filter selects.
fn statuses(s: &str) -> Result<Vec<ApprovalStatus>, ApiError> {
    use ApprovalStatus::*;
    Ok(match s {
        "" | "pending" => vec![Pending],
        "decided" => vec![Approved, Denied, Expired, Cancelled, Interrupted],
        "all" => vec![],
        other => vec![ApprovalStatus::parse(other).ok_or_else(|| {
            ApiError::bad(format!(
                "unknown status {other:?}: pending, decided, all, approved, denied, expired, cancelled, interrupted"
            ))
        })?],
    })
}

/// `GET /approvals`: the queue, filtered by status, team, tier and agent; `partial=rows` answers only the rows (live refresh).
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let refresh = q.get("partial").map(String::as_str) == Some("rows");
    let u = match if refresh {
        session::for_refresh(&gw, &h, &uri).await
    } else {
        session::for_page(&gw, &h, &uri).await
    } {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "approvals");
    match render_list(&gw, c.clone(), &q).await {
        Ok(r) => r,
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

async fn render_list(gw: &Gateway, c: Chrome, q: &HashMap<String, String>) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let status = get("status");
    let sts = statuses(&status)?;
    let page_no: i64 = match get("page").as_str() {
        "" => 1,
        p => p
            .parse()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad("page must be a number from 1"))?,
    };
    let opt = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
    let f = ApprovalFilter {
        statuses: sts.clone(),
        team: opt("team"),
        tier: opt("tier"),
        agent: opt("agent"),
        offset: (page_no - 1) * PAGE,
        limit: PAGE,
    };
    let now = Timestamp::now().0;
    let (list, total) = gw.store.approvals_page(&f).await?;
    let rows: Vec<Row> = list.iter().map(|a| row(a, now)).collect();
    if q.get("partial").map(String::as_str) == Some("rows") {
        let mut r = page::render(gw, StatusCode::OK, &RowsFragment { rows, c });
        if let Ok(v) = axum::http::HeaderValue::from_str(&total.to_string()) {
            r.headers_mut().insert("x-warden-total", v);
        }
        return Ok(r);
    }
    let facets = gw.store.approval_facets(&sts).await?;
    let (team, tier, agent) = (get("team"), get("tier"), get("agent"));
    let link = |n: i64| {
        let n = n.to_string();
        format!(
            "{}/approvals{}",
            c.base,
            page::query(&[("status", &status), ("team", &team), ("tier", &tier), ("agent", &agent), ("page", &n)])
        )
    };
    let p = ListPage {
        prev: (page_no > 1).then(|| link(page_no - 1)),
        next: (page_no * PAGE < total).then(|| link(page_no + 1)),
        c,
        rows,
        total,
        status: if status.is_empty() { "pending".into() } else { status.clone() },
        team: team.clone(),
        tier: tier.clone(),
        agent: agent.clone(),
        facets,
        page_no,
    };
    Ok(page::render(gw, StatusCode::OK, &p))
}

/// A record in the approval's session history.
pub struct HistoryItem {
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub tool: String,
    pub verdict: String,
}

#[derive(Template)]
#[template(path = "console/approval.html")]
struct DetailPage {
    c: Chrome,
    a: Approval,
    args: String,
    created: String,
    expires: String,
    decided_at: String,
    may_decide: bool,
    why_not: String,
    history: Vec<HistoryItem>,
    error: String,
}

/// `GET /approvals/{id}`.
pub async fn detail(State(gw): State<Arc<Gateway>>, h: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    let u = match session::for_page(&gw, &h, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "approvals");
    match render_detail(&gw, &u, c.clone(), &id, StatusCode::OK, String::new()).await {
        Ok(r) => r,
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

async fn render_detail(
    gw: &Gateway,
    u: &session::User,
    c: Chrome,
    id: &str,
    status: StatusCode,
    error: String,
) -> Result<Response, ApiError> {
    let a = gw.store.approval(id).await?.ok_or_else(|| actions::not_found_approval(id))?;
    let (may_decide, why_not) = match actions::may_decide(&u.p, &a) {
        Ok(()) => (a.status == ApprovalStatus::Pending, String::new()),
        Err(why) => (false, why),
    };
    let mut history = Vec::new();
    if let Some(sid) = a.session_id.as_deref().filter(|s| !s.is_empty()) {
        let f = warden_store::AuditFilter { agent: Some(a.agent.clone()), limit: 500, ..Default::default() };
        for r in gw.store.audit_query(&f).await?.into_iter().rev() {
            if r.body["session"].as_str() == Some(sid) {
                history.push(HistoryItem {
                    seq: r.seq,
                    at: r.body["at"].as_str().unwrap_or("").replace('T', " "),
                    method: r.body["method"].as_str().unwrap_or("").into(),
                    tool: r.body["tool"].as_str().unwrap_or("").into(),
                    verdict: r.body["verdict"].as_str().unwrap_or("").into(),
                });
                if history.len() == 20 {
                    break;
                }
            }
        }
    }
    // Stored arguments are already redacted; screen them again for any credential Warden holds now.
    let mut args = a.arguments.clone();
    gw.custody.screen(&mut args, "console");
    let p = DetailPage {
        args: serde_json::to_string_pretty(&args).unwrap_or_default(),
        created: page::when(a.created_at.0),
        expires: page::when(a.expires_at.0),
        decided_at: a.decided_at.map(|t| page::when(t.0)).unwrap_or_default(),
        may_decide,
        why_not,
        history,
        error,
        c,
        a,
    };
    Ok(page::render(gw, status, &p))
}

/// `POST /approvals/{id}/decide`: approve or deny, with a comment and an optional scoped grant.
pub async fn decide(State(gw): State<Arc<Gateway>>, h: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
    let f = match page::form(&h, &body) {
        Ok(f) => f,
        Err(e) => return page::error(&gw, None, &e),
    };
    let approve = match f.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => return page::error(&gw, None, &ApiError::field("decision", "choose approve or deny")),
    };
    let method = if approve { "approvals/approve" } else { "approvals/deny" };
    let u = match session::for_post(&gw, &h, &f, method).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "approvals");
    let input = match decision_input(&f, approve) {
        Ok(i) => i,
        Err(e) => return page::error(&gw, Some(&c), &e),
    };
    match actions::decide_approval(&gw, &u.p, Door::Console, &id, approve, &input).await {
        Ok(_) => page::redirect(&gw, &format!("{}/approvals/{}", c.base, urlencode(&id))),
        // A refusal on scope or role is a page of its own; a form mistake shows the form again.
        Err(e) if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::CONFLICT => {
            match render_detail(&gw, &u, c.clone(), &id, e.status, e.message.clone()).await {
                Ok(r) => r,
                Err(e) => page::error(&gw, Some(&c), &e),
            }
        }
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

/// The form's grant choice: `none`, `same` (these arguments) or `any`, for `grant_minutes`.
fn decision_input(f: &HashMap<String, String>, approve: bool) -> Result<DecisionInput, ApiError> {
    let comment = f.get("comment").cloned().filter(|c| !c.trim().is_empty());
    let grant = f.get("grant").map(String::as_str).unwrap_or("none");
    let minutes = f.get("grant_minutes").map(|m| m.trim()).filter(|m| !m.is_empty());
    let (grant_minutes, any) = match grant {
        "none" => (None, false),
        "same" | "any" if approve => {
            let m = minutes.unwrap_or("60");
            let m: u64 = m.parse().map_err(|_| ApiError::field("grant_minutes", "a whole number of minutes"))?;
            (Some(m), grant == "any")
        }
        "same" | "any" => return Err(ApiError::field("grant", "a grant applies only to approve")),
        _ => return Err(ApiError::field("grant", "choose none, same or any")),
    };
    Ok(DecisionInput { comment, grant_minutes, grant_any_arguments: any })
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_choices_map_to_the_api_input() {
        let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let i = decision_input(&f(&[("grant", "same"), ("grant_minutes", "15"), ("comment", " ok ")]), true).unwrap();
        assert_eq!((i.grant_minutes, i.grant_any_arguments, i.comment.as_deref()), (Some(15), false, Some(" ok ")));
        let i = decision_input(&f(&[("grant", "any")]), true).unwrap();
        assert_eq!((i.grant_minutes, i.grant_any_arguments), (Some(60), true));
        let i = decision_input(&f(&[("grant", "none"), ("comment", "  ")]), true).unwrap();
        assert_eq!((i.grant_minutes, i.comment), (None, None));
        assert!(decision_input(&f(&[("grant", "any")]), false).is_err());
        assert!(decision_input(&f(&[("grant", "same"), ("grant_minutes", "ten")]), true).is_err());
        assert!(decision_input(&f(&[("grant", "forever")]), true).is_err());
    }

    #[test]
    fn status_filters() {
        assert_eq!(statuses("").unwrap(), vec![ApprovalStatus::Pending]);
        assert_eq!(statuses("decided").unwrap().len(), 5);
        assert!(statuses("all").unwrap().is_empty());
        assert!(statuses("bogus").is_err());
    }
}
