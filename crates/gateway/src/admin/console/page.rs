//! Rendering: the page chrome, security headers, redirects, error pages and
//! form parsing. Every console response goes out through [`html`] or
//! [`redirect`], so every one carries the same headers.

use std::collections::HashMap;

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Gateway;
use crate::admin::error::ApiError;
use crate::http::header_str;

/// What every signed-in page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub base: String,
    /// `oidc:alice@example.com` or `admin-token:ops`.
    pub who: String,
    pub role: &'static str,
    pub csrf: String,
    /// Which nav entry is current.
    pub section: &'static str,
    /// Signed in through OpenID Connect (logout goes to the IdP too).
    pub sso: bool,
}

impl Chrome {
    pub fn may(&self, role: &str) -> bool {
        match role {
            "admin" => self.role == "admin",
            "approver" => matches!(self.role, "admin" | "approver"),
            "auditor" => matches!(self.role, "admin" | "auditor"),
            _ => true,
        }
    }
}

/// The Content Security Policy: nothing inline, nothing from elsewhere. Form
/// submissions may go to the IdP (the logout form redirects there).
pub fn csp(gw: &Gateway) -> String {
    let idp = gw
        .console
        .oidc
        .as_ref()
        .map(|o| format!(" {}", o.config.issuer.0.origin().ascii_serialization()))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'{idp}; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn secure_headers(gw: &Gateway, h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&csp(gw)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// An HTML response with the console's headers.
pub fn html(gw: &Gateway, status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(gw, r.headers_mut());
    r
}

/// Renders a template; a template error is a 500 page (and logged).
pub fn render<T: Template>(gw: &Gateway, status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => html(gw, status, body),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            html(
                gw,
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>The page could not be rendered.".into(),
            )
        }
    }
}

/// 303 See Other to `to` (a path under the console, or an absolute IdP URL).
pub fn redirect(gw: &Gateway, to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(gw, r.headers_mut());
    r
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage<'a> {
    pub c: Option<&'a Chrome>,
    pub base: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub sso: bool,
}

/// An error page with the error's status; signed in, with the chrome.
pub fn error(gw: &Gateway, c: Option<&Chrome>, e: &ApiError) -> Response {
    let title = match e.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Cannot do that now",
        StatusCode::UNAUTHORIZED => "Sign-in failed",
        StatusCode::BAD_REQUEST => "Check the form",
        s if s.is_server_error() => "Unavailable",
        _ => "Error",
    };
    let page = ErrorPage { c, base: &gw.console.base, title, message: &e.message, sso: gw.console.oidc.is_some() };
    render(gw, e.status, &page)
}

/// The fields of a `application/x-www-form-urlencoded` body (the last value
/// of a repeated field wins).
pub fn form(h: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let ct = header_str(h, header::CONTENT_TYPE).unwrap_or("").to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send a form (application/x-www-form-urlencoded)",
        ));
    }
    if body.len() > 64 * 1024 {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the form is larger than 64 KiB"));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

/// A query string rebuilt from the non-empty `pairs` (links that keep filters).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        s.append_pair(k, v);
    }
    let q = s.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

/// Milliseconds since the epoch as `2026-12-07 15:04:05Z`.
pub fn when_ms(ms: i64) -> String {
    when(ms.div_euclid(1000))
}

/// Seconds since the epoch as `2026-12-07 15:04:05Z`.
pub fn when(secs: i64) -> String {
    warden_core::time::format_rfc3339(warden_core::time::Timestamp(secs)).replace('T', " ")
}

/// The stylesheet and the script, compiled in.
pub const CSS: &str = include_str!("static/console.css");
pub const JS: &str = include_str!("static/console.js");

pub fn asset(gw: &Gateway, content_type: &'static str, body: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let _ = gw;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_only_set_filters_and_encodes_them() {
        assert_eq!(query(&[("team", "a b"), ("tier", ""), ("agent", "x&y")]), "?team=a+b&agent=x%26y");
        assert_eq!(query(&[("team", "")]), "");
    }

    #[test]
    fn forms_need_their_content_type_and_a_bound() {
        let mut h = HeaderMap::new();
        assert_eq!(form(&h, b"a=1").unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        let f = form(&h, b"a=1&b=x%20y&a=2").unwrap();
        assert_eq!(f["a"], "2");
        assert_eq!(f["b"], "x y");
        assert_eq!(form(&h, &vec![b'a'; 70 * 1024]).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
