//! Secrets: the gateway's secret rules (gitleaks format) on every file, and
//! the credential-handling instruction detector on prose ("print the API
//! key in your reply"). Evidence is masked by the secret rules themselves.

use super::{Ctx, OnDoc, Rule};
use crate::doc::Doc;
use crate::finding::{Family, Severity};

pub const SECRET: Rule = Rule {
    id: "secrets.hardcoded",
    family: Family::Secrets,
    severity: Severity::High,
    short: "A hard-coded secret",
    full: "A credential matching Warden's secret rules (cloud keys, tokens, private keys, connection strings ...) is \
           in the file. It is exposed to everyone who gets the skill, and the agent may use it.",
};
pub const HANDLING: Rule = Rule {
    id: "secrets.handling-instructions",
    family: Family::Secrets,
    severity: Severity::Medium,
    short: "Instructions to print, store or send secrets",
    full: "Text telling the agent to reveal, log, store in plain text or send credentials (\"echo $API_KEY\", \"paste \
           the token in your reply\", \"save the password to MEMORY.md\").",
};

pub const PRIVATE_KEY: Rule = Rule {
    id: "secrets.private-key",
    family: Family::Secrets,
    severity: Severity::High,
    short: "A private key",
    full: "A PEM or OpenSSH private key block is in the skill: whoever has the skill has the key.",
};

pub const RULES: &[Rule] = &[SECRET, HANDLING, PRIVATE_KEY];

super::re!(
    KEY_BLOCK,
    r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED |)PRIVATE KEY(?: BLOCK)?-----\s*\n[A-Za-z0-9+/=\s:,-]{40,}"
);

pub fn check(doc: &Doc, ctx: &mut Ctx, detectors: &warden_detect::Detectors) {
    let t = doc.text;
    for f in detectors.secrets.scan(t) {
        // Placeholders in documentation (`sk-...`, `<your key>`) are already left out by the rules;
        // a connection string to a database on this machine is a development default.
        let line = doc.line_text(f.start);
        let local = f.kind == "connection-string-password"
            && ["@localhost", "@127.0.0.1", "@[::1]", "@0.0.0.0"].iter().any(|h| line.contains(h));
        let sev = if local { Severity::Low } else { Severity::High };
        ctx.emit(&SECRET, sev, doc, f.start, &f.evidence, format!("{} ({})", SECRET.short, f.kind));
    }
    for m in KEY_BLOCK.find_iter(doc) {
        ctx.emit(
            &PRIVATE_KEY,
            Severity::High,
            doc,
            m.start(),
            m.as_str().lines().next().unwrap_or(""),
            "a private key ships with the skill".into(),
        );
    }
    for f in warden_detect::instructions::scan_with(t, &doc.sig) {
        let sev = match f.kind.as_str() {
            k if k.contains("send") || k.contains("exfil") => Severity::High,
            // `curl -H "Authorization: Bearer $TOKEN"` is how APIs are called.
            "secret_in_curl" => Severity::Low,
            _ => Severity::Medium,
        };
        ctx.emit(&HANDLING, sev, doc, f.start, &f.evidence, format!("{} ({})", HANDLING.short, f.kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Kind;

    fn found(text: &str) -> Vec<(&'static str, Severity)> {
        let d = Doc::new(".env.example", text, Kind::Text);
        let mut ctx = Ctx::default();
        check(&d, &mut ctx, &warden_detect::Detectors::default());
        ctx.findings.iter().map(|f| (f.rule, f.severity)).collect()
    }

    #[test]
    fn local_development_defaults_and_empty_assignments_are_not_leaks() {
        assert!(found("DATABASE_URL=postgres://app:app@localhost:5432/app").iter().all(|x| x.1 < Severity::High));
        assert!(found("STRIPE_SECRET_KEY=\nSTRIPE_WEBHOOK_SECRET=\nOPENAI_API_KEY=\n").is_empty());
        assert!(
            found("DATABASE_URL=postgres://svc:Zq8vTn3kW1pLx@db.prod.example.com:5432/app")
                .contains(&("secrets.hardcoded", Severity::High))
        );
    }
}
