//! The known-secret floor for log lines. Custody publishes its matcher here
//! whenever it changes; the process's log writer passes every formatted line
//! through [`redact`] before it reaches stderr. This covers what no other
//! screen sees: an upstream's stderr, error messages, anything a dependency logs.

use std::borrow::Cow;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use warden_secrets::KnownSecrets;

static KNOWN: ArcSwapOption<KnownSecrets> = ArcSwapOption::const_empty();

pub fn publish(known: Arc<KnownSecrets>) {
    KNOWN.store(Some(known));
}

/// One formatted log line with every known secret replaced by `[REDACTED:<name>]`.
pub fn redact(line: &[u8]) -> Cow<'_, [u8]> {
    let guard = KNOWN.load();
    let Some(known) = guard.as_ref().filter(|k| !k.is_empty()) else { return Cow::Borrowed(line) };
    let text = String::from_utf8_lossy(line);
    match known.redact(&text) {
        Cow::Borrowed(_) => Cow::Borrowed(line),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}
