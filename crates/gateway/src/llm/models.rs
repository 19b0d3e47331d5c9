//! The model upstreams behind `/v1` and the names agents use for their models:
//! routing an exposed model name to an upstream, its key, timeouts and price.

use std::collections::BTreeMap;
use std::time::Duration;

use warden_config::{ModelUpstream, Price};
use warden_secrets::SecretRef;

pub(crate) struct Upstream {
    pub(crate) name: String,
    pub(crate) base: String,
    pub(crate) key: Option<SecretRef>,
    pub(crate) client: reqwest::Client,
    pub(crate) request: Duration,
}

/// The configured model upstreams and the names agents use.
pub struct Models {
    pub(crate) upstreams: Vec<Upstream>,
    /// Exposed model name → (upstream index, upstream's model name).
    pub(crate) routes: BTreeMap<String, (usize, String)>,
    prices: BTreeMap<String, Price>,
}

impl Models {
    pub fn new(cfg: &[ModelUpstream], prices: &BTreeMap<String, Price>) -> anyhow::Result<Models> {
        let mut upstreams = Vec::new();
        let mut routes = BTreeMap::new();
        for (i, m) in cfg.iter().enumerate() {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs_f64(m.timeouts.connect_secs.0))
                .pool_max_idle_per_host(64)
                .tcp_nodelay(true)
                .build()?;
            upstreams.push(Upstream {
                name: m.name.0.clone(),
                base: m.base_url.0.as_str().trim_end_matches('/').to_string(),
                key: m.api_key.as_ref().map(|k| SecretRef::parse(&k.0)).transpose().map_err(anyhow::Error::msg)?,
                client,
                request: Duration::from_secs_f64(m.timeouts.request_secs.0),
            });
            for (exposed, own) in &m.models {
                routes.insert(exposed.clone(), (i, own.clone()));
            }
        }
        Ok(Models { upstreams, routes, prices: prices.clone() })
    }

    pub fn request_timeout(&self, model: &str) -> Duration {
        self.routes.get(model).map(|(i, _)| self.upstreams[*i].request).unwrap_or(Duration::from_secs(300))
    }

    /// Cost in micro-dollars.
    pub(crate) fn cost_micros(&self, model: &str, input: u64, output: u64) -> u64 {
        self.prices
            .get(model)
            .map(|p| ((input as f64 * p.input_per_mtok + output as f64 * p.output_per_mtok).max(0.0)).round() as u64)
            .unwrap_or(0)
    }
}
