//! The inventory, one bot's page, and the changes made there (review,
//! suspend, resume, offboard, rotate secret), each behind a confirmation page
//! that says what will happen.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use warden_auth::roles::Role;
use warden_core::inventory::{AgentRecord, Status};

use crate::Gateway;
use crate::admin::actions;
use crate::admin::console::page::{self, Chrome};
use crate::admin::console::session;
use crate::admin::error::ApiError;
use crate::admin::inventory::Lifecycle;
use crate::admin::principal::{self, Door};
use crate::admin::report::ReportRow;

pub const PAGE: usize = 50;

/// An inventory row, formatted.
pub struct Row {
    pub name: String,
    pub owner: String,
    pub team: String,
    pub status: &'static str,
    pub data_access: String,
    pub systems: String,
    pub credentials: String,
    pub storage: String,
    pub review_due: String,
    pub overdue: bool,
}

fn row(r: &ReportRow) -> Row {
    Row {
        name: r.name.clone(),
        owner: r.owner.clone(),
        team: r.team.clone(),
        status: r.status.as_str(),
        data_access: r.data_access.clone(),
        systems: r.systems.join(", "),
        credentials: r.credentials.join("; "),
        storage: r.credential_storage.clone(),
        review_due: page::when(r.review_due.0).get(..10).unwrap_or_default().to_string(),
        overdue: r.review_overdue,
    }
}

#[derive(Template)]
#[template(path = "console/agents.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    total: usize,
    q: String,
    team: String,
    status: String,
    overdue: bool,
    teams: Vec<String>,
    prev: Option<String>,
    next: Option<String>,
    page_no: usize,
}

/// Does the bot match every search word (name, owner, team, purpose, systems)?
/// The systems are worked out only when the other fields leave a word unmatched.
fn matches(gw: &Gateway, ctx: &crate::admin::report::Context, r: &AgentRecord, words: &[String]) -> bool {
    let s = &r.spec;
    let hay = format!("{} {} {} {}", s.name, s.owner, s.team, s.purpose).to_lowercase();
    if words.iter().all(|w| hay.contains(w.as_str())) {
        return true;
    }
    let systems = ctx.systems(gw, r).join(" ").to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()) || systems.contains(w.as_str()))
}

/// `GET /agents`: every bot, with filters (team, status, overdue) and search that survive paging.
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let u = match session::for_page(&gw, &h, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "agents");
    match render_list(&gw, c.clone(), &q).await {
        Ok(r) => r,
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

async fn render_list(gw: &Gateway, c: Chrome, q: &HashMap<String, String>) -> Result<Response, ApiError> {
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (search, team, status) = (get("q"), get("team"), get("status"));
    let overdue = get("overdue") == "true";
    let want = match status.as_str() {
        "" => None,
        s => Some(
            Status::parse(s)
                .ok_or_else(|| ApiError::bad(format!("unknown status {s:?}: active, suspended or offboarded")))?,
        ),
    };
    let page_no: usize = match get("page").as_str() {
        "" => 1,
        p => p
            .parse()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| ApiError::bad("page must be a number from 1"))?,
    };
    // Filter the records this replica enforces (the live directory: local
    // changes at once, other replicas' at their next notification or poll),
    // then build report rows for one page only. With 10,000 bots, reading and
    // parsing every record and a full report per request made this page slow.
    let ctx = crate::admin::report::Context::load(gw).await?;
    let live = gw.directory.live();
    let mut records: Vec<&AgentRecord> = live.by_name.values().map(|a| &a.record).collect();
    records.sort_unstable_by(|a, b| a.spec.name.cmp(&b.spec.name));
    let mut teams: Vec<String> = records.iter().map(|r| r.spec.team.clone()).filter(|t| !t.is_empty()).collect();
    teams.sort();
    teams.dedup();
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    let hits: Vec<&AgentRecord> = records
        .into_iter()
        .filter(|r| team.is_empty() || r.spec.team == team)
        .filter(|r| want.is_none_or(|s| r.status == s))
        .filter(|r| !overdue || r.review_overdue(ctx.now))
        .filter(|r| words.is_empty() || matches(gw, &ctx, r, &words))
        .collect();
    let total = hits.len();
    let rows = hits.iter().skip((page_no - 1) * PAGE).take(PAGE).map(|r| row(&ctx.row(gw, r))).collect();
    let od = if overdue { "true" } else { "" };
    let link = |n: usize| {
        let n = n.to_string();
        format!(
            "{}/agents{}",
            c.base,
            page::query(&[("q", &search), ("team", &team), ("status", &status), ("overdue", od), ("page", &n)])
        )
    };
    let p = ListPage {
        prev: (page_no > 1).then(|| link(page_no - 1)),
        next: (page_no * PAGE < total).then(|| link(page_no + 1)),
        c,
        rows,
        total,
        q: search.clone(),
        team: team.clone(),
        status: status.clone(),
        overdue,
        teams,
        page_no,
    };
    Ok(page::render(gw, StatusCode::OK, &p))
}

pub struct ChangeItem {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub reason: String,
}

pub struct RecordItem {
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub tool: String,
    pub verdict: String,
}

#[derive(Template)]
#[template(path = "console/agent.html")]
struct AgentPage {
    c: Chrome,
    r: Row,
    purpose: String,
    status_reason: String,
    last_review: String,
    separation: String,
    revocation: String,
    changes: Vec<ChangeItem>,
    records: Vec<RecordItem>,
    admin: bool,
}

async fn report_row(gw: &Gateway, name: &str) -> Result<(AgentRecord, ReportRow), ApiError> {
    let rec =
        gw.store.agent(name).await?.ok_or_else(|| ApiError::not_found(format!("agent {name:?} does not exist")))?;
    let row = crate::admin::report::Context::load(gw).await?.row(gw, &rec);
    Ok((rec, row))
}

/// `GET /agents/{name}`.
pub async fn detail(State(gw): State<Arc<Gateway>>, h: HeaderMap, uri: Uri, Path(name): Path<String>) -> Response {
    let u = match session::for_page(&gw, &h, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "agents");
    match render_agent(&gw, c.clone(), &name).await {
        Ok(r) => r,
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

async fn render_agent(gw: &Gateway, c: Chrome, name: &str) -> Result<Response, ApiError> {
    let (rec, rr) = report_row(gw, name).await?;
    let changes = gw
        .store
        .changes(Some(name), 10_000)
        .await?
        .into_iter()
        .rev()
        .take(50)
        .map(|ch| ChangeItem { at: page::when(ch.at.0), actor: ch.actor, action: ch.action, reason: ch.reason })
        .collect();
    let f = warden_store::AuditFilter { agent: Some(name.to_string()), limit: 20, ..Default::default() };
    let records = gw
        .store
        .audit_query(&f)
        .await?
        .into_iter()
        .rev()
        .map(|r| RecordItem {
            seq: r.seq,
            at: r.body["at"].as_str().unwrap_or("").replace('T', " "),
            method: r.body["method"].as_str().unwrap_or("").into(),
            tool: r.body["tool"].as_str().unwrap_or("").into(),
            verdict: r.body["verdict"].as_str().unwrap_or("").into(),
        })
        .collect();
    let p = AgentPage {
        r: row(&rr),
        purpose: rr.purpose.clone(),
        status_reason: rec.status_reason.clone(),
        last_review: rr.last_review.map(|t| page::when(t.0)).unwrap_or_else(|| "never".into()),
        separation: rr.separation.clone(),
        revocation: rr.revocation.clone(),
        changes,
        records,
        admin: c.may("admin"),
        c,
    };
    Ok(page::render(gw, StatusCode::OK, &p))
}

/// What an operation does, in the words of its confirmation page.
fn consequence(gw: &Gateway, op: &str, name: &str, review_due: &str) -> Option<(&'static str, String)> {
    let poll = gw.store_poll.as_millis();
    Some(match op {
        "suspend" => (
            "Suspend",
            format!(
                "Suspend {name}: its tokens stop working at once here and on every other replica within {poll} ms; its calls waiting for approval are cancelled. Nothing is deleted, and it can be resumed."
            ),
        ),
        "resume" => ("Resume", format!("Resume {name}: it can get tokens and call its tools again, under its policy.")),
        "offboard" => (
            "Offboard",
            format!(
                "Offboard {name} for good: its tokens stop working, its client secret is removed, and the credentials only it used are {} (the answer lists what to rotate at each provider). It cannot be resumed.",
                match gw.on_offboard {
                    warden_config::OffboardCredentials::Delete => "deleted from Warden's store",
                    warden_config::OffboardCredentials::Detach => "detached",
                }
            ),
        ),
        "review" => (
            "Mark reviewed",
            format!(
                "Record that {name} was reviewed now, with your note. The next review falls due one review cadence from today (it was due {review_due})."
            ),
        ),
        "rotate" => (
            "Rotate secret",
            format!(
                "Issue a new client secret for {name}: the current secret stops working at once, so the agent needs the new one, which is shown once."
            ),
        ),
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    c: Chrome,
    name: String,
    op: String,
    verb: &'static str,
    what: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage {
    c: Chrome,
    name: String,
    secret: String,
}

/// `POST /agents/{name}/{op}`: first the confirmation page; with `confirmed=yes`, the change.
pub async fn act(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Path((name, op)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let f = match page::form(&h, &body) {
        Ok(f) => f,
        Err(e) => return page::error(&gw, None, &e),
    };
    let method = format!("agents/{op}");
    let u = match session::for_post(&gw, &h, &f, &method).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "agents");
    match act_as(&gw, &u, c.clone(), &name, &op, &f).await {
        Ok(r) => r,
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

async fn act_as(
    gw: &Arc<Gateway>,
    u: &session::User,
    c: Chrome,
    name: &str,
    op: &str,
    f: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let (_, rr) = report_row(gw, name).await?;
    let due = row(&rr).review_due;
    let (verb, what) =
        consequence(gw, op, name, &due).ok_or_else(|| ApiError::not_found(format!("no action {op:?}")))?;
    // Only admins change the inventory: refuse (and audit) before showing a confirmation.
    principal::require(gw, &u.p, Role::Admin, Door::Console, &format!("agents/{op}")).await?;
    let reason = f.get("reason").map(|r| r.trim().to_string()).unwrap_or_default();
    if f.get("confirmed").map(String::as_str) != Some("yes") {
        let p = ConfirmPage { c, name: name.to_string(), op: op.to_string(), verb, what, reason };
        return Ok(page::render(gw, StatusCode::OK, &p));
    }
    let back =
        format!("{}/agents/{}", c.base, url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>());
    match op {
        "suspend" | "resume" | "offboard" => {
            let l = match op {
                "suspend" => Lifecycle::Suspend,
                "resume" => Lifecycle::Resume,
                _ => Lifecycle::Offboard,
            };
            actions::lifecycle(gw, &u.p, Door::Console, name, l, &reason).await?;
        }
        "review" => {
            actions::review(gw, &u.p, Door::Console, name, &reason).await?;
        }
        _ => {
            let secret = actions::rotate_secret(gw, &u.p, Door::Console, name, &reason).await?;
            return Ok(page::render(gw, StatusCode::OK, &SecretPage { c, name: name.to_string(), secret }));
        }
    }
    Ok(page::redirect(gw, &back))
}
