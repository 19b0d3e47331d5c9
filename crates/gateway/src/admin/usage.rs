//! Usage over the last N days, per day: model requests, tokens and cost per
//! agent and model (the store's `llm_usage` table, summed across replicas),
//! and MCP tool calls per agent (counted from the audit records). The JSON
//! API (`/api/v1/usage`) and the console both call this; the caller checks
//! the viewer role first.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Gateway;
use crate::admin::error::ApiError;

const DAY_MS: i64 = 86_400_000;

/// One day of one agent's use of one model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsagePoint {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Millionths of a US dollar.
    pub cost_micros: i64,
}

/// One agent and model: a point for every day of the range (zeros where idle).
#[derive(Debug, Clone, Serialize)]
pub struct UsageSeries {
    pub agent: String,
    pub model: String,
    pub points: Vec<UsagePoint>,
}

/// Totals over the whole range for one agent or one model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsageTotal {
    pub key: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// One agent's MCP tool calls: a count for every day of the range.
#[derive(Debug, Clone, Serialize)]
pub struct CallSeries {
    pub agent: String,
    /// Aligned with [`UsageView::days`].
    pub calls: Vec<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageView {
    /// Every day of the range, `YYYY-MM-DD` (UTC), oldest first, today last.
    pub days: Vec<String>,
    /// Model usage per (agent, model), sorted by agent then model.
    pub series: Vec<UsageSeries>,
    /// Sorted by key.
    pub totals_by_agent: Vec<UsageTotal>,
    pub totals_by_model: Vec<UsageTotal>,
    /// MCP tool calls per agent per day: the audit records of kind `call`,
    /// one per `tools/call` at `/mcp` whatever its verdict (allowed, denied,
    /// held for approval, rate-limited). Decision-API checks (kind
    /// `decision`) and model requests are not counted here. Records pruned
    /// by retention are not counted either.
    pub calls: Vec<CallSeries>,
}

fn day_of(ms: i64) -> String {
    warden_audit::record::format_ms(ms)[..10].to_string()
}

/// Usage over the last `days` days (1..=90, today included), for every
/// agent or only `agent`.
pub async fn usage(gw: &Gateway, days: u32, agent: Option<&str>) -> Result<UsageView, ApiError> {
    if !(1..=90).contains(&days) {
        return Err(ApiError::field("days", "between 1 and 90"));
    }
    let today = warden_core::time::now_ms().div_euclid(DAY_MS);
    let first = today - i64::from(days) + 1;
    let day_list: Vec<String> = (first..=today).map(|d| day_of(d * DAY_MS)).collect();
    let index: BTreeMap<&str, usize> = day_list.iter().enumerate().map(|(i, d)| (d.as_str(), i)).collect();
    let rows = gw.store.usage_since(&day_list[0]).await?;
    let mut series: BTreeMap<(String, String), Vec<UsagePoint>> = BTreeMap::new();
    let mut by_agent: BTreeMap<String, UsageTotal> = BTreeMap::new();
    let mut by_model: BTreeMap<String, UsageTotal> = BTreeMap::new();
    for u in rows.iter().filter(|u| agent.is_none_or(|a| u.agent == a)) {
        let Some(&i) = index.get(u.day.as_str()) else { continue };
        let points = series.entry((u.agent.clone(), u.model.clone())).or_insert_with(|| {
            day_list.iter().map(|d| UsagePoint { day: d.clone(), ..UsagePoint::default() }).collect()
        });
        let p = &mut points[i];
        p.requests += u.requests;
        p.input_tokens += u.input_tokens;
        p.output_tokens += u.output_tokens;
        p.cost_micros += u.cost_micros;
        for (map, key) in [(&mut by_agent, &u.agent), (&mut by_model, &u.model)] {
            let t = map.entry(key.clone()).or_insert_with(|| UsageTotal { key: key.clone(), ..UsageTotal::default() });
            t.requests += u.requests;
            t.input_tokens += u.input_tokens;
            t.output_tokens += u.output_tokens;
            t.cost_micros += u.cost_micros;
        }
    }
    let mut calls: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (a, d, n) in gw.store.audit_calls_per_day(first * DAY_MS, agent).await? {
        let Some(i) = usize::try_from(d - first).ok().filter(|&i| i < day_list.len()) else { continue };
        calls.entry(a).or_insert_with(|| vec![0; day_list.len()])[i] += n;
    }
    Ok(UsageView {
        days: day_list,
        series: series.into_iter().map(|((agent, model), points)| UsageSeries { agent, model, points }).collect(),
        totals_by_agent: by_agent.into_values().collect(),
        totals_by_model: by_model.into_values().collect(),
        calls: calls.into_iter().map(|(agent, calls)| CallSeries { agent, calls }).collect(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_utc_dates() {
        assert_eq!(super::day_of(0), "1970-01-01");
        assert_eq!(super::day_of(86_400_000 * 365), "1971-01-01");
    }
}
