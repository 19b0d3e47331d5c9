//! Where the policy comes from: `policy:` in warden.yaml plus the files it
//! lists under `policy.files`. Files hold rules, `tool_labels` and
//! `tier_limits`; the other sections belong to warden.yaml. Files are
//! re-read every second and a changed set is compiled and swapped in
//! atomically; an invalid set keeps the previous policy, logs the errors
//! and counts the failure (`warden_policy_reload_failures_total`,
//! `warden_policy_valid 0`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use warden_config::PolicyDoc;
use warden_policy::Policy;

use crate::Gateway;

#[derive(Debug, Default)]
pub struct PolicyMetrics {
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
    pub valid: AtomicBool,
}

#[derive(Debug, Clone)]
pub struct PolicySource {
    pub inline: PolicyDoc,
    pub files: Vec<PathBuf>,
}

impl PolicySource {
    /// `base`: the directory relative file paths are read from (the config file's).
    pub fn new(inline: &PolicyDoc, base: Option<&std::path::Path>) -> PolicySource {
        let files = inline
            .files
            .iter()
            .map(|f| {
                let p = PathBuf::from(&f.0);
                match base {
                    Some(b) if p.is_relative() => b.join(p),
                    _ => p,
                }
            })
            .collect();
        PolicySource { inline: inline.clone(), files }
    }

    fn read(&self) -> Result<Vec<(String, String)>, String> {
        self.files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .map(|t| (f.display().to_string(), t))
                    .map_err(|e| format!("{}: cannot read: {e}", f.display()))
            })
            .collect()
    }

    /// Reads, merges and compiles the whole policy.
    pub fn load(&self) -> Result<(Policy, PolicyDoc), String> {
        let texts = self.read()?;
        merge_and_compile(&self.inline, &texts)
    }
}

/// Merges `files` (name, text) into the inline document and compiles it.
pub fn merge_and_compile(inline: &PolicyDoc, files: &[(String, String)]) -> Result<(Policy, PolicyDoc), String> {
    let mut doc = inline.clone();
    let mut origin: Vec<(String, usize)> =
        (0..inline.rules.len()).map(|i| ("warden.yaml policy".to_string(), i)).collect();
    let mut errors = Vec::new();
    for (name, text) in files {
        let d = match warden_config::parse_policy(text) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (section, set) in [
            ("files", !d.files.is_empty()),
            ("defaults", d.defaults.is_some()),
            ("approvals", d.approvals.is_some()),
            ("shell", d.shell.is_some()),
            ("flow", d.flow.is_some()),
        ] {
            if set {
                errors.push(format!("{name}: `{section}` may only be set in warden.yaml's policy section"));
            }
        }
        for (g, l) in d.tool_labels {
            if doc.tool_labels.insert(g.clone(), l).is_some() {
                errors.push(format!("{name}: tool_labels.{g} is also set elsewhere"));
            }
        }
        for (t, l) in d.tier_limits {
            if doc.tier_limits.insert(t, l).is_some() {
                errors.push(format!("{name}: tier_limits.{t} is also set elsewhere"));
            }
        }
        origin.extend((0..d.rules.len()).map(|i| (name.clone(), i)));
        doc.rules.extend(d.rules);
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    match Policy::compile(&doc) {
        Ok(p) => Ok((p, doc)),
        Err(errs) => Err(errs
            .iter()
            .map(|e| {
                // Name the file and its own rule index, not the merged one.
                let idx =
                    e.at.strip_prefix("rules[").and_then(|r| r.split(']').next()).and_then(|n| n.parse::<usize>().ok());
                match idx.and_then(|i| origin.get(i)) {
                    Some((file, local)) => {
                        let rest = e.at.split_once(']').map(|x| x.1).unwrap_or("");
                        format!("{file}: rules[{local}]{rest}: {}", e.message)
                    }
                    None => e.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// SHA-256 over the policy files' names and contents.
fn digest(files: &Option<Vec<(String, String)>>) -> String {
    let text = files.as_ref().map(|f| serde_json::to_string(f).unwrap_or_default()).unwrap_or_default();
    warden_audit::sha256_hex(text.as_bytes())
}

/// Re-reads the policy files every second; swaps in a changed, valid policy.
pub(crate) async fn watch(gw: Arc<Gateway>) {
    if gw.policy_source.files.is_empty() {
        return;
    }
    let mut last = gw.policy_source.read().ok();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = gw.policy_source.read().ok();
        if now == last {
            continue;
        }
        let before = digest(&last);
        last = now;
        let after = digest(&last);
        let (verdict, reason) = match gw.policy_source.load() {
            Ok((p, _)) => {
                tracing::info!(rules = p.rule_count(), "policy reloaded");
                let rules = p.rule_count();
                gw.policy.store(Arc::new(p));
                gw.policy_metrics.reloads.fetch_add(1, Ordering::Relaxed);
                gw.policy_metrics.valid.store(true, Ordering::Relaxed);
                ("changed", format!("policy reloaded: {rules} rules"))
            }
            Err(e) => {
                tracing::error!(error = %e, "policy reload failed; keeping the previous policy");
                gw.policy_metrics.failures.fetch_add(1, Ordering::Relaxed);
                gw.policy_metrics.valid.store(false, Ordering::Relaxed);
                ("rejected", format!("invalid policy kept out: {e}"))
            }
        };
        let files: Vec<String> = gw.policy_source.files.iter().map(|f| f.display().to_string()).collect();
        let rec = warden_audit::Record {
            id: uuid::Uuid::now_v7().to_string(),
            at: warden_audit::record::format_ms(warden_core::time::now_ms()),
            kind: "policy".into(),
            entry: "system".into(),
            method: "policy/reload".into(),
            args: serde_json::json!({"files": files, "before_sha256": before, "after_sha256": after}),
            verdict: verdict.into(),
            reason,
            actor: "policy file watcher".into(),
            ..Default::default()
        };
        if let Err(e) = crate::pipeline::govern::commit(&gw, rec, None).await {
            tracing::error!(error = %e, "the policy change could not be audited");
        }
    }
}
