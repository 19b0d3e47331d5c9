//! The bot inventory: what a record holds, what makes one valid, the separation
//! rule ("internal data OR external communication, not both"), review cadence,
//! and the field-level diff shown by `warden apply --dry-run`.
//!
//! Everything here is pure: the store persists these values, the API and CLI
//! move them around, and every rule is decided by a function in this file.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{AccessRules, AllowDeny};
use crate::glob::Glob;
use crate::time::{Timestamp, format_rfc3339};

pub const DEFAULT_NAME_PATTERN: &str = "^[a-z0-9-]+-bot$";
pub const DEFAULT_REVIEW_CADENCE_DAYS: u32 = 90;

/// How much internal data an agent may read. Ordered: `public < internal < confidential < restricted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataAccess {
    #[default]
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl DataAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            DataAccess::Public => "public",
            DataAccess::Internal => "internal",
            DataAccess::Confidential => "confidential",
            DataAccess::Restricted => "restricted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Suspended,
    Offboarded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::Offboarded => "offboarded",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "suspended" => Some(Status::Suspended),
            "offboarded" => Some(Status::Offboarded),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How and where the bot runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Runtime {
    pub owner: String,
    pub hosting_environment: String,
    pub workspace_persistence: String,
    pub network_access_policy: String,
    pub shell_execution_policy: String,
    pub data_retention: String,
    pub deletion_procedure: String,
    pub incident_response_owner: String,
}

/// What a user declares about an agent (`warden apply`, `POST /api/v1/agents`).
/// Unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    pub name: String,
    pub owner: String,
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub runtime: Runtime,
    /// Systems reached outside Warden's upstreams (declared extras).
    #[serde(default)]
    pub systems: Vec<String>,
    #[serde(default)]
    pub credential_storage: String,
    #[serde(default)]
    pub data_access: DataAccess,
    #[serde(default)]
    pub external_channels: Vec<String>,
    #[serde(default)]
    pub approval_gated_actions: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default = "default_cadence")]
    pub review_cadence_days: u32,
    #[serde(default)]
    pub allow_tools: Vec<String>,
    #[serde(default)]
    pub deny_tools: Vec<String>,
    #[serde(default)]
    pub allow_resources: Vec<String>,
    #[serde(default)]
    pub deny_resources: Vec<String>,
    #[serde(default)]
    pub allow_prompts: Vec<String>,
    #[serde(default)]
    pub deny_prompts: Vec<String>,
    /// Models this agent may use at `/v1/*`.
    #[serde(default)]
    pub allow_models: Vec<String>,
    #[serde(default)]
    pub deny_models: Vec<String>,
}

fn default_cadence() -> u32 {
    DEFAULT_REVIEW_CADENCE_DAYS
}

/// One invalid field: `field` is a dotted path such as `runtime.owner` or `allow_tools[2]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The naming convention, compiled once.
#[derive(Debug, Clone)]
pub struct NamingRule(regex::Regex);

impl NamingRule {
    pub fn new(pattern: &str) -> Result<NamingRule, String> {
        regex::Regex::new(pattern).map(NamingRule).map_err(|e| format!("invalid agent name pattern {pattern:?}: {e}"))
    }

    pub fn pattern(&self) -> &str {
        self.0.as_str()
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

impl Default for NamingRule {
    fn default() -> Self {
        NamingRule::new(DEFAULT_NAME_PATTERN).expect("static pattern")
    }
}

pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() <= 253
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',')
        && !domain.contains('@')
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn check_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn check_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        errors.push(FieldError::new(field, "must not contain control characters"));
    }
}

impl AgentSpec {
    /// Every problem with this record, by field. Empty means valid.
    pub fn validate(&self, naming: &NamingRule) -> Vec<FieldError> {
        let mut e = Vec::new();
        if self.name.is_empty() || self.name.len() > 64 {
            e.push(FieldError::new("name", "must be 1-64 characters"));
        } else if !naming.matches(&self.name) {
            e.push(FieldError::new(
                "name",
                format!("{:?} does not match the naming convention {}", self.name, naming.pattern()),
            ));
        } else if self.name.contains("__") || self.name.chars().any(|c| c.is_whitespace() || c == '/') {
            e.push(FieldError::new("name", "must not contain whitespace, '/' or \"__\""));
        }
        if self.owner.is_empty() {
            e.push(FieldError::new("owner", "is required: the email of the accountable human"));
        } else if !is_email(&self.owner) {
            e.push(FieldError::new("owner", format!("{:?} is not an email address", self.owner)));
        }
        for (field, value) in [
            ("team", &self.team),
            ("credential_storage", &self.credential_storage),
            ("runtime.owner", &self.runtime.owner),
            ("runtime.hosting_environment", &self.runtime.hosting_environment),
            ("runtime.workspace_persistence", &self.runtime.workspace_persistence),
            ("runtime.network_access_policy", &self.runtime.network_access_policy),
            ("runtime.shell_execution_policy", &self.runtime.shell_execution_policy),
            ("runtime.data_retention", &self.runtime.data_retention),
            ("runtime.incident_response_owner", &self.runtime.incident_response_owner),
        ] {
            check_text(&mut e, field, value, 256);
        }
        check_text(&mut e, "purpose", &self.purpose, 2000);
        check_text(&mut e, "runtime.deletion_procedure", &self.runtime.deletion_procedure, 2000);
        for (field, value) in [
            ("runtime.owner", &self.runtime.owner),
            ("runtime.incident_response_owner", &self.runtime.incident_response_owner),
        ] {
            if !value.is_empty() && value.contains('@') && !is_email(value) {
                e.push(FieldError::new(field, format!("{value:?} is not a valid email address")));
            }
        }
        for (field, list) in [
            ("systems", &self.systems),
            ("external_channels", &self.external_channels),
            ("approval_gated_actions", &self.approval_gated_actions),
        ] {
            for (i, v) in list.iter().enumerate() {
                if v.trim().is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
                    e.push(FieldError::new(format!("{field}[{i}]"), "must be 1-128 printable characters"));
                }
            }
            let mut sorted: Vec<&String> = list.iter().collect();
            sorted.sort();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                e.push(FieldError::new(field, "contains duplicates"));
            }
        }
        for (k, v) in &self.labels {
            if !check_label(k) {
                e.push(FieldError::new(
                    format!("labels.{k}"),
                    "label keys are 1-63 characters from A-Z a-z 0-9 - _ . /",
                ));
            }
            check_text(&mut e, &format!("labels.{k}"), v, 256);
        }
        if self.review_cadence_days == 0 || self.review_cadence_days > 3650 {
            e.push(FieldError::new("review_cadence_days", "must be between 1 and 3650"));
        }
        for (field, list) in self.access_lists() {
            for (i, p) in list.iter().enumerate() {
                if let Err(err) = Glob::new(p) {
                    e.push(FieldError::new(format!("{field}[{i}]"), err.to_string()));
                }
            }
        }
        e
    }

    fn access_lists(&self) -> [(&'static str, &Vec<String>); 8] {
        [
            ("allow_tools", &self.allow_tools),
            ("deny_tools", &self.deny_tools),
            ("allow_resources", &self.allow_resources),
            ("deny_resources", &self.deny_resources),
            ("allow_prompts", &self.allow_prompts),
            ("deny_prompts", &self.deny_prompts),
            ("allow_models", &self.allow_models),
            ("deny_models", &self.deny_models),
        ]
    }

    /// The access rules; call only on a validated spec.
    pub fn access_rules(&self) -> AccessRules {
        let ad = |a: &[String], d: &[String]| AllowDeny::new(a, d).unwrap_or_default();
        AccessRules {
            tools: ad(&self.allow_tools, &self.deny_tools),
            resources: ad(&self.allow_resources, &self.deny_resources),
            prompts: ad(&self.allow_prompts, &self.deny_prompts),
            models: ad(&self.allow_models, &self.deny_models),
        }
    }

    /// The separation rule: internal data (or more) and external channels together.
    pub fn needs_separation_exception(&self) -> bool {
        self.data_access >= DataAccess::Internal && !self.external_channels.is_empty()
    }
}

/// The stored record: the declared spec plus lifecycle state Warden owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    #[serde(flatten)]
    pub spec: AgentSpec,
    pub status: Status,
    /// Why the status last changed.
    #[serde(default)]
    pub status_reason: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_review: Option<Timestamp>,
    /// Tokens issued before this instant (ms) are refused; set by suspend and offboard.
    #[serde(default)]
    pub tokens_not_before_ms: i64,
    /// Whether a client secret is currently registered (its argon2 hash lives apart).
    #[serde(default)]
    pub has_client_secret: bool,
}

impl AgentRecord {
    /// When the next review is due: the last review (or creation) plus the cadence.
    pub fn review_due(&self) -> Timestamp {
        let base = self.last_review.unwrap_or(self.created_at);
        Timestamp(base.0 + i64::from(self.spec.review_cadence_days) * 86_400)
    }

    /// Offboarded bots are not reviewed.
    pub fn review_overdue(&self, now: Timestamp) -> bool {
        self.status != Status::Offboarded && self.review_due() < now
    }
}

/// A documented exception to the separation rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeparationException {
    /// Unique name of this exception.
    pub name: String,
    pub agent: String,
    pub approver: String,
    pub purpose: String,
    #[serde(default)]
    pub systems: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    pub data_classification: DataAccess,
    /// RFC 3339 instant or `YYYY-MM-DD` (end of that day, UTC).
    pub expires: String,
}

impl SeparationException {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if !check_label(&self.name) {
            e.push(FieldError::new("name", "1-63 characters from A-Z a-z 0-9 - _ . /"));
        }
        if self.agent.is_empty() {
            e.push(FieldError::new("agent", "is required"));
        }
        if !is_email(&self.approver) {
            e.push(FieldError::new("approver", "must be the approver's email address"));
        }
        if self.purpose.trim().is_empty() {
            e.push(FieldError::new("purpose", "is required: the business purpose of the exception"));
        }
        check_text(&mut e, "purpose", &self.purpose, 2000);
        if self.expires_at().is_none() {
            e.push(FieldError::new(
                "expires",
                format!("{:?} is not an RFC 3339 time or YYYY-MM-DD date", self.expires),
            ));
        }
        e
    }

    pub fn expires_at(&self) -> Option<Timestamp> {
        crate::time::parse_instant_or_date(&self.expires)
    }

    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at().is_none_or(|t| t <= now)
    }

    /// Whether this exception, at `now`, covers what `spec` combines. Missing
    /// coverage is described so the rejection can say exactly what is wrong.
    pub fn covers(&self, spec: &AgentSpec, now: Timestamp) -> Result<(), String> {
        if self.agent != spec.name {
            return Err(format!("exception {:?} is for agent {:?}", self.name, self.agent));
        }
        if self.expired(now) {
            return Err(format!("exception {:?} expired at {}", self.name, self.expires));
        }
        if self.data_classification < spec.data_access {
            return Err(format!(
                "exception {:?} allows data up to {}, agent has {}",
                self.name,
                self.data_classification.as_str(),
                spec.data_access.as_str()
            ));
        }
        let missing: Vec<&str> =
            spec.external_channels.iter().filter(|c| !self.channels.contains(c)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(format!("exception {:?} does not cover channels {}", self.name, missing.join(", ")));
        }
        let missing: Vec<&str> =
            spec.systems.iter().filter(|s| !self.systems.contains(s)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(format!("exception {:?} does not cover systems {}", self.name, missing.join(", ")));
        }
        Ok(())
    }
}

/// Applies the separation rule to `spec` given the exceptions on file.
pub fn check_separation(
    spec: &AgentSpec,
    exceptions: &[SeparationException],
    now: Timestamp,
) -> Result<(), FieldError> {
    if !spec.needs_separation_exception() {
        return Ok(());
    }
    let mut reasons = Vec::new();
    for ex in exceptions.iter().filter(|e| e.agent == spec.name) {
        match ex.covers(spec, now) {
            Ok(()) => return Ok(()),
            Err(r) => reasons.push(r),
        }
    }
    let mut msg = format!(
        "separation rule: data access {:?} together with external channels [{}] needs a separation exception \
         (internal data OR external communication, not both)",
        spec.data_access.as_str(),
        spec.external_channels.join(", ")
    );
    if !reasons.is_empty() {
        msg.push_str("; ");
        msg.push_str(&reasons.join("; "));
    }
    Err(FieldError::new("external_channels", msg))
}

/// One upstream as the inventory sees it: its name, its tool-name prefix, and
/// the exposed tool names it currently offers (None when not known).
pub struct UpstreamView<'a> {
    pub name: &'a str,
    pub prefix: Option<&'a str>,
    pub tools: Option<&'a [String]>,
}

/// Connected systems: every upstream one of whose tools the agent may call,
/// plus the declared extras. When an upstream's catalog is unknown, an allow
/// pattern whose literal head falls under the upstream's prefix counts.
pub fn connected_systems(spec: &AgentSpec, upstreams: &[UpstreamView<'_>]) -> Vec<String> {
    connected_systems_with(spec, &spec.access_rules(), upstreams)
}

/// [`connected_systems`] with the spec's access rules already compiled.
pub fn connected_systems_with(spec: &AgentSpec, rules: &AccessRules, upstreams: &[UpstreamView<'_>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for u in upstreams {
        let reachable = match u.tools {
            Some(tools) => tools.iter().any(|t| rules.tools.permits(t)),
            None => spec.allow_tools.iter().any(|p| {
                let head: String = p.chars().take_while(|c| !matches!(c, '*' | '?' | '\\')).collect();
                match u.prefix {
                    Some(prefix) => {
                        let want = format!("{prefix}__");
                        head.starts_with(&want) || want.starts_with(&head)
                    }
                    None => true,
                }
            }),
        };
        if reachable {
            out.push(u.name.to_string());
        }
    }
    for s in &spec.systems {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// One changed field between two specs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// Field-level differences between two records (dotted paths, sorted).
pub fn diff<T: Serialize>(before: &T, after: &T) -> Vec<FieldChange> {
    let a = serde_json::to_value(before).unwrap_or(Value::Null);
    let b = serde_json::to_value(after).unwrap_or(Value::Null);
    let mut out = Vec::new();
    diff_values("", &a, &b, &mut out);
    out
}

fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<FieldChange>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                diff_values(&p, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
            }
        }
        _ if a != b => out.push(FieldChange { field: path.to_string(), before: a.clone(), after: b.clone() }),
        _ => {}
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.before, self.after)
    }
}

/// Renders a timestamp for humans and JSON.
pub fn show_time(t: Timestamp) -> String {
    format_rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(name: &str) -> AgentSpec {
        serde_json::from_value(serde_json::json!({"name": name, "owner": "alice@example.com"})).unwrap()
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let s = spec("triage-bot");
        assert_eq!(s.review_cadence_days, 90);
        assert_eq!(s.data_access, DataAccess::Public);
        assert!(s.validate(&NamingRule::default()).is_empty());
        let err =
            serde_json::from_value::<AgentSpec>(serde_json::json!({"name": "a-bot", "owner": "a@b.co", "colour": 1}))
                .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = serde_json::from_value::<AgentSpec>(
            serde_json::json!({"name": "a-bot", "owner": "a@b.co", "runtime": {"hosting": "k8s"}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `hosting`"), "{err}");
        let err = serde_json::from_value::<AgentSpec>(
            serde_json::json!({"name": "a-bot", "owner": "a@b.co", "data_access": "secret"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `secret`"), "{err}");
    }

    #[test]
    fn field_level_validation() {
        let naming = NamingRule::default();
        let mut s = spec("Triage");
        s.owner = "not-an-email".into();
        s.review_cadence_days = 0;
        s.allow_tools = vec!["ok*".into(), "bad\\".into()];
        s.external_channels = vec!["email".into(), "email".into()];
        s.labels.insert("bad key".into(), "x".into());
        let fields: Vec<String> = s.validate(&naming).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["name", "owner", "external_channels", "labels.bad key", "review_cadence_days", "allow_tools[1]"]
        );
        let mut s = spec("x-bot");
        s.owner = String::new();
        assert_eq!(s.validate(&naming)[0].message, "is required: the email of the accountable human");
        let custom = NamingRule::new("^svc-[a-z]+$").unwrap();
        assert!(spec("svc-build").validate(&custom).is_empty());
        assert!(!spec("build-bot").validate(&custom).is_empty());
        assert!(NamingRule::new("(").is_err());
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b.co.", "a@b@c.co", "<a@b.co>"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    fn exception(expires: &str) -> SeparationException {
        SeparationException {
            name: "ex-1".into(),
            agent: "sales-bot".into(),
            approver: "ciso@example.com".into(),
            purpose: "quarterly outreach".into(),
            systems: vec!["crm".into()],
            channels: vec!["email".into()],
            data_classification: DataAccess::Confidential,
            expires: expires.into(),
        }
    }

    #[test]
    fn separation_rule() {
        let now = crate::time::parse_instant_or_date("2026-06-01T00:00:00Z").unwrap();
        let mut s = spec("sales-bot");
        s.data_access = DataAccess::Public;
        s.external_channels = vec!["email".into()];
        assert!(check_separation(&s, &[], now).is_ok(), "public data may talk externally");
        s.data_access = DataAccess::Internal;
        let err = check_separation(&s, &[], now).unwrap_err();
        assert_eq!(err.field, "external_channels");
        assert!(err.message.contains("internal data OR external communication"), "{}", err.message);
        s.external_channels.clear();
        assert!(check_separation(&s, &[], now).is_ok(), "internal data without channels is fine");

        s.external_channels = vec!["email".into()];
        s.systems = vec!["crm".into()];
        assert!(check_separation(&s, &[exception("2026-12-31")], now).is_ok());
        // Expired.
        let err = check_separation(&s, &[exception("2026-05-31")], now).unwrap_err();
        assert!(err.message.contains("expired"), "{}", err.message);
        // Classification too low.
        s.data_access = DataAccess::Restricted;
        let err = check_separation(&s, &[exception("2026-12-31")], now).unwrap_err();
        assert!(err.message.contains("allows data up to confidential"), "{}", err.message);
        // Channel not covered.
        s.data_access = DataAccess::Internal;
        s.external_channels.push("slack-external".into());
        let err = check_separation(&s, &[exception("2026-12-31")], now).unwrap_err();
        assert!(err.message.contains("does not cover channels slack-external"), "{}", err.message);
        // System not covered.
        s.external_channels = vec!["email".into()];
        s.systems.push("billing".into());
        let err = check_separation(&s, &[exception("2026-12-31")], now).unwrap_err();
        assert!(err.message.contains("does not cover systems billing"), "{}", err.message);
        // Another agent's exception never applies.
        let mut other = exception("2026-12-31");
        other.agent = "other-bot".into();
        s.systems = vec!["crm".into()];
        assert!(check_separation(&s, &[other], now).is_err());
    }

    #[test]
    fn exception_validation() {
        let mut e = exception("soon");
        e.approver = "bob".into();
        let fields: Vec<String> = e.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["approver", "expires"]);
        assert!(exception("2027-01-01T12:00:00+02:00").validate().is_empty());
    }

    #[test]
    fn review_overdue() {
        let t0 = Timestamp(1_700_000_000);
        let mut r = AgentRecord {
            id: "id".into(),
            spec: spec("a-bot"),
            status: Status::Active,
            status_reason: String::new(),
            created_at: t0,
            updated_at: t0,
            last_review: None,
            tokens_not_before_ms: 0,
            has_client_secret: true,
        };
        assert!(!r.review_overdue(Timestamp(t0.0 + 89 * 86_400)));
        assert!(r.review_overdue(Timestamp(t0.0 + 91 * 86_400)));
        r.last_review = Some(Timestamp(t0.0 + 60 * 86_400));
        assert!(!r.review_overdue(Timestamp(t0.0 + 91 * 86_400)));
        r.spec.review_cadence_days = 7;
        assert!(r.review_overdue(Timestamp(t0.0 + 68 * 86_400)));
        r.status = Status::Offboarded;
        assert!(!r.review_overdue(Timestamp(t0.0 + 999 * 86_400)));
    }

    #[test]
    fn connected_systems_from_access_and_extras() {
        let mut s = spec("a-bot");
        s.allow_tools = vec!["github__*".into()];
        s.deny_tools = vec!["jira__*".into()];
        s.systems = vec!["salesforce".into()];
        let gh = vec!["github__list_issues".to_string()];
        let jira = vec!["jira__search".to_string()];
        let ups = [
            UpstreamView { name: "github", prefix: Some("github"), tools: Some(&gh) },
            UpstreamView { name: "jira", prefix: Some("jira"), tools: Some(&jira) },
            UpstreamView { name: "slack", prefix: Some("slack"), tools: None },
        ];
        assert_eq!(connected_systems(&s, &ups), ["github", "salesforce"]);
        s.allow_tools.push("sl*".into());
        assert_eq!(connected_systems(&s, &ups), ["github", "slack", "salesforce"]);
    }

    #[test]
    fn diff_is_field_level() {
        let a = spec("a-bot");
        let mut b = a.clone();
        b.team = "platform".into();
        b.runtime.owner = "ops@example.com".into();
        b.labels.insert("env".into(), "prod".into());
        let d: Vec<String> = diff(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            [
                "labels.env: null -> \"prod\"",
                "runtime.owner: \"\" -> \"ops@example.com\"",
                "team: \"\" -> \"platform\""
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }
}
