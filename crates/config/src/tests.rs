use std::collections::HashMap;

use crate::{Prefix, Transport, env, parse};

const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn with_env<T>(f: impl FnOnce() -> T) -> T {
    env::with_vars(HashMap::from([("TOKEN".into(), "s3cr#t: 'x'".into()), ("PORT".into(), "9999".into())]), f)
}

#[test]
fn full_config_parses() {
    let text = format!(
        r#"
server:
  listen: "127.0.0.1:${{PORT}}"
  max_body_bytes: 1048576
upstreams:
  - name: gh
    transport: streamable-http
    url: http://127.0.0.1:${{PORT}}/mcp
    headers:
      X-Key: ${{TOKEN}}
    timeouts: {{ call_secs: 2.5 }}
    tools:
      include: ["create_*", "get_*"]
      exclude: ["*_secret"]
  - name: fs
    transport: stdio
    command: node
    args: [server.js]
    prefix: files
agents:
  - name: triage-bot
    token_sha256: {HASH}
    allow_tools: ["gh__*"]
    deny_tools: ["gh__delete_*"]
"#
    );
    let c = with_env(|| parse(&text)).unwrap();
    assert_eq!(c.server.listen.unwrap().0.port(), 9999);
    assert_eq!(c.upstreams[0].headers["X-Key"].0, "s3cr#t: 'x'");
    assert_eq!(c.upstreams[0].url.as_ref().unwrap().0.as_str(), "http://127.0.0.1:9999/mcp");
    assert_eq!(c.upstreams[0].timeouts.call().as_millis(), 2500);
    assert_eq!(c.upstreams[1].transport, Transport::Stdio);
    assert_eq!(c.upstreams[1].prefix, Some(Prefix::Custom("files".into())));
    assert_eq!(c.prefix_of(0).as_deref(), Some("gh"));
    assert_eq!(c.prefix_of(1).as_deref(), Some("files"));
    assert!(c.upstreams[0].tools.permits("create_issue"));
    assert!(!c.upstreams[0].tools.permits("create_secret"));
    assert!(!c.upstreams[0].tools.permits("delete_repo"));
    let rules = c.agents[0].access_rules();
    assert!(rules.tools.permits("gh__create_issue"));
    assert!(!rules.tools.permits("gh__delete_repo"));
    assert!(!rules.prompts.permits("anything"));
}

#[test]
fn single_upstream_has_no_prefix() {
    let c = parse("upstreams:\n  - name: only\n    transport: stdio\n    command: x\n").unwrap();
    assert_eq!(c.prefix_of(0), None);
}

fn err(text: &str) -> String {
    with_env(|| parse(text)).unwrap_err()
}

#[test]
fn unknown_key_names_key_and_line() {
    let e = err("server:\n  listen: 127.0.0.1:1\n  lisen: x\n");
    assert!(e.contains("lisen") && e.contains("line 3"), "{e}");
    let e = err("upstreams:\n  - name: a\n    transport: stdio\n    command: x\n    comand: y\n");
    assert!(e.contains("comand") && e.contains("line 5"), "{e}");
}

#[test]
fn wrong_type_names_line() {
    let e = err("server:\n  max_body_bytes: lots\n");
    assert!(e.contains("max_body_bytes") && e.contains("line 2"), "{e}");
    let e = err("upstreams:\n  - name: a\n    transport: carrier-pigeon\n");
    assert!(e.contains("transport") && e.contains("line 3"), "{e}");
}

#[test]
fn bad_url_names_line() {
    let e = err("upstreams:\n  - name: a\n    transport: streamable-http\n    url: not a url\n");
    assert!(e.contains("url") && e.contains("line 4") && e.contains("invalid URL"), "{e}");
    let e = err("upstreams:\n  - name: a\n    transport: streamable-http\n    url: ftp://x/\n");
    assert!(e.contains("scheme") && e.contains("line 4"), "{e}");
}

#[test]
fn missing_env_var_names_line() {
    let e = err("upstreams:\n  - name: a\n    transport: stdio\n    command: ${NOPE}\n");
    assert!(e.contains("NOPE is not set") && e.contains("line 4"), "{e}");
}

#[test]
fn env_value_cannot_inject_structure() {
    let vars = HashMap::from([("X".into(), "y\nagents: []\n".into())]);
    let c = env::with_vars(vars, || parse("upstreams:\n  - name: a\n    transport: stdio\n    command: \"${X}\"\n"))
        .unwrap();
    assert_eq!(c.upstreams[0].command.as_ref().unwrap().0, "y\nagents: []\n");
}

#[test]
fn cross_field_errors_name_entry_line() {
    let e = err("upstreams:\n  - name: a\n    transport: stdio\n  - name: b\n    transport: stdio\n");
    assert!(e.contains("upstreams[0]") && e.contains("line 2") && e.contains("command"), "{e}");
    let e = err("upstreams:\n  - name: a\n    transport: streamable-http\n");
    assert!(e.contains("needs `url`"), "{e}");
    let e = err(
        "upstreams:\n  - name: a\n    transport: stdio\n    command: x\n  - name: a\n    transport: stdio\n    command: y\n",
    );
    assert!(e.contains("duplicate upstream"), "{e}");
    let e = err(&format!("agents:\n  - name: a\n    token_sha256: {HASH}\n  - name: b\n    token_sha256: {HASH}\n"));
    assert!(e.contains("agents[1]") && e.contains("line 4") && e.contains("shared"), "{e}");
}

#[test]
fn bad_values_rejected() {
    assert!(err("agents:\n  - name: a\n    token_sha256: abc\n").contains("line 3"));
    assert!(err("agents:\n  - name: Bad Name\n    token_sha256: x\n").contains("invalid name"));
    assert!(err("upstreams:\n  - name: a__b\n    transport: stdio\n    command: x\n").contains("reserved"));
    assert!(err("server:\n  listen: nowhere\n").contains("socket address"));
    assert!(
        err("upstreams:\n  - name: a\n    transport: stdio\n    command: x\n    tools:\n      include: [\"x\\\\\"]\n")
            .contains("line 6")
    );
    let e = err(
        "upstreams:\n  - name: a\n    transport: stdio\n    command: x\n    prefix: dup\n  - name: b\n    transport: stdio\n    command: y\n    prefix: dup\n",
    );
    assert!(e.contains("prefix \"dup\""), "{e}");
    assert!(err("server:\n  max_body_bytes: -5\n").contains("negative"));
}

#[test]
fn empty_file_is_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.server.max_body_bytes.0, 4 * 1024 * 1024);
    assert!(c.upstreams.is_empty());
}

#[test]
fn identity_and_store_sections() {
    let c = parse(
        "identity:\n  token_ttl_secs: 600\n  trusted_issuers:\n    - issuer: https://k8s\n      jwks_url: https://k8s/jwks\n      audiences: [warden]\n      agents: {\"system:serviceaccount:a:b\": triage-bot}\nstore:\n  url: postgres://u@h/db\n",
    )
    .unwrap();
    assert_eq!(c.identity.token_ttl_secs.0, 600);
    assert_eq!(c.identity.trusted_issuers[0].claim.0, "sub");
    assert_eq!(c.identity.trusted_issuers[0].agents["system:serviceaccount:a:b"].0, "triage-bot");
    for (bad, want) in [
        ("identity:\n  token_ttl_secs: 5\n", "identity.token_ttl_secs"),
        ("identity:\n  agent_name_pattern: \"(\"\n", "identity.agent_name_pattern"),
        ("identity:\n  colour: red\n", "unknown field `colour`"),
        ("store:\n  url: mysql://x\n", "store.url"),
        (
            "identity:\n  trusted_issuers:\n    - issuer: x\n      jwks_url: https://k/jwks\n      audiences: [w]\n",
            "maps no one",
        ),
        (
            "identity:\n  trusted_issuers:\n    - issuer: x\n      jwks_url: ftp://k/jwks\n      audiences: [w]\n",
            "scheme must be http",
        ),
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.contains(want), "{bad:?}: {err}");
    }
}
