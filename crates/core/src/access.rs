//! Per-identity visibility of tools, resources and prompts.
//!
//! One rule decides both listing and calling, so an item is either fully
//! visible or indistinguishable from one that does not exist. Names are
//! compared after NFC normalisation, exactly and case-sensitively; deny wins
//! over allow; an empty allow list allows nothing (fail closed).

use crate::glob::{GlobError, GlobSet};
use crate::names::nfc_cow;

#[derive(Debug, Clone, Default)]
pub struct AllowDeny {
    pub allow: GlobSet,
    pub deny: GlobSet,
}

impl AllowDeny {
    pub fn new<S: AsRef<str>>(allow: &[S], deny: &[S]) -> Result<AllowDeny, GlobError> {
        Ok(AllowDeny { allow: GlobSet::new(allow)?, deny: GlobSet::new(deny)? })
    }

    pub fn permits(&self, name: &str) -> bool {
        let name = nfc_cow(name);
        !self.deny.matches(&name) && self.allow.matches(&name)
    }
}

/// What one agent may see and use, by exposed (prefixed) name; resources by URI.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    pub tools: AllowDeny,
    pub resources: AllowDeny,
    pub prompts: AllowDeny,
    /// Model names at `/v1/*`.
    pub models: AllowDeny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Tool,
    Resource,
    Prompt,
    Model,
}

impl AccessRules {
    pub fn allow_all() -> AccessRules {
        let all = AllowDeny::new(&["*"], &[] as &[&str]).expect("static glob");
        AccessRules { tools: all.clone(), resources: all.clone(), prompts: all.clone(), models: all }
    }

    pub fn permits(&self, kind: ItemKind, name: &str) -> bool {
        match kind {
            ItemKind::Tool => self.tools.permits(name),
            ItemKind::Resource => self.resources.permits(name),
            ItemKind::Prompt => self.prompts.permits(name),
            ItemKind::Model => self.models.permits(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> AllowDeny {
        AllowDeny::new(allow, deny).unwrap()
    }

    #[test]
    fn deny_overrides_allow() {
        let r = rules(&["gh__*"], &["gh__delete_*"]);
        assert!(r.permits("gh__create_issue"));
        assert!(!r.permits("gh__delete_repo"));
        assert!(!r.permits("fs__read"));
    }

    #[test]
    fn empty_allow_is_fail_closed() {
        let r = rules(&[], &[]);
        assert!(!r.permits("anything"));
    }

    #[test]
    fn exact_case_sensitive_after_nfc() {
        let r = rules(&["demo__echo", "caf\u{00e9}"], &[]);
        assert!(r.permits("demo__echo"));
        assert!(!r.permits("demo__Echo"));
        assert!(!r.permits("DEMO__ECHO"));
        assert!(!r.permits("demo__\u{0435}cho")); // Cyrillic ie
        assert!(!r.permits("demo__echo\u{200b}")); // zero-width space
        assert!(!r.permits("demo__echo "));
        // Decomposed form of an allowed name normalises to it.
        assert!(r.permits("cafe\u{0301}"));
    }

    #[test]
    fn deny_applies_to_decomposed_spelling() {
        let r = rules(&["*"], &["caf\u{00e9}"]);
        assert!(!r.permits("cafe\u{0301}"));
    }
}
