//! Credential access: the files and stores where a machine keeps its keys.
//! Alone, a mention is medium (an SSH helper skill mentions `~/.ssh`);
//! reading the key material itself is high; with an exfiltration endpoint in
//! the same skill it is critical (`combination.rs`).

use super::{Ctx, OnDoc, Rule, re};
use crate::doc::Doc;
use crate::finding::{Family, Severity};

pub const CREDENTIAL_FILES: Rule = Rule {
    id: "credentials.files",
    family: Family::Credentials,
    severity: Severity::Medium,
    short: "Access to credential files",
    full: "SSH keys, cloud credentials (~/.aws, ~/.config/gcloud, ~/.azure, ~/.kube/config), .env files, ~/.netrc, \
           ~/.git-credentials, Docker auth, or OpenClaw's own ~/.openclaw/openclaw.json.",
};
pub const KEY_MATERIAL: Rule = Rule {
    id: "credentials.read-key-material",
    family: Family::Credentials,
    severity: Severity::High,
    short: "Reading private keys or credential files",
    full: "A command that reads the contents of a private key or credentials file (cat, type, Get-Content, open(), \
           readFile, cp, tar, base64 of ~/.ssh/id_*, ~/.aws/credentials, ...).",
};
pub const BROWSER_STORES: Rule = Rule {
    id: "credentials.browser-and-keychain",
    family: Family::Credentials,
    severity: Severity::High,
    short: "Browser profiles, cookie stores or keychains",
    full: "Chrome/Firefox/Edge/Brave profile data (Login Data, Cookies, logins.json, key4.db), crypto wallets, or the \
           system keychain (security find-generic-password, dump-keychain, secret-tool, cmdkey): the stores infostealers read.",
};
pub const ENV_DUMP: Rule = Rule {
    id: "credentials.env-dump",
    family: Family::Credentials,
    severity: Severity::High,
    short: "Dumping environment variables filtered for secrets",
    full: "env/printenv/set/Get-ChildItem env: filtered for KEY, TOKEN, SECRET or PASSWORD, or the whole environment \
           serialised (os.environ, process.env): collecting every credential the agent's process holds.",
};

pub const RULES: &[Rule] = &[CREDENTIAL_FILES, KEY_MATERIAL, BROWSER_STORES, ENV_DUMP, KEYCHAIN_ITEM];

pub const KEYCHAIN_ITEM: Rule = Rule {
    id: "credentials.keychain-item",
    family: Family::Credentials,
    severity: Severity::Medium,
    short: "A password read from the system keychain",
    full: "security find-generic-password, secret-tool lookup, pass show: how a tool legitimately fetches its own            password, and how a stealer fetches someone else's. Medium alone; critical with an exfiltration endpoint.",
};

const PATHS: &str = r"(?:(?:~|\$HOME|\$\{HOME\}|%USERPROFILE%|\$env:USERPROFILE|/home/\w+|/root|/Users/\w+)?/?\.(?:ssh(?:/(?:id_\w+|identity|authorized_keys|known_hosts|config))?(?-u:\b)|aws/(?:credentials|config)|config/gcloud|azure/|kube/config|docker/config\.json|netrc|git-credentials|npmrc|pypirc|openclaw/(?:openclaw\.json|credentials|agents/[^\s/]+/auth)|gnupg|cursor/mcp\.json|config/claude/claude_desktop_config\.json|codeium/windsurf/mcp_config\.json)|claude_desktop_config\.json)";
re!(CRED_PATH, &format!(r"(?i){PATHS}"));
re!(
    DOTENV,
    r#"(?i)(?:cat|type|source|get-content|open|readfile(?:sync)?|load_dotenv|read_text)\s*\(?\s*["']?(?:\./|\.\./|~/|/)?[\w/.-]*\.env\b"#
);
re!(
    READ_KEY,
    &format!(
        r#"(?i)(?:\bread(?:\s+the\s+(?:file|contents?\s+of))?|\bcat|\btype|get-content|\bcp|\bscp|\btar\b[^\n]*|\bzip\b[^\n]*|\bbase64|\bxxd|\bopen\s*\(|readfile(?:sync)?\s*\(|read_text\s*\(|\bhead|\btail|\bstrings)\s*["']?[^\n|;]{{0,40}}{PATHS}"#
    )
);
re!(
    BROWSER,
    r"(?i)(?:Login Data\b|(?-i:/Cookies\b)|cookies\.sqlite|logins\.json|key[34]\.db|(?-i:Local State)|(?-i:Web Data)|(?:Google/Chrome|BraveSoftware|Microsoft/Edge|Mozilla/Firefox|\.mozilla/firefox|Chromium)/[^\n]{0,40}(?:Default|Profile|\.default)|\bsecurity\s+(?:dump-keychain|export\b|find-(?:generic|internet)-password\s+[^\n]*-(?:w?a|g|ga)\s+[\x22']?(?:chrome|brave|edge|firefox|safari|arc|opera)|unlock-keychain)|login\.keychain|cmdkey\s+/list|vaultcmd|\bExodus/|\bElectrum/wallets|MetaMask|\bwallet\.dat\b|\bid\.json\b[^\n]*solana|\bop\s+item\s+(?:get|list)\b[^\n]*--reveal|\bop\s+(?:item\s+list|vault\s+list)\b[^\n]*\|\s*(?:xargs|while)[^\n]*\bop\s+item\s+get|\bop\s+export\b|\bbw\s+export\b|\blpass\s+export\b|\bkeepassxc-cli\s+export\b|\bdcli\s+export\b)"
);
re!(
    KEYCHAIN,
    r"(?i)\bsecurity\s+find-(?:generic|internet)-password\b|\bsecret-tool\s+lookup\b|\bpass\s+show\b|\bop\s+read\b|Get-StoredCredential|\bop\s+item\s+(?:get|list)\b|\bbw\s+(?:get|list)\s+items?\b|\blpass\s+(?:show|ls)\b"
);
re!(
    ENV_FILTER,
    r"(?i)\b(?:env|printenv|set|export\s+-p|Get-ChildItem\s+env:|gci\s+env:|dir\s+env:)\s*\|\s*(?:grep|findstr|select-string|where|rg)\b[^\n]{0,40}(?:key|token|secret|pass|cred|aws|api)"
);
re!(
    ENV_SERIAL,
    r"(?i)(?:json\.dumps\s*\(\s*dict\s*\(\s*os\.environ|json\.dumps\s*\(\s*os\.environ|JSON\.stringify\s*\(\s*process\.env\s*\)|str\(os\.environ\)|for\s+\w+\s*,\s*\w+\s+in\s+os\.environ\.items\(\)|Object\.(?:entries|keys)\(\s*process\.env\s*\))"
);

pub fn check(doc: &Doc, ctx: &mut Ctx) {
    let mut reported_read = false;
    for m in READ_KEY.find_iter(doc) {
        // `ssh-keygen` output and known_hosts/config are not key material.
        let s = m.as_str();
        if s.contains("known_hosts")
            || s.ends_with("/config")
            || s.ends_with(".ssh/")
            || (s.ends_with(".ssh")
                && !s.to_ascii_lowercase().starts_with("read")
                && !s.contains("tar")
                && !s.contains("zip")
                && !s.contains("cp"))
        {
            continue;
        }
        reported_read = true;
        ctx.emit(&KEY_MATERIAL, Severity::High, doc, m.start(), s, "credential material is read".into());
    }
    if !reported_read {
        for m in CRED_PATH.find_iter(doc) {
            ctx.emit(
                &CREDENTIAL_FILES,
                Severity::Medium,
                doc,
                m.start(),
                m.as_str(),
                "a credential store is referenced".into(),
            );
        }
    }
    for m in DOTENV.find_iter(doc) {
        ctx.emit(&CREDENTIAL_FILES, Severity::Medium, doc, m.start(), m.as_str(), "a .env file is read".into());
    }
    for m in BROWSER.find_iter(doc) {
        ctx.emit(
            &BROWSER_STORES,
            Severity::High,
            doc,
            m.start(),
            m.as_str(),
            "a browser, wallet or keychain store is read".into(),
        );
    }
    for m in KEYCHAIN.find_iter(doc) {
        ctx.emit(&KEYCHAIN_ITEM, Severity::Medium, doc, m.start(), m.as_str(), "a keychain item is read".into());
    }
    for m in ENV_FILTER.find_iter(doc).chain(ENV_SERIAL.find_iter(doc)) {
        ctx.emit(&ENV_DUMP, Severity::High, doc, m.start(), m.as_str(), "the process's secrets are collected".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&'static str, Severity)> {
        crate::rules::found_by(check, text)
    }

    #[test]
    fn credential_access_is_found() {
        assert!(found("cat ~/.ssh/id_rsa").contains(&("credentials.read-key-material", Severity::High)));
        assert!(
            found("tar czf /tmp/k.tgz ~/.aws/credentials ~/.ssh")
                .iter()
                .any(|x| x.0 == "credentials.read-key-material")
        );
        assert!(
            found("cp \"$HOME/Library/Application Support/Google/Chrome/Default/Login Data\" /tmp/x")
                .iter()
                .any(|x| x.0 == "credentials.browser-and-keychain")
        );
        assert!(
            found("security find-generic-password -wa Chrome")
                .iter()
                .any(|x| x.0 == "credentials.browser-and-keychain")
        );
        assert!(
            found("security dump-keychain -d login.keychain").iter().any(|x| x.0 == "credentials.browser-and-keychain")
        );
        assert!(found("env | grep -i token").contains(&("credentials.env-dump", Severity::High)));
        assert!(found("data = json.dumps(dict(os.environ))").iter().any(|x| x.0 == "credentials.env-dump"));
        assert!(found("cat ~/.openclaw/openclaw.json").iter().any(|x| x.0 == "credentials.read-key-material"));
    }

    #[test]
    fn ordinary_ssh_and_env_use_stays_below_high() {
        for t in [
            "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519",
            "Add the host to ~/.ssh/config",
            "export GITHUB_TOKEN=... # set in your shell",
            "token = os.environ[\"OPENAI_API_KEY\"]",
            "const key = process.env.STRIPE_API_KEY;",
            "password_cmd = \"security find-generic-password -s himalaya -w\"",
            "Store your session cookies with `spotify_player authenticate`",
        ] {
            assert!(found(t).iter().all(|x| x.1 < Severity::High), "{t}: {:?}", found(t));
        }
    }
}
