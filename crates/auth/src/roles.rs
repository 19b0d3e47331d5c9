//! Admin roles. Every admin endpoint names the role it needs; [`Role::allows`]
//! decides. The [`Principal`] is what any admin authenticator produces (admin
//! tokens, OIDC sign-in for humans). [`map_groups`] turns an IdP's groups
//! into a role, teams and approver groups.

use serde::{Deserialize, Serialize};

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

/// One IdP group and what membership grants.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    /// The group name exactly as the IdP's groups claim carries it (case-sensitive).
    pub group: String,
    /// `admin`, `approver`, `auditor` or `viewer`.
    pub role: String,
    /// Teams whose agents members may act on; `*` (the default) for all.
    #[serde(default = "all_teams")]
    pub teams: Vec<String>,
    /// Approver groups members belong to.
    #[serde(default)]
    pub approver_groups: Vec<String>,
}

fn all_teams() -> Vec<String> {
    vec!["*".to_string()]
}

/// Precedence when several mappings match: the first is the strongest.
const PRECEDENCE: [Role; 4] = [Role::Admin, Role::Approver, Role::Auditor, Role::Viewer];

/// Checks that every mapping names a known role and a non-empty group
/// (for configuration loading; [`map_groups`] ignores mappings that fail this).
pub fn validate_mappings(mappings: &[GroupMapping]) -> Result<(), String> {
    for m in mappings {
        if m.group.is_empty() {
            return Err("group mapping with an empty group".into());
        }
        if Role::parse(&m.role).is_none() {
            return Err(format!(
                "group mapping for {:?}: unknown role {:?} (admin, approver, auditor or viewer)",
                m.group, m.role
            ));
        }
    }
    Ok(())
}

/// What a signed-in user's IdP `groups` grant: `(role, teams, approver_groups)`.
///
/// - Every mapping whose `group` equals (exactly, case-sensitively) one of
///   `groups` matches. Mappings with an unknown role never match (see
///   [`validate_mappings`]).
/// - The role is the strongest matched, by precedence
///   admin > approver > auditor > viewer.
/// - Teams are the union of the `teams` of the matched mappings that carry
///   that chosen role (weaker mappings add no teams), sorted and deduplicated;
///   if `*` is among them the result is just `["*"]`.
/// - Approver groups are the union over *all* matched mappings, sorted and
///   deduplicated.
/// - No mapping matches: `Some((default_role, [], []))` when a default role is
///   configured (the role, but no team access), and `None` (sign-in refused)
///   when it is not.
pub fn map_groups(
    groups: &[String],
    mappings: &[GroupMapping],
    default_role: Option<Role>,
) -> Option<(Role, Vec<String>, Vec<String>)> {
    let matched: Vec<(&GroupMapping, Role)> = mappings
        .iter()
        .filter(|m| groups.contains(&m.group))
        .filter_map(|m| Role::parse(&m.role).map(|r| (m, r)))
        .collect();
    let Some(role) = PRECEDENCE.into_iter().find(|r| matched.iter().any(|(_, mr)| mr == r)) else {
        return default_role.map(|r| (r, Vec::new(), Vec::new()));
    };
    let mut teams: Vec<String> =
        matched.iter().filter(|(_, r)| *r == role).flat_map(|(m, _)| m.teams.iter().cloned()).collect();
    teams.sort();
    teams.dedup();
    if teams.iter().any(|t| t == "*") {
        teams = all_teams();
    }
    let mut approver_groups: Vec<String> =
        matched.iter().flat_map(|(m, _)| m.approver_groups.iter().cloned()).collect();
    approver_groups.sort();
    approver_groups.dedup();
    Some((role, teams, approver_groups))
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

    fn m(group: &str, role: &str, teams: &[&str], approver_groups: &[&str]) -> GroupMapping {
        GroupMapping {
            group: group.into(),
            role: role.into(),
            teams: teams.iter().map(|s| s.to_string()).collect(),
            approver_groups: approver_groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn map_groups_matrix() {
        let maps = vec![
            m("ops", "viewer", &["payments"], &["ops-approvers"]),
            m("sre", "approver", &["infra"], &["sre-oncall"]),
            m("sre-eu", "approver", &["payments", "infra"], &[]),
            m("audit", "auditor", &["*"], &["auditors"]),
            m("root", "admin", &["*"], &[]),
            m("typo", "superuser", &["*"], &["nope"]),
        ];
        // Precedence: approver beats viewer; teams only from approver mappings; approver groups from all.
        assert_eq!(
            map_groups(&v(&["ops", "sre"]), &maps, None),
            Some((Role::Approver, v(&["infra"]), v(&["ops-approvers", "sre-oncall"])))
        );
        // Union of teams across mappings with the chosen role, sorted and deduplicated.
        assert_eq!(
            map_groups(&v(&["sre-eu", "sre", "ops"]), &maps, None),
            Some((Role::Approver, v(&["infra", "payments"]), v(&["ops-approvers", "sre-oncall"])))
        );
        // Admin beats everything; "*" absorbs.
        assert_eq!(
            map_groups(&v(&["ops", "sre", "audit", "root"]), &maps, None),
            Some((Role::Admin, v(&["*"]), v(&["auditors", "ops-approvers", "sre-oncall"])))
        );
        // Auditor beats viewer.
        assert_eq!(
            map_groups(&v(&["audit", "ops"]), &maps, None),
            Some((Role::Auditor, v(&["*"]), v(&["auditors", "ops-approvers"])))
        );
        let star = vec![m("a", "viewer", &["x"], &[]), m("b", "viewer", &["*", "y"], &[])];
        assert_eq!(map_groups(&v(&["a", "b"]), &star, None), Some((Role::Viewer, v(&["*"]), v(&[]))));
        // No match: deny without a default role; default role with no teams otherwise.
        assert_eq!(map_groups(&v(&["strangers"]), &maps, None), None);
        assert_eq!(map_groups(&[], &maps, None), None);
        assert_eq!(map_groups(&v(&["strangers"]), &maps, Some(Role::Viewer)), Some((Role::Viewer, v(&[]), v(&[]))));
        // Unknown role never matches (and contributes no approver groups).
        assert_eq!(map_groups(&v(&["typo"]), &maps, None), None);
        assert_eq!(
            map_groups(&v(&["typo", "ops"]), &maps, None),
            Some((Role::Viewer, v(&["payments"]), v(&["ops-approvers"])))
        );
        // Exact, case-sensitive group match.
        assert_eq!(map_groups(&v(&["ROOT", "roo"]), &maps, None), None);
        assert!(validate_mappings(&maps).unwrap_err().contains("superuser"));
        assert!(validate_mappings(&maps[..5]).is_ok());
    }

    #[test]
    fn group_mapping_deserializes_with_defaults() {
        let g: GroupMapping = serde_json::from_str(r#"{"group": "sre", "role": "approver"}"#).unwrap();
        assert_eq!(g, m("sre", "approver", &["*"], &[]));
        assert!(serde_json::from_str::<GroupMapping>(r#"{"group": "sre", "role": "admin", "tems": []}"#).is_err());
        let p = Principal {
            name: "oidc:a@example.com".into(),
            role: Role::Viewer,
            teams: vec![],
            groups: vec![],
            subject: None,
            email: None,
            idp_groups: vec![],
        };
        let j = serde_json::to_value(&p).unwrap();
        assert!(j.get("subject").is_none() && j.get("email").is_none());
        let p = Principal { subject: Some("u1".into()), email: Some("a@example.com".into()), ..p };
        assert_eq!(serde_json::to_value(&p).unwrap()["subject"], "u1");
    }
}
