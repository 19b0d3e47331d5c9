//! Model usage: tokens and cost per agent, model and UTC day, summed across
//! replicas in the shared store. Budgets read today's totals from here.

use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store};

pub(crate) const MIGRATIONS: &[&str] =
    &["CREATE TABLE IF NOT EXISTS llm_usage (agent TEXT NOT NULL, model TEXT NOT NULL, day TEXT NOT NULL, \
     requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, \
     cost_micros BIGINT NOT NULL, PRIMARY KEY (agent, day, model))"];

/// One agent's use of one model on one day (`YYYY-MM-DD`, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub agent: String,
    pub model: String,
    pub day: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

impl Store {
    /// Adds one request's usage.
    pub async fn usage_add(&self, u: &Usage) -> Result<()> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO llm_usage (agent, model, day, requests, input_tokens, output_tokens, cost_micros) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (agent, day, model) DO UPDATE SET \
             requests = llm_usage.requests + $4, input_tokens = llm_usage.input_tokens + $5, \
             output_tokens = llm_usage.output_tokens + $6, cost_micros = llm_usage.cost_micros + $7",
        )
        .bind(&u.agent)
        .bind(&u.model)
        .bind(&u.day)
        .bind(u.requests)
        .bind(u.input_tokens)
        .bind(u.output_tokens)
        .bind(u.cost_micros)
        .execute(&mut *w.tx)
        .await?;
        w.commit_quiet().await
    }

    /// An agent's totals for one day: (tokens, cost in micro-dollars).
    pub async fn usage_day(&self, agent: &str, day: &str) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) AS t, \
             CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS c \
             FROM llm_usage WHERE agent = $1 AND day = $2",
        )
        .bind(agent)
        .bind(day)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get::<i64, _>("t")?, row.try_get::<i64, _>("c")?))
    }

    /// Every row from `since_day` (inclusive), by day, agent and model.
    pub async fn usage_since(&self, since_day: &str) -> Result<Vec<Usage>> {
        let rows = sqlx::query("SELECT * FROM llm_usage WHERE day >= $1 ORDER BY day, agent, model")
            .bind(since_day)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Usage {
                    agent: r.try_get("agent")?,
                    model: r.try_get("model")?,
                    day: r.try_get("day")?,
                    requests: r.try_get("requests")?,
                    input_tokens: r.try_get("input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    cost_micros: r.try_get("cost_micros")?,
                })
            })
            .collect()
    }
}
