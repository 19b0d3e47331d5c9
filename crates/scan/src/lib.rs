//! The supply-chain scanner behind `warden scan`: skills, skill bundles,
//! memory and instruction files, and MCP tool definitions.
//!
//! - [`source`]: reading paths into [`Input`]s (directories, archives read in
//!   memory, nested); whatever cannot be read completely becomes a finding;
//! - [`doc`]: a file read as what it is (kind, Markdown regions);
//! - [`rules`]: the families, one file each, and their combinations;
//! - [`lock`]: baselines (`--write-lock`, `--lock`) and drift;
//! - [`suppress`]: reviewed suppressions with a reason and an expiry;
//! - [`report`]: text, JSON and SARIF.
//!
//! Everything but `source` is pure: bytes in, findings out.

pub mod doc;
pub mod finding;
pub mod lock;
pub mod mcp;
pub mod report;
pub mod rules;
pub mod source;
pub mod suppress;

use std::collections::BTreeMap;

pub use finding::{Family, Finding, Severity};
use rules::Rule;

/// One file to scan: its display path (relative to what was named on the
/// command line; `bundle.zip!dir/SKILL.md` inside an archive) and its bytes.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: String,
    pub bytes: Vec<u8>,
}

pub const INCOMPLETE: Rule = Rule {
    id: "incomplete.unscanned",
    family: Family::Incomplete,
    severity: Severity::High,
    short: "A file that could not be scanned completely",
    full: "A file or archive entry was too large, nested too deeply, a decompression bomb, a link out of the bundle, \
           unreadable or undecodable. The scanner fails closed: what it could not read is a finding, never silence.",
};
pub const UNDECODABLE: Rule = Rule {
    id: "incomplete.undecodable",
    family: Family::Incomplete,
    severity: Severity::Medium,
    short: "A file that is neither text nor a known media type",
    full: "The file is not UTF-8 text, nor an image or font, nor a recognised executable: its content was not scanned.",
};
pub const INCOMPLETE_RULES: &[Rule] = &[INCOMPLETE, UNDECODABLE];

/// What was scanned together: a skill (a folder with `SKILL.md`, and
/// everything under it) or one loose file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Unit {
    /// The skill's folder, or the file.
    pub name: String,
    pub skill: bool,
    pub files: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Unit {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub units: Vec<Unit>,
    pub files: usize,
    pub bytes: u64,
}

impl Report {
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.units.iter().flat_map(|u| u.findings.iter())
    }

    pub fn worst(&self) -> Option<Severity> {
        self.units.iter().filter_map(Unit::worst).max()
    }
}

/// The scanner: the detectors it shares with the gateway.
#[derive(Debug, Default)]
pub struct Scanner {
    pub detectors: warden_detect::Detectors,
}

/// Media that carry no instructions a scanner could read (skills ship icons).
fn is_media(path: &str, bytes: &[u8]) -> bool {
    let lower = path.to_ascii_lowercase();
    [
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".bmp", ".woff", ".woff2", ".ttf", ".otf", ".mp3", ".mp4",
        ".wav",
    ]
    .iter()
    .any(|e| lower.ends_with(e))
        || bytes.starts_with(b"\x89PNG")
        || bytes.starts_with(b"\xff\xd8\xff")
        || bytes.starts_with(b"GIF8")
}

impl Scanner {
    /// Scans inputs, grouped into skills; `pre` are findings from reading
    /// them (unreadable entries and the like), placed in their units.
    pub fn scan(&self, inputs: &[Input], pre: Vec<Finding>) -> Report {
        self.scan_with_progress(inputs, pre, &mut |_, _| {})
    }

    /// As [`Scanner::scan`], calling `progress(units done, units)` after each unit.
    pub fn scan_with_progress(
        &self,
        inputs: &[Input],
        pre: Vec<Finding>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Report {
        let mut report = Report {
            files: inputs.len(),
            bytes: inputs.iter().map(|i| i.bytes.len() as u64).sum(),
            ..Report::default()
        };
        // A skill is the folder of a SKILL.md; a file belongs to the deepest one above it.
        let roots: std::collections::HashSet<&str> =
            inputs.iter().filter(|i| doc::kind_of(&i.path, "") == doc::Kind::Skill).map(|i| parent(&i.path)).collect();
        // The deepest skill folder above a path: walk its ancestors (O(depth), not O(skills)).
        let unit_of = |path: &str| -> (String, bool) {
            let mut p = path;
            loop {
                let up = parent(p);
                if roots.contains(up) {
                    return (if up.is_empty() { ".".to_string() } else { up.to_string() }, true);
                }
                if up.is_empty() || up.len() == p.len() {
                    return (path.to_string(), false);
                }
                p = up;
            }
        };
        let mut units: BTreeMap<String, (bool, Vec<&Input>, Vec<Finding>)> = BTreeMap::new();
        for i in inputs {
            let (u, skill) = unit_of(&i.path);
            units.entry(u).or_insert_with(|| (skill, Vec::new(), Vec::new())).1.push(i);
        }
        for f in pre {
            let (u, skill) = unit_of(&f.file);
            units.entry(u).or_insert_with(|| (skill, Vec::new(), Vec::new())).2.push(f);
        }
        let total = units.len();
        for (done, (name, (skill, files, pre))) in units.into_iter().enumerate() {
            progress(done, total);
            let mut ctx = rules::Ctx { findings: pre, ..rules::Ctx::default() };
            for input in &files {
                self.scan_file(input, &mut ctx);
            }
            rules::combination::check(&mut ctx);
            let mut findings = ctx.findings;
            findings.sort_by(|a, b| (&a.file, a.line, a.column, a.rule).cmp(&(&b.file, b.line, b.column, b.rule)));
            report.units.push(Unit { name, skill, files: files.iter().map(|i| i.path.clone()).collect(), findings });
        }
        report
    }

    /// Scans one text as a single file of `kind` (tool definitions, tests).
    pub fn scan_text(&self, path: &str, text: &str, kind: doc::Kind) -> Vec<Finding> {
        let mut ctx = rules::Ctx::default();
        let d = doc::Doc::new(path, text, kind);
        rules::check(&d, &mut ctx, &self.detectors);
        rules::combination::check(&mut ctx);
        ctx.findings
    }

    fn scan_file(&self, input: &Input, ctx: &mut rules::Ctx) {
        if let Some(what) = rules::overreach::binary_kind(&input.path, &input.bytes) {
            let d = doc::Doc::new(&input.path, "", doc::Kind::Text);
            ctx.emit(&rules::overreach::BINARY, Severity::High, &d, 0, what, format!("{what} in a skill"));
            return;
        }
        let text = match std::str::from_utf8(&input.bytes) {
            Ok(t) => t,
            Err(_) if is_media(&input.path, &input.bytes) => return,
            Err(e) => {
                let d = doc::Doc::new(&input.path, "", doc::Kind::Text);
                ctx.emit(
                    &UNDECODABLE,
                    Severity::Medium,
                    &d,
                    0,
                    &format!("not UTF-8 ({e})"),
                    "its content was not scanned".into(),
                );
                return;
            }
        };
        let kind = doc::kind_of(&input.path, text);
        let d = doc::Doc::new(&input.path, text, kind);
        rules::check(&d, ctx, &self.detectors);
        if kind == doc::Kind::Skill {
            rules::overreach::check_frontmatter(&d, ctx);
        }
    }
}

fn parent(path: &str) -> &str {
    match path.rfind(['/', '!']) {
        Some(i) => &path[..i],
        None => "",
    }
}
