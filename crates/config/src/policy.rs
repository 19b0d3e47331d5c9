//! The policy document: `policy:` in warden.yaml, and the same shape in the
//! separate files it lists under `policy.files`. Values validate themselves
//! while they are read (so errors name key and line); the policy crate
//! compiles the document into matchers and reports what can only be judged
//! as a whole (invalid CEL, rules that never match, shadowed rules).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::schema::{HttpUrl, Num, Pattern, Str, bad};

/// Risk tiers, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Low,
    Medium,
    High,
    Critical,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Low, Tier::Medium, Tier::High, Tier::Critical];
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Low => "low",
            Tier::Medium => "medium",
            Tier::High => "high",
            Tier::Critical => "critical",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule does with the actions it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    Allow,
    Audit,
    RateLimit,
    RequireApproval,
    Deny,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Audit => "audit",
            RuleAction::RateLimit => "rate_limit",
            RuleAction::RequireApproval => "require_approval",
            RuleAction::Deny => "deny",
        }
    }

    /// Actions that let a call through without a human.
    pub fn is_permissive(self) -> bool {
        matches!(self, RuleAction::Allow | RuleAction::Audit | RuleAction::RateLimit)
    }
}

impl fmt::Display for RuleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `30s`, `5m`, `2h`, `1d`, `250ms`, or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationValue(pub Duration);

impl DurationValue {
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a duration such as 30s, 5m or 2h"))?;
        let secs = match unit.trim() {
            "" | "s" => n,
            "ms" => return Ok(Duration::from_millis(n)),
            "m" | "min" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(format!("{s:?} is not a duration such as 30s, 5m or 2h")),
        };
        Ok(Duration::from_secs(secs))
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_norway::Value::deserialize(d)?;
        let s = match &v {
            serde_norway::Value::Number(n) => n.to_string(),
            serde_norway::Value::String(s) => crate::env::expand(s).map_err(|e| bad::<D::Error>(s, e))?,
            _ => return Err(de::Error::custom("expected a duration such as 30s, 5m or 2h")),
        };
        DurationValue::parse(&s).map(DurationValue).map_err(|e| bad(&s, e))
    }
}

/// A rate: `10/s`, `60/min`, `1000/h`, `5000/d`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    pub fn parse(s: &str) -> Result<Rate, String> {
        let err = || format!("{s:?} is not a rate such as 10/s, 60/min or 1000/h");
        let (n, per) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        let per = match per.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(err()),
        };
        if count == 0 {
            return Err(format!("{s:?}: the count must be at least 1"));
        }
        Ok(Rate { count, per })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Str::deserialize(d)?;
        Rate::parse(&s.0).map_err(|e| bad(&s.0, e))
    }
}

/// A token bucket: `rate` refill, `burst` capacity (default: the rate's count).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    pub rate: Rate,
    #[serde(default)]
    pub burst: Option<Num<u64>>,
}

impl LimitSpec {
    pub fn capacity(&self) -> u32 {
        self.burst.map(|b| b.0.min(u32::MAX as u64) as u32).unwrap_or(self.rate.count).max(1)
    }
}

/// `policy:` — also the whole content of each file under `policy.files`
/// (where `files`, `defaults`, `approvals`, `shell` and `flow` may not appear).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyDoc {
    /// More policy files, read after the inline rules and hot-reloaded when they change.
    pub files: Vec<Str>,
    /// What unmatched actions get.
    pub defaults: Option<Defaults>,
    pub rules: Vec<RuleSpec>,
    /// Token buckets per agent and tier (every action of that tier counts).
    pub tier_limits: BTreeMap<Tier, LimitSpec>,
    /// Labels for the session information-flow rule, by tool glob.
    pub tool_labels: BTreeMap<String, Vec<ToolLabel>>,
    pub flow: Option<FlowSpec>,
    pub shell: Option<ShellSpec>,
    pub approvals: Option<ApprovalsSpec>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub tier: Tier,
    pub action: RuleAction,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Tools annotated `readOnlyHint: true`.
    pub read_only: Outcome,
    /// Everything else: destructive, or an unannotated write.
    pub write: Outcome,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            read_only: Outcome { tier: Tier::Low, action: RuleAction::Allow },
            write: Outcome { tier: Tier::High, action: RuleAction::RequireApproval },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolLabel {
    PrivateData,
    UntrustedContent,
    ExternalSink,
    Destructive,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlowSpec {
    /// After a `private_data` tool returned data in the session, an `external_sink` call gets this.
    pub private_data_then_external_sink: FlowAction,
    /// After an `untrusted_content` tool returned data in the session, a `destructive` call gets this.
    pub untrusted_content_then_destructive: FlowAction,
}

impl Default for FlowSpec {
    fn default() -> Self {
        FlowSpec {
            private_data_then_external_sink: FlowAction::RequireApproval,
            untrusted_content_then_destructive: FlowAction::RequireApproval,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowAction {
    RequireApproval,
    Deny,
    Off,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShellSpec {
    /// Tool names (globs over exposed names) whose arguments are shell commands.
    pub tools: Vec<Pattern>,
    /// Argument keys that carry the command.
    pub command_args: Vec<Str>,
    /// What an unmatched shell call with a finding gets.
    pub on_finding: Outcome,
}

impl Default for ShellSpec {
    fn default() -> Self {
        let tools = ["exec", "bash", "shell", "sh", "run_command", "run_shell", "terminal", "execute_command"]
            .iter()
            .flat_map(|t| [t.to_string(), format!("*__{t}")])
            .map(|t| Pattern(warden_core::glob::Glob::new(&t).expect("static")))
            .collect();
        ShellSpec {
            tools,
            command_args: ["command", "cmd", "script", "commandLine", "args", "argv"]
                .iter()
                .map(|s| Str(s.to_string()))
                .collect(),
            on_finding: Outcome { tier: Tier::High, action: RuleAction::RequireApproval },
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsSpec {
    /// How long a held call waits for a human (default 5 min). A rule may set its own.
    pub timeout: DurationValue,
    /// Interval of MCP progress notifications while a call is held.
    pub progress_interval: DurationValue,
    pub webhooks: Vec<WebhookSpec>,
}

impl Default for ApprovalsSpec {
    fn default() -> Self {
        ApprovalsSpec {
            timeout: DurationValue(Duration::from_secs(300)),
            progress_interval: DurationValue(Duration::from_secs(10)),
            webhooks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Slack incoming-webhook payload (`text` + `blocks`).
    Slack,
    /// `{"event": "approval.requested", "approval": {...}}`.
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: HttpUrl,
    pub format: WebhookFormat,
    #[serde(default)]
    pub headers: BTreeMap<String, Str>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: Str,
    #[serde(default)]
    pub description: Option<Str>,
    #[serde(default, rename = "match")]
    pub matches: MatchSpec,
    /// CEL condition over `agent`, `tool`, `args` and `session`.
    #[serde(default)]
    pub when: Option<Str>,
    pub tier: Tier,
    pub action: RuleAction,
    /// `rate_limit`: the bucket, per agent and tool.
    #[serde(default)]
    pub limit: Option<LimitSpec>,
    /// `require_approval`: the approver group (approvers must hold it besides the agent's team).
    #[serde(default)]
    pub approvers: Option<Str>,
    /// `require_approval`: how long to wait (default `approvals.timeout`).
    #[serde(default)]
    pub timeout: Option<DurationValue>,
    /// Shown to the agent (deny) or to the approver (require_approval).
    #[serde(default)]
    pub reason: Option<Str>,
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MatchSpec {
    pub agents: AgentMatch,
    /// Globs over exposed (prefixed) tool names. Empty: any tool.
    pub tools: Vec<Pattern>,
    /// MCP tool annotations that must hold, e.g. `destructiveHint: true`.
    pub annotations: BTreeMap<Annotation, bool>,
    /// All must hold.
    pub args: Vec<ArgMatch>,
    /// Shell-classifier categories; any one found matches.
    pub shell: Vec<ShellCategory>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Annotation {
    #[serde(rename = "readOnlyHint")]
    ReadOnly,
    #[serde(rename = "destructiveHint")]
    Destructive,
    #[serde(rename = "idempotentHint")]
    Idempotent,
    #[serde(rename = "openWorldHint")]
    OpenWorld,
}

impl Annotation {
    pub fn key(self) -> &'static str {
        match self {
            Annotation::ReadOnly => "readOnlyHint",
            Annotation::Destructive => "destructiveHint",
            Annotation::Idempotent => "idempotentHint",
            Annotation::OpenWorld => "openWorldHint",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShellCategory {
    Destructive,
    PipeToShell,
    CredentialAccess,
    PrivilegeEscalation,
    Persistence,
}

impl ShellCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ShellCategory::Destructive => "destructive",
            ShellCategory::PipeToShell => "pipe_to_shell",
            ShellCategory::CredentialAccess => "credential_access",
            ShellCategory::PrivilegeEscalation => "privilege_escalation",
            ShellCategory::Persistence => "persistence",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentMatch {
    /// Globs over agent names.
    pub names: Vec<Pattern>,
    pub teams: Vec<Str>,
    /// Every listed label must be present with this value.
    pub labels: BTreeMap<String, Str>,
    /// Agents whose declared data access is at least this.
    pub min_data_access: Option<warden_core::inventory::DataAccess>,
}

/// One argument condition: `pointer` (RFC 6901, or `**` for any string
/// anywhere in the arguments) and exactly one test.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArgMatch {
    pub pointer: Str,
    /// A glob. Patterns starting with `/` or `~` are path globs: the value is
    /// normalised as a path first and `*` stops at `/`, `**` crosses it.
    #[serde(default)]
    pub glob: Option<Str>,
    #[serde(default)]
    pub regex: Option<Str>,
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    #[serde(default)]
    pub range: Option<RangeSpec>,
    /// An IPv4/IPv6 network; the value must be an address inside it.
    #[serde(default)]
    pub cidr: Option<Str>,
    /// A path prefix; the value is normalised as a path first.
    #[serde(default)]
    pub path_prefix: Option<Str>,
    /// Negates the test.
    #[serde(default)]
    pub not: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// Parses a policy document (a whole policy file, or the `policy:` section text).
pub fn parse_policy(text: &str) -> Result<PolicyDoc, String> {
    crate::schema::LAST_BAD.with(|b| b.borrow_mut().take());
    if text.trim().is_empty() {
        return Ok(PolicyDoc::default());
    }
    serde_norway::from_str(text).map_err(|e| crate::describe_yaml_error(&e, text))
}
