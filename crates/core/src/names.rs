//! Name handling shared by every lookup: Unicode NFC normalisation and the
//! `<upstream>__<name>` prefix convention.

use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

/// Separator between the upstream prefix and the upstream's own name.
pub const PREFIX_SEPARATOR: &str = "__";

/// Returns `s` in Unicode Normalization Form C. Allocation-free when `s` is
/// already NFC (the common case: plain ASCII tool names).
pub fn nfc(s: &str) -> String {
    if matches!(is_nfc_quick(s.chars()), unicode_normalization::IsNormalized::Yes) {
        s.to_owned()
    } else {
        s.nfc().collect()
    }
}

/// Borrowing variant for lookups: `Cow::Borrowed` when no change is needed.
pub fn nfc_cow(s: &str) -> std::borrow::Cow<'_, str> {
    if matches!(is_nfc_quick(s.chars()), unicode_normalization::IsNormalized::Yes) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
    }
}

/// The name an agent sees for `name` from an upstream with `prefix`.
pub fn exposed(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(p) => format!("{p}{PREFIX_SEPARATOR}{}", nfc_cow(name)),
        None => nfc(name),
    }
}

/// The longest tool name an OpenAI-compatible API accepts (`^[a-zA-Z0-9_-]{1,64}$`).
pub const CLIENT_TOOL_NAME_MAX: usize = 64;
/// OpenClaw cuts the server part of an MCP tool's name to this many characters.
pub const CLIENT_SERVER_NAME_MAX: usize = 30;

/// One part of a client-side name: every character outside `[A-Za-z0-9_-]`
/// becomes `-`; empty becomes `empty`; a part not starting with a letter gets
/// `<empty>-` in front.
fn client_part(s: &str, empty: &str) -> String {
    let safe: String =
        s.trim().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).collect();
    if safe.is_empty() {
        empty.to_string()
    } else if !safe.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{empty}-{safe}")
    } else {
        safe
    }
}

/// How OpenClaw names Warden's MCP server `server` in its tools' names (cut to 30).
pub fn client_server_name(server: &str) -> String {
    client_part(server, "mcp").chars().take(CLIENT_SERVER_NAME_MAX).collect()
}

/// How an agent's MCP client names Warden's tool `tool` when Warden is its MCP
/// server `server`: `<server>__<tool>`, each part rewritten to
/// `[A-Za-z0-9_-]` (see [`client_server_name`]), the whole cut to
/// [`CLIENT_TOOL_NAME_MAX`] characters. This is OpenClaw's convention
/// (integrations/openclaw/NOTES.md); it fits the model APIs' function-name rule.
/// The `-2`, `-3` suffixes OpenClaw adds on a collision are not reproduced.
pub fn client_tool_name(server: &str, tool: &str) -> String {
    let server = client_server_name(server);
    let room = CLIENT_TOOL_NAME_MAX.saturating_sub(server.len() + PREFIX_SEPARATOR.len());
    let tool: String = client_part(tool, "tool").chars().take(room).collect();
    format!("{server}{PREFIX_SEPARATOR}{tool}")
}

/// Which of `tools` the name `proposed` stands for when the agent's client
/// knows Warden's MCP server as one of `servers`. An exact `<server>__<tool>`
/// wins; otherwise the client's rewritten form ([`client_tool_name`],
/// compared without case, as OpenClaw's hooks see names lower-cased) must
/// match exactly one tool. `None` when nothing matches or the name is ambiguous.
pub fn resolve_client_tool<'a, S: AsRef<str>>(
    proposed: &str,
    servers: &[S],
    tools: impl Iterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    for server in servers {
        let server = server.as_ref();
        let head = format!("{}{PREFIX_SEPARATOR}", client_server_name(server));
        if proposed.len() < head.len() || !proposed.is_char_boundary(head.len()) {
            continue;
        }
        if !proposed[..head.len()].eq_ignore_ascii_case(&head) {
            continue;
        }
        let rest = &proposed[head.len()..];
        if let Some(t) = tools.clone().find(|t| *t == rest) {
            return Some(t);
        }
        let mut found = tools.clone().filter(|t| client_tool_name(server, t).eq_ignore_ascii_case(proposed));
        if let (Some(t), None) = (found.next(), found.next()) {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_composes() {
        assert_eq!(nfc("e\u{0301}"), "\u{00e9}");
        assert_eq!(nfc("plain"), "plain");
        assert!(matches!(nfc_cow("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn exposed_names() {
        assert_eq!(exposed(Some("gh"), "create_issue"), "gh__create_issue");
        assert_eq!(exposed(None, "create_issue"), "create_issue");
        assert_eq!(exposed(Some("x"), "e\u{0301}"), "x__\u{00e9}");
    }

    #[test]
    fn client_names_follow_the_clients_rewrite() {
        assert_eq!(client_tool_name("warden", "echo"), "warden__echo");
        assert_eq!(client_tool_name("warden", "demo__echo"), "warden__demo__echo");
        assert_eq!(client_tool_name("warden", "files.read v2"), "warden__files-read-v2");
        assert_eq!(client_tool_name("warden", "caf\u{e9}"), "warden__caf-");
        assert_eq!(client_tool_name("warden", "2fa"), "warden__tool-2fa");
        assert_eq!(client_tool_name("warden", ""), "warden__tool");
        assert_eq!(client_tool_name("9gov", "x"), "mcp-9gov__x");
        assert_eq!(client_server_name(&"s".repeat(40)).len(), CLIENT_SERVER_NAME_MAX);
        let long = "t".repeat(80);
        assert_eq!(client_tool_name("warden", &long).len(), CLIENT_TOOL_NAME_MAX);
        assert_eq!(client_tool_name(&"s".repeat(40), &long).len(), CLIENT_TOOL_NAME_MAX);
    }

    #[test]
    fn proposed_names_resolve_to_one_tool_or_none() {
        let tools = ["echo", "files.read", "files_read2", "a.b", "a-b", "demo__echo", "Show_Env"];
        let it = || tools.iter().copied();
        let servers = ["warden", "gov"];
        assert_eq!(resolve_client_tool("warden__echo", &servers, it()), Some("echo"));
        assert_eq!(resolve_client_tool("gov__echo", &servers, it()), Some("echo"));
        assert_eq!(resolve_client_tool("warden__demo__echo", &servers, it()), Some("demo__echo"));
        assert_eq!(resolve_client_tool("warden__files-read", &servers, it()), Some("files.read"));
        // OpenClaw's hooks see names lower-cased.
        assert_eq!(resolve_client_tool("warden__show_env", &servers, it()), Some("Show_Env"));
        assert_eq!(resolve_client_tool("WARDEN__echo", &servers, it()), Some("echo"));
        // `a.b` and `a-b` both become `warden__a-b`: the exact name wins.
        assert_eq!(resolve_client_tool("warden__a-b", &servers, it()), Some("a-b"));
        // Not Warden's server, not a tool, or no separator: not Warden's tool.
        assert_eq!(resolve_client_tool("other__echo", &servers, it()), None);
        assert_eq!(resolve_client_tool("warden__nope", &servers, it()), None);
        assert_eq!(resolve_client_tool("wardenecho", &servers, it()), None);
        assert_eq!(resolve_client_tool("echo", &servers, it()), None);
        assert_eq!(resolve_client_tool("exec", &servers, it()), None);
        assert_eq!(resolve_client_tool("w\u{e9}__echo", &servers, it()), None);
        // Two tools that rewrite alike, neither exact: ambiguous.
        let twins = ["x.y", "x y"];
        assert_eq!(resolve_client_tool("warden__x-y", &servers, twins.iter().copied()), None);
        // A name cut at 64 characters still finds its tool.
        let long = format!("{}.tail", "t".repeat(70));
        let cut = client_tool_name("warden", &long);
        assert_eq!(resolve_client_tool(&cut, &servers, std::iter::once(long.as_str())), Some(long.as_str()));
    }
}
