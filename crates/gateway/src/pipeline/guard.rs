//! Stage 3 at the inference boundary: the detectors over every message sent
//! to a model (every role, tool results and `function_call_output` items
//! included) and over everything the model answers. Per detector and
//! direction the action is block, redact or flag; every finding is counted
//! and goes into the request's audit record. Unchanged messages (the history
//! a long conversation resends each turn) hit the scan cache.

use std::sync::Arc;

use serde_json::Value;
use warden_config::{GuardAction, GuardrailsConfig};
use warden_detect::cache::ScanCache;
use warden_detect::{Detector, Detectors, Finding, Which};

use crate::telemetry::metrics::Meters;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// A finding and what was done about it.
#[derive(Debug, Clone)]
pub struct Noted {
    pub place: String,
    pub direction: Direction,
    pub action: GuardAction,
    pub finding: Finding,
}

impl Noted {
    /// One line for the audit record and logs.
    pub fn summary(&self) -> String {
        let a = match self.action {
            GuardAction::Block => "block",
            GuardAction::Redact => "redact",
            GuardAction::Flag => "flag",
            GuardAction::Off => "off",
        };
        format!(
            "{}/{} at {} ({}, {a}, score {:.2})",
            self.finding.detector,
            self.finding.kind,
            self.place,
            self.direction.as_str(),
            self.finding.score
        )
    }
}

/// What screening decided for one request.
#[derive(Debug, Default)]
pub struct Report {
    pub noted: Vec<Noted>,
}

impl Report {
    pub fn blocked(&self) -> Option<&Noted> {
        self.noted.iter().find(|n| n.action == GuardAction::Block)
    }

    /// The findings for the audit record's comment.
    pub fn comment(&self) -> String {
        if self.noted.is_empty() {
            return String::new();
        }
        let mut s = String::from("guardrails: ");
        for (i, n) in self.noted.iter().take(20).enumerate() {
            if i > 0 {
                s.push_str("; ");
            }
            s.push_str(&n.summary());
        }
        if self.noted.len() > 20 {
            s.push_str(&format!("; and {} more", self.noted.len() - 20));
        }
        s
    }
}

pub struct Guard {
    pub detectors: Detectors,
    actions: Vec<(Detector, GuardAction, GuardAction)>,
    which: [Which; 2],
    cache: ScanCache,
    max_scan_bytes: usize,
    meters: Arc<Meters>,
}

/// The detector name of a screening failure; its action is always block.
pub const FAILED: &str = "guardrail";

/// A text the detectors could not screen, as a finding that blocks: fail
/// closed, through the same paths as any other block.
pub(crate) fn failure(text: &str, why: String) -> Finding {
    Finding { detector: FAILED, kind: "screening_failed".into(), start: 0, end: text.len(), score: 1.0, evidence: why }
}

impl Guard {
    pub fn new(cfg: &GuardrailsConfig, meters: Arc<Meters>) -> anyhow::Result<Guard> {
        let secrets = match &cfg.secret_rules_file {
            Some(f) => {
                let text = std::fs::read_to_string(&f.0)
                    .map_err(|e| anyhow::anyhow!("guardrails.secret_rules_file {}: {e}", f.0))?;
                warden_detect::SecretRules::parse(&text)
                    .map_err(|e| anyhow::anyhow!("guardrails.secret_rules_file {}: {e}", f.0))?
            }
            None => warden_detect::SecretRules::defaults(),
        };
        let mut injection = warden_detect::Injection::default();
        if let Some(t) = &cfg.injection_threshold {
            injection.threshold = t.0 as f32;
        }
        let actions = vec![
            (Detector::Secrets, cfg.secrets.input, cfg.secrets.output),
            (Detector::CredentialInstructions, cfg.credential_instructions.input, cfg.credential_instructions.output),
            (Detector::PromptInjection, cfg.prompt_injection.input, cfg.prompt_injection.output),
            (Detector::Pii, cfg.pii.input, cfg.pii.output),
            (Detector::Exfiltration, cfg.exfiltration.input, cfg.exfiltration.output),
        ];
        let mut which = [Which::default(); 2];
        for (d, i, o) in &actions {
            if *i != GuardAction::Off {
                which[0] = which[0].with(*d);
            }
            if *o != GuardAction::Off {
                which[1] = which[1].with(*d);
            }
        }
        Ok(Guard {
            detectors: Detectors { secrets, injection },
            actions,
            which,
            cache: ScanCache::new(cfg.cache_entries.0 as usize),
            max_scan_bytes: cfg.max_scan_bytes.0 as usize,
            meters,
        })
    }

    fn action(&self, detector: &str, dir: Direction) -> GuardAction {
        if detector == FAILED {
            return GuardAction::Block;
        }
        self.actions
            .iter()
            .find(|(d, _, _)| d.as_str() == detector)
            .map(|(_, i, o)| if dir == Direction::Input { *i } else { *o })
            .unwrap_or(GuardAction::Flag)
    }

    pub fn which(&self, dir: Direction) -> Which {
        self.which[(dir == Direction::Output) as usize]
    }

    /// The findings on `text` (cached by content). `operator`: text the
    /// agent's operator wrote (system and developer messages, instructions),
    /// scanned without the injection model.
    pub fn findings(&self, text: &str, dir: Direction, operator: bool) -> Arc<[Finding]> {
        let which = if operator { self.which(dir).without_injection_model() } else { self.which(dir) };
        self.findings_with(text, which)
    }

    fn findings_with(&self, text: &str, which: Which) -> Arc<[Finding]> {
        if which.is_empty() || text.is_empty() {
            return Arc::from(Vec::new());
        }
        let key = self.cache.key(&[which.bits()], text);
        if let Some(f) = self.cache.get(key) {
            return f;
        }
        match self.scan(text, which) {
            Ok(found) => {
                let f: Arc<[Finding]> = Arc::from(found);
                self.cache.put(key, f.clone());
                f
            }
            // Not cached: the next attempt screens again.
            Err(why) => Arc::from(vec![failure(text, why)]),
        }
    }

    /// The detectors over `text`; an error when they cannot screen it (too
    /// large, or a detector failed).
    pub fn scan(&self, text: &str, which: Which) -> Result<Vec<Finding>, String> {
        screened(text.len(), self.max_scan_bytes, || self.detectors.scan(text, which))
    }

    /// Notes the findings on `text` in `report`; returns the redacted text
    /// when something was redacted. A block is noted, and the caller stops.
    pub fn screen(&self, text: &str, dir: Direction, place: &str, report: &mut Report) -> Option<String> {
        self.screen_as(text, dir, false, place, report)
    }

    /// [`Guard::screen`] for operator-written text (see [`Guard::findings`]).
    pub fn screen_as(
        &self,
        text: &str,
        dir: Direction,
        operator: bool,
        place: &str,
        report: &mut Report,
    ) -> Option<String> {
        let found = self.findings(text, dir, operator);
        self.apply(text, &found, dir, place, report)
    }

    /// [`Guard::screen`] with findings already in hand (streamed output).
    pub fn apply(
        &self,
        text: &str,
        found: &[Finding],
        dir: Direction,
        place: &str,
        report: &mut Report,
    ) -> Option<String> {
        let mut redact: Vec<&Finding> = Vec::new();
        for f in found {
            let action = self.action(f.detector, dir);
            if action == GuardAction::Off {
                continue;
            }
            self.meters.findings.inc(&[f.detector, dir.as_str()]);
            if action == GuardAction::Redact {
                redact.push(f);
            }
            report.noted.push(Noted { place: place.to_string(), direction: dir, action, finding: f.clone() });
        }
        (!redact.is_empty()).then(|| warden_detect::redact(text, &redact))
    }

    /// Screens what an MCP upstream answered before it reaches the agent (and
    /// so the agent's model): the text of `tools/call` content and structured
    /// content, `resources/read` contents, `prompts/get` messages. Screened as
    /// model input, the way a `tool` message is at `/v1`. Binary `data` and
    /// `blob` fields are not text and are left alone.
    pub fn screen_mcp_result(&self, method: &str, result: &mut Value, report: &mut Report) {
        let dir = Direction::Input;
        let text_at = |v: &mut Value, place: String, report: &mut Report| {
            if let Some(Value::String(t)) = v.get_mut("text")
                && let Some(r) = self.screen(t, dir, &place, report)
            {
                *t = r;
            }
        };
        match method {
            "tools/call" => {
                if let Some(Value::Array(items)) = result.get_mut("content") {
                    for (i, item) in items.iter_mut().enumerate() {
                        text_at(item, format!("result.content[{i}]"), report);
                        if let Some(res) = item.get_mut("resource") {
                            text_at(res, format!("result.content[{i}].resource"), report);
                        }
                    }
                }
                if let Some(sc) = result.get_mut("structuredContent") {
                    self.screen_json(sc, dir, "result.structuredContent", report);
                }
            }
            "resources/read" => {
                if let Some(Value::Array(items)) = result.get_mut("contents") {
                    for (i, item) in items.iter_mut().enumerate() {
                        text_at(item, format!("result.contents[{i}]"), report);
                    }
                }
            }
            "prompts/get" => {
                if let Some(Value::Array(msgs)) = result.get_mut("messages") {
                    for (i, m) in msgs.iter_mut().enumerate() {
                        if let Some(c) = m.get_mut("content") {
                            text_at(c, format!("result.messages[{i}].content"), report);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Redacts every secret the secret rules find in the strings of `v`,
    /// whatever the configured actions: audit records never hold a credential,
    /// even one that was only flagged. Returns how many strings changed.
    pub fn redact_secrets(&self, v: &mut Value) -> usize {
        match v {
            Value::String(s) => {
                // Through the cache and `scan`'s guards; a text that cannot be
                // screened is withheld whole.
                let found = self.findings_with(s, Which::default().with(Detector::Secrets));
                if found.is_empty() {
                    return 0;
                }
                *s = warden_detect::redact(s, &found.iter().collect::<Vec<_>>());
                1
            }
            Value::Array(a) => a.iter_mut().map(|x| self.redact_secrets(x)).sum(),
            Value::Object(o) => o.values_mut().map(|x| self.redact_secrets(x)).sum(),
            _ => 0,
        }
    }

    /// Screens every string in a JSON value in place (tool-call arguments).
    pub fn screen_json(&self, v: &mut Value, dir: Direction, place: &str, report: &mut Report) {
        self.screen_json_with(v, dir, self.which(dir), place, report)
    }

    /// A tool call's arguments (MCP `tools/call`, or a call a model proposed):
    /// screened as model output, without the exfiltration detector — arguments
    /// are not rendered, and a tool may well be asked to fetch a raw-IP URL.
    pub fn screen_arguments(&self, v: &mut Value, place: &str, report: &mut Report) {
        let which = self.which(Direction::Output).without(Detector::Exfiltration);
        self.screen_json_with(v, Direction::Output, which, place, report)
    }

    fn screen_json_with(&self, v: &mut Value, dir: Direction, which: Which, place: &str, report: &mut Report) {
        match v {
            Value::String(s) => {
                let found = self.findings_with(s, which);
                if let Some(r) = self.apply(s, &found, dir, place, report) {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.screen_json_with(x, dir, which, place, report)),
            Value::Object(o) => o.values_mut().for_each(|x| self.screen_json_with(x, dir, which, place, report)),
            _ => {}
        }
    }
}

/// Runs `scan` unless the text is over the limit, and turns a detector's
/// panic into an error instead of an unscreened pass.
fn screened(len: usize, max: usize, scan: impl FnOnce() -> Vec<Finding>) -> Result<Vec<Finding>, String> {
    if len > max {
        return Err(format!(
            "the text ({len} bytes) is larger than guardrails.max_scan_bytes ({max}) and cannot be screened"
        ));
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(scan)).map_err(|p| {
        let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
        format!("a detector failed ({}); the text was not screened", msg.unwrap_or_else(|| "panic".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_or_overloaded_detector_blocks() {
        let err = screened(10, 100, || panic!("regex exploded")).unwrap_err();
        assert!(err.contains("regex exploded"), "{err}");
        let err = screened(101, 100, Vec::new).unwrap_err();
        assert!(err.contains("max_scan_bytes"), "{err}");
        assert_eq!(screened(10, 100, Vec::new), Ok(Vec::new()));

        let cfg = GuardrailsConfig { max_scan_bytes: warden_config::Num(16), ..Default::default() };
        let g = Guard::new(&cfg, Arc::new(Meters::default())).unwrap();
        let mut report = Report::default();
        // Even with every detector on `flag`, an unscreenable text is blocked.
        g.screen("a text longer than sixteen bytes", Direction::Input, "messages[0]", &mut report);
        let b = report.blocked().expect("blocked");
        assert_eq!(b.finding.detector, FAILED);
        assert!(b.finding.evidence.contains("cannot be screened"));
    }
}
