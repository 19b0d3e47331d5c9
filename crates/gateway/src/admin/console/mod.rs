//! The web console: server-rendered pages for approvers, owners and
//! auditors, at `console.base_path` (default `/console`).
//!
//! Why it is built this way:
//! - **Server-rendered, no build step.** Templates (askama, under
//!   `crates/gateway/templates/console/`) are compiled into the binary and
//!   escape everything by default; the CSS and the one small script are
//!   `include_str!`-ed. Nothing is fetched from a CDN, and every action is a
//!   plain HTML form, so the console works without JavaScript; the script
//!   only refreshes the approvals queue live.
//! - **One implementation.** Pages call the same services as the JSON API
//!   ([`crate::admin::actions`] for changes, the read services for views), so
//!   roles, team scopes and audit records are the API's, not a copy.
//! - **Sessions on the server** ([`session`]), in the store, so any replica
//!   serves any session and a logout or back-channel logout ends it everywhere.
//! - **Every POST** carries the session's CSRF token and a same-origin
//!   `Origin`; the Content Security Policy allows no inline script or style.
//!
//! Files: [`session`] (cookies, sessions, CSRF, sign-in and sign-out,
//! OpenID Connect), [`page`] (rendering, headers, forms), one file per page
//! family: [`approvals`], [`agents`], [`audit`], [`views`] (policy, usage,
//! health); [`charts`] draws inline SVG on the server.

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod charts;
pub mod page;
pub mod session;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use warden_auth::roles::{GroupMapping, Role};
use warden_config::{ConsoleConfig, OidcConfig};

/// The console's settings, resolved at start.
pub struct Console {
    pub enabled: bool,
    /// `/console`: where the routes are mounted.
    pub base: String,
    /// The absolute URL of the console (`https://warden.example.com/console`).
    pub public_base: String,
    pub idle: Duration,
    pub max: Duration,
    pub token_login: bool,
    pub secure_cookies: bool,
    pub oidc: Option<Oidc>,
}

/// OpenID Connect sign-in: the config, and the provider (built at first use,
/// when its client secret is resolved).
pub struct Oidc {
    pub config: OidcConfig,
    pub redirect_url: String,
    pub mappings: Vec<GroupMapping>,
    pub default_role: Option<Role>,
    provider: tokio::sync::OnceCell<Arc<warden_auth::oidc::Provider>>,
}

impl Console {
    /// `public_url`: `server.public_url` (or `http://<listen>`), without a trailing slash.
    pub fn new(c: &ConsoleConfig, public_url: &str) -> Console {
        let base = c.base().to_string();
        let public_base = format!("{public_url}{base}");
        let oidc = c.oidc.as_ref().map(|o| Oidc {
            config: o.clone(),
            redirect_url: o
                .redirect_url
                .as_ref()
                .map(|u| u.0.to_string())
                .unwrap_or_else(|| format!("{public_base}/auth/callback")),
            mappings: o
                .groups
                .iter()
                .map(|g| GroupMapping {
                    group: g.group.0.clone(),
                    role: g.role.0.clone(),
                    teams: g.teams.iter().map(|t| t.0.clone()).collect(),
                    approver_groups: g.approver_groups.iter().map(|t| t.0.clone()).collect(),
                })
                .collect(),
            default_role: Role::parse(&o.default_role.0),
            provider: tokio::sync::OnceCell::new(),
        });
        Console {
            enabled: c.enabled,
            base,
            public_base,
            idle: Duration::from_secs(c.session_idle_secs.0),
            max: Duration::from_secs(c.session_max_secs.0),
            token_login: c.admin_token_login(),
            secure_cookies: c.cookie_secure,
            oidc,
        }
    }

    /// The link to an approval's page (webhooks carry it).
    pub fn approval_link(&self, id: &str) -> Option<String> {
        self.enabled.then(|| format!("{}/approvals/{id}", self.public_base))
    }

    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies { "__Host-warden-session" } else { "warden-session" }
    }

    pub fn login_cookie(&self) -> &'static str {
        if self.secure_cookies { "__Host-warden-login" } else { "warden-login" }
    }
}

impl Oidc {
    /// The provider, built once its client secret resolves.
    pub async fn provider(&self, gw: &crate::Gateway) -> Result<Arc<warden_auth::oidc::Provider>, String> {
        self.provider
            .get_or_try_init(|| async {
                let secret = match &self.config.client_secret {
                    Some(r) => {
                        let r = warden_secrets::SecretRef::parse(&r.0)?;
                        Some(gw.custody.resolve(&r).await?.expose().to_string())
                    }
                    None => None,
                };
                let spec = warden_auth::oidc::OidcSpec {
                    issuer: self.config.issuer.0.as_str().trim_end_matches('/').to_string(),
                    client_id: self.config.client_id.0.clone(),
                    client_secret: secret,
                    scopes: self.config.scopes.iter().map(|s| s.0.clone()).collect(),
                    redirect_url: self.redirect_url.clone(),
                    groups_claim: self.config.groups_claim.0.clone(),
                    leeway_secs: self.config.leeway_secs.0,
                    timeout: Duration::from_secs_f64(self.config.timeout_secs.0),
                };
                // Never follow redirects from the IdP: a 307 from the token endpoint would resend the code and secret.
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?;
                Ok(Arc::new(warden_auth::oidc::Provider::new(spec, http)))
            })
            .await
            .cloned()
    }
}
