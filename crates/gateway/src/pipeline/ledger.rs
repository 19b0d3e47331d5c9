//! One action, decided once, whichever door sees it first. An OpenClaw tool
//! call can reach Warden three times: proposed in the model's answer (`/v1`),
//! asked by the agent's pre-tool hook (`/api/v1/decide`), and, for Warden's
//! own MCP tools, called at `/mcp`. The ledger remembers, per agent and
//! tool-call id, how the first door settled it, so the next door reuses that
//! decision (no second hold, no second rate-limit token) and every record of
//! the action carries the same `call_id`.
//!
//! It is memory of this replica only, bounded in size and age: a door that
//! finds nothing decides afresh, which is always safe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a settled call is remembered: longer than any approval hold at `/v1`.
const TTL: Duration = Duration::from_secs(30 * 60);
/// At twice this many entries, expired ones are dropped, then the oldest
/// until this many are left: a full sweep once per `SOFT_MAX` inserts at most.
const SOFT_MAX: usize = 50_000;

/// How the first door settled one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// `llm` or `decide`: the door that decided.
    pub entry: &'static str,
    pub tool: String,
    pub args_digest: String,
    /// The final verdict: `allow` (approved calls included), `deny`, `approval_denied`, …
    pub verdict: String,
    pub rule: String,
    pub tier: String,
    pub reason: String,
    /// The approval that released it, if a human did.
    pub approval: String,
}

impl Settled {
    pub fn allowed(&self) -> bool {
        self.verdict == "allow" || self.verdict == "audit"
    }
}

/// (agent, tool, args digest) → (call id, when).
type McpExpectations = HashMap<(String, String, String), (String, Instant)>;

#[derive(Default)]
pub struct Ledger {
    calls: Mutex<HashMap<(String, String), (Settled, Instant)>>,
    /// Warden MCP tools proposed at `/v1` and left to `/mcp`: (agent, tool,
    /// args digest) → call id, so the `/mcp` record links to the proposal.
    at_mcp: Mutex<McpExpectations>,
}

fn prune<K: Clone + Eq + std::hash::Hash, V>(m: &mut HashMap<K, (V, Instant)>, now: Instant) {
    if m.len() < 2 * SOFT_MAX {
        return;
    }
    m.retain(|_, (_, at)| now.duration_since(*at) < TTL);
    if m.len() > SOFT_MAX {
        let mut ages: Vec<(K, Instant)> = m.iter().map(|(k, (_, at))| (k.clone(), *at)).collect();
        ages.sort_by_key(|(_, at)| *at);
        let excess = m.len() - SOFT_MAX;
        for (k, _) in ages.into_iter().take(excess) {
            m.remove(&k);
        }
    }
}

impl Ledger {
    /// Remembers how `call_id` of `agent` was settled. An empty id is not remembered.
    pub fn settle(&self, agent: &str, call_id: &str, s: Settled) {
        self.settle_at(agent, call_id, s, Instant::now());
    }

    /// Remembers how the door `a` came through settled it (its agent, call id,
    /// tool and argument digest).
    pub fn settle_action(
        &self,
        a: &crate::pipeline::govern::Action,
        verdict: &str,
        rule: &str,
        tier: &str,
        reason: &str,
        approval: &str,
    ) {
        let s = Settled {
            entry: a.entry.as_str(),
            tool: a.tool.clone(),
            args_digest: a.args_digest(),
            verdict: verdict.into(),
            rule: rule.into(),
            tier: tier.into(),
            reason: reason.into(),
            approval: approval.into(),
        };
        self.settle(&a.agent.name, &a.call_id, s);
    }

    fn settle_at(&self, agent: &str, call_id: &str, s: Settled, now: Instant) {
        if call_id.is_empty() {
            return;
        }
        let mut m = self.calls.lock().unwrap();
        prune(&mut m, now);
        m.insert((agent.to_string(), call_id.to_string()), (s, now));
    }

    /// The earlier settlement of this call, if it was for the same tool and
    /// the same arguments; a call id reused for anything else finds nothing.
    pub fn settled(&self, agent: &str, call_id: &str, tool: &str, args_digest: &str) -> Option<Settled> {
        self.settled_at(agent, call_id, tool, args_digest, Instant::now())
    }

    fn settled_at(&self, agent: &str, call_id: &str, tool: &str, digest: &str, now: Instant) -> Option<Settled> {
        if call_id.is_empty() {
            return None;
        }
        let m = self.calls.lock().unwrap();
        let (s, at) = m.get(&(agent.to_string(), call_id.to_string()))?;
        (now.duration_since(*at) < TTL && s.tool == tool && s.args_digest == digest).then(|| s.clone())
    }

    /// Any settlement of this call id, whatever the tool (for outcome reports).
    pub fn any(&self, agent: &str, call_id: &str) -> Option<Settled> {
        let m = self.calls.lock().unwrap();
        m.get(&(agent.to_string(), call_id.to_string())).filter(|(_, at)| at.elapsed() < TTL).map(|(s, _)| s.clone())
    }

    /// A Warden MCP tool proposed at `/v1` whose decision is left to `/mcp`.
    pub fn expect_at_mcp(&self, agent: &str, tool: &str, args_digest: &str, call_id: &str) {
        if call_id.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut m = self.at_mcp.lock().unwrap();
        prune(&mut m, now);
        m.insert((agent.into(), tool.into(), args_digest.into()), (call_id.into(), now));
    }

    /// The call id of the proposal this `/mcp` call carries out, taken once.
    pub fn take_mcp_call_id(&self, agent: &str, tool: &str, args_digest: &str) -> Option<String> {
        let mut m = self.at_mcp.lock().unwrap();
        let (id, at) = m.remove(&(agent.to_string(), tool.to_string(), args_digest.to_string()))?;
        (at.elapsed() < TTL).then_some(id)
    }

    pub fn len(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(tool: &str, digest: &str) -> Settled {
        Settled {
            entry: "llm",
            tool: tool.into(),
            args_digest: digest.into(),
            verdict: "allow".into(),
            rule: "r".into(),
            tier: "high".into(),
            reason: "approved".into(),
            approval: "apr_1".into(),
        }
    }

    #[test]
    fn a_call_is_found_only_for_the_same_agent_tool_and_arguments() {
        let l = Ledger::default();
        l.settle("bot", "call_1", allow("exec", "d1"));
        assert_eq!(l.settled("bot", "call_1", "exec", "d1").map(|s| s.approval), Some("apr_1".into()));
        assert!(l.settled("bot", "call_1", "exec", "d2").is_none(), "other arguments");
        assert!(l.settled("bot", "call_1", "write", "d1").is_none(), "other tool");
        assert!(l.settled("other", "call_1", "exec", "d1").is_none(), "other agent");
        assert!(l.settled("bot", "call_2", "exec", "d1").is_none(), "other call");
        assert!(l.settled("bot", "", "exec", "d1").is_none(), "no id");
        l.settle("bot", "", allow("exec", "d1"));
        assert_eq!(l.len(), 1, "an empty id is not remembered");
        assert!(l.any("bot", "call_1").is_some_and(|s| s.allowed()));
    }

    #[test]
    fn settlements_expire() {
        let l = Ledger::default();
        let then = Instant::now();
        l.settle_at("bot", "c", allow("exec", "d"), then);
        assert!(l.settled_at("bot", "c", "exec", "d", then + TTL - Duration::from_secs(1)).is_some());
        assert!(l.settled_at("bot", "c", "exec", "d", then + TTL).is_none());
    }

    #[test]
    fn the_ledger_stays_bounded() {
        let l = Ledger::default();
        let start = Instant::now();
        for i in 0..(2 * SOFT_MAX + 10) {
            l.settle_at("bot", &format!("c{i}"), allow("exec", "d"), start + Duration::from_millis(i as u64));
        }
        assert!(l.len() <= 2 * SOFT_MAX, "{} entries", l.len());
        let last = format!("c{}", 2 * SOFT_MAX + 9);
        assert!(l.settled_at("bot", &last, "exec", "d", start + Duration::from_secs(200)).is_some(), "newest kept");
    }

    #[test]
    fn an_mcp_expectation_is_taken_once() {
        let l = Ledger::default();
        l.expect_at_mcp("bot", "echo", "d", "call_9");
        assert_eq!(l.take_mcp_call_id("bot", "echo", "x"), None);
        assert_eq!(l.take_mcp_call_id("bot", "echo", "d"), Some("call_9".into()));
        assert_eq!(l.take_mcp_call_id("bot", "echo", "d"), None);
    }
}
