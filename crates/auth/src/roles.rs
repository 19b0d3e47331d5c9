//! Admin roles. Every admin endpoint names the role it needs; [`Role::allows`]
//! decides. The [`Principal`] is what any admin authenticator produces (admin
//! tokens today; OIDC login for humans plugs in beside them).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Decides approval holds; reads inventory.
    Approver,
    /// Reads audit records and inventory.
    Auditor,
    /// Reads inventory.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Approver, Role::Auditor, Role::Viewer];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }

    /// Whether a holder of `self` may do what needs `required`.
    pub fn allows(self, required: Role) -> bool {
        match self {
            Role::Admin => true,
            Role::Approver => matches!(required, Role::Approver | Role::Viewer),
            Role::Auditor => matches!(required, Role::Auditor | Role::Viewer),
            Role::Viewer => required == Role::Viewer,
        }
    }
}

/// An authenticated human or automation acting on the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Principal {
    /// `admin-token:<name>`, later `oidc:<email>`.
    pub name: String,
    pub role: Role,
    /// Teams whose agents this principal may act on; `*` for all.
    pub teams: Vec<String>,
    /// Approver groups.
    pub groups: Vec<String>,
    /// A human signed in through OpenID Connect: the IdP's subject, email and
    /// groups (as the IdP sent them, before mapping).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub idp_groups: Vec<String>,
}

impl Principal {
    pub fn covers_team(&self, team: &str) -> bool {
        self.teams.iter().any(|t| t == "*" || t == team)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use Role::*;
        let expect = [
            (Admin, [true, true, true, true]),
            (Approver, [false, true, false, true]),
            (Auditor, [false, false, true, true]),
            (Viewer, [false, false, false, true]),
        ];
        for (holder, row) in expect {
            for (req, want) in Role::ALL.into_iter().zip(row) {
                assert_eq!(holder.allows(req), want, "{holder:?} -> {req:?}");
            }
        }
        assert_eq!(Role::parse("auditor"), Some(Auditor));
        assert_eq!(Role::parse("root"), None);
    }
}
