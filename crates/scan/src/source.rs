//! Reading what was named on the command line into [`Input`]s: files,
//! directory trees, and archives (`.zip`, `.tar`, `.tar.gz`, `.tgz`, nested),
//! which are read in memory and never extracted to disk.
//!
//! Fail closed: a file too large, an archive nested too deeply, a
//! decompression bomb, an entry whose path leaves the bundle, a link out of
//! the tree, or a read error is an `incomplete.unscanned` finding.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::finding::{Family, Finding, Severity};
use crate::{INCOMPLETE, Input};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest file (or archive entry) read.
    pub max_file: u64,
    /// Most bytes all archives of one path may expand to.
    pub max_expanded: u64,
    /// Archives inside archives, this deep.
    pub max_depth: u8,
    /// An entry expanding more than this many times its compressed size is a bomb.
    pub max_ratio: u64,
    /// Most entries in one archive.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file: 16 << 20, max_expanded: 256 << 20, max_depth: 3, max_ratio: 200, max_entries: 20_000 }
    }
}

/// Directories never descended into.
const SKIP_DIRS: &[&str] = &[".git", ".hg", ".svn"];

#[derive(Debug, Default)]
pub struct Loaded {
    pub inputs: Vec<Input>,
    pub findings: Vec<Finding>,
}

/// Reads every path. Display paths are relative to each path's parent, so
/// `warden scan skills/weather` reports `weather/SKILL.md`.
pub fn read_paths(paths: &[PathBuf], limits: Limits) -> Loaded {
    let mut out = Loaded::default();
    for p in paths {
        let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let mut budget = limits.max_expanded;
        read_path(p, &base, &root, limits, &mut budget, &mut out);
    }
    out
}

fn display(p: &Path, base: &Path) -> String {
    let rel = p.strip_prefix(base).unwrap_or(p);
    let s = rel.to_string_lossy().replace('\\', "/");
    if s.is_empty() { p.to_string_lossy().into_owned() } else { s }
}

fn incomplete(file: String, evidence: String, message: &str) -> Finding {
    Finding {
        rule: INCOMPLETE.id,
        family: Family::Incomplete,
        severity: Severity::High,
        file,
        line: 1,
        column: 1,
        evidence,
        message: message.to_string(),
        decoded_from: None,
    }
}

fn read_path(p: &Path, base: &Path, root: &Path, limits: Limits, budget: &mut u64, out: &mut Loaded) {
    let shown = display(p, base);
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) => return out.findings.push(incomplete(shown, e.to_string(), "the path could not be read")),
    };
    if meta.file_type().is_symlink() {
        match std::fs::canonicalize(p) {
            Ok(target) if target.starts_with(root) && target.is_file() => {}
            Ok(target) if target.starts_with(root) => return, // a link to a directory inside: walked there
            Ok(target) => {
                return out.findings.push(incomplete(
                    shown,
                    format!("-> {}", target.display()),
                    "a link that leaves the scanned tree",
                ));
            }
            Err(e) => return out.findings.push(incomplete(shown, e.to_string(), "a dangling link")),
        }
    }
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(p) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return out.findings.push(incomplete(shown, e.to_string(), "the directory could not be listed")),
        };
        entries.sort();
        for e in entries {
            if e.file_name().and_then(|n| n.to_str()).is_some_and(|n| SKIP_DIRS.contains(&n)) {
                continue;
            }
            read_path(&e, base, root, limits, budget, out);
        }
        return;
    }
    let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    if size > limits.max_file && archive_kind(&shown).is_none() {
        return out.findings.push(incomplete(
            shown,
            format!("{size} bytes"),
            "the file is larger than the scanner reads",
        ));
    }
    let bytes = match std::fs::read(p) {
        Ok(b) => b,
        Err(e) => return out.findings.push(incomplete(shown, e.to_string(), "the file could not be read")),
    };
    add_bytes(shown, bytes, 0, limits, budget, out);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
}

fn archive_kind(name: &str) -> Option<ArchiveKind> {
    let l = name.to_ascii_lowercase();
    if l.ends_with(".zip") || l.ends_with(".skill") {
        Some(ArchiveKind::Zip)
    } else if l.ends_with(".tar.gz") || l.ends_with(".tgz") {
        Some(ArchiveKind::TarGz)
    } else if l.ends_with(".tar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// Adds a file's bytes, expanding archives (by name or by magic).
pub fn add_bytes(name: String, bytes: Vec<u8>, depth: u8, limits: Limits, budget: &mut u64, out: &mut Loaded) {
    let kind = archive_kind(&name).or_else(|| {
        if bytes.starts_with(b"PK\x03\x04") {
            Some(ArchiveKind::Zip)
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveKind::TarGz)
        } else {
            None
        }
    });
    let Some(kind) = kind else {
        out.inputs.push(Input { path: name, bytes });
        return;
    };
    if depth >= limits.max_depth {
        return out.findings.push(incomplete(
            name,
            format!("nested {depth} archives deep"),
            "archives nested deeper than the scanner reads",
        ));
    }
    let r = match kind {
        ArchiveKind::Zip => read_zip(&name, &bytes, depth, limits, budget, out),
        ArchiveKind::Tar => read_tar(&name, &bytes[..], depth, limits, budget, out),
        ArchiveKind::TarGz => read_tar(&name, flate2::read::GzDecoder::new(&bytes[..]), depth, limits, budget, out),
    };
    if let Err(why) = r {
        out.findings.push(incomplete(name, why, "the archive could not be read completely"));
    }
}

/// An entry's path inside an archive, if it stays inside.
fn entry_path(archive: &str, inner: &str) -> Result<String, String> {
    let p = inner.replace('\\', "/");
    if p.starts_with('/') || p.split('/').any(|c| c == "..") || p.contains(':') {
        return Err(format!("entry {inner:?} leaves the bundle"));
    }
    Ok(format!("{archive}!{}", p.trim_start_matches("./")))
}

/// Reads at most `limit` bytes of `r`; more is an error.
fn read_capped(mut r: impl Read, limit: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    (&mut r).take(limit + 1).read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.len() as u64 > limit {
        return Err(format!("expands beyond {limit} bytes"));
    }
    Ok(buf)
}

fn read_zip(
    name: &str,
    bytes: &[u8],
    depth: u8,
    limits: Limits,
    budget: &mut u64,
    out: &mut Loaded,
) -> Result<(), String> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    if z.len() > limits.max_entries {
        return Err(format!("{} entries (the limit is {})", z.len(), limits.max_entries));
    }
    for i in 0..z.len() {
        let mut e = match z.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                out.findings.push(incomplete(
                    format!("{name}!#{i}"),
                    e.to_string(),
                    "an archive entry could not be read",
                ));
                continue;
            }
        };
        let inner =
            e.name().map(|n| n.into_owned()).unwrap_or_else(|_| String::from_utf8_lossy(e.name_raw()).into_owned());
        let path = match entry_path(name, &inner) {
            Ok(p) => p,
            Err(why) => {
                out.findings.push(incomplete(format!("{name}!{inner}"), why, "an entry whose path leaves the bundle"));
                continue;
            }
        };
        if e.is_dir() {
            continue;
        }
        if e.is_symlink() {
            let mut target = String::new();
            let _ = e.read_to_string(&mut target);
            if target.starts_with('/') || target.split('/').any(|c| c == "..") {
                out.findings.push(incomplete(path, format!("-> {target}"), "a link that leaves the bundle"));
            }
            continue;
        }
        if e.encrypted() {
            out.findings.push(incomplete(
                path,
                "encrypted entry".into(),
                "a password-protected entry cannot be scanned",
            ));
            continue;
        }
        let (size, packed) = (e.size(), e.compressed_size().max(1));
        if size > limits.max_file || size > *budget || (size > 1 << 20 && size / packed > limits.max_ratio) {
            out.findings.push(incomplete(
                path,
                format!("{size} bytes from {packed}"),
                "an entry too large, or a decompression bomb",
            ));
            continue;
        }
        let data = match read_capped(&mut e, size.min(limits.max_file)) {
            Ok(d) => d,
            Err(why) => {
                out.findings.push(incomplete(path, why, "an entry that expands beyond what it declares"));
                continue;
            }
        };
        *budget = budget.saturating_sub(data.len() as u64);
        add_bytes(path, data, depth + 1, limits, budget, out);
    }
    Ok(())
}

fn read_tar(
    name: &str,
    r: impl Read,
    depth: u8,
    limits: Limits,
    budget: &mut u64,
    out: &mut Loaded,
) -> Result<(), String> {
    let mut a = tar::Archive::new(r);
    let mut n = 0usize;
    for e in a.entries().map_err(|e| e.to_string())? {
        n += 1;
        if n > limits.max_entries {
            return Err(format!("more than {} entries", limits.max_entries));
        }
        let mut e = e.map_err(|e| e.to_string())?;
        let inner = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let path = match entry_path(name, &inner) {
            Ok(p) => p,
            Err(why) => {
                out.findings.push(incomplete(format!("{name}!{inner}"), why, "an entry whose path leaves the bundle"));
                continue;
            }
        };
        let kind = e.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e.link_name().ok().flatten().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            if target.starts_with('/') || target.split('/').any(|c| c == "..") {
                out.findings.push(incomplete(path, format!("-> {target}"), "a link that leaves the bundle"));
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = e.header().size().unwrap_or(u64::MAX);
        if size > limits.max_file || size > *budget {
            out.findings.push(incomplete(path, format!("{size} bytes"), "an entry too large, or a decompression bomb"));
            continue;
        }
        let data = read_capped(&mut e, size).map_err(|w| format!("{inner}: {w}"))?;
        *budget = budget.saturating_sub(data.len() as u64);
        add_bytes(path, data, depth + 1, limits, budget, out);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (n, b) in files {
            w.start_file(
                *n,
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            w.write_all(b).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn tgz_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (n, d) in files {
            let mut h = tar::Header::new_old();
            // The name is written raw: the builder refuses `..`, an attacker's archive does not.
            h.as_old_mut().name[..n.len()].copy_from_slice(n.as_bytes());
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append(&h, *d).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn read(name: &str, bytes: Vec<u8>, limits: Limits) -> Loaded {
        let mut out = Loaded::default();
        let mut budget = limits.max_expanded;
        add_bytes(name.into(), bytes, 0, limits, &mut budget, &mut out);
        out
    }

    #[test]
    fn nested_archives_are_read_in_memory() {
        let inner = tgz_of(&[("s/SKILL.md", b"# s\n"), ("s/run.sh", b"echo hi\n")]);
        let outer = zip_of(&[("bundle/inner.tgz", &inner), ("bundle/README.md", b"hello")]);
        let r = read("b.zip", outer, Limits::default());
        let paths: Vec<&str> = r.inputs.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            ["b.zip!bundle/inner.tgz!s/SKILL.md", "b.zip!bundle/inner.tgz!s/run.sh", "b.zip!bundle/README.md"]
        );
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn bombs_depth_and_escapes_fail_closed() {
        // A bomb: 64 MiB of zeros compress to a few KB.
        let bomb = zip_of(&[("z", &vec![0u8; 64 << 20])]);
        let r = read("bomb.zip", bomb, Limits { max_file: 16 << 20, ..Limits::default() });
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert!(r.inputs.is_empty());
        let mut nested = zip_of(&[("a.txt", b"x")]);
        for k in 0..4 {
            nested = zip_of(&[(&format!("l{k}.zip"), &nested)]);
        }
        let r = read("deep.zip", nested, Limits::default());
        assert!(r.findings.iter().any(|f| f.message.contains("nested deeper")), "{:?}", r.findings);
        let r = read("evil.tgz", tgz_of(&[("../../etc/cron.d/x", b"* * * * * root sh")]), Limits::default());
        assert!(r.findings.iter().any(|f| f.evidence.contains("leaves the bundle")), "{:?}", r.findings);
        let r = read("broken.zip", b"PK\x03\x04garbage".to_vec(), Limits::default());
        assert_eq!(r.findings.len(), 1);
    }
}
