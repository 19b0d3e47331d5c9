//! Argument conditions: a JSON pointer (or `**`: any value anywhere) and one
//! test — glob, path glob, regex, equality, numeric range, CIDR, path prefix.

use std::net::IpAddr;

use serde_json::Value;
use warden_config::ArgMatch;
use warden_core::glob::Glob;

use crate::paths::{self, NormPath, PathGlob};

/// Each argument string is normalised as a path once per decision, however
/// many rules look at it (keyed by the value's address within the arguments).
#[derive(Default)]
pub(crate) struct PathCache {
    map: std::cell::RefCell<std::collections::HashMap<*const Value, NormPath>>,
}

impl PathCache {
    fn with<R>(&self, v: &Value, s: &str, f: impl FnOnce(&NormPath) -> R) -> R {
        let key = v as *const Value;
        if let Some(n) = self.map.borrow().get(&key) {
            return f(n);
        }
        let n = paths::normalize(s);
        let r = f(&n);
        self.map.borrow_mut().insert(key, n);
        r
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArgCond {
    pointer: Option<String>,
    test: Test,
    not: bool,
    source: String,
}

#[derive(Debug, Clone)]
enum Test {
    Glob(Glob),
    PathGlob(PathGlob),
    Regex(regex::Regex),
    Equals(Value),
    Range(Option<f64>, Option<f64>),
    Cidr(IpAddr, u8),
    PathPrefix(NormPath),
}

impl ArgCond {
    pub(crate) fn compile(m: &ArgMatch) -> Result<ArgCond, String> {
        let pointer = m.pointer.0.trim();
        let pointer = match pointer {
            "**" => None,
            p if p.is_empty() || p.starts_with('/') => Some(p.to_string()),
            p => {
                return Err(format!(
                    "pointer {p:?}: use a JSON pointer such as /path or /files/*/path, or ** for any value"
                ));
            }
        };
        let mut tests = Vec::new();
        if let Some(g) = &m.glob {
            let g = g.0.as_str();
            tests.push(if g.starts_with('/') || g.starts_with('~') {
                Test::PathGlob(PathGlob::new(g)?)
            } else {
                Test::Glob(Glob::new(g).map_err(|e| e.to_string())?)
            });
        }
        if let Some(r) = &m.regex {
            let re = regex::RegexBuilder::new(&r.0)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("invalid regex {:?}: {e}", r.0))?;
            tests.push(Test::Regex(re));
        }
        if let Some(v) = &m.equals {
            tests.push(Test::Equals(v.clone()));
        }
        if let Some(r) = &m.range {
            if r.min.is_none() && r.max.is_none() {
                return Err("range: give min, max or both".into());
            }
            if let (Some(a), Some(b)) = (r.min, r.max)
                && a > b
            {
                return Err(format!("range: min {a} is greater than max {b}, so it can never match"));
            }
            tests.push(Test::Range(r.min, r.max));
        }
        if let Some(c) = &m.cidr {
            tests.push(parse_cidr(&c.0)?);
        }
        if let Some(p) = &m.path_prefix {
            let n = paths::normalize(&p.0);
            if n.anchor == paths::Anchor::Relative {
                return Err(format!("path_prefix {:?} must start with / or ~", p.0));
            }
            tests.push(Test::PathPrefix(n));
        }
        if tests.len() != 1 {
            return Err("give exactly one of glob, regex, equals, range, cidr, path_prefix".into());
        }
        let source = format!("{} {}", m.pointer.0, describe(&tests[0]));
        Ok(ArgCond { pointer, test: tests.pop().unwrap(), not: m.not, source })
    }

    pub(crate) fn describe(&self) -> String {
        if self.not { format!("not {}", self.source) } else { self.source.clone() }
    }

    /// `restrictive`: the rule restricts (deny, approval), so a relative path
    /// (unknown directory) is read conservatively, as if it could be anywhere.
    pub(crate) fn holds(&self, args: &Value, restrictive: bool, cache: &PathCache) -> bool {
        let unanchored = restrictive != self.not;
        let mut values = Vec::new();
        match &self.pointer {
            None => leaves(args, &mut values),
            Some(p) => {
                for v in resolve(args, p) {
                    match v {
                        Value::Array(items) if !matches!(self.test, Test::Equals(_)) => values.extend(items.iter()),
                        v => values.push(v),
                    }
                }
            }
        }
        let hit = values.iter().any(|v| self.test_one(v, unanchored, cache));
        hit != self.not
    }

    fn test_one(&self, v: &Value, unanchored: bool, cache: &PathCache) -> bool {
        if let Test::PathGlob(_) | Test::PathPrefix(_) = &self.test
            && let Value::String(s) = v
        {
            return cache.with(v, s, |n| match &self.test {
                Test::PathGlob(g) => g.matches(n, unanchored),
                Test::PathPrefix(p) => paths::has_prefix(p, n, unanchored),
                _ => unreachable!(),
            });
        }
        let text = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match &self.test {
            Test::Equals(want) => v == want,
            Test::Range(min, max) => {
                let n = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                n.is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m))
            }
            Test::Glob(g) => text.is_some_and(|t| g.matches(&t)),
            Test::Regex(r) => text.is_some_and(|t| r.is_match(&t)),
            Test::PathGlob(g) => text.is_some_and(|t| g.matches(&paths::normalize(&t), unanchored)),
            Test::PathPrefix(p) => text.is_some_and(|t| paths::has_prefix(p, &paths::normalize(&t), unanchored)),
            Test::Cidr(net, bits) => text
                .and_then(|t| parse_ip(t.trim().trim_matches(|c| c == '[' || c == ']')))
                .is_some_and(|ip| in_network(ip, *net, *bits)),
        }
    }
}

fn describe(t: &Test) -> String {
    match t {
        Test::Glob(g) => format!("glob {:?}", g.as_str()),
        Test::PathGlob(g) => format!("path glob {:?}", g.as_str()),
        Test::Regex(r) => format!("regex {:?}", r.as_str()),
        Test::Equals(v) => format!("equals {v}"),
        Test::Range(a, b) => format!(
            "in [{}, {}]",
            a.map_or("-inf".into(), |v| v.to_string()),
            b.map_or("inf".into(), |v| v.to_string())
        ),
        Test::Cidr(n, b) => format!("in {n}/{b}"),
        Test::PathPrefix(p) => format!("under {}", p.render()),
    }
}

/// RFC 6901 pointer where a `*` segment fans out over every element or member.
fn resolve<'a>(root: &'a Value, pointer: &str) -> Vec<&'a Value> {
    if !pointer.contains("/*") {
        return root.pointer(pointer).into_iter().collect();
    }
    let mut cur = vec![root];
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for v in cur {
            match (v, seg.as_str()) {
                (Value::Array(a), "*") => next.extend(a.iter()),
                (Value::Object(o), "*") => next.extend(o.values()),
                (Value::Array(a), s) => next.extend(s.parse::<usize>().ok().and_then(|i| a.get(i))),
                (Value::Object(o), s) => next.extend(o.get(s)),
                _ => {}
            }
        }
        cur = next;
    }
    cur
}

fn leaves<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| leaves(x, out)),
        other => out.push(other),
    }
}

fn parse_cidr(s: &str) -> Result<Test, String> {
    let (addr, bits) = s.split_once('/').unwrap_or((s, ""));
    let ip: IpAddr = addr.trim().parse().map_err(|_| format!("invalid CIDR {s:?}"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits =
        if bits.is_empty() { max } else { bits.trim().parse::<u8>().map_err(|_| format!("invalid CIDR {s:?}"))? };
    if bits > max {
        return Err(format!("invalid CIDR {s:?}: prefix longer than {max}"));
    }
    Ok(Test::Cidr(ip, bits))
}

/// An address as a resolver would read it: besides the canonical forms, the
/// `inet_aton` spellings (`2130706433`, `0x7f.1`, `0177.0.0.1`) that would
/// otherwise slip past a CIDR rule.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let n = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        nums.push(n);
    }
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (4 - head.len())) {
        return None;
    }
    let mut v: u32 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= (*n as u32) << (24 - 8 * i);
    }
    Some(IpAddr::V4(std::net::Ipv4Addr::from(v | *last as u32)))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    // IPv4-mapped IPv6 addresses are compared as IPv4.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
