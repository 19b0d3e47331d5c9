//! Lexical path normalisation, so a rule over `~/.ssh/**` cannot be escaped
//! with `/home/u/../u/.ssh`, `//home/u/./.ssh`, `$HOME/.ssh`, `file:///root/.ssh`,
//! `/proc/self/root/home/u/.ssh` or backslashes. Nothing touches the file
//! system: symlinks cannot be resolved here, so the known "same place, other
//! spelling" prefixes are folded instead, and a relative path (its directory
//! unknown) matches restrictive rules anywhere along it.

use warden_core::glob::Glob;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// `/…` outside any home directory.
    Root,
    /// `~/…`: any user's home (`~`, `~user`, `$HOME`, `/home/<u>`, `/Users/<u>`, `/root`).
    Home,
    /// Relative to a directory Warden cannot know.
    Relative,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormPath {
    pub anchor: Anchor,
    pub segments: Vec<String>,
}

impl NormPath {
    pub fn render(&self) -> String {
        let head = match self.anchor {
            Anchor::Root => "/",
            Anchor::Home => "~/",
            Anchor::Relative => "",
        };
        format!("{head}{}", self.segments.join("/"))
    }
}

/// Normalises a path-like string lexically.
pub fn normalize(raw: &str) -> NormPath {
    let mut s = raw.trim().replace('\\', "/");
    if let Some(rest) = s.strip_prefix("file://") {
        s = rest.to_string();
    }
    let mut anchor = Anchor::Relative;
    let mut rest: &str = &s;
    for home in ["${HOME}", "$HOME"] {
        if let Some(r) = rest.strip_prefix(home)
            && (r.is_empty() || r.starts_with('/'))
        {
            anchor = Anchor::Home;
            rest = r;
        }
    }
    if anchor == Anchor::Relative
        && let Some(r) = rest.strip_prefix('~')
    {
        // `~` or `~user`
        let end = r.find('/').unwrap_or(r.len());
        anchor = Anchor::Home;
        rest = &r[end..];
    } else if anchor == Anchor::Relative && rest.starts_with('/') {
        anchor = Anchor::Root;
    }
    let mut segs: Vec<String> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if segs.pop().is_none() && anchor == Anchor::Relative {
                    // Climbing out of an unknown directory: the rest is still relative.
                }
            }
            p => segs.push(p.to_string()),
        }
    }
    if anchor == Anchor::Root {
        // `/proc/self/root/x` and `/proc/<pid>/root/x` are `/x`; `/proc/self/cwd/x` is relative.
        loop {
            let is_proc = segs.len() >= 3
                && segs[0] == "proc"
                && (segs[1] == "self" || segs[1] == "thread-self" || segs[1].chars().all(|c| c.is_ascii_digit()));
            if is_proc && segs[2] == "root" {
                segs.drain(..3);
                continue;
            }
            if is_proc && segs[2] == "cwd" {
                segs.drain(..3);
                anchor = Anchor::Relative;
            }
            break;
        }
    }
    if anchor == Anchor::Root {
        let home_len = match segs.first().map(String::as_str) {
            Some("home") | Some("Users") if segs.len() >= 2 => 2,
            Some("root") => 1,
            _ => 0,
        };
        if home_len > 0 {
            segs.drain(..home_len);
            anchor = Anchor::Home;
        }
    }
    NormPath { anchor, segments: segs }
}

/// A path glob: segments of globs, `**` for any run of segments.
#[derive(Debug, Clone)]
pub struct PathGlob {
    anchor: Anchor,
    segments: Vec<Seg>,
    source: String,
}

#[derive(Debug, Clone)]
enum Seg {
    AnyRun,
    One(Glob),
}

impl PathGlob {
    pub fn new(pattern: &str) -> Result<PathGlob, String> {
        let n = normalize(pattern);
        if n.anchor == Anchor::Relative {
            return Err(format!("path glob {pattern:?} must start with / or ~"));
        }
        let mut segments = Vec::new();
        for s in &n.segments {
            if s == "**" {
                if !matches!(segments.last(), Some(Seg::AnyRun)) {
                    segments.push(Seg::AnyRun);
                }
            } else {
                segments.push(Seg::One(Glob::new(s).map_err(|e| e.to_string())?));
            }
        }
        Ok(PathGlob { anchor: n.anchor, segments, source: pattern.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the (normalised) path match? A relative path matches when
    /// `unanchored` is set and the pattern (without its anchor) matches any
    /// tail of it — the conservative reading for rules that restrict.
    pub fn matches(&self, p: &NormPath, unanchored: bool) -> bool {
        let segs = &p.segments;
        if p.anchor == Anchor::Relative {
            return unanchored && (0..=segs.len()).any(|i| match_segs(&self.segments, &segs[i..]));
        }
        p.anchor == self.anchor && match_segs(&self.segments, segs)
    }
}

fn match_segs(pat: &[Seg], segs: &[String]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((Seg::AnyRun, rest)) => (0..=segs.len()).any(|i| match_segs(rest, &segs[i..])),
        Some((Seg::One(g), rest)) => segs.first().is_some_and(|s| g.matches(s)) && match_segs(rest, &segs[1..]),
    }
}

/// Prefix test on normalised paths, segment-wise (`/etc` is not a prefix of `/etcetera`).
pub fn has_prefix(prefix: &NormPath, p: &NormPath, unanchored: bool) -> bool {
    if p.anchor == Anchor::Relative {
        return unanchored && p.segments.windows(prefix.segments.len().max(1)).any(|w| w == prefix.segments.as_slice());
    }
    p.anchor == prefix.anchor && p.segments.starts_with(&prefix.segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, value: &str) -> bool {
        PathGlob::new(pattern).unwrap().matches(&normalize(value), true)
    }

    #[test]
    fn tricks_do_not_escape_a_home_rule() {
        for v in [
            "/home/u/.ssh/id_rsa",
            "/home/u/../u/.ssh/id_rsa",
            "/home//u/./.ssh/id_rsa",
            "~/.ssh/id_rsa",
            "~u/.ssh/id_rsa",
            "$HOME/.ssh/id_rsa",
            "${HOME}/.ssh/id_rsa",
            "file:///root/.ssh/id_rsa",
            "/proc/self/root/home/u/.ssh/id_rsa",
            "/proc/1234/root/root/.ssh/config",
            "/Users/u/.ssh/known_hosts",
            "\\home\\u\\.ssh\\id_rsa",
            "/etc/../home/u/.ssh/id_rsa",
            ".ssh/id_rsa",
            "../../u/.ssh/id_rsa",
            "/proc/self/cwd/.ssh/id_rsa",
        ] {
            assert!(m("~/.ssh/**", v), "{v} escaped");
        }
    }

    #[test]
    fn non_matches() {
        assert!(!m("~/.ssh/**", "/home/u/.sshx/id_rsa"));
        assert!(!m("~/.ssh/**", "/etc/ssh/sshd_config"));
        assert!(!m("/etc/*", "/etc/ssl/certs/a.pem"));
        assert!(m("/etc/**", "/etc/ssl/certs/a.pem"));
        assert!(m("/etc/*.conf", "/etc/../etc/x.conf"));
        // A relative path only matches when the caller asks for the conservative reading.
        assert!(!PathGlob::new("~/.ssh/**").unwrap().matches(&normalize(".ssh/id_rsa"), false));
    }

    #[test]
    fn prefixes_are_segment_wise() {
        let etc = normalize("/etc");
        assert!(has_prefix(&etc, &normalize("/etc/passwd"), false));
        assert!(has_prefix(&etc, &normalize("/tmp/../etc/passwd"), false));
        assert!(!has_prefix(&etc, &normalize("/etcetera/x"), false));
        assert!(has_prefix(&etc, &normalize("../../etc/passwd"), true));
        assert!(!has_prefix(&etc, &normalize("../../etc/passwd"), false));
    }

    #[test]
    fn relative_patterns_refused() {
        assert!(PathGlob::new("foo/**").is_err());
    }
}
