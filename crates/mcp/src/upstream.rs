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
    Stdio { command: String, args: Vec<String>, env: BTreeMap<String, String>, cwd: Option<String> },
    Http { url: reqwest::Url, headers: HeaderMap, auth: Option<Arc<dyn crate::http::HeaderSource>> },
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

    /// Starts the supervisor task. It runs until [`Upstream::shutdown`].
    pub fn start(self: &Arc<Self>, events: Arc<dyn UpstreamEvents>) {
        let me = self.clone();
        tokio::spawn(async move { me.supervise(events).await });
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
    }

    async fn supervise(self: Arc<Self>, events: Arc<dyn UpstreamEvents>) {
        let mut backoff = BACKOFF_MIN;
        let mut stop = self.stop.subscribe();
        loop {
            if *stop.borrow() {
                return;
            }
            self.set_health(HealthState::Connecting, self.health().last_error);
            let attempt = tokio::time::timeout(self.spec.connect_timeout, self.connect(&events)).await;
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

    async fn connect(self: &Arc<Self>, events: &Arc<dyn UpstreamEvents>) -> Result<Arc<Connection>, UpstreamError> {
        let weak = Arc::downgrade(self);
        let ev = events.clone();
        let sink = Arc::new(move |u: Unsolicited| {
            let Some(me) = weak.upgrade() else { return };
            match u {
                Unsolicited::Notification(m) => ev.notification(&me, m),
                Unsolicited::Request(r) => ev.request(&me, r),
            }
        });
        let conn = match &self.spec.transport {
            TransportSpec::Stdio { command, args, env, cwd } => {
                let spec = crate::stdio::StdioSpec { command, args, env, cwd: cwd.as_deref() };
                crate::stdio::spawn(&self.spec.name, &spec, sink)
                    .map_err(|e| UpstreamError::Unavailable(self.spec.name.clone(), e))?
            }
            TransportSpec::Http { url, headers, auth } => crate::http::connect(
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
