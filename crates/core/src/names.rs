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
}
