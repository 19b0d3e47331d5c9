//! The merged view of every healthy upstream's tools, resources, templates and
//! prompts, with `<prefix>__` names. Rebuilt whenever an upstream connects,
//! disconnects or announces a list change; read lock-free on every request.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use warden_core::names;

/// One upstream's lists, as fetched (after its `tools.include/exclude`).
#[derive(Debug, Default, Clone)]
pub struct UpstreamLists {
    pub tools: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
    pub prompts: Vec<Value>,
}

#[derive(Debug)]
pub struct Entry {
    /// The name (tools, prompts) or URI (resources, templates) agents see, NFC.
    pub exposed: String,
    pub upstream: usize,
    /// The upstream's own name for it.
    pub original: String,
    /// The item as agents see it (name rewritten).
    pub item: Value,
}

#[derive(Debug, Default)]
pub struct Section {
    pub entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Section {
    pub fn get(&self, exposed: &str) -> Option<&Entry> {
        self.index.get(names::nfc_cow(exposed).as_ref()).map(|&i| &self.entries[i])
    }

    /// Adds `e`; on a name collision leaves it out, reports it in `conflicts`
    /// and returns the upstream that already exposes the name.
    fn push(&mut self, e: Entry, kind: &str, upstream_names: &[String], conflicts: &mut Vec<String>) -> Option<usize> {
        if let Some(&prev) = self.index.get(&e.exposed) {
            let fix = if kind.starts_with("resource") {
                "URIs are not prefixed; leave it out of one of them with `resources.exclude`"
            } else {
                "set a distinct `prefix` on one of them"
            };
            conflicts.push(format!(
                "{kind} {:?} is exposed by both upstream {:?} and upstream {:?}; {fix}",
                e.exposed, upstream_names[self.entries[prev].upstream], upstream_names[e.upstream]
            ));
            return Some(self.entries[prev].upstream);
        }
        self.index.insert(e.exposed.clone(), self.entries.len());
        self.entries.push(e);
        None
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Section,
    pub prompts: Section,
    pub resources: Section,
    pub templates: Section,
    /// Name collisions found while merging (the later upstream's item is left out).
    pub conflicts: Vec<String>,
    /// The tool collisions among them: (exposed name, upstream kept, upstream left out).
    pub tool_collisions: Vec<(String, usize, usize)>,
    /// Which upstreams contributed (healthy and listed).
    pub present: Vec<bool>,
}

impl Catalog {
    pub fn has_upstream(&self, i: usize) -> bool {
        self.present.get(i).copied().unwrap_or(false)
    }

    /// The exposed names of upstream `i`'s tools.
    pub fn tool_names_of(&self, i: usize) -> Vec<String> {
        self.tools.entries.iter().filter(|e| e.upstream == i).map(|e| e.exposed.clone()).collect()
    }

    pub fn build(
        upstream_names: &[String],
        prefixes: &[Option<String>],
        lists: &[Option<Arc<UpstreamLists>>],
    ) -> Catalog {
        let mut c = Catalog { present: lists.iter().map(Option::is_some).collect(), ..Catalog::default() };
        for (u, l) in lists.iter().enumerate() {
            let Some(l) = l else { continue };
            let prefix = prefixes[u].as_deref();
            for t in &l.tools {
                if let Some(e) = named(u, prefix, t, "name") {
                    let name = e.exposed.clone();
                    if let Some(kept) = c.tools.push(e, "tool", upstream_names, &mut c.conflicts) {
                        c.tool_collisions.push((name, kept, u));
                    }
                }
            }
            for p in &l.prompts {
                if let Some(e) = named(u, prefix, p, "name") {
                    c.prompts.push(e, "prompt", upstream_names, &mut c.conflicts);
                }
            }
            for r in &l.resources {
                if let Some(e) = by_uri(u, prefix, r, "uri") {
                    c.resources.push(e, "resource", upstream_names, &mut c.conflicts);
                }
            }
            for t in &l.templates {
                if let Some(e) = by_uri(u, prefix, t, "uriTemplate") {
                    c.templates.push(e, "resource template", upstream_names, &mut c.conflicts);
                }
            }
        }
        c
    }

    /// Routes a resource URI: an exact listed resource, else the first template it matches.
    pub fn resource_route(&self, uri: &str) -> Option<&Entry> {
        self.resources.get(uri).or_else(|| self.templates.entries.iter().find(|t| template_matches(&t.original, uri)))
    }
}

fn named(upstream: usize, prefix: Option<&str>, item: &Value, key: &str) -> Option<Entry> {
    let original = item.get(key)?.as_str()?.to_string();
    let exposed = names::exposed(prefix, &original);
    let mut item = item.clone();
    item[key] = Value::String(exposed.clone());
    Some(Entry { exposed, upstream, original, item })
}

/// Resources keep their URI (clients echo it back and content embeds it); only
/// the display `name` gets the prefix.
fn by_uri(upstream: usize, prefix: Option<&str>, item: &Value, key: &str) -> Option<Entry> {
    let uri = item.get(key)?.as_str()?.to_string();
    let mut item = item.clone();
    if let (Some(p), Some(n)) = (prefix, item.get("name").and_then(Value::as_str)) {
        item["name"] = Value::String(names::exposed(Some(p), n));
    }
    Some(Entry { exposed: names::nfc(&uri), upstream, original: uri, item })
}

/// RFC 6570 level-1 matching: each `{var}` matches one non-empty run without `/`.
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut rest = uri;
    let mut parts = template.split('{');
    let Some(head) = parts.next() else {
        return false;
    };
    let Some(r) = rest.strip_prefix(head) else {
        return false;
    };
    rest = r;
    for part in parts {
        let Some((_, lit)) = part.split_once('}') else {
            return false;
        };
        let end = if lit.is_empty() {
            rest.find('/').unwrap_or(rest.len())
        } else {
            match rest.find(lit) {
                Some(i) => i,
                None => return false,
            }
        };
        if end == 0 || rest[..end].contains('/') {
            return false;
        }
        rest = &rest[end + lit.len()..];
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lists(tools: &[&str]) -> Option<Arc<UpstreamLists>> {
        Some(Arc::new(UpstreamLists {
            tools: tools.iter().map(|t| json!({"name": t, "inputSchema": {"type": "object"}})).collect(),
            resources: vec![json!({"uri": format!("x://{}", tools[0]), "name": "r"})],
            templates: vec![json!({"uriTemplate": "t://{id}/data", "name": "t"})],
            prompts: vec![],
        }))
    }

    #[test]
    fn prefixes_and_lookup() {
        let names = vec!["a".to_string(), "b".to_string()];
        let c =
            Catalog::build(&names, &[Some("a".into()), Some("b".into())], &[lists(&["echo"]), lists(&["echo", "rm"])]);
        assert_eq!(c.tools.entries.len(), 3);
        let e = c.tools.get("b__rm").unwrap();
        assert_eq!((e.upstream, e.original.as_str()), (1, "rm"));
        assert_eq!(e.item["name"], "b__rm");
        assert!(c.tools.get("rm").is_none());
        assert!(c.tools.get("B__rm").is_none());
        // The resource x://echo and the template are in both upstreams: both are reported.
        assert_eq!(c.conflicts.len(), 2, "{:?}", c.conflicts);
        assert_eq!(c.resources.get("x://echo").unwrap().item["name"], "a__r");
    }

    #[test]
    fn collision_without_prefix_names_both() {
        let names = vec!["one".to_string(), "two".to_string()];
        let c = Catalog::build(&names, &[None, None], &[lists(&["echo"]), lists(&["echo2", "echo"])]);
        assert!(
            c.conflicts.iter().any(|m| m.contains("\"echo\"") && m.contains("\"one\"") && m.contains("\"two\"")),
            "{:?}",
            c.conflicts
        );
        assert_eq!(c.tools.get("echo").unwrap().upstream, 0);
        assert_eq!(c.tool_collisions, vec![("echo".to_string(), 0, 1)]);
    }

    #[test]
    fn templates() {
        assert!(template_matches("test://template/{id}/data", "test://template/42/data"));
        assert!(!template_matches("test://template/{id}/data", "test://template//data"));
        assert!(!template_matches("test://template/{id}/data", "test://template/4/2/data"));
        assert!(template_matches("demo://notes/{id}", "demo://notes/7"));
        assert!(!template_matches("demo://notes/{id}", "demo://notes/7/x"));
        assert!(!template_matches("demo://notes/{id}", "other://notes/7"));
    }
}
