//! Over-reach: a skill asking for more than its purpose needs. Credentials
//! in `metadata.openclaw.requires.env` (or config) that have nothing to do
//! with what the skill says it does, and compiled code inside a bundle,
//! which no reviewer can read.

use super::{Ctx, Rule};
use crate::doc::Doc;
use crate::finding::{Family, Severity};

pub const UNRELATED_CREDENTIAL: Rule = Rule {
    id: "overreach.unrelated-credential",
    family: Family::Overreach,
    severity: Severity::Medium,
    short: "A credential unrelated to the skill's purpose",
    full: "The skill requires a credential (requires.env or requires.config naming a key, token, secret or password) \
           for a service its name and description never mention: a weather skill asking for AWS keys.",
};
pub const BINARY: Rule = Rule {
    id: "overreach.binary",
    family: Family::Overreach,
    severity: Severity::High,
    short: "Compiled code in a skill",
    full: "An executable or compiled file (ELF, Mach-O, PE, .pyc, .so, .dll, .class, .wasm) inside a skill or \
           bundle: it cannot be reviewed, and nothing about a skill needs to ship one.",
};

pub const RULES: &[Rule] = &[UNRELATED_CREDENTIAL, BINARY];

/// Words in a credential's name that say nothing about its service.
const GENERIC: &[&str] = &[
    "API",
    "KEY",
    "KEYS",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASS",
    "PASSWD",
    "ACCESS",
    "AUTH",
    "CLIENT",
    "ID",
    "PRIVATE",
    "APP",
    "BOT",
    "USER",
    "USERNAME",
    "ACCOUNT",
    "CREDENTIALS",
    "CREDENTIAL",
    "BEARER",
    "PAT",
    "PERSONAL",
    "SESSION",
    "REFRESH",
    "URL",
    "HOST",
    "BASE",
    "ENDPOINT",
    "DEFAULT",
    "REGION",
    "PROJECT",
    "ORG",
    "WORKSPACE",
    "SERVICE",
];

/// Services whose credentials have other names than the service.
const ALIASES: &[(&str, &[&str])] = &[
    ("AWS", &["amazon", "s3", "ec2", "lambda", "dynamodb", "bedrock", "cloudwatch", "route53", "sqs", "sns"]),
    ("GH", &["github", "gh "]),
    ("GITHUB", &["gh ", "git"]),
    ("GCP", &["google", "gcloud", "bigquery", "gcs", "vertex"]),
    ("GOOGLE", &["gmail", "calendar", "drive", "gemini", "youtube", "maps", "sheets", "docs"]),
    ("AZURE", &["microsoft", "entra"]),
    ("OPENAI", &["gpt", "chatgpt", "dall", "whisper", "llm", "model"]),
    ("ANTHROPIC", &["claude", "llm", "model"]),
    ("SLACK", &["slack"]),
    ("HF", &["hugging"]),
    ("TG", &["telegram"]),
];

/// Reads the frontmatter's `requires.env` and `requires.config` (under
/// `metadata.openclaw`, `metadata.clawdbot` or at the top) and checks each
/// credential-like name against the skill's name and description.
pub fn check_frontmatter(doc: &Doc, ctx: &mut Ctx) {
    let Some(yaml) = doc.frontmatter() else { return };
    let yaml = yaml.trim_end().trim_end_matches("---");
    let Ok(v) = serde_norway::from_str::<serde_json::Value>(yaml) else {
        return;
    };
    let purpose = format!(
        "{} {} {}",
        v.get("name").and_then(|x| x.as_str()).unwrap_or(""),
        v.get("description").and_then(|x| x.as_str()).unwrap_or(""),
        v.get("homepage").and_then(|x| x.as_str()).unwrap_or("")
    )
    .to_ascii_lowercase();
    let mut names: Vec<String> = Vec::new();
    for meta in ["openclaw", "clawdbot", "clawdis"] {
        for key in ["env", "config"] {
            let ptr = format!("/metadata/{meta}/requires/{key}");
            if let Some(list) = v.pointer(&ptr).and_then(|x| x.as_array()) {
                names.extend(list.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
        }
        if let Some(p) = v.pointer(&format!("/metadata/{meta}/primaryEnv")).and_then(|x| x.as_str()) {
            names.push(p.to_string());
        }
    }
    let mut unrelated = Vec::new();
    for name in names {
        let upper = name.to_ascii_uppercase();
        if !["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"].iter().any(|w| upper.contains(w)) {
            continue;
        }
        let words: Vec<&str> = upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty() && !GENERIC.contains(w))
            .collect();
        if words.is_empty() {
            continue;
        }
        let purpose_words: Vec<&str> =
            purpose.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| w.len() >= 4).collect();
        let related = words.iter().any(|w| {
            let lw = w.to_ascii_lowercase();
            purpose.contains(&lw)
                || purpose_words.iter().any(|p| lw.contains(p))
                || ALIASES.iter().any(|(k, alts)| k == w && alts.iter().any(|a| purpose.contains(a)))
                || ALIASES
                    .iter()
                    .any(|(k, alts)| alts.contains(&lw.as_str()) && purpose.contains(&k.to_ascii_lowercase()))
        });
        if !related {
            unrelated.push((name.clone(), words.join(" ").to_lowercase()));
        }
    }
    // One stray credential may be a sloppy manifest; several for services the skill never names is a harvest.
    let sev = if unrelated.len() >= 2 { Severity::High } else { Severity::Medium };
    for (name, service) in &unrelated {
        let at = doc.text.find(name.as_str()).unwrap_or(0);
        ctx.emit(
            &UNRELATED_CREDENTIAL,
            sev,
            doc,
            at,
            name,
            format!("{name} is required, but the skill's name and description never mention {service}"),
        );
    }
}

/// What kind of compiled file `bytes` is, if any.
pub fn binary_kind(name: &str, bytes: &[u8]) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if bytes.starts_with(b"\x7fELF") {
        return Some("ELF executable");
    }
    if bytes.len() >= 4
        && matches!(
            &bytes[..4],
            [0xfe, 0xed, 0xfa, 0xce]
                | [0xfe, 0xed, 0xfa, 0xcf]
                | [0xce, 0xfa, 0xed, 0xfe]
                | [0xcf, 0xfa, 0xed, 0xfe]
                | [0xca, 0xfe, 0xba, 0xbe]
        )
    {
        return Some(if lower.ends_with(".class") { "Java class" } else { "Mach-O executable" });
    }
    if bytes.starts_with(b"MZ") && (lower.ends_with(".exe") || lower.ends_with(".dll") || bytes.len() > 64) {
        return Some("PE executable");
    }
    if bytes.starts_with(b"\0asm") {
        return Some("WebAssembly module");
    }
    for (ext, what) in [
        (".pyc", "compiled Python"),
        (".pyo", "compiled Python"),
        (".so", "shared library"),
        (".dylib", "shared library"),
        (".dll", "Windows library"),
        (".exe", "Windows executable"),
        (".class", "Java class"),
        (".jar", "Java archive"),
        (".node", "native Node module"),
    ] {
        if lower.ends_with(ext) {
            return Some(what);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Kind;

    fn found(text: &str) -> Vec<String> {
        let d = Doc::new("SKILL.md", text, Kind::Skill);
        let mut ctx = Ctx::default();
        check_frontmatter(&d, &mut ctx);
        ctx.findings.iter().map(|f| f.evidence.clone()).collect()
    }

    #[test]
    fn unrelated_credentials_are_found_and_related_ones_are_not() {
        let t = "---\nname: weather\ndescription: Current weather and forecasts for any city.\nmetadata:\n  openclaw:\n    requires:\n      env: [OPENWEATHER_API_KEY, AWS_SECRET_ACCESS_KEY]\n---\n# Weather\n";
        assert_eq!(found(t), vec!["AWS_SECRET_ACCESS_KEY".to_string()]);
        let t = "---\nname: github\ndescription: Work with GitHub issues and PRs using gh.\nmetadata: {\"openclaw\": {\"requires\": {\"env\": [\"GH_TOKEN\"]}}}\n---\n";
        assert!(found(t).is_empty());
        let t = "---\nname: s3-backup\ndescription: Back up a folder to Amazon S3.\nmetadata:\n  openclaw:\n    requires:\n      env: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]\n---\n";
        assert!(found(t).is_empty());
    }

    #[test]
    fn compiled_files_are_recognised() {
        assert_eq!(binary_kind("x", b"\x7fELF\x02\x01"), Some("ELF executable"));
        assert_eq!(binary_kind("m.pyc", b"\x55\x0d\x0d\x0a"), Some("compiled Python"));
        assert_eq!(binary_kind("README.md", b"# hi"), None);
    }
}
