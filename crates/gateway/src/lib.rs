//! The gateway: one decision pipeline behind several front doors.
//!
//! - [`routes`]: every route of every door, in one table;
//! - [`http`]: helpers every door shares (Host/Origin guard, admission, JSON and SSE);
//! - [`mcp`]: the MCP door (`/mcp`);
//! - [`llm`]: the model door (`/v1`);
//! - [`admin`]: the admin API, the decision API, OAuth, reports and probes;
//! - [`pipeline`]: the stages every door shares (identity, guardrails, policy,
//!   approvals, credentials, audit);
//! - [`telemetry`]: traces, OTLP export, metrics, log redaction.
//!
//! Doors import `http`, `pipeline` and `telemetry`, never each other; the
//! pipeline imports `telemetry` only; `routes` imports the doors. This file
//! holds the state they share ([`Gateway`]) and [`serve`].

pub mod admin;
pub mod http;
pub mod llm;
pub mod mcp;
pub mod pipeline;
pub mod routes;
pub mod telemetry;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Value, json};
use warden_config::{Config, Transport};
use warden_core::identity::{Agent, IdentityIndex};
use warden_mcp::{Connection, ServerRequest, TransportSpec, Upstream, UpstreamEvents, UpstreamSpec};

use crate::admin::inventory;
use crate::mcp::catalog::{Catalog, UpstreamLists};
use crate::mcp::dispatch;
use crate::mcp::session::Sessions;
use crate::pipeline::{approvals, audit, credentials, directory, guard, policy_source};
use crate::telemetry::{metrics, otlp};

pub struct Gateway {
    pub directory: directory::Directory,
    pub store: Arc<warden_store::Store>,
    /// `server.public_url` without a trailing slash, when configured.
    pub public_url: Option<String>,
    pub store_poll: Duration,
    /// `store.listen`: follow other replicas' changes by notification too (PostgreSQL).
    pub store_listen: bool,
    pub upstreams: Vec<Arc<Upstream>>,
    pub upstream_names: Vec<String>,
    pub prefixes: Vec<Option<String>>,
    /// Per upstream: tools, resources, prompts include/exclude.
    include: Vec<[warden_config::IncludeExclude; 3]>,
    lists: Mutex<Vec<Option<Arc<UpstreamLists>>>>,
    pub catalog: ArcSwap<Catalog>,
    /// Per upstream: `pinning` (`mcp/pinning.rs`).
    pub pinning: Vec<warden_config::Pinning>,
    /// Definitions held back by pinning or screening.
    pub quarantine: ArcSwap<mcp::pinning::Quarantine>,
    /// The supply-chain scanner's rules, for screening definitions.
    pub scanner: warden_scan::Scanner,
    pub sessions: Sessions,
    /// Resource subscriptions across sessions: Warden subscribes upstream once per URI.
    subscribers: Mutex<HashMap<String, usize>>,
    pub draining: AtomicBool,
    pub limits: Limits,
    pub hosts: http::HostPolicy,
    /// The live policy; swapped whole on reload.
    pub policy: ArcSwap<warden_policy::Policy>,
    pub policy_source: policy_source::PolicySource,
    pub policy_metrics: policy_source::PolicyMetrics,
    /// Rate-limit buckets: in memory on SQLite, shared in the store on PostgreSQL.
    pub rate_limits: pipeline::limits::Limits,
    pub approvals: approvals::Hub,
    /// Outbound HTTP (webhooks, JWKS).
    pub http: reqwest::Client,
    /// Information-flow state of decision-API sessions: (agent, session) → flags, last use.
    pub decide_sessions: Mutex<HashMap<(String, String), (warden_policy::SessionFlags, std::time::Instant)>>,
    decisions: Mutex<HashMap<(&'static str, &'static str), u64>>,
    pub rate_limited: std::sync::atomic::AtomicU64,
    pub meters: Arc<metrics::Meters>,
    pub audit: audit::AuditLog,
    /// OTLP span export, when configured.
    pub otlp: Option<Arc<otlp::Exporter>>,
    /// Credential custody: secret resolution and the known-secret matcher.
    pub custody: Arc<credentials::Custody>,
    /// Every secret reference in the config (preloaded into the matcher at start).
    credential_refs: Vec<warden_config::Reference>,
    subjects: Arc<credentials::agents::Subjects>,
    /// What offboarding does to an agent's own credentials.
    pub on_offboard: warden_config::OffboardCredentials,
    /// Model upstreams behind `/v1/*`.
    pub models: llm::Models,
    /// Detectors at the inference boundary.
    pub guard: guard::Guard,
    pub budgets: warden_config::BudgetsConfig,
    /// How long a model answer is held for a human deciding on a proposed call.
    pub proposed_call_wait: Duration,
    /// How agents' clients name Warden's MCP server (`server.mcp_server_names`).
    pub mcp_server_names: Vec<String>,
    /// Tool calls already settled at one door, for the next (see [`pipeline::ledger`]).
    pub ledger: pipeline::ledger::Ledger,
    /// The web console and its sign-in.
    pub console: admin::console::Console,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub page_size: usize,
    pub session_idle: Duration,
    pub drain: Duration,
    pub json_responses: bool,
}

impl Gateway {
    /// Builds the gateway from a validated config and an open store. Upstreams are
    /// not started and the inventory is not loaded until [`Gateway::start`].
    pub fn new(config: &Config, store: Arc<warden_store::Store>, listen: SocketAddr) -> anyhow::Result<Arc<Gateway>> {
        let agents =
            config.agents.iter().map(|a| (a.token_sha256.0, Arc::new(Agent::declared(&a.name.0, a.access_rules()))));
        let identities = IdentityIndex::new(agents).map_err(anyhow::Error::msg)?;
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).tcp_nodelay(true).build()?;
        let public_url = config.server.public_url.as_ref().map(|u| u.0.as_str().trim_end_matches('/').to_string());
        let id = &config.identity;
        let issuer = id
            .issuer
            .as_ref()
            .map(|i| i.0.clone())
            .or_else(|| public_url.clone())
            .unwrap_or_else(|| format!("http://{listen}"));
        let settings = warden_auth::keys::TokenSettings {
            issuer,
            audience: id.audience.0.clone(),
            ttl_secs: id.token_ttl_secs.0 as i64,
            leeway_secs: id.leeway_secs.0,
        };
        let federation = warden_auth::federation::Federation::new(
            id.trusted_issuers
                .iter()
                .map(|t| warden_auth::federation::IssuerSpec {
                    issuer: t.issuer.0.clone(),
                    jwks_url: t.jwks_url.0.to_string(),
                    audiences: t.audiences.iter().map(|a| a.0.clone()).collect(),
                    claim: t.claim.0.clone(),
                    agents: t.agents.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
                    claim_is_agent_name: t.claim_is_agent_name,
                    leeway_secs: id.leeway_secs.0,
                    cache_ttl: Duration::from_secs(t.jwks_cache_secs.0.max(1)),
                    min_refresh: Duration::from_secs(10),
                })
                .collect(),
            client.clone(),
        );
        let naming = warden_core::inventory::NamingRule::new(&id.agent_name_pattern.0).map_err(anyhow::Error::msg)?;
        let directory = directory::Directory::new(identities, federation, naming, settings);
        let meters = Arc::new(metrics::Meters::default());
        let kek = credentials::master_key(config.secrets.master_key_file.as_ref().map(|f| f.0.as_str()), &|k| {
            std::env::var(k).ok()
        })?;
        let vault = match &config.secrets.vault {
            Some(v) => Some(credentials::vault::VaultClient::new(v, client.clone())?),
            None => None,
        };
        let custody = Arc::new(credentials::Custody::new(store.clone(), kek, vault, meters.clone()));
        for m in &config.models {
            let shared = m.api_key.iter().map(|k| k.0.clone()).collect();
            custody.register_uses(&format!("model:{}", m.name.0), credentials::Uses { shared, ..Default::default() });
        }
        let subjects = Arc::new(credentials::agents::Subjects::default());
        // Credentials Warden reads from its own environment are not inherited by stdio upstreams.
        let hide_env: Vec<String> = config
            .secret_references()
            .into_iter()
            .filter_map(|r| match r.reference {
                warden_secrets::SecretRef::Env(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut upstreams = Vec::new();
        for u in &config.upstreams {
            let transport = match u.transport {
                Transport::Stdio => {
                    // `env:` values that are references resolve each time the child starts.
                    let (refs, plain): (Vec<_>, Vec<_>) =
                        u.env.iter().partition(|(_, v)| warden_secrets::SecretRef::looks_like(&v.0));
                    let mut vars = Vec::new();
                    for (k, v) in refs {
                        vars.push((k.clone(), warden_secrets::SecretRef::parse(&v.0).map_err(anyhow::Error::msg)?));
                    }
                    custody.register_uses(
                        &u.name.0,
                        credentials::Uses {
                            shared: vars.iter().map(|(_, r)| r.to_string()).collect(),
                            ..Default::default()
                        },
                    );
                    TransportSpec::Stdio {
                        command: u.command.as_ref().map(|c| c.0.clone()).unwrap_or_default(),
                        args: u.args.iter().map(|a| a.0.clone()).collect(),
                        env: plain.into_iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
                        cwd: u.cwd.as_ref().map(|c| c.0.clone()),
                        hide_env: hide_env.clone(),
                        secret_env: (!vars.is_empty()).then(|| {
                            Arc::new(credentials::SecretEnv { vars, custody: custody.clone() })
                                as Arc<dyn warden_mcp::EnvSource>
                        }),
                    }
                }
                Transport::StreamableHttp => {
                    let plan = credentials::agents::plan(u, &custody, &client, &subjects)?;
                    custody.register_uses(&u.name.0, plan.uses);
                    let plain = u.headers.iter().filter(|(_, v)| !warden_secrets::SecretRef::looks_like(&v.0));
                    TransportSpec::Http {
                        url: u.url.as_ref().expect("validated").0.clone(),
                        headers: warden_mcp::http::header_map(plain.map(|(k, v)| (k.as_str(), v.0.as_str())))
                            .map_err(anyhow::Error::msg)?,
                        auth: plan.shared,
                        per_agent: plan.per_agent,
                    }
                }
            };
            let spec = UpstreamSpec {
                name: u.name.0.clone(),
                transport,
                connect_timeout: u.timeouts.connect(),
                call_timeout: u.timeouts.call(),
            };
            upstreams.push(Upstream::new(spec, client.clone()));
        }
        let n = upstreams.len();
        let s = &config.server;
        let policy_source = policy_source::PolicySource::new(&config.policy, None);
        let (policy, _) = policy_source.load().map_err(|e| anyhow::anyhow!("policy:\n{e}"))?;
        let audit = audit::AuditLog::start(store.clone(), &config.audit, meters.clone())?;
        let otlp = otlp::ExportSettings::resolve(&config.telemetry.otlp, &|k| std::env::var(k).ok())
            .map(|s| otlp::Exporter::start(s, client.clone(), meters.clone()));
        let meters_for_guard = meters.clone();
        let console_public = public_url.clone().unwrap_or_else(|| format!("http://{listen}"));
        let gw = Arc::new(Gateway {
            directory,
            rate_limits: pipeline::limits::Limits::for_backend(store.backend),
            store,
            public_url,
            store_poll: Duration::from_millis(config.store.poll_interval_ms.0),
            store_listen: config.store.listen,
            upstream_names: config.upstreams.iter().map(|u| u.name.0.clone()).collect(),
            prefixes: (0..n).map(|i| config.prefix_of(i)).collect(),
            include: config
                .upstreams
                .iter()
                .map(|u| [u.tools.clone(), u.resources.clone(), u.prompts.clone()])
                .collect(),
            upstreams,
            lists: Mutex::new(vec![None; n]),
            pinning: config.upstreams.iter().map(|u| u.pinning).collect(),
            quarantine: ArcSwap::from_pointee(mcp::pinning::Quarantine::default()),
            scanner: warden_scan::Scanner::default(),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            sessions: Sessions::default(),
            subscribers: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            limits: Limits {
                max_body_bytes: s.max_body_bytes.0 as usize,
                page_size: s.page_size.0,
                session_idle: Duration::from_secs(s.session_idle_timeout_secs.0),
                drain: Duration::from_secs(s.drain_timeout_secs.0),
                json_responses: s.json_responses,
            },
            hosts: http::HostPolicy::new(
                s.allowed_hosts.iter().map(|h| h.0.clone()).collect(),
                s.allowed_origins.iter().map(|h| h.0.clone()).collect(),
            ),
            policy: ArcSwap::from_pointee(policy),
            policy_source,
            policy_metrics: policy_source::PolicyMetrics { valid: AtomicBool::new(true), ..Default::default() },
            approvals: Default::default(),
            http: client,
            decide_sessions: Mutex::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
            rate_limited: Default::default(),
            meters,
            audit,
            otlp,
            custody,
            credential_refs: config.secret_references(),
            subjects,
            on_offboard: config.secrets.on_offboard,
            models: llm::Models::new(&config.models, &config.prices)?,
            guard: guard::Guard::new(&config.guardrails, meters_for_guard)?,
            budgets: config.budgets.clone(),
            proposed_call_wait: Duration::from_secs_f64(config.guardrails.proposed_call_wait_secs.0),
            mcp_server_names: config.server.mcp_server_names.iter().map(|n| n.0.clone()).collect(),
            ledger: Default::default(),
            console: admin::console::Console::new(&config.console, &console_public),
        });
        gw.subjects.attach(&gw);
        Ok(gw)
    }

    /// Starts every upstream supervisor and waits (bounded by the longest connect
    /// timeout) for the first connection round. Returns name collisions found then.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<Vec<String>> {
        // First: a wrong master key stops startup before any secret is touched.
        credentials::verify_master_key(&self.store, self.custody.kek()).await?;
        inventory::publish(self).await.map_err(|e| anyhow::anyhow!("loading the inventory: {e}"))?;
        // Every credential Warden holds is known to the redaction matcher before any output leaves.
        self.custody.preload(&self.credential_refs).await;
        let events: Arc<dyn UpstreamEvents> = Arc::new(Events(Arc::downgrade(self)));
        for u in &self.upstreams {
            u.start(events.clone());
        }
        let deadline = self.upstreams.iter().map(|u| u.spec.connect_timeout).max().unwrap_or_default()
            + Duration::from_millis(500);
        let start = tokio::time::Instant::now();
        loop {
            let settled = self.upstreams.iter().enumerate().all(|(i, u)| match u.health().state {
                warden_mcp::upstream::HealthState::Healthy => self.lists.lock().unwrap()[i].is_some(),
                warden_mcp::upstream::HealthState::Unhealthy => true,
                warden_mcp::upstream::HealthState::Connecting => {
                    u.health().connects > 0 || u.health().last_error.is_some()
                }
            });
            if settled || start.elapsed() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.catalog.load().conflicts.clone())
    }

    pub(crate) fn count_decision(&self, action: warden_config::RuleAction, tier: warden_config::Tier) {
        *self.decisions.lock().unwrap().entry((action.as_str(), tier.as_str())).or_insert(0) += 1;
    }

    /// Policy decisions so far, by (action, tier).
    pub fn decision_counts(&self) -> Vec<((&'static str, &'static str), u64)> {
        let mut v: Vec<_> = self.decisions.lock().unwrap().iter().map(|(k, v)| (*k, *v)).collect();
        v.sort();
        v
    }

    /// Closes every session of `agent` (kill switch), and its own upstream
    /// sessions with the tokens cached for it; returns how many MCP sessions.
    pub async fn close_agent_sessions(self: &Arc<Self>, agent: &str) -> usize {
        let gone = self.sessions.remove_agent(agent);
        for s in &gone {
            dispatch::end_session(self, s).await;
        }
        for u in &self.upstreams {
            u.drop_agent(agent).await;
        }
        gone.len()
    }

    /// Follows inventory changes made by other replicas (or other processes):
    /// at once when the store's listener hears of one (PostgreSQL), and every
    /// `store.poll_interval_ms` in any case (the fallback, and the only path on SQLite).
    async fn follow_store(self: Arc<Self>) {
        let notices = self.store.notices().clone();
        let mut tick = tokio::time::interval(self.store_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = notices.inventory_changed() => {}
            }
            match self.store.version().await {
                Ok(v) if v == self.directory.live().version => {}
                Ok(_) => {
                    if let Err(e) = inventory::publish(&self).await {
                        tracing::error!(error = %e, "inventory reload failed; keeping the previous view");
                    }
                    // A pin decided on any replica bumps the version too.
                    mcp::pinning::reload(&self).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "store unreachable; inventory changes from other replicas are not seen")
                }
            }
        }
    }

    pub async fn shutdown(&self) {
        for u in &self.upstreams {
            u.shutdown().await;
        }
        self.custody.flush_usage().await;
    }

    fn index_of(&self, u: &Arc<Upstream>) -> Option<usize> {
        self.upstreams.iter().position(|x| Arc::ptr_eq(x, u))
    }

    pub(crate) fn lists_snapshot(&self) -> Vec<Option<Arc<UpstreamLists>>> {
        self.lists.lock().unwrap().clone()
    }

    /// Republishes the catalog from the fetched lists, less what is quarantined.
    pub(crate) fn rebuild(&self) {
        let q = self.quarantine.load_full();
        let filter = |i: usize, kind: &'static str, key: &'static str, items: &[Value]| -> Vec<Value> {
            items
                .iter()
                .filter(|v| v.get(key).and_then(Value::as_str).is_none_or(|n| q.get(i, kind, n).is_none()))
                .cloned()
                .collect()
        };
        let lists: Vec<Option<Arc<UpstreamLists>>> = self
            .lists_snapshot()
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                l.map(|l| {
                    if q.held.keys().all(|(u, _, _)| *u != i) {
                        return l;
                    }
                    Arc::new(UpstreamLists {
                        tools: filter(i, "tool", "name", &l.tools),
                        prompts: filter(i, "prompt", "name", &l.prompts),
                        resources: filter(i, "resource", "uri", &l.resources),
                        templates: filter(i, "template", "uriTemplate", &l.templates),
                    })
                })
            })
            .collect();
        let mut exposed = HashMap::new();
        for ((u, kind, name), why) in &q.held {
            let shown = if matches!(*kind, "resource" | "template") {
                name.clone()
            } else {
                warden_core::names::exposed(self.prefixes[*u].as_deref(), name)
            };
            exposed.insert((*kind, shown), why.clone());
        }
        if exposed != q.exposed {
            self.quarantine.store(Arc::new(mcp::pinning::Quarantine { held: q.held.clone(), exposed }));
        }
        let cat = Catalog::build(&self.upstream_names, &self.prefixes, &lists);
        for c in &cat.conflicts {
            tracing::error!(conflict = %c, "catalog name collision");
        }
        self.catalog.store(Arc::new(cat));
    }

    /// Fetches an upstream's lists (all pages) and republishes the catalog.
    async fn refresh(self: &Arc<Self>, i: usize, conn: &Arc<Connection>) {
        let caps = conn.capabilities();
        let up = &self.upstreams[i];
        let mut lists = UpstreamLists::default();
        let fetch = |method: &'static str, key: &'static str| async move {
            let mut out = Vec::new();
            let mut cursor: Option<Value> = None;
            for _ in 0..1000 {
                let params = cursor.as_ref().map(|c| json!({"cursor": c}));
                let resp = up.request(method, params, None).await.map_err(|e| e.to_string())?;
                let result =
                    resp.get("result").ok_or_else(|| format!("{method}: {}", resp.get("error").unwrap_or(&resp)))?;
                out.extend(result.get(key).and_then(Value::as_array).cloned().unwrap_or_default());
                cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
                if cursor.is_none() {
                    break;
                }
            }
            Ok::<_, String>(out)
        };
        let [tools, resources, prompts] = &self.include[i];
        let mut errors = Vec::new();
        let wanted = [
            ("tools", "tools/list", "tools", "name", tools),
            ("resources", "resources/list", "resources", "uri", resources),
            ("resources", "resources/templates/list", "resourceTemplates", "uriTemplate", resources),
            ("prompts", "prompts/list", "prompts", "name", prompts),
        ];
        for (cap, method, key, name_key, rule) in wanted {
            if caps.get(cap).is_none() {
                continue;
            }
            match fetch(method, key).await {
                Ok(items) => {
                    let kept = items
                        .into_iter()
                        .filter(|t| t.get(name_key).and_then(Value::as_str).is_some_and(|n| rule.permits(n)))
                        .collect();
                    match key {
                        "tools" => lists.tools = kept,
                        "resources" => lists.resources = kept,
                        "resourceTemplates" => lists.templates = kept,
                        _ => lists.prompts = kept,
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for e in errors {
            tracing::warn!(upstream = %up.name(), error = %e, "listing failed; that list is empty until the next refresh");
        }
        if conn.is_closed() {
            return;
        }
        let held = mcp::pinning::observe(self, i, &lists).await;
        {
            let q = self.quarantine.load();
            let mut all: HashMap<_, _> =
                q.held.iter().filter(|((u, _, _), _)| *u != i).map(|(k, v)| (k.clone(), v.clone())).collect();
            all.extend(held);
            self.quarantine.store(Arc::new(mcp::pinning::Quarantine { held: all, exposed: HashMap::new() }));
        }
        self.lists.lock().unwrap()[i] = Some(Arc::new(lists));
        self.rebuild();
    }

    /// Re-reads every pin's status and republishes the catalog (a pin was decided).
    pub(crate) async fn reload_pins(self: &Arc<Self>) {
        mcp::pinning::reload(self).await;
    }

    /// Tells every session that all lists may have changed (a pin was decided).
    pub(crate) fn announce_lists(&self) {
        self.announce("notifications/tools/list_changed");
        self.announce("notifications/resources/list_changed");
        self.announce("notifications/prompts/list_changed");
    }

    /// Tells every session with an open GET stream that a list changed.
    fn announce(&self, method: &str) {
        let msg = json!({"jsonrpc": "2.0", "method": method});
        for s in self.sessions.all() {
            s.push(msg.clone());
        }
    }

    /// Warden's own MCP tool that an agent's client calls `proposed`
    /// (`<server>__<tool>`, see `server.mcp_server_names`), if this agent may
    /// see it: its exposed name and annotations. The model door and the
    /// decision API ask this, so they decide a proposed MCP tool by that tool's
    /// annotations and rules, not as an unknown tool.
    pub fn own_mcp_tool(&self, agent: &Agent, proposed: &str) -> Option<(String, Value)> {
        if !proposed.contains(warden_core::names::PREFIX_SEPARATOR) {
            return None;
        }
        let cat = self.catalog.load();
        let access = &agent.access;
        let visible = cat
            .tools
            .entries
            .iter()
            .filter(|e| access.permits(warden_core::access::ItemKind::Tool, &e.exposed))
            .map(|e| e.exposed.as_str());
        let name = warden_core::names::resolve_client_tool(proposed, &self.mcp_server_names, visible)?;
        let e = cat.tools.get(name)?;
        Some((e.exposed.clone(), e.item.get("annotations").cloned().unwrap_or(Value::Null)))
    }

    pub fn ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }

    /// `resources/subscribe` bookkeeping: true when this is the first subscriber.
    pub(crate) fn subscribe_count(&self, uri: &str, delta: isize) -> bool {
        let mut m = self.subscribers.lock().unwrap();
        let c = m.entry(uri.to_string()).or_insert(0);
        let before = *c;
        *c = (*c as isize + delta).max(0) as usize;
        let after = *c;
        if after == 0 {
            m.remove(uri);
        }
        (before == 0 && after == 1) || (before == 1 && after == 0)
    }
}

/// Bridges upstream events into the gateway without a reference cycle.
struct Events(std::sync::Weak<Gateway>);

impl UpstreamEvents for Events {
    fn connected(&self, upstream: &Arc<Upstream>, conn: &Arc<Connection>) {
        let Some(gw) = self.0.upgrade() else { return };
        let Some(i) = gw.index_of(upstream) else {
            return;
        };
        let conn = conn.clone();
        tokio::spawn(async move {
            gw.refresh(i, &conn).await;
            gw.announce("notifications/tools/list_changed");
            gw.announce("notifications/resources/list_changed");
            gw.announce("notifications/prompts/list_changed");
        });
    }

    fn disconnected(&self, upstream: &Arc<Upstream>) {
        let Some(gw) = self.0.upgrade() else { return };
        let Some(i) = gw.index_of(upstream) else {
            return;
        };
        gw.lists.lock().unwrap()[i] = None;
        gw.rebuild();
        gw.announce("notifications/tools/list_changed");
        gw.announce("notifications/resources/list_changed");
        gw.announce("notifications/prompts/list_changed");
    }

    fn notification(&self, upstream: &Arc<Upstream>, msg: Value) {
        let Some(gw) = self.0.upgrade() else { return };
        let Some(i) = gw.index_of(upstream) else {
            return;
        };
        let method = msg.get("method").and_then(Value::as_str).unwrap_or("").to_string();
        match method.as_str() {
            "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed" => {
                let Some(conn) = upstream.connection() else {
                    return;
                };
                tokio::spawn(async move {
                    gw.refresh(i, &conn).await;
                    gw.announce(&method);
                });
            }
            "notifications/resources/updated" => {
                let uri = msg.pointer("/params/uri").and_then(Value::as_str).unwrap_or("");
                for s in gw.sessions.all() {
                    if s.subscriptions.lock().unwrap().contains(uri) {
                        s.push(msg.clone());
                    }
                }
            }
            "notifications/message" => dispatch::relay_log(&gw, i, &msg),
            _ => {
                tracing::debug!(upstream = %upstream.name(), %method, "unsolicited notification dropped")
            }
        }
    }

    fn request(&self, upstream: &Arc<Upstream>, req: ServerRequest) {
        // Outside a call there is no client to attribute the request to.
        tracing::info!(upstream = %upstream.name(), method = %req.method(), "upstream request outside a call refused");
        tokio::spawn(req.respond(Err(json!({"code": warden_core::jsonrpc::METHOD_NOT_FOUND,
            "message": "Warden relays client requests only within a call"}))));
    }
}

/// Serves until `shutdown` resolves, then drains in-flight calls up to the deadline.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let app = routes::router(gw.clone());
    // Other replicas' changes, as they commit (PostgreSQL); polling stays on beside it.
    let change_listener = if gw.store_listen { gw.store.listen(&gw.approvals.replica) } else { None };
    let follower = tokio::spawn(gw.clone().follow_store());
    let policy_watch = tokio::spawn(policy_source::watch(gw.clone()));
    let approvals = tokio::spawn(approvals::follow(gw.clone()));
    let console_prune = tokio::spawn(admin::console::session::prune(gw.clone()));
    let decisions = tokio::spawn(approvals::watch_decisions(gw.clone()));
    let limits_prune = tokio::spawn(pipeline::limits::prune(gw.clone()));
    let reaper = {
        let gw = gw.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                for s in gw.sessions.reap(gw.limits.session_idle) {
                    dispatch::end_session(&gw, &s).await;
                }
            }
        })
    };
    let usage = {
        let custody = gw.custody.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                custody.flush_usage().await;
                custody.refresh_store_secrets().await;
            }
        })
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let gw2 = gw.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested; draining");
        gw2.draining.store(true, Ordering::Relaxed);
        gw2.sessions.close_streams();
        let _ = stop_tx.send(true);
    };
    tracing::info!(%addr, "warden listening");
    // Small SSE frames must not wait on Nagle + delayed ACK (a 40 ms stall per call).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let drain = gw.limits.drain;
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        r = &mut server => { r??; }
        _ = async { let _ = stop_rx.wait_for(|s| *s).await; } => {
            match tokio::time::timeout(drain, &mut server).await {
                Ok(r) => r??,
                Err(_) => {
                    tracing::warn!(deadline_s = drain.as_secs(), "drain deadline reached; closing remaining calls");
                    // Calls still held for a human are reported as not executed before they are dropped.
                    if let Err(e) = gw.store.release_replica(&gw.approvals.replica, warden_core::time::Timestamp::now()).await {
                        tracing::error!(error = %e, "could not release held approvals");
                    }
                    // Their agents hear it (-32013, not executed) before the connections close.
                    if approvals::release_decided(&gw, None).await > 0 {
                        let _ = tokio::time::timeout(Duration::from_secs(1), &mut server).await;
                    }
                    server.abort();
                }
            }
        }
    }
    if let Err(e) = gw.store.release_replica(&gw.approvals.replica, warden_core::time::Timestamp::now()).await {
        tracing::warn!(error = %e, "could not remove this replica's heartbeat");
    }
    if gw.audit.enabled()
        && let Err(e) = gw.audit.checkpoint_now().await
    {
        tracing::warn!(error = %e, "could not sign the final audit checkpoint");
    }
    reaper.abort();
    usage.abort();
    follower.abort();
    if let Some(l) = change_listener {
        l.abort();
    }
    policy_watch.abort();
    approvals.abort();
    console_prune.abort();
    decisions.abort();
    limits_prune.abort();
    gw.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
