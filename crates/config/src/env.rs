//! `${VAR}` substitution inside YAML scalar values.
//!
//! Substitution happens while each string value is deserialised, never on the
//! raw file text: a variable's value can contain `#`, quotes, colons or newlines
//! without changing the document's structure, and errors still carry the line.
//!
//! Syntax: `${NAME}`, `${NAME:-default}` (default when unset or empty), and
//! `$${` for a literal `${`.

use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static OVERRIDE: RefCell<Option<HashMap<String, String>>> = const { RefCell::new(None) };
}

/// Runs `f` with variables looked up in `vars` instead of the process
/// environment (tests, and `config check` against a given environment).
pub fn with_vars<T>(vars: HashMap<String, String>, f: impl FnOnce() -> T) -> T {
    OVERRIDE.with(|o| *o.borrow_mut() = Some(vars));
    let out = f();
    OVERRIDE.with(|o| *o.borrow_mut() = None);
    out
}

fn lookup(name: &str) -> Option<String> {
    OVERRIDE.with(|o| match &*o.borrow() {
        Some(map) => map.get(name).cloned(),
        None => std::env::var(name).ok(),
    })
}

pub fn expand(input: &str) -> Result<String, String> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or_else(|| format!("unterminated \"${{\" in {input:?}"))?;
            let expr = &tail[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            match (lookup(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(format!("environment variable {name} is not set")),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        HashMap::from([("A".into(), "x#y: 'z'\nq".into()), ("EMPTY".into(), String::new())])
    }

    #[test]
    fn expands() {
        with_vars(vars(), || {
            assert_eq!(expand("plain").unwrap(), "plain");
            assert_eq!(expand("${A}").unwrap(), "x#y: 'z'\nq");
            assert_eq!(expand("pre-${A}-post").unwrap(), "pre-x#y: 'z'\nq-post");
            assert_eq!(expand("${MISSING:-dflt}").unwrap(), "dflt");
            assert_eq!(expand("${EMPTY:-dflt}").unwrap(), "dflt");
            assert_eq!(expand("$${A}").unwrap(), "${A}");
            assert_eq!(expand("cost $5").unwrap(), "cost $5");
        });
    }

    #[test]
    fn errors() {
        with_vars(vars(), || {
            assert!(expand("${MISSING}").unwrap_err().contains("MISSING is not set"));
            assert!(expand("${A").unwrap_err().contains("unterminated"));
            assert!(expand("${A-B}").unwrap_err().contains("invalid"));
            assert!(expand("${}").unwrap_err().contains("invalid"));
        });
    }
}
