//! `warden.yaml`: the schema, `${ENV}` substitution and validation.
//!
//! Every check that can be attached to a value happens while that value is
//! deserialised, so the error names the key and its line. Cross-field checks
//! (an stdio upstream without `command`, duplicate names) run afterwards and
//! name the key path and the line of the entry.

mod console;
mod credentials;
pub mod env;
mod models;
mod policy;
mod schema;

pub use console::*;
pub use credentials::{Literal, Reference, literal_credentials, names_a_credential};
pub use models::*;
pub use policy::*;
pub use schema::*;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// Loads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    let mut config =
        parse(&text).map_err(|message| ConfigError::Invalid { path: path.display().to_string(), message })?;
    // Policy files are read relative to the config file.
    if let Some(base) = path.parent() {
        for f in &mut config.policy.files {
            let p = std::path::Path::new(&f.0);
            if p.is_relative() {
                f.0 = base.join(p).display().to_string();
            }
        }
    }
    Ok(config)
}

/// Parses and validates config text. The error string names the key and line.
pub fn parse(text: &str) -> Result<Config, String> {
    schema::LAST_BAD.with(|b| b.borrow_mut().take());
    let config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_norway::from_str(text).map_err(|e| describe_yaml_error(&e, text))?
    };
    schema::validate(&config, text)?;
    Ok(config)
}

/// serde_norway renders "<path>: <message> at line L column C". For errors raised by
/// a value's own validation it reports the enclosing mapping; there we find the line
/// holding the bad value and name its key.
pub(crate) fn describe_yaml_error(e: &serde_norway::Error, text: &str) -> String {
    let rendered = e.to_string();
    let Some(raw) = schema::LAST_BAD.with(|b| b.borrow_mut().take()) else {
        return rendered;
    };
    let Some(from) = e.location().map(|l| l.line().saturating_sub(1)) else {
        return rendered;
    };
    let needle = raw.lines().next().unwrap_or("");
    let found = text.lines().enumerate().skip(from).find(|(_, l)| !needle.is_empty() && l.contains(needle));
    let Some((idx, line)) = found else {
        return rendered;
    };
    let message = rendered.split(" at line ").next().unwrap_or(&rendered);
    let (path, message) = message.split_once(": ").unwrap_or(("", message));
    let key = line.trim_start().trim_start_matches("- ").split(':').next().unwrap_or("").trim();
    let key = if key.starts_with('"') || key.starts_with('[') || key.is_empty() { "" } else { key };
    match (path.is_empty(), key.is_empty()) {
        (false, false) => format!("{path}.{key}: {message} (line {})", idx + 1),
        (false, true) => format!("{path}: {message} (line {})", idx + 1),
        (true, false) => format!("{key}: {message} (line {})", idx + 1),
        (true, true) => format!("{message} (line {})", idx + 1),
    }
}

#[cfg(test)]
mod tests;
