//! Downstream MCP sessions. A session is bound to the identity that created
//! it; any other identity presenting its id is told it does not exist.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use warden_core::identity::{Agent, Identity};
use warden_core::jsonrpc::IdKey;
use warden_mcp::ServerRequest;

pub struct Session {
    pub id: String,
    /// The agent this session is bound to (never changes).
    pub agent_name: String,
    /// That agent's current definition: refreshed when its access rules change.
    agent: arc_swap::ArcSwap<Agent>,
    pub protocol_version: String,
    pub client_capabilities: Value,
    /// Minimum severity the client asked for with `logging/setLevel` (syslog order, 0 = debug).
    pub log_level: Mutex<Option<u8>>,
    pub subscriptions: Mutex<HashSet<String>>,
    /// The standalone GET stream, when one is open.
    pub stream: Mutex<Option<mpsc::Sender<Value>>>,
    /// Requests in flight, by the client's id: firing the sender cancels the call.
    pub inflight: Mutex<HashMap<IdKey, oneshot::Sender<()>>>,
    /// Server→client requests relayed to this client and awaiting its answer.
    pub relayed: Mutex<HashMap<String, ServerRequest>>,
    next_relay: AtomicU64,
    last_active: Mutex<Instant>,
    /// What the session has read so far, for the information-flow rule.
    pub flags: Mutex<warden_policy::SessionFlags>,
}

impl Session {
    pub fn agent(&self) -> Arc<Agent> {
        self.agent.load_full()
    }

    /// Swaps in the caller's current agent definition when it changed.
    pub fn refresh(&self, who: &Identity) {
        if !Arc::ptr_eq(&self.agent.load(), &who.agent) {
            self.agent.store(who.agent.clone());
        }
    }

    /// Ends the GET stream and cancels every call in flight.
    pub fn close(&self) {
        self.stream.lock().unwrap().take();
        for (_, cancel) in self.inflight.lock().unwrap().drain() {
            let _ = cancel.send(());
        }
        self.relayed.lock().unwrap().clear();
    }

    /// Records the labels of a call let through, for the information-flow rule.
    /// Counted when the call is let through: the conservative reading of "has returned data".
    pub fn note_labels(&self, labels: &[warden_config::ToolLabel]) {
        let mut f = self.flags.lock().unwrap();
        *f = crate::pipeline::govern::flags_after(*f, labels);
    }

    pub fn touch(&self) {
        *self.last_active.lock().unwrap() = Instant::now();
    }

    pub fn relay_id(&self) -> String {
        format!("warden-{}", self.next_relay.fetch_add(1, Ordering::Relaxed))
    }

    /// Pushes a message on the GET stream; false when none is open.
    pub fn push(&self, msg: Value) -> bool {
        let tx = self.stream.lock().unwrap().clone();
        match tx {
            Some(tx) => tx.try_send(msg).is_ok(),
            None => false,
        }
    }

    fn idle_for(&self) -> Duration {
        self.last_active.lock().unwrap().elapsed()
    }

    fn busy(&self) -> bool {
        self.stream.lock().unwrap().as_ref().is_some_and(|s| !s.is_closed())
            || !self.inflight.lock().unwrap().is_empty()
    }
}

pub const LOG_LEVELS: &[&str] = &["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

pub fn log_level_rank(level: &str) -> Option<u8> {
    LOG_LEVELS.iter().position(|l| *l == level).map(|i| i as u8)
}

#[derive(Default)]
pub struct Sessions {
    map: RwLock<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub fn create(&self, identity: Identity, protocol_version: String, client_capabilities: Value) -> Arc<Session> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let s = Arc::new(Session {
            id: id.clone(),
            agent_name: identity.agent.name.clone(),
            agent: arc_swap::ArcSwap::new(identity.agent),
            protocol_version,
            client_capabilities,
            log_level: Mutex::new(None),
            subscriptions: Mutex::new(HashSet::new()),
            stream: Mutex::new(None),
            inflight: Mutex::new(HashMap::new()),
            relayed: Mutex::new(HashMap::new()),
            next_relay: AtomicU64::new(1),
            last_active: Mutex::new(Instant::now()),
            flags: Mutex::new(Default::default()),
        });
        self.map.write().unwrap().insert(id, s.clone());
        s
    }

    /// The session, only if it belongs to `identity`.
    pub fn get(&self, id: &str, identity: &Identity) -> Option<Arc<Session>> {
        let s = self.map.read().unwrap().get(id).cloned()?;
        (s.agent_name == identity.agent.name).then_some(s)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.map.write().unwrap().remove(id)
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.map.read().unwrap().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops sessions idle longer than `ttl` with nothing open; returns them.
    pub fn reap(&self, ttl: Duration) -> Vec<Arc<Session>> {
        let mut map = self.map.write().unwrap();
        let dead: Vec<String> =
            map.iter().filter(|(_, s)| !s.busy() && s.idle_for() > ttl).map(|(k, _)| k.clone()).collect();
        dead.iter().filter_map(|k| map.remove(k)).collect()
    }

    /// Removes and closes every session of `agent`.
    pub fn remove_agent(&self, agent: &str) -> Vec<Arc<Session>> {
        let mut map = self.map.write().unwrap();
        let ids: Vec<String> = map.iter().filter(|(_, s)| s.agent_name == agent).map(|(k, _)| k.clone()).collect();
        let gone: Vec<Arc<Session>> = ids.iter().filter_map(|k| map.remove(k)).collect();
        drop(map);
        for s in &gone {
            s.close();
        }
        gone
    }

    /// Ends every GET stream (used when draining).
    pub fn close_streams(&self) {
        for s in self.all() {
            s.stream.lock().unwrap().take();
        }
    }
}
