//! `console:`: the web console for approvers, owners and auditors, and how
//! humans sign in to it (OpenID Connect, or admin tokens for small setups).

use serde::Deserialize;

use crate::schema::{HttpUrl, Num, Str};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console at all. Default true.
    pub enabled: bool,
    /// Where the console lives, e.g. `/console`, or `/warden/console` behind a
    /// path-prefix proxy (then `server.public_url` carries the prefix's host).
    pub base_path: Str,
    /// A session ends after this long without a request.
    pub session_idle_secs: Num<u64>,
    /// A session ends this long after sign-in, however active.
    pub session_max_secs: Num<u64>,
    /// Sign-in with an admin token (`wat_…`) on the sign-in page. Default:
    /// on when `oidc` is not configured, off when it is.
    pub admin_token_login: Option<bool>,
    /// Mark cookies `Secure` and use the `__Host-` prefix. Default true; turn it
    /// off only for plain-HTTP access from a host other than localhost.
    pub cookie_secure: bool,
    pub oidc: Option<OidcConfig>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            base_path: Str("/console".into()),
            session_idle_secs: Num(1800),
            session_max_secs: Num(12 * 3600),
            admin_token_login: None,
            cookie_secure: true,
            oidc: None,
        }
    }
}

impl ConsoleConfig {
    /// Whether the sign-in page offers admin-token sign-in.
    pub fn admin_token_login(&self) -> bool {
        self.admin_token_login.unwrap_or(self.oidc.is_none())
    }

    /// `base_path` without a trailing slash (`/console`).
    pub fn base(&self) -> &str {
        self.base_path.0.trim_end_matches('/')
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The exact issuer (`iss`); discovery is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: HttpUrl,
    pub client_id: Str,
    /// A secret reference (`env://NAME`, `file:///path`, `store://name`, `vault://…`); absent
    /// for a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<Str>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<Str>,
    /// The claim holding the user's groups; a dotted path such as
    /// `realm_access.roles` reads nested claims.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: Str,
    /// Clock-skew tolerance for `exp`, `iat` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: Num<u64>,
    /// Per request to the identity provider.
    #[serde(default = "default_timeout")]
    pub timeout_secs: Num<f64>,
    /// The callback URL registered at the IdP. Default:
    /// `<server.public_url><base_path>/auth/callback`.
    #[serde(default)]
    pub redirect_url: Option<HttpUrl>,
    /// Group → role (and teams, approver groups). The strongest role wins.
    #[serde(default)]
    pub groups: Vec<GroupMappingConfig>,
    /// What a user none of whose groups is mapped gets: `deny` (default) or a role.
    #[serde(default = "default_role")]
    pub default_role: Str,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupMappingConfig {
    pub group: Str,
    /// `admin`, `approver`, `auditor` or `viewer`.
    pub role: Str,
    /// Teams whose agents members may act on; default all (`*`).
    #[serde(default = "all_teams")]
    pub teams: Vec<Str>,
    /// Approver groups (as approval rules name them in `approvers:`).
    #[serde(default)]
    pub approver_groups: Vec<Str>,
}

fn default_scopes() -> Vec<Str> {
    ["openid", "email", "profile"].iter().map(|s| Str(s.to_string())).collect()
}

fn default_groups_claim() -> Str {
    Str("groups".into())
}

fn default_leeway() -> Num<u64> {
    Num(60)
}

fn default_timeout() -> Num<f64> {
    Num(10.0)
}

fn default_role() -> Str {
    Str("deny".into())
}

fn all_teams() -> Vec<Str> {
    vec![Str("*".into())]
}

const ROLES: [&str; 4] = ["admin", "approver", "auditor", "viewer"];

pub(crate) fn validate(c: &ConsoleConfig) -> Result<(), String> {
    let base = &c.base_path.0;
    if !base.starts_with('/')
        || base.len() < 2
        || base.contains("//")
        || !base.chars().all(|ch| ch.is_ascii_alphanumeric() || "/-_.~".contains(ch))
    {
        return Err(format!(
            "console.base_path: {base:?} must be an absolute path like /console (letters, digits, - _ . ~)"
        ));
    }
    if c.session_idle_secs.0 == 0 || c.session_max_secs.0 == 0 {
        return Err("console: session_idle_secs and session_max_secs must be greater than zero".into());
    }
    if c.session_idle_secs.0 > c.session_max_secs.0 {
        return Err("console.session_idle_secs: cannot exceed session_max_secs".into());
    }
    let Some(o) = &c.oidc else { return Ok(()) };
    if o.client_id.0.trim().is_empty() {
        return Err("console.oidc.client_id is empty".into());
    }
    if let Some(s) = &o.client_secret {
        warden_secrets::SecretRef::parse(&s.0)
            .map_err(|e| format!("console.oidc.client_secret: {e} (give a secret reference such as env://NAME)"))?;
    }
    if o.timeout_secs.0 <= 0.0 {
        return Err("console.oidc.timeout_secs must be greater than zero".into());
    }
    if o.default_role.0 != "deny" && !ROLES.contains(&o.default_role.0.as_str()) {
        return Err(format!(
            "console.oidc.default_role: {:?} is not deny, admin, approver, auditor or viewer",
            o.default_role.0
        ));
    }
    for (i, g) in o.groups.iter().enumerate() {
        if g.group.0.is_empty() {
            return Err(format!("console.oidc.groups[{i}].group is empty"));
        }
        if !ROLES.contains(&g.role.0.as_str()) {
            return Err(format!(
                "console.oidc.groups[{i}] ({:?}): role {:?} is not admin, approver, auditor or viewer",
                g.group.0, g.role.0
            ));
        }
        if g.teams.is_empty() || g.teams.iter().any(|t| t.0.is_empty()) {
            return Err(format!("console.oidc.groups[{i}] ({:?}): teams must list team names or \"*\"", g.group.0));
        }
    }
    Ok(())
}
