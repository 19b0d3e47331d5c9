//! The audit trail: browse and filter records, one record with its place in
//! the hash chain, verify the chain, export a range. Auditors and admins.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use warden_auth::roles::Role;

use crate::Gateway;
use crate::admin::console::page::{self, Chrome};
use crate::admin::console::session::{self, User};
use crate::admin::error::ApiError;
use crate::admin::principal::{self, Door};
use crate::admin::records::{self, RecordDetail, RecordQuery, VerifyView};

const PAGE: usize = 50;

pub struct Row {
    pub seq: u64,
    pub at: String,
    pub kind: String,
    pub entry: String,
    pub agent: String,
    pub method: String,
    pub tool: String,
    pub verdict: String,
    pub tier: String,
    pub actor: String,
}

fn s(v: &serde_json::Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<Row>,
    f: HashMap<String, String>,
    next: Option<String>,
}

impl ListPage {
    fn v(&self, k: &str) -> &str {
        self.f.get(k).map(String::as_str).unwrap_or("")
    }
}

/// Pages only auditors (and admins) see; a refusal is audited.
async fn auditor(gw: &Gateway, h: &HeaderMap, uri: &Uri, method: &str) -> Result<User, Response> {
    let u = session::for_page(gw, h, uri).await?;
    if let Err(e) = principal::require(gw, &u.p, Role::Auditor, Door::Console, method).await {
        return Err(page::error(gw, Some(&u.chrome(gw, "audit")), &e));
    }
    Ok(u)
}

/// `GET /audit`: records, newest first, filtered by agent, tool, verdict, tier, kind and time range.
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let u = match auditor(&gw, &h, &uri, "audit/query").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "audit");
    match render_list(&gw, c.clone(), q).await {
        Ok(r) => r,
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

async fn render_list(gw: &Gateway, c: Chrome, q: HashMap<String, String>) -> Result<Response, ApiError> {
    let opt = |k: &str| q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let before_seq = match opt("before") {
        Some(b) => Some(b.parse().map_err(|_| ApiError::field("before", "a record number"))?),
        None => None,
    };
    let rq = RecordQuery {
        agent: opt("agent"),
        tool: opt("tool"),
        verdict: opt("verdict"),
        tier: opt("tier"),
        kind: opt("kind"),
        since_ms: crate::admin::api::instant_param(&q, "since")?,
        until_ms: crate::admin::api::instant_param(&q, "until")?,
        before_seq,
        limit: PAGE,
    };
    let got = records::query(gw, &rq).await?;
    let rows = got
        .records
        .iter()
        .map(|r| Row {
            seq: r["seq"].as_u64().unwrap_or(0),
            at: s(r, "at").replace('T', " "),
            kind: s(r, "kind"),
            entry: s(r, "entry"),
            agent: s(r, "agent"),
            method: s(r, "method"),
            tool: s(r, "tool"),
            verdict: s(r, "verdict"),
            tier: s(r, "tier"),
            actor: s(r, "actor"),
        })
        .collect();
    let keys = ["agent", "tool", "verdict", "tier", "kind", "since", "until"];
    let next = got.next_before.map(|b| {
        let b = b.to_string();
        let mut pairs: Vec<(&str, &str)> =
            keys.iter().map(|k| (*k, q.get(*k).map(String::as_str).unwrap_or(""))).collect();
        pairs.push(("before", &b));
        format!("{}/audit{}", c.base, page::query(&pairs))
    });
    let f = keys.iter().filter_map(|k| q.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
    Ok(page::render(gw, StatusCode::OK, &ListPage { c, rows, f, next }))
}

#[derive(Template)]
#[template(path = "console/record.html")]
struct RecordPage {
    c: Chrome,
    d: RecordDetail,
    body: String,
}

/// `GET /audit/{seq}`.
pub async fn record(State(gw): State<Arc<Gateway>>, h: HeaderMap, uri: Uri, Path(seq): Path<String>) -> Response {
    let u = match auditor(&gw, &h, &uri, "audit/record").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "audit");
    let Ok(seq) = seq.parse::<u64>() else {
        return page::error(&gw, Some(&c), &ApiError::not_found(format!("no record {seq:?}")));
    };
    match records::record(&gw, seq).await {
        Ok(d) => {
            let body = serde_json::to_string_pretty(&d.record).unwrap_or_default();
            page::render(&gw, StatusCode::OK, &RecordPage { c, d, body })
        }
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

#[derive(Template)]
#[template(path = "console/verify.html")]
struct VerifyPage {
    c: Chrome,
    v: VerifyView,
}

/// `POST /audit/verify`: checks every record's hash, link and the signed checkpoints.
pub async fn verify(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    let f = match page::form(&h, &body) {
        Ok(f) => f,
        Err(e) => return page::error(&gw, None, &e),
    };
    let u = match session::for_post(&gw, &h, &f, "audit/verify").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "audit");
    if let Err(e) = principal::require(&gw, &u.p, Role::Auditor, Door::Console, "audit/verify").await {
        return page::error(&gw, Some(&c), &e);
    }
    match records::verify(&gw).await {
        Ok(v) => {
            let mut r = principal::record(&u.p, Door::Console, "audit/verify", if v.ok { "ok" } else { "failed" });
            r.reason = v.problem.clone().unwrap_or_else(|| format!("{} records verified", v.records));
            principal::audit(&gw, r).await;
            page::render(&gw, StatusCode::OK, &VerifyPage { c, v })
        }
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}

/// `GET /audit/export?since&until`: a verifiable JSONL segment, as a download.
pub async fn export(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let u = match auditor(&gw, &h, &uri, "audit/export").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "audit");
    let range = (crate::admin::api::instant_param(&q, "since"), crate::admin::api::instant_param(&q, "until"));
    let (since, until) = match range {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => return page::error(&gw, Some(&c), &e),
    };
    match records::export(&gw, since, until).await {
        Ok(body) => {
            let mut r = principal::record(&u.p, Door::Console, "audit/export", "ok");
            r.reason = format!("since {since:?} until {until:?}");
            principal::audit(&gw, r).await;
            let mut resp = (StatusCode::OK, body).into_response();
            let hd = resp.headers_mut();
            hd.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
            hd.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"warden-audit.jsonl\""),
            );
            hd.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => page::error(&gw, Some(&c), &e),
    }
}
