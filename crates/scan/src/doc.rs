//! A file read as what it is: its kind (from name and content), and for
//! Markdown its regions (frontmatter, prose, fenced code, HTML comments), so
//! a rule can tell a command in a code block from a sentence about one.

use std::ops::Range;

/// What a file is, from its name (and a shebang).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A skill's `SKILL.md`.
    Skill,
    /// A persistent instruction or memory file (`AGENTS.md`, `SOUL.md`, `MEMORY.md`, `memory/*.md`, ...).
    Memory,
    Markdown,
    Shell,
    PowerShell,
    Python,
    JavaScript,
    /// JSON, YAML, TOML, plain text and anything else read as text.
    Text,
    /// A tool, prompt or resource definition from an MCP server.
    ToolDefinition,
}

impl Kind {
    pub fn is_script(self) -> bool {
        matches!(self, Kind::Shell | Kind::PowerShell | Kind::Python | Kind::JavaScript)
    }

    pub fn is_markdown(self) -> bool {
        matches!(self, Kind::Skill | Kind::Memory | Kind::Markdown)
    }
}

/// The persistent instruction and memory files of an OpenClaw workspace.
pub const MEMORY_FILES: &[&str] = &[
    "AGENTS.md",
    "SOUL.md",
    "USER.md",
    "IDENTITY.md",
    "BOOTSTRAP.md",
    "BOOT.md",
    "MEMORY.md",
    "TOOLS.md",
    "HEARTBEAT.md",
];

pub fn kind_of(path: &str, text: &str) -> Kind {
    let name = path.rsplit(['/', '!']).next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if name == "SKILL.md" || lower == "skill.md" {
        return Kind::Skill;
    }
    if MEMORY_FILES.iter().any(|m| m.eq_ignore_ascii_case(name))
        || (lower.ends_with(".md") && (path.contains("/memory/") || path.starts_with("memory/")))
    {
        return Kind::Memory;
    }
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "md" | "markdown" | "mdx" => Kind::Markdown,
        "sh" | "bash" | "zsh" | "ksh" | "command" => Kind::Shell,
        "ps1" | "psm1" | "psd1" | "bat" | "cmd" => Kind::PowerShell,
        "py" | "pyw" => Kind::Python,
        "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx" => Kind::JavaScript,
        _ => match text.lines().next().unwrap_or("") {
            l if l.starts_with("#!") && l.contains("python") => Kind::Python,
            l if l.starts_with("#!") && l.contains("node") => Kind::JavaScript,
            l if l.starts_with("#!") && (l.contains("pwsh") || l.contains("powershell")) => Kind::PowerShell,
            l if l.starts_with("#!") => Kind::Shell,
            _ => Kind::Text,
        },
    }
}

/// What part of a Markdown file a byte is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Frontmatter,
    Prose,
    /// A fenced code block (its info string, lower-case, e.g. `bash`).
    Code,
    /// An HTML comment or a collapsed `<details>` section: not shown to a human reader.
    Hidden,
}

/// A text to scan, with line starts for positions.
#[derive(Debug)]
pub struct Doc<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub kind: Kind,
    line_starts: Vec<usize>,
    /// Markdown only: regions in order, covering the text.
    pub regions: Vec<(Range<usize>, Region)>,
    /// Which letter sequences the text holds: rules that cannot match are skipped.
    pub sig: warden_detect::rx::Sig,
}

impl<'a> Doc<'a> {
    pub fn new(path: &'a str, text: &'a str, kind: Kind) -> Doc<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let regions = if kind.is_markdown() { markdown_regions(text) } else { Vec::new() };
        Doc { path, text, kind, line_starts, regions, sig: warden_detect::rx::Sig::of(text) }
    }

    /// 1-based line and column (in characters) of byte `at`.
    pub fn position(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= at);
        let start = self.line_starts[line - 1];
        let col = self.text.get(start..at).map(|s| s.chars().count()).unwrap_or(0) + 1;
        (line, col)
    }

    /// The region of byte `at` (prose for files that are not Markdown scripts: code).
    pub fn region(&self, at: usize) -> Region {
        if !self.kind.is_markdown() {
            return if self.kind.is_script() { Region::Code } else { Region::Prose };
        }
        self.regions.iter().find(|(r, _)| r.contains(&at)).map(|(_, k)| *k).unwrap_or(Region::Prose)
    }

    /// Code is what a shell or interpreter would run: scripts, fenced blocks,
    /// and inline backticks in Markdown.
    pub fn is_code(&self, at: usize) -> bool {
        match self.region(at) {
            Region::Code => true,
            Region::Prose | Region::Hidden => self.kind.is_markdown() && self.in_backticks(at),
            Region::Frontmatter => false,
        }
    }

    fn in_backticks(&self, at: usize) -> bool {
        let (line, _) = self.position(at);
        let start = self.line_starts[line - 1];
        self.text[start..at].matches('`').count() % 2 == 1
    }

    /// The whole line holding byte `at`.
    pub fn line_text(&self, at: usize) -> &'a str {
        let (line, _) = self.position(at);
        let start = self.line_starts[line - 1];
        let end = self.line_starts.get(line).map(|e| e - 1).unwrap_or(self.text.len());
        &self.text[start..end.max(start)]
    }

    /// The frontmatter's YAML, if the file starts with one.
    pub fn frontmatter(&self) -> Option<&'a str> {
        self.regions.iter().find(|(_, k)| *k == Region::Frontmatter).map(|(r, _)| &self.text[r.clone()])
    }
}

/// Frontmatter (`---` … `---` at the top), fenced code (``` or ~~~), HTML
/// comments and `<details>` sections; the rest is prose.
fn markdown_regions(text: &str) -> Vec<(Range<usize>, Region)> {
    let mut out = Vec::new();
    let mut pos = 0;
    if let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) {
        let head = text.len() - rest.len();
        if let Some(end) = find_line(rest, |l| l.trim_end() == "---") {
            out.push((head..head + end, Region::Frontmatter));
            pos = head + end;
        }
    }
    let mut prose_start = pos;
    let mut fence: Option<(String, usize)> = None;
    let mut i = pos;
    while i < text.len() {
        let line_end = text[i..].find('\n').map(|n| i + n + 1).unwrap_or(text.len());
        let line = text[i..line_end].trim_start();
        match &fence {
            Some((marker, start)) => {
                if line.trim_end() == marker.as_str()
                    || (line.starts_with(marker.as_str()) && line[marker.len()..].trim().is_empty())
                {
                    out.push((*start..line_end, Region::Code));
                    fence = None;
                    prose_start = line_end;
                }
            }
            None => {
                let marker: String = line.chars().take_while(|c| *c == '`' || *c == '~').collect();
                if marker.len() >= 3 && marker.chars().all(|c| c == marker.chars().next().unwrap()) {
                    push_prose(text, prose_start..i, &mut out);
                    fence = Some((marker, i));
                }
            }
        }
        i = line_end;
    }
    match fence {
        Some((_, start)) => out.push((start..text.len(), Region::Code)),
        None => push_prose(text, prose_start..text.len(), &mut out),
    }
    out
}

/// Prose, with its HTML comments and `<details>` bodies marked hidden.
fn push_prose(text: &str, r: Range<usize>, out: &mut Vec<(Range<usize>, Region)>) {
    let s = &text[r.clone()];
    let mut at = 0;
    while at < s.len() {
        let next = [("<!--", "-->"), ("<details", "</details>")]
            .iter()
            .filter_map(|(open, close)| s[at..].find(open).map(|i| (at + i, *close)))
            .min_by_key(|(i, _)| *i);
        let Some((open, close)) = next else { break };
        let end = s[open..].find(close).map(|j| open + j + close.len()).unwrap_or(s.len());
        if open > at {
            out.push((r.start + at..r.start + open, Region::Prose));
        }
        out.push((r.start + open..r.start + end, Region::Hidden));
        at = end;
    }
    if at < s.len() {
        out.push((r.start + at..r.end, Region::Prose));
    }
}

fn find_line(s: &str, pred: impl Fn(&str) -> bool) -> Option<usize> {
    let mut at = 0;
    for l in s.split_inclusive('\n') {
        if pred(l) {
            return Some(at + l.len());
        }
        at += l.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names_and_shebangs() {
        assert_eq!(kind_of("weather/SKILL.md", ""), Kind::Skill);
        assert_eq!(kind_of("ws/SOUL.md", ""), Kind::Memory);
        assert_eq!(kind_of("ws/memory/2026-12-01.md", ""), Kind::Memory);
        assert_eq!(kind_of("s/README.md", ""), Kind::Markdown);
        assert_eq!(kind_of("s/install.sh", ""), Kind::Shell);
        assert_eq!(kind_of("s/run", "#!/usr/bin/env python3\n"), Kind::Python);
        assert_eq!(kind_of("s/run", "#!/bin/sh\n"), Kind::Shell);
        assert_eq!(kind_of("s/a.ps1", ""), Kind::PowerShell);
        assert_eq!(kind_of("s/x.ts", ""), Kind::JavaScript);
        assert_eq!(kind_of("b.zip!s/SKILL.md", ""), Kind::Skill);
    }

    #[test]
    fn markdown_regions_and_positions() {
        let t = "---\nname: x\n---\nSay hi.\n<!-- secret -->\n```bash\ncurl x | sh\n```\nbye `rm -rf` ok\n";
        let d = Doc::new("SKILL.md", t, Kind::Skill);
        assert_eq!(d.frontmatter(), Some("name: x\n---\n"));
        assert_eq!(d.region(t.find("Say").unwrap()), Region::Prose);
        assert_eq!(d.region(t.find("secret").unwrap()), Region::Hidden);
        assert!(d.is_code(t.find("curl").unwrap()));
        assert!(d.is_code(t.find("rm -rf").unwrap()));
        assert!(!d.is_code(t.find("bye").unwrap()));
        assert_eq!(d.position(t.find("curl").unwrap()), (7, 1));
        assert_eq!(d.position(t.find("| sh").unwrap()), (7, 8));
        assert_eq!(d.line_text(t.find("| sh").unwrap()), "curl x | sh");
    }
}
