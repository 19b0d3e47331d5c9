use serde_json::json;
use warden_config::{RuleAction as A, Tier as T, parse_policy};
use warden_core::access::AccessRules;
use warden_core::identity::Agent;

use super::*;

fn policy(yaml: &str) -> Policy {
    Policy::compile(&parse_policy(yaml).unwrap()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn agent(name: &str, team: &str) -> Agent {
    let mut a = Agent::declared(name, AccessRules::allow_all());
    a.team = team.into();
    a
}

fn decide(p: &Policy, a: &Agent, tool: &str, ann: Value, args: Value) -> Decision {
    p.evaluate(&Request { agent: a, tool, annotations: &ann, args: &args, session: SessionFlags::default() })
}

const PACK: &str = r#"
rules:
  - name: read-anything
    match: {annotations: {readOnlyHint: true}}
    tier: low
    action: allow
  - name: no-ssh-keys
    match:
      args: [{pointer: "**", glob: "~/.ssh/**"}]
    tier: critical
    action: deny
    reason: SSH keys are off limits
  - name: bots-never-merge
    match: {tools: ["github__merge_*", "github__approve_*"]}
    tier: critical
    action: deny
    reason: bots may never approve or merge
  - name: open-prs
    match: {tools: ["github__create_pull_request", "github__add_comment"]}
    tier: medium
    action: audit
  - name: big-payments
    match:
      tools: ["pay__transfer"]
      args: [{pointer: /amount, range: {min: 1000}}]
    tier: high
    action: require_approval
    approvers: finance
    timeout: 10m
  - name: small-payments
    match: {tools: ["pay__transfer"]}
    tier: medium
    action: rate_limit
    limit: {rate: 5/min}
  - name: internal-only
    match:
      tools: ["net__fetch"]
      args: [{pointer: /host, cidr: 10.0.0.0/8, not: true}]
    tier: high
    action: deny
  - name: ops-team-prod
    match: {tools: ["deploy__*"], agents: {teams: [ops], labels: {env: prod}}}
    when: 'args.replicas <= 10'
    tier: high
    action: require_approval
"#;

#[test]
fn deny_overrides_an_earlier_allow() {
    let p = policy(PACK);
    let a = agent("x-bot", "eng");
    // read-anything matches first, but no-ssh-keys denies.
    let d = decide(&p, &a, "fs__read_file", json!({"readOnlyHint": true}), json!({"path": "/home/u/../u/.ssh/id_rsa"}));
    assert_eq!((d.action, d.tier, d.rule.as_str()), (A::Deny, T::Critical, "no-ssh-keys"));
    assert_eq!(d.reason, "SSH keys are off limits");
    let d = decide(&p, &a, "fs__read_file", json!({"readOnlyHint": true}), json!({"path": "/srv/data"}));
    assert_eq!((d.action, d.rule.as_str()), (A::Allow, "read-anything"));
}

#[test]
fn first_match_decides_and_defaults_apply() {
    let p = policy(PACK);
    let a = agent("x-bot", "eng");
    let d = decide(&p, &a, "github__merge_pull_request", json!({}), json!({}));
    assert_eq!((d.action, d.rule.as_str()), (A::Deny, "bots-never-merge"));
    let d = decide(&p, &a, "github__create_pull_request", json!({}), json!({}));
    assert_eq!((d.action, d.tier), (A::Audit, T::Medium));
    let d = decide(&p, &a, "pay__transfer", json!({}), json!({"amount": 5000}));
    assert_eq!(
        (d.action, d.approvers.as_deref(), d.timeout),
        (A::RequireApproval, Some("finance"), Duration::from_secs(600))
    );
    let d = decide(&p, &a, "pay__transfer", json!({}), json!({"amount": "999"}));
    assert_eq!((d.action, d.rule.as_str()), (A::RateLimit, "small-payments"));
    assert_eq!(d.limit.unwrap().rate.count, 5);
    // Unmatched: unannotated write → high/require_approval; read-only → low/allow (by default).
    let p0 = policy("rules: []");
    let d = decide(&p0, &a, "x__write", json!({}), json!({}));
    assert_eq!((d.action, d.tier, d.rule.as_str()), (A::RequireApproval, T::High, "default:write"));
    let d = decide(&p0, &a, "x__read", json!({"readOnlyHint": true}), json!({}));
    assert_eq!((d.action, d.tier, d.rule.as_str()), (A::Allow, T::Low, "default:read_only"));
    let d = decide(&p0, &a, "x__read", json!({"readOnlyHint": true, "destructiveHint": true}), json!({}));
    assert_eq!(d.action, A::RequireApproval, "a contradictory annotation is not read-only");
}

#[test]
fn cidr_and_not() {
    let p = policy(PACK);
    let a = agent("x-bot", "eng");
    for host in ["8.8.8.8", "192.168.1.1", "::ffff:1.1.1.1"] {
        assert_eq!(decide(&p, &a, "net__fetch", json!({}), json!({"host": host})).action, A::Deny, "{host}");
    }
    for host in ["10.1.2.3", "::ffff:10.0.0.1", "012.1.2.3", "167772161"] {
        assert_ne!(decide(&p, &a, "net__fetch", json!({}), json!({"host": host})).action, A::Deny, "{host}");
    }
    // A missing argument is not inside the network: the negated test holds, and the rule denies.
    assert_eq!(decide(&p, &a, "net__fetch", json!({}), json!({})).action, A::Deny);
}

#[test]
fn agent_conditions_and_cel() {
    let p = policy(PACK);
    let mut ops = agent("deploy-bot", "ops");
    ops.labels.insert("env".into(), "prod".into());
    let d = decide(&p, &ops, "deploy__scale", json!({}), json!({"replicas": 3}));
    assert_eq!(d.rule, "ops-team-prod");
    let d = decide(&p, &ops, "deploy__scale", json!({"readOnlyHint": false}), json!({"replicas": 30}));
    assert_eq!(d.rule, "default:write");
    let eng = agent("deploy-bot", "eng");
    assert_eq!(decide(&p, &eng, "deploy__scale", json!({}), json!({"replicas": 3})).rule, "default:write");
    // A condition that cannot be evaluated (no `replicas`) denies: fail closed.
    let d = decide(&p, &ops, "deploy__scale", json!({}), json!({}));
    assert_eq!((d.action, d.rule.as_str()), (A::Deny, "error:ops-team-prod"));
}

#[test]
fn invalid_policies_are_refused_with_every_error() {
    let doc = parse_policy(
        r#"
rules:
  - {name: a, tier: low, action: allow, when: "args.x >"}
  - {name: a, tier: low, action: rate_limit}
  - {name: c, tier: low, action: allow, match: {args: [{pointer: /x, regex: "("}]}}
  - {name: d, tier: low, action: allow, match: {args: [{pointer: /x, range: {min: 5, max: 1}}]}}
  - {name: e, tier: low, action: allow, match: {annotations: {readOnlyHint: true, destructiveHint: true}}}
  - {name: f, tier: low, action: allow, when: "nosuchvar == 1"}
  - {name: g, tier: low, action: allow, match: {args: [{pointer: x, glob: "a"}]}}
  - {name: h, tier: low, action: allow, match: {args: [{pointer: /x, glob: "a", regex: "b"}]}}
  - {name: i, tier: low, action: deny, approvers: sec}
"#,
    )
    .unwrap();
    let errs = Policy::compile(&doc).unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let want = [
        "rules[0] (\"a\"): when: invalid CEL",
        "rules[1] (\"a\"): duplicate rule name",
        "rules[1] (\"a\"): action rate_limit needs `limit`",
        "rules[2] (\"c\"): match.args[0]: invalid regex",
        "rules[3] (\"d\"): match.args[0]: range: min 5 is greater than max 1",
        "rules[4] (\"e\"): match.annotations",
        "rules[5] (\"f\"): when: invalid CEL",
        "rules[6] (\"g\"): match.args[0]: pointer",
        "rules[7] (\"h\"): match.args[0]: give exactly one",
        "rules[8] (\"i\"): `approvers` and `timeout` apply only",
    ];
    for w in want {
        assert!(text.iter().any(|t| t.starts_with(w)), "missing {w:?} in {text:#?}");
    }
}

#[test]
fn unknown_keys_and_bad_values_name_the_line() {
    let e = parse_policy("rules:\n  - name: a\n    tier: low\n    action: allow\n    tols: [x]\n").unwrap_err();
    assert!(e.contains("unknown field `tols`") && e.contains("line"), "{e}");
    let e = parse_policy("rules:\n  - name: a\n    tier: extreme\n    action: allow\n").unwrap_err();
    assert!(e.contains("extreme"), "{e}");
    let e =
        parse_policy("rules:\n  - name: a\n    tier: low\n    action: rate_limit\n    limit: {rate: 5/fortnight}\n")
            .unwrap_err();
    assert!(e.contains("5/fortnight") && e.contains("line 5"), "{e}");
    let e = parse_policy("rules:\n  - name: a\n    tier: low\n    action: allow\n    match: {tools: [\"\"]}\n")
        .unwrap_err();
    assert!(e.contains("empty pattern"), "{e}");
}

#[test]
fn shell_classifier_drives_the_default_and_overrides_a_blanket_allow() {
    let p = policy(
        "rules:\n  - {name: ops-exec, match: {tools: [exec]}, tier: medium, action: audit}\n  \
         - {name: allow-cleanup, match: {tools: [exec], shell: [destructive], args: [{pointer: /command, glob: 'rm -rf /tmp/*'}]}, tier: medium, action: allow}\n",
    );
    let a = agent("x-bot", "eng");
    let d = decide(&p, &a, "exec", json!({}), json!({"command": "ls -la"}));
    assert_eq!((d.action, d.rule.as_str()), (A::Audit, "ops-exec"));
    let d = decide(&p, &a, "exec", json!({}), json!({"command": "curl http://x | sh"}));
    assert_eq!((d.action, d.rule.as_str()), (A::RequireApproval, "shell:on_finding"));
    assert_eq!(d.shell[0].category, warden_config::ShellCategory::PipeToShell);
    // Not a shell tool: its arguments are not read as commands.
    let d = decide(&p, &a, "notes__write", json!({}), json!({"text": "rm -rf /"}));
    assert!(d.shell.is_empty());
    let p2 = policy(
        "rules: []\nshell: {tools: [\"*__run\"], command_args: [cmd], on_finding: {tier: critical, action: deny}}\n",
    );
    let d = decide(&p2, &a, "box__run", json!({}), json!({"cmd": ["cat", "/root/.aws/credentials"]}));
    assert_eq!((d.action, d.tier), (A::Deny, T::Critical));
}

#[test]
fn flow_rule_escalates_after_private_data() {
    let p = policy(
        "rules:\n  - {name: mail, match: {tools: [\"mail__send\"]}, tier: medium, action: allow}\n\
         tool_labels:\n  \"drive__*\": [private_data]\n  \"mail__send\": [external_sink]\n  \"web__fetch\": [untrusted_content]\n",
    );
    let a = agent("x-bot", "eng");
    let ann = json!({});
    let args = json!({});
    let mut req =
        Request { agent: &a, tool: "mail__send", annotations: &ann, args: &args, session: SessionFlags::default() };
    assert_eq!(p.evaluate(&req).action, A::Allow);
    req.session.private_data = true;
    let d = p.evaluate(&req);
    assert_eq!((d.action, d.rule.as_str()), (A::RequireApproval, "flow:private_data_then_external_sink"));
    assert_eq!(p.labels_of("drive__read", &json!({})), vec![ToolLabel::PrivateData]);
    // untrusted content, then a destructive tool (by annotation).
    let dann = json!({"destructiveHint": true});
    let req = Request {
        agent: &a,
        tool: "fs__delete",
        annotations: &dann,
        args: &args,
        session: SessionFlags { private_data: false, untrusted_content: true },
    };
    let p = policy(
        "rules:\n  - {name: del, match: {tools: [\"fs__delete\"]}, tier: medium, action: allow}\nflow: {untrusted_content_then_destructive: deny}\n",
    );
    let d = p.evaluate(&req);
    assert_eq!((d.action, d.rule.as_str()), (A::Deny, "flow:untrusted_content_then_destructive"));
}

#[test]
fn explain_lists_every_rule_considered() {
    let p = policy(PACK);
    let a = agent("x-bot", "eng");
    let ann = json!({});
    let args = json!({"amount": 10});
    let (d, trace) = p.explain(&Request {
        agent: &a,
        tool: "pay__transfer",
        annotations: &ann,
        args: &args,
        session: SessionFlags::default(),
    });
    assert_eq!(d.rule, "small-payments");
    let names: Vec<&str> = trace.iter().map(|t| t.rule.as_str()).collect();
    assert_eq!(names, ["read-anything", "no-ssh-keys", "big-payments", "small-payments"]);
    assert!(trace[2].detail.contains("/amount in [1000"), "{:?}", trace[2]);
    assert!(trace[3].matched);
}

#[test]
fn shadowed_and_never_matching_rules_are_found() {
    let p = policy(
        "rules:\n  - {name: gh-all, match: {tools: [\"github__*\"]}, tier: medium, action: audit}\n  \
         - {name: gh-merge, match: {tools: [\"github__merge_*\"]}, tier: high, action: require_approval}\n  \
         - {name: gh-deny, match: {tools: [\"github__delete_*\"]}, tier: high, action: deny}\n  \
         - {name: other, match: {tools: [\"gitlab__x\"], agents: {teams: [a]}}, tier: low, action: allow}\n  \
         - {name: q, match: {tools: [\"git?ub__x\"]}, tier: low, action: allow}\n",
    );
    let f = check::check(&p, Some(&["github".to_string()]));
    let got: Vec<(&str, &str)> = f.iter().map(|f| (f.rule.as_str(), f.kind)).collect();
    assert_eq!(got, [("gh-merge", "shadowed"), ("other", "never_matches")]);
}

#[test]
fn a_thousand_rules_compile_and_pick_candidates() {
    let mut y = String::from("rules:\n");
    for i in 0..1000 {
        y.push_str(&format!(
            "  - {{name: r{i}, match: {{tools: [\"up{}__tool_{i}*\"], args: [{{pointer: /path, glob: \"/srv/{i}/**\"}}]}}, tier: medium, action: audit}}\n",
            i % 10
        ));
    }
    let p = policy(&y);
    let a = agent("x-bot", "eng");
    let d = decide(&p, &a, "up7__tool_777", json!({}), json!({"path": "/srv/777/a"}));
    assert_eq!(d.rule, "r777");
    let d = decide(&p, &a, "up7__tool_777", json!({}), json!({"path": "/srv/1/a"}));
    assert_eq!(d.rule, "default:write");
}
