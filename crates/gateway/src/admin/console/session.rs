//! Who is signed in to the console, and signing in and out.
//!
//! - A session is a row in the store (see `warden_store::console`), keyed by
//!   the SHA-256 of a random 256-bit value held only in the browser's
//!   `__Host-warden-session` cookie (HttpOnly, Secure, SameSite=Lax, Path=/).
//!   It ends after `session_idle_secs` without a request, `session_max_secs`
//!   after sign-in, at logout, or when the IdP sends a back-channel logout.
//! - Sign-in with OpenID Connect is the authorization-code flow with PKCE
//!   (S256). The `state`, `nonce` and verifier wait in the store under the
//!   hash of a random value in a short-lived `__Host-warden-login` cookie
//!   (SameSite=Lax, so it survives the IdP's redirect back), and are taken
//!   once: a replayed callback finds nothing.
//! - Every POST needs the session's CSRF token and an `Origin` equal to the
//!   console's own; a mismatch is a 403 and is audited.
//! - Every sign-in, refused or not, and every sign-out is an audit record.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use warden_auth::roles::{Principal, Role};
use warden_core::time::now_ms;
use warden_store::ConsoleSession;

use crate::Gateway;
use crate::admin::console::page::{self, Chrome};
use crate::admin::error::ApiError;
use crate::admin::principal::{self, Door};
use crate::http::header_str;

/// How long a sign-in may take between the redirect to the IdP and its return.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

/// A signed-in human (or admin-token holder).
#[derive(Debug, Clone)]
pub struct User {
    pub p: Principal,
    pub csrf: String,
    pub sso: bool,
    id_sha256: String,
}

impl User {
    pub fn chrome(&self, gw: &Gateway, section: &'static str) -> Chrome {
        Chrome {
            base: gw.console.base.clone(),
            who: self.p.email.clone().unwrap_or_else(|| self.p.name.clone()),
            role: self.p.role.as_str(),
            csrf: self.csrf.clone(),
            section,
            sso: self.sso,
        }
    }
}

fn random() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("system RNG");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn sha(s: &str) -> String {
    warden_auth::secrets::sha256_hex(s)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
fn set_cookie(gw: &Gateway, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if gw.console.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .expect("cookie values are URL-safe")
}

/// The signed-in user of this request, if any (touching the session).
pub async fn current(gw: &Gateway, h: &HeaderMap) -> Result<Option<User>, ApiError> {
    lookup(gw, h, true).await
}

/// `touch`: whether this request counts as activity. The approvals page's
/// live refresh does not, so an open tab does not keep a session alive.
async fn lookup(gw: &Gateway, h: &HeaderMap, touch: bool) -> Result<Option<User>, ApiError> {
    let Some(raw) = cookie(h, gw.console.session_cookie()) else { return Ok(None) };
    let now = now_ms();
    let idle = gw.console.idle.as_millis() as i64;
    let id = sha(raw);
    let Some(s) = gw.store.console_session(&id, now, idle).await? else { return Ok(None) };
    let p: Principal = serde_json::from_value(s.principal.clone())
        .map_err(|e| ApiError::store(warden_store::StoreError::Corrupt(format!("console session: {e}"))))?;
    // Refresh the idle clock, but not on every request: at most every quarter of the idle time (≤ 10 s).
    if touch && now - s.last_seen_ms > (idle / 4).min(10_000) {
        gw.store.touch_console_session(&id, now).await?;
    }
    // A revoked admin token ends the sessions it opened.
    if p.name.starts_with("admin-token:") && s.idp_subject.as_deref().is_some_and(|t| !t.is_empty()) {
        let live = gw.store.admin_token(s.idp_subject.as_deref().unwrap_or_default()).await?;
        if live.is_none() {
            gw.store.delete_console_session(&id).await?;
            return Ok(None);
        }
    }
    Ok(Some(User { p, csrf: s.csrf, sso: s.idp_sid.is_some() || s.id_token.is_some(), id_sha256: id }))
}

/// The user of a page request; otherwise a redirect to the sign-in page that comes back here.
pub async fn for_page(gw: &Gateway, h: &HeaderMap, uri: &Uri) -> Result<User, Response> {
    page_user(gw, h, uri, true).await
}

/// As [`for_page`], for a background refresh that is not the user's activity.
pub async fn for_refresh(gw: &Gateway, h: &HeaderMap, uri: &Uri) -> Result<User, Response> {
    page_user(gw, h, uri, false).await
}

async fn page_user(gw: &Gateway, h: &HeaderMap, uri: &Uri, touch: bool) -> Result<User, Response> {
    match lookup(gw, h, touch).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => {
            let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
            let expired = cookie(h, gw.console.session_cookie()).is_some();
            let q = page::query(&[("next", next), ("expired", if expired { "1" } else { "" })]);
            let mut r = page::redirect(gw, &format!("{}/login{q}", gw.console.base));
            if expired {
                r.headers_mut().append(header::SET_COOKIE, set_cookie(gw, gw.console.session_cookie(), "", 0));
            }
            Err(r)
        }
        Err(e) => Err(page::error(gw, None, &e)),
    }
}

/// Is this POST from the console's own origin? The `Origin` header must be
/// present and name the console's public origin or the request's own host.
pub fn same_origin(gw: &Gateway, h: &HeaderMap) -> bool {
    let Some(origin) = header_str(h, header::ORIGIN) else { return false };
    if origin == "null" {
        return false;
    }
    let public = url::Url::parse(&gw.console.public_base).map(|u| u.origin().ascii_serialization()).ok();
    if public.as_deref() == Some(origin) {
        return true;
    }
    let host = header_str(h, header::HOST).unwrap_or("");
    let Ok(o) = url::Url::parse(origin) else { return false };
    let hostport = match o.port() {
        Some(p) => format!("{}:{p}", o.host_str().unwrap_or("")),
        None => o.host_str().unwrap_or("").to_string(),
    };
    !host.is_empty() && hostport.eq_ignore_ascii_case(host) && gw.hosts.check_host(Some(host))
}

/// The user of a form POST: a live session, a same-origin `Origin` and the
/// session's CSRF token. Refusals are 403 pages; a signed-in user's are audited.
pub async fn for_post(
    gw: &Gateway,
    h: &HeaderMap,
    form: &HashMap<String, String>,
    method: &str,
) -> Result<User, Response> {
    let user = match current(gw, h).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            let e = ApiError::unauthorized("your session has ended; sign in again");
            return Err(page::error(gw, None, &e));
        }
        Err(e) => return Err(page::error(gw, None, &e)),
    };
    let why = if !same_origin(gw, h) {
        Some("the request did not come from the console's own origin")
    } else if !form.get("csrf").is_some_and(|t| warden_auth::oidc::constant_time_eq(t, &user.csrf)) {
        Some("the form's CSRF token is missing or wrong; reload the page and try again")
    } else {
        None
    };
    if let Some(why) = why {
        principal::refused(gw, &user.p, Door::Console, method, "", why).await;
        let c = user.chrome(gw, "");
        return Err(page::error(gw, Some(&c), &ApiError::forbidden(why)));
    }
    Ok(user)
}

/// Where to go after sign-in: only a path inside the console.
fn safe_next(gw: &Gateway, next: Option<&String>) -> String {
    let base = &gw.console.base;
    match next {
        Some(n)
            if n.starts_with(&format!("{base}/"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.contains("/auth/")
                && !n.chars().any(char::is_control) =>
        {
            n.clone()
        }
        _ => format!("{base}/approvals"),
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    base: &'a str,
    sso: bool,
    token_login: bool,
    next: &'a str,
    notice: &'a str,
}

/// `GET /login`.
pub async fn login_page(State(gw): State<Arc<Gateway>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let notice = if q.contains_key("expired") {
        "Your session has ended. Sign in again."
    } else if q.contains_key("out") {
        "You are signed out."
    } else {
        ""
    };
    let next = safe_next(&gw, q.get("next"));
    let p = LoginPage {
        base: &gw.console.base,
        sso: gw.console.oidc.is_some(),
        token_login: gw.console.token_login,
        next: &next,
        notice,
    };
    page::render(&gw, StatusCode::OK, &p)
}

/// An audit record of a sign-in attempt or sign-out.
async fn audit_signin(gw: &Gateway, p: Option<&Principal>, method: &str, verdict: &str, reason: &str) {
    let anon = Principal {
        name: "anonymous".into(),
        role: Role::Viewer,
        teams: Vec::new(),
        groups: Vec::new(),
        subject: None,
        email: None,
        idp_groups: Vec::new(),
    };
    let mut r = principal::record(p.unwrap_or(&anon), Door::Console, method, verdict);
    r.reason = reason.to_string();
    principal::audit(gw, r).await;
}

/// A refused sign-in: audited, the login cookie cleared, no session.
async fn signin_refused(gw: &Gateway, p: Option<&Principal>, e: ApiError) -> Response {
    tracing::warn!(reason = %e.message, "console sign-in refused");
    audit_signin(gw, p, "console/sign-in", "refused", &e.message).await;
    let mut r = page::error(gw, None, &e);
    r.headers_mut().append(header::SET_COOKIE, set_cookie(gw, gw.console.login_cookie(), "", 0));
    r
}

/// `GET /auth/login`: to the IdP, with state, nonce and PKCE.
pub async fn sso_start(State(gw): State<Arc<Gateway>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(oidc) = &gw.console.oidc else {
        return page::error(&gw, None, &ApiError::not_found("single sign-on is not configured (console.oidc)"));
    };
    let unavailable = |m: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "idp_unavailable",
            format!("The identity provider is unavailable: {m}"),
        )
    };
    let provider = match oidc.provider(&gw).await {
        Ok(p) => p,
        Err(e) => return signin_refused(&gw, None, unavailable(e)).await,
    };
    let begin = match provider.begin().await {
        Ok(b) => b,
        Err(e) => return signin_refused(&gw, None, unavailable(e.to_string())).await,
    };
    let login = random();
    let pending = json!({"pending": begin.pending, "next": safe_next(&gw, q.get("next"))});
    if let Err(e) = gw.store.insert_console_login(&sha(&login), &pending, now_ms()).await {
        return page::error(&gw, None, &ApiError::store(e));
    }
    let mut r = page::redirect(&gw, &begin.url);
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&gw, gw.console.login_cookie(), &login, LOGIN_TTL_MS / 1000));
    r
}

/// `GET /auth/callback`: the IdP's answer.
pub async fn callback(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(oidc) = &gw.console.oidc else {
        return page::error(&gw, None, &ApiError::not_found("single sign-on is not configured (console.oidc)"));
    };
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad_sign_in", m.to_string());
    let Some(login) = cookie(&h, gw.console.login_cookie()) else {
        return signin_refused(
            &gw,
            None,
            bad("This sign-in was not started in this browser, or it took longer than 10 minutes. Start again."),
        )
        .await;
    };
    let taken = match gw.store.take_console_login(&sha(login), now_ms(), LOGIN_TTL_MS).await {
        Ok(t) => t,
        Err(e) => return page::error(&gw, None, &ApiError::store(e)),
    };
    let Some(taken) = taken else {
        return signin_refused(
            &gw,
            None,
            bad("This sign-in was already used or has expired (a replayed or stale callback). Start again."),
        )
        .await;
    };
    let Ok(pending) = serde_json::from_value::<warden_auth::oidc::Pending>(taken["pending"].clone()) else {
        return signin_refused(&gw, None, bad("The stored sign-in is unreadable. Start again.")).await;
    };
    let next = taken["next"].as_str().map(str::to_string);
    if !q.get("state").is_some_and(|s| warden_auth::oidc::constant_time_eq(s, &pending.state)) {
        return signin_refused(
            &gw,
            None,
            bad("The sign-in's state does not match (a forged or crossed callback). Start again."),
        )
        .await;
    }
    if let Some(err) = q.get("error") {
        let desc = q.get("error_description").map(String::as_str).unwrap_or("");
        let e = ApiError::unauthorized(format!("The identity provider refused the sign-in: {err} {desc}"));
        return signin_refused(&gw, None, e).await;
    }
    let Some(code) = q.get("code") else {
        return signin_refused(&gw, None, bad("The identity provider sent no code.")).await;
    };
    let provider = match oidc.provider(&gw).await {
        Ok(p) => p,
        Err(e) => {
            let e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "idp_unavailable",
                format!("The identity provider is unavailable: {e}"),
            );
            return signin_refused(&gw, None, e).await;
        }
    };
    let id = match provider.finish(code, &pending).await {
        Ok(id) => id,
        Err(e) => {
            use warden_auth::oidc::OidcError;
            let status = match &e {
                OidcError::IdpUnavailable(_) | OidcError::Discovery(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let e = ApiError::new(status, "sign_in_failed", format!("Sign-in failed: {e}"));
            return signin_refused(&gw, None, e).await;
        }
    };
    let mut p = Principal {
        name: format!("oidc:{}", id.email.clone().unwrap_or_else(|| id.subject.clone())),
        role: Role::Viewer,
        teams: Vec::new(),
        groups: Vec::new(),
        subject: Some(id.subject.clone()),
        email: id.email.clone(),
        idp_groups: id.groups.clone(),
    };
    match warden_auth::roles::map_groups(&id.groups, &oidc.mappings, oidc.default_role) {
        Some((role, teams, groups)) => {
            p.role = role;
            p.teams = teams;
            p.groups = groups;
        }
        None => {
            let e = ApiError::forbidden(format!(
                "{} signed in, but none of their groups ({}) gives a Warden role. Ask an administrator to map one in console.oidc.groups.",
                p.name,
                if id.groups.is_empty() { "none".to_string() } else { id.groups.join(", ") }
            ));
            return signin_refused(&gw, Some(&p), e).await;
        }
    }
    start_session(&gw, p, Some(&id), &safe_next(&gw, next.as_ref())).await
}

/// Creates the session and redirects to `next` with its cookie set.
async fn start_session(gw: &Gateway, p: Principal, id: Option<&warden_auth::oidc::Identity>, next: &str) -> Response {
    let raw = random();
    let now = now_ms();
    let s = ConsoleSession {
        id_sha256: sha(&raw),
        principal: json!(p),
        csrf: random(),
        created_at_ms: now,
        last_seen_ms: now,
        expires_at_ms: now + gw.console.max.as_millis() as i64,
        idp_sid: id.and_then(|i| i.sid.clone()),
        idp_subject: id.map(|i| i.subject.clone()),
        id_token: id.map(|i| i.id_token.clone()),
    };
    if let Err(e) = gw.store.insert_console_session(&s).await {
        return page::error(gw, None, &ApiError::store(e));
    }
    audit_signin(gw, Some(&p), "console/sign-in", "allow", if id.is_some() { "OpenID Connect" } else { "admin token" })
        .await;
    tracing::info!(principal = %p.name, role = p.role.as_str(), "console sign-in");
    let mut r = page::redirect(gw, next);
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(gw, gw.console.session_cookie(), &raw, gw.console.max.as_secs() as i64));
    h.append(header::SET_COOKIE, set_cookie(gw, gw.console.login_cookie(), "", 0));
    r
}

/// `POST /auth/token`: sign in with an admin token (small setups).
pub async fn token_login(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    if !gw.console.token_login {
        return page::error(&gw, None, &ApiError::not_found("admin-token sign-in is off (console.admin_token_login)"));
    }
    if !same_origin(&gw, &h) {
        return signin_refused(
            &gw,
            None,
            ApiError::forbidden("the request did not come from the console's own origin"),
        )
        .await;
    }
    let f = match page::form(&h, &body) {
        Ok(f) => f,
        Err(e) => return page::error(&gw, None, &e),
    };
    let token = f.get("token").map(|t| t.trim()).unwrap_or("");
    match principal::admin_token(&gw, token).await {
        Ok(p) => {
            let next = safe_next(&gw, f.get("next"));
            // The token's hash rides in the session, so revoking the token ends the session.
            let raw = random();
            let now = now_ms();
            let s = ConsoleSession {
                id_sha256: sha(&raw),
                principal: json!(p),
                csrf: random(),
                created_at_ms: now,
                last_seen_ms: now,
                expires_at_ms: now + gw.console.max.as_millis() as i64,
                idp_sid: None,
                idp_subject: Some(sha(token)),
                id_token: None,
            };
            if let Err(e) = gw.store.insert_console_session(&s).await {
                return page::error(&gw, None, &ApiError::store(e));
            }
            audit_signin(&gw, Some(&p), "console/sign-in", "allow", "admin token").await;
            let mut r = page::redirect(&gw, &next);
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&gw, gw.console.session_cookie(), &raw, gw.console.max.as_secs() as i64),
            );
            r
        }
        Err(e) => signin_refused(&gw, None, e).await,
    }
}

/// `POST /logout`: ends the session here, then at the IdP when it supports
/// RP-initiated logout.
pub async fn logout(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    let f = match page::form(&h, &body) {
        Ok(f) => f,
        Err(e) => return page::error(&gw, None, &e),
    };
    let user = match for_post(&gw, &h, &f, "console/sign-out").await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id_token = match gw.store.console_session(&user.id_sha256, now_ms(), i64::MAX / 4).await {
        Ok(s) => s.and_then(|s| s.id_token),
        Err(_) => None,
    };
    if let Err(e) = gw.store.delete_console_session(&user.id_sha256).await {
        return page::error(&gw, None, &ApiError::store(e));
    }
    audit_signin(&gw, Some(&user.p), "console/sign-out", "allow", "logout").await;
    // Registered at the IdP exactly as `<console>/login` (no query).
    let after = format!("{}/login", gw.console.public_base);
    let mut to = format!("{}/login?out=1", gw.console.base);
    if let (Some(oidc), Some(t)) = (&gw.console.oidc, id_token.as_deref())
        && let Ok(provider) = oidc.provider(&gw).await
        && let Ok(Some(url)) = provider.end_session_url(Some(t), &after).await
    {
        to = url;
    }
    let mut r = page::redirect(&gw, &to);
    r.headers_mut().append(header::SET_COOKIE, set_cookie(&gw, gw.console.session_cookie(), "", 0));
    r
}

/// `POST /auth/backchannel-logout`: the IdP ends a user's sessions (OpenID
/// Connect Back-Channel Logout 1.0). Server to server: no cookie, no CSRF;
/// the signed logout token is the proof.
pub async fn backchannel_logout(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Bytes) -> Response {
    let answer = |status: StatusCode, error: &str| {
        let mut r = if error.is_empty() {
            status.into_response()
        } else {
            (status, json!({"error": "invalid_request", "error_description": error}).to_string()).into_response()
        };
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    let Some(oidc) = &gw.console.oidc else { return answer(StatusCode::NOT_FOUND, "single sign-on is not configured") };
    let f = match page::form(&h, &body) {
        Ok(f) => f,
        Err(e) => return answer(StatusCode::BAD_REQUEST, &e.message),
    };
    let Some(token) = f.get("logout_token") else { return answer(StatusCode::BAD_REQUEST, "logout_token is required") };
    let provider = match oidc.provider(&gw).await {
        Ok(p) => p,
        Err(e) => return answer(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    match provider.verify_logout_token(token).await {
        Ok(c) => match gw.store.delete_console_sessions_of(c.sid.as_deref(), c.subject.as_deref()).await {
            Ok(n) => {
                tracing::info!(sessions = n, sid = ?c.sid, sub = ?c.subject, "console back-channel logout");
                audit_signin(&gw, None, "console/backchannel-logout", "allow", &format!("{n} session(s) ended")).await;
                answer(StatusCode::OK, "")
            }
            Err(e) => answer(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        },
        Err(e) => {
            audit_signin(&gw, None, "console/backchannel-logout", "refused", &e.to_string()).await;
            answer(StatusCode::BAD_REQUEST, &e.to_string())
        }
    }
}

/// Deletes ended sessions and stale sign-ins now and then.
pub(crate) async fn prune(gw: Arc<Gateway>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        let idle = gw.console.idle.as_millis() as i64;
        if let Err(e) = gw.store.prune_console(now_ms(), idle, LOGIN_TTL_MS).await {
            tracing::warn!(error = %e, "console session pruning failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; __Host-warden-session=abc; x-warden-session=no"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "__Host-warden-session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "warden-session"), None);
    }
}
