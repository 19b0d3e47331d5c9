//! The upstream supervisor: connect, hand the connection to the gateway,
//! notice when it dies, reconnect with exponential backoff.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::Value;
use tokio::sync::watch;

use crate::connection::{Connection, ServerRequest, Unsolicited, UpstreamError, Wire};

#[derive(Debug, Clone)]
pub enum TransportSpec {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<String>,
        /// Environment variables whose values are credentials, resolved at each start.
        secret_env: Option<Arc<dyn EnvSource>>,
        /// Variables of Warden's environment the child must not inherit.
        hide_env: Vec<String>,
    },
    Http {
        url: reqwest::Url,
        headers: HeaderMap,
        /// Warden's own credential: the shared connection (discovery, lists, notifications).
        auth: Option<Arc<dyn crate::http::HeaderSource>>,
        /// Credentials scoped to one agent: its calls run on a connection of its own.
        per_agent: Option<Arc<dyn AgentAuth>>,
    },
}

/// Credentials for a child's environment, resolved when it starts. One that
/// cannot be resolved stops the start: the child never runs without it.
pub trait EnvSource: Send + Sync + std::fmt::Debug {
    fn env(&self) -> futures::future::BoxFuture<'_, Result<Vec<(String, String)>, String>>;
}

/// Which credential one agent's calls carry to an upstream.
pub enum AgentCredential {
    /// The shared connection, under Warden's own credential.
    Shared,
    /// A connection of the agent's own, carrying these headers. A faithful
    /// upstream binds its session to the identity that opened it, so one
    /// session cannot serve two identities.
    Own(Arc<dyn crate::http::HeaderSource>),
    /// No credential may be used for this agent: the call is refused, never sent.
    Refused(String),
}

pub trait AgentAuth: Send + Sync + std::fmt::Debug {
    fn for_agent(&self, agent: &str) -> AgentCredential;
    /// The agent's connection closed for good (suspension, offboarding, idle):
    /// drop whatever was cached for it (tokens).
    fn forget(&self, _agent: &str) {}
}

/// An agent's own connection closes after this long without a call.
const AGENT_IDLE: Duration = Duration::from_secs(600);

struct AgentSlot {
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
    last_used: Mutex<Instant>,
}

#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    pub transport: TransportSpec,
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthState {
    Connecting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone)]
pub struct Health {
    pub state: HealthState,
    pub last_error: Option<String>,
    pub since: Instant,
    pub connects: u64,
}

/// What the gateway wants to hear from an upstream.
pub trait UpstreamEvents: Send + Sync + 'static {
    fn connected(&self, upstream: &Arc<Upstream>, conn: &Arc<Connection>);
    fn disconnected(&self, upstream: &Arc<Upstream>);
    /// A notification outside any call (list_changed, resources/updated, logging).
    fn notification(&self, upstream: &Arc<Upstream>, msg: Value);
    /// A server→client request outside any call.
    fn request(&self, upstream: &Arc<Upstream>, req: ServerRequest);
}

pub struct Upstream {
    pub spec: UpstreamSpec,
    conn: RwLock<Option<Arc<Connection>>>,
    health: Mutex<Health>,
    stop: watch::Sender<bool>,
    client: reqwest::Client,
    /// Agents' own connections (upstreams with per-agent credentials only).
    agents: Mutex<std::collections::HashMap<String, Arc<AgentSlot>>>,
    events: std::sync::OnceLock<Arc<dyn UpstreamEvents>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("name", &self.spec.name).finish()
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lived this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);

impl Upstream {
    pub fn new(spec: UpstreamSpec, client: reqwest::Client) -> Arc<Upstream> {
        Arc::new(Upstream {
            spec,
            conn: RwLock::new(None),
            health: Mutex::new(Health {
                state: HealthState::Connecting,
                last_error: None,
                since: Instant::now(),
                connects: 0,
            }),
            stop: watch::channel(false).0,
            client,
            agents: Mutex::new(std::collections::HashMap::new()),
            events: std::sync::OnceLock::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The live connection, if the upstream is healthy.
    pub fn connection(&self) -> Option<Arc<Connection>> {
        self.conn.read().unwrap().clone().filter(|c| !c.is_closed())
    }

    pub fn health(&self) -> Health {
        self.health.lock().unwrap().clone()
    }

    fn set_health(&self, state: HealthState, err: Option<String>) {
        let mut h = self.health.lock().unwrap();
        if state == HealthState::Healthy {
            h.connects += 1;
        }
        h.state = state;
        h.last_error = err;
        h.since = Instant::now();
    }

    /// Sends a request to the upstream's current connection.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        events: Option<tokio::sync::mpsc::Sender<crate::CallEvent>>,
    ) -> Result<Value, UpstreamError> {
        let conn = self.connection().ok_or_else(|| {
            let why = self.health().last_error.unwrap_or_else(|| "not connected".into());
            UpstreamError::Unavailable(self.spec.name.clone(), why)
        })?;
        conn.request(method, params, events, self.spec.call_timeout).await
    }

    fn per_agent(&self) -> Option<&Arc<dyn AgentAuth>> {
        match &self.spec.transport {
            TransportSpec::Http { per_agent, .. } => per_agent.as_ref(),
            TransportSpec::Stdio { .. } => None,
        }
    }

    /// Sends one agent's request: on the agent's own connection when the
    /// upstream has a credential for that agent, else on the shared one.
    pub async fn request_as(
        self: &Arc<Self>,
        agent: &str,
        method: &str,
        params: Option<Value>,
        events: Option<tokio::sync::mpsc::Sender<crate::CallEvent>>,
    ) -> Result<Value, UpstreamError> {
        let Some(per_agent) = self.per_agent() else { return self.request(method, params, events).await };
        match per_agent.for_agent(agent) {
            AgentCredential::Shared => self.request(method, params, events).await,
            AgentCredential::Refused(why) => Err(UpstreamError::Credential(self.spec.name.clone(), why)),
            AgentCredential::Own(source) => {
                let conn = self.agent_connection(agent, source).await?;
                conn.request(method, params, events, self.spec.call_timeout).await
            }
        }
    }

    /// The agent's own connection, opened (and initialised) on first use.
    async fn agent_connection(
        self: &Arc<Self>,
        agent: &str,
        source: Arc<dyn crate::http::HeaderSource>,
    ) -> Result<Arc<Connection>, UpstreamError> {
        let TransportSpec::Http { url, headers, .. } = &self.spec.transport else {
            return Err(UpstreamError::Unavailable(self.spec.name.clone(), "not an HTTP upstream".into()));
        };
        let slot = self
            .agents
            .lock()
            .unwrap()
            .entry(agent.to_string())
            .or_insert_with(|| {
                Arc::new(AgentSlot { conn: tokio::sync::Mutex::new(None), last_used: Mutex::new(Instant::now()) })
            })
            .clone();
        *slot.last_used.lock().unwrap() = Instant::now();
        let mut held = slot.conn.lock().await;
        if let Some(c) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let conn = crate::http::connect(
            &self.spec.name,
            self.client.clone(),
            url.clone(),
            headers.clone(),
            Some(source),
            self.spec.connect_timeout,
            self.sink(),
        );
        match tokio::time::timeout(self.spec.connect_timeout, conn.initialize(self.spec.connect_timeout)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                conn.close();
                return Err(e);
            }
            Err(_) => {
                conn.close();
                return Err(UpstreamError::Timeout(self.spec.name.clone(), self.spec.connect_timeout));
            }
        }
        tracing::info!(upstream = %self.spec.name, %agent, "opened the agent's own upstream connection");
        *held = Some(conn.clone());
        Ok(conn)
    }

    /// Closes one agent's own connection (suspension, offboarding); returns whether it had one.
    pub async fn drop_agent(&self, agent: &str) -> bool {
        if let Some(p) = self.per_agent() {
            p.forget(agent);
        }
        let slot = self.agents.lock().unwrap().remove(agent);
        let Some(slot) = slot else { return false };
        let conn = slot.conn.lock().await.take();
        if let Some(c) = conn {
            if let Wire::Http(h) = c.wire() {
                h.terminate(&c).await;
            }
            c.close();
        }
        true
    }

    /// Agents with a connection of their own now.
    pub fn agent_connections(&self) -> Vec<String> {
        let mut v: Vec<String> = self.agents.lock().unwrap().keys().cloned().collect();
        v.sort();
        v
    }

    async fn reap_idle_agents(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(AGENT_IDLE / 10) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let idle: Vec<String> = self
                .agents
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, s)| s.last_used.lock().unwrap().elapsed() >= AGENT_IDLE)
                .map(|(a, _)| a.clone())
                .collect();
            for a in idle {
                self.drop_agent(&a).await;
            }
        }
    }

    /// Starts the supervisor task. It runs until [`Upstream::shutdown`].
    pub fn start(self: &Arc<Self>, events: Arc<dyn UpstreamEvents>) {
        let _ = self.events.set(events.clone());
        let me = self.clone();
        tokio::spawn(async move { me.supervise(events).await });
        if self.per_agent().is_some() {
            tokio::spawn(self.clone().reap_idle_agents());
        }
    }

    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let conn = self.conn.write().unwrap().take();
        if let Some(c) = conn {
            if let Wire::Http(h) = c.wire() {
                h.terminate(&c).await;
            }
            c.close();
        }
        for a in self.agent_connections() {
            self.drop_agent(&a).await;
        }
    }

    async fn supervise(self: Arc<Self>, events: Arc<dyn UpstreamEvents>) {
        let mut backoff = BACKOFF_MIN;
        let mut stop = self.stop.subscribe();
        loop {
            if *stop.borrow() {
                return;
            }
            self.set_health(HealthState::Connecting, self.health().last_error);
            let attempt = tokio::time::timeout(self.spec.connect_timeout, self.connect()).await;
            match attempt {
                Ok(Ok(conn)) => {
                    *self.conn.write().unwrap() = Some(conn.clone());
                    self.set_health(HealthState::Healthy, None);
                    tracing::info!(upstream = %self.spec.name, "upstream connected");
                    events.connected(&self, &conn);
                    let started = Instant::now();
                    if matches!(conn.wire(), Wire::Http(_)) {
                        let c2 = conn.clone();
                        tokio::spawn(async move {
                            if let Wire::Http(h) = c2.wire() {
                                h.listen(&c2).await
                            }
                        });
                    }
                    tokio::select! {
                        _ = conn.closed() => {}
                        _ = stop.wait_for(|s| *s) => { return; }
                    }
                    *self.conn.write().unwrap() = None;
                    self.set_health(HealthState::Unhealthy, Some("connection lost".into()));
                    tracing::warn!(upstream = %self.spec.name, "upstream connection lost");
                    events.disconnected(&self);
                    if started.elapsed() >= STABLE_AFTER {
                        backoff = BACKOFF_MIN;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(upstream = %self.spec.name, error = %e, retry_in_ms = backoff.as_millis() as u64, "upstream connect failed");
                    self.set_health(HealthState::Unhealthy, Some(e.to_string()));
                }
                Err(_) => {
                    let e = format!("connect timed out after {:?}", self.spec.connect_timeout);
                    tracing::warn!(upstream = %self.spec.name, error = %e, "upstream connect failed");
                    self.set_health(HealthState::Unhealthy, Some(e));
                }
            }
            // Jitter of up to 20% keeps replicas from reconnecting in lockstep.
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
            let jitter = backoff.mul_f64(0.2 * f64::from(nanos % 1000) / 1000.0);
            tokio::select! {
                _ = tokio::time::sleep(backoff + jitter) => {}
                _ = stop.wait_for(|s| *s) => { return; }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Where messages outside any call go: the gateway's event handler.
    fn sink(self: &Arc<Self>) -> crate::connection::UnsolicitedSink {
        let weak = Arc::downgrade(self);
        Arc::new(move |u: Unsolicited| {
            let Some(me) = weak.upgrade() else { return };
            let Some(ev) = me.events.get() else { return };
            match u {
                Unsolicited::Notification(m) => ev.notification(&me, m),
                Unsolicited::Request(r) => ev.request(&me, r),
            }
        })
    }

    async fn connect(self: &Arc<Self>) -> Result<Arc<Connection>, UpstreamError> {
        let sink = self.sink();
        let conn = match &self.spec.transport {
            TransportSpec::Stdio { command, args, env, cwd, secret_env, hide_env } => {
                let mut env = env.clone();
                if let Some(s) = secret_env {
                    let vars = s.env().await.map_err(|e| UpstreamError::Credential(self.spec.name.clone(), e))?;
                    env.extend(vars);
                }
                let spec = crate::stdio::StdioSpec { command, args, env: &env, cwd: cwd.as_deref(), hide: hide_env };
                crate::stdio::spawn(&self.spec.name, &spec, sink)
                    .map_err(|e| UpstreamError::Unavailable(self.spec.name.clone(), e))?
            }
            TransportSpec::Http { url, headers, auth, .. } => crate::http::connect(
                &self.spec.name,
                self.client.clone(),
                url.clone(),
                headers.clone(),
                auth.clone(),
                self.spec.connect_timeout,
                sink,
            ),
        };
        if let Err(e) = conn.initialize(self.spec.connect_timeout).await {
            conn.close();
            return Err(e);
        }
        Ok(conn)
    }
}
