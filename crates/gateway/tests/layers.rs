//! The gateway's module layering, checked on its source: no front door
//! imports another, the shared helpers, the pipeline and telemetry import no
//! door, only the crate root uses the route table, and the model stream relay
//! never imports the proxy. See docs/ARCHITECTURE.md, "Inside the gateway".

use std::path::{Path, PathBuf};

const DOORS: &[&str] = &["mcp", "llm", "admin"];

/// The layer a source file belongs to, from its path under `src/`.
fn layer_of(rel: &str) -> String {
    match rel.split('/').next().unwrap_or("") {
        "lib.rs" => "root".into(),
        "routes.rs" => "routes".into(),
        "http.rs" => "http".into(),
        top => top.to_string(),
    }
}

/// The layer a `crate::…` path points into (its first segment).
fn target_of(first: &str) -> String {
    match first {
        "admin" | "llm" | "mcp" | "pipeline" | "telemetry" | "http" | "routes" => first.into(),
        // `crate::Gateway`, `crate::Limits`, `crate::serve`: the shared state at the root.
        _ => "root".into(),
    }
}

/// Drops `//` comments (doc comments included) and string literals, so prose
/// and messages that mention a module do not count as imports.
fn code_only(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
        out.push('\n');
    }
    out
}

/// Every path a file names through `crate::`, with `use crate::{a::b, c}`
/// groups expanded one level: `["a::b", "c"]`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `warden_crate::…`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    found.push(std::mem::take(&mut item).trim().to_string());
                } else {
                    item.push(c);
                }
            }
            found.push(item.trim().to_string());
        } else {
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            found.push(path);
        }
    }
    found.into_iter().filter(|p| !p.is_empty()).collect()
}

/// The rule a reference from `rel` to `path` breaks, if any.
fn violation(rel: &str, path: &str) -> Option<String> {
    let from = layer_of(rel);
    let first = path.split("::").next().unwrap_or("");
    let to = target_of(first);
    let door = |l: &str| DOORS.contains(&l);
    let why = if to == "root" || to == from && from != "llm" {
        None
    } else if to == "routes" && from != "root" {
        Some("only the crate root uses the route table")
    } else if door(&from) && door(&to) && from != to {
        Some("a door imports another door")
    } else if matches!(from.as_str(), "http" | "pipeline" | "telemetry") && (door(&to) || to == "routes") {
        Some("helpers, the pipeline and telemetry never import a door")
    } else if from == "telemetry" && to != "telemetry" {
        Some("telemetry imports only itself and the root")
    } else if from == "http" && to == "pipeline" {
        Some("the HTTP helpers import no pipeline stage")
    } else if from == "llm" && to == "llm" {
        let file = rel.trim_start_matches("llm/");
        let module = path.split("::").nth(1).unwrap_or("");
        match (file, module) {
            ("stream.rs" | "call.rs" | "propose.rs" | "models.rs", "proxy") => {
                Some("the model door's shared parts never import the proxy")
            }
            ("call.rs" | "propose.rs" | "models.rs", "stream") => Some("shared parts never import the stream relay"),
            _ => None,
        }
    } else {
        None
    };
    why.map(|w| format!("{rel}: crate::{path}: {w}"))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn check_file(rel: &str, src: &str) -> Vec<String> {
    let code = code_only(src);
    let mut v: Vec<String> = crate_paths(&code).iter().filter_map(|p| violation(rel, p)).collect();
    if code.contains("super::super") {
        v.push(format!("{rel}: super::super reaches past its own folder; name the path from crate::"));
    }
    v
}

#[test]
fn doors_stay_apart() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "expected the gateway's sources under {}", src.display());
    let mut problems = Vec::new();
    let mut door_files = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        door_files += usize::from(DOORS.contains(&layer_of(&rel).as_str()));
        problems.extend(check_file(&rel, &std::fs::read_to_string(f).unwrap()));
    }
    assert!(door_files >= 10, "the doors' folders moved: found {door_files} files in {DOORS:?}");
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_each_kind_of_violation() {
    let cases = [
        ("mcp/edge.rs", "use crate::llm::proxy::oai_error;", "a door imports another door"),
        ("admin/decide.rs", "use crate::{Gateway, mcp::session::Session};", "a door imports another door"),
        ("pipeline/govern.rs", "let x = crate::admin::inventory::publish(gw);", "never import a door"),
        ("telemetry/otlp.rs", "use crate::pipeline::guard::Report;", "telemetry imports only itself"),
        ("http.rs", "use crate::mcp::session::Session;", "never import a door"),
        ("mcp/dispatch.rs", "crate::routes::router(gw)", "route table"),
        ("llm/stream.rs", "use crate::llm::proxy::oai_error;", "never import the proxy"),
        ("admin/api.rs", "use super::super::mcp::Session;", "super::super"),
    ];
    for (rel, code, want) in cases {
        let got = check_file(rel, code);
        assert!(got.iter().any(|g| g.contains(want)), "{rel}: {code:?} should break {want:?}, got {got:?}");
    }
    let fine = [
        ("mcp/edge.rs", "use crate::http::{admit, json_response};\nuse crate::Gateway;"),
        ("llm/proxy.rs", "use crate::llm::stream::relay; use crate::llm::call::Call;"),
        ("pipeline/govern.rs", "use crate::telemetry::otlp::Trace; // crate::mcp::x in a comment"),
        ("admin/api.rs", "let m = \"crate::mcp::dispatch\"; use crate::pipeline::govern;"),
        ("routes.rs", "use crate::{llm, mcp}; use crate::admin::{api, decide};"),
    ];
    for (rel, code) in fine {
        assert_eq!(check_file(rel, code), Vec::<String>::new(), "{rel}: {code:?}");
    }
}
