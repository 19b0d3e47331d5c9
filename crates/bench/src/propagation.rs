//! Kill-switch propagation between replicas on one PostgreSQL store.
//!
//! `warden-bench propagation --postgres URL [--samples N]` creates a fresh
//! database on the server at URL and starts three `warden serve` processes on
//! it with the default `store.poll_interval_ms` (1000):
//! - A, where the suspensions are made (its own enforcement is the baseline);
//! - B, a replica that hears changes by `LISTEN`/`NOTIFY` (the default);
//! - C, a replica with `store.listen: false`, which only polls.
//!
//! Each sample resumes the agent on A, takes a new token (a suspension voids
//! the old ones), waits until every replica admits it, then starts one prober
//! per replica and suspends the agent through A's admin API. A prober sends
//! `GET /mcp` with the agent's token and no session, back to back: admission
//! (identity and inventory status, the check every call passes first) answers
//! 401 once the replica enforces the suspension, 400 (no session) before. The
//! figure is the time from A's suspend response to the first 401 each replica
//! sends; 0 when it came before A's response did (also shown: from the
//! moment the suspend request was sent). The same-run baseline is C, the
//! poll-only path every replica had before; A shows enforcement where the
//! change is made. The run fails if B's p99 is above 100 ms.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::{HttpClient, Proc, free_port, ms, percentile, wait_up};

#[derive(Parser)]
#[command(name = "warden-bench propagation")]
pub struct PropagationArgs {
    #[arg(long, default_value = "target/release/warden")]
    warden: String,
    /// A PostgreSQL server URL (a database on it is created for the run),
    /// e.g. what `scripts/postgres.sh start DIR` prints.
    #[arg(long, env = "WARDEN_TEST_POSTGRES_URL")]
    postgres: String,
    /// Suspensions measured.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// `store.poll_interval_ms` of every replica.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Pause between one prober's requests, in ms (the figures' resolution;
    /// 0 probes back to back, at the cost of CPU the replicas need on a small machine).
    #[arg(long, default_value_t = 1)]
    probe_gap_ms: u64,
}

async fn request(
    client: &HttpClient,
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let mut rb = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let body = match body {
        Some((ct, b)) => {
            rb = rb.header("content-type", ct);
            Full::new(Bytes::from(b))
        }
        None => Full::new(Bytes::new()),
    };
    let resp = client.request(rb.body(body)?).await?;
    let status = resp.status();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

/// The admission probe: 401 when refused, 400 (no session) when admitted.
async fn probe(client: &HttpClient, base: &str, token: &str) -> anyhow::Result<http::StatusCode> {
    let auth = format!("Bearer {token}");
    let (s, body) = request(
        client,
        http::Method::GET,
        &format!("{base}/mcp"),
        &[("authorization", &auth), ("accept", "text/event-stream")],
        None,
    )
    .await?;
    if s != http::StatusCode::UNAUTHORIZED && s != http::StatusCode::BAD_REQUEST {
        bail!("{base}: probe answered HTTP {s}: {}", String::from_utf8_lossy(&body));
    }
    Ok(s)
}

/// Percent-encodes a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Replica {
    name: &'static str,
    base: String,
    /// From A's suspend response to the first refusal.
    lat: Vec<Duration>,
    /// From sending the suspend request to the first refusal.
    from_sent: Vec<Duration>,
    /// Refusals seen before A's suspend response arrived.
    early: usize,
}

pub async fn run(a: PropagationArgs) -> anyhow::Result<()> {
    let url = warden_store::testing::fresh_postgres_db(&a.postgres).await;
    let dir = std::env::temp_dir().join(format!("warden-bench-propagation-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = Command::new(&a.warden)
        .args(["admin", "token", "create", "--role", "admin", "--name", "bench", "--store-url", &url])
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {}", a.warden))?;
    let admin = String::from_utf8(out.stdout)?.lines().nth(1).context("no admin token printed")?.trim().to_string();
    let mut procs = Vec::new();
    let mut replicas = Vec::new();
    for (name, listen) in [("A (where suspended)", true), ("B (LISTEN/NOTIFY)", true), ("C (poll only)", false)] {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let cfg = dir.join(format!("warden-{}.yaml", replicas.len()));
        std::fs::write(
            &cfg,
            format!(
                "store:\n  url: {url:?}\n  poll_interval_ms: {}\n  listen: {listen}\nidentity:\n  issuer: https://warden.bench\n\
                 upstreams:\n  - name: demo\n    transport: stdio\n    command: {:?}\n    args: [demo-upstream]\n",
                a.poll_ms, a.warden
            ),
        )?;
        procs.push(Proc(
            Command::new(&a.warden)
                .args(["serve", "--config"])
                .arg(&cfg)
                .args(["--listen", &addr.to_string(), "--data-dir"])
                .arg(dir.join(format!("data-{}", replicas.len())))
                .env("WARDEN_LOG", "warn")
                .stderr(Stdio::null())
                .spawn()?,
        ));
        wait_up(addr).await?;
        replicas.push(Replica {
            name,
            base: format!("http://{addr}"),
            lat: Vec::new(),
            from_sent: Vec::new(),
            early: 0,
        });
    }
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(conn);
    let a_base = replicas[0].base.clone();
    let bearer = format!("Bearer {admin}");
    let admin_call = |path: String, body: Value| {
        let (client, bearer, a_base) = (client.clone(), bearer.clone(), a_base.clone());
        async move {
            let (s, b) = request(
                &client,
                http::Method::POST,
                &format!("{a_base}{path}"),
                &[("authorization", &bearer)],
                Some(("application/json", body.to_string())),
            )
            .await?;
            if !s.is_success() {
                bail!("{path}: HTTP {s}: {}", String::from_utf8_lossy(&b));
            }
            Ok::<Value, anyhow::Error>(serde_json::from_slice(&b)?)
        }
    };
    let created = admin_call(
        "/api/v1/agents".into(),
        json!({"name": "bench-bot", "owner": "bench@example.com", "team": "bench", "purpose": "propagation benchmark",
               "allow_tools": ["echo"]}),
    )
    .await?;
    let (id, secret) = (
        created["client_id"].as_str().context("client_id")?.to_string(),
        created["client_secret"].as_str().context("client_secret")?.to_string(),
    );
    eprintln!("{} suspensions, poll interval {} ms ...", a.samples, a.poll_ms);
    let mut suspend_rtt = Vec::new();
    for i in 0..a.samples {
        if i > 0 {
            admin_call("/api/v1/agents/bench-bot/resume".into(), json!({"reason": "bench"})).await?;
        }
        let form = format!("grant_type=client_credentials&client_id={}&client_secret={}", enc(&id), enc(&secret));
        let (s, b) = request(
            &client,
            http::Method::POST,
            &format!("{a_base}/oauth/token"),
            &[],
            Some(("application/x-www-form-urlencoded", form)),
        )
        .await?;
        if !s.is_success() {
            bail!("token: HTTP {s}: {}", String::from_utf8_lossy(&b));
        }
        let token: Value = serde_json::from_slice(&b)?;
        let token = token["access_token"].as_str().context("access_token")?.to_string();
        // Every replica admits the new token before the suspension (C may take a poll).
        for r in &replicas {
            let deadline = Instant::now() + Duration::from_millis(a.poll_ms * 3 + 2000);
            while probe(&client, &r.base, &token).await? != http::StatusCode::BAD_REQUEST {
                if Instant::now() > deadline {
                    bail!("{} never admitted the resumed agent", r.name);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let go = Arc::new(AtomicBool::new(false));
        let probers: Vec<_> = replicas
            .iter()
            .map(|r| {
                let (client, base, token, go) = (client.clone(), r.base.clone(), token.clone(), go.clone());
                let limit = Duration::from_millis(a.poll_ms * 3 + 2000);
                let gap = Duration::from_millis(a.probe_gap_ms);
                tokio::spawn(async move {
                    let start = Instant::now();
                    loop {
                        let s = probe(&client, &base, &token).await?;
                        if s == http::StatusCode::UNAUTHORIZED {
                            if !go.load(Ordering::SeqCst) {
                                bail!("{base}: refused before the suspension was sent");
                            }
                            return Ok(Instant::now());
                        }
                        if start.elapsed() > limit {
                            bail!("{base}: still admitted {limit:?} after the suspension");
                        }
                        if gap > Duration::ZERO {
                            tokio::time::sleep(gap).await;
                        }
                    }
                })
            })
            .collect();
        // Let the probers get going. Each sample starts just after C's poll admitted the new
        // token, so spread the suspension over a whole poll interval (a fixed, scattered
        // sequence): otherwise C's figure would measure one phase of its tick, not the poll.
        tokio::time::sleep(Duration::from_millis(20 + (i as u64 * 389) % a.poll_ms.max(1))).await;
        go.store(true, Ordering::SeqCst);
        let sent = Instant::now();
        admin_call("/api/v1/agents/bench-bot/suspend".into(), json!({"reason": "bench"})).await?;
        let answered = Instant::now();
        suspend_rtt.push(answered - sent);
        for (r, p) in replicas.iter_mut().zip(probers) {
            let refused = p.await??;
            if refused < answered {
                r.early += 1;
            }
            r.lat.push(refused.saturating_duration_since(answered));
            r.from_sent.push(refused - sent);
        }
    }
    suspend_rtt.sort();
    for r in &mut replicas {
        r.lat.sort();
        r.from_sent.sort();
    }
    println!(
        "| replica | p50 (ms) | p99 (ms) | max (ms) | refused before A answered | p50 / p99 from the request (ms) |\n|---|---|---|---|---|---|"
    );
    for r in &replicas {
        println!(
            "| {} | {} | {} | {} | {} of {} | {} / {} |",
            r.name,
            ms(percentile(&r.lat, 0.5)),
            ms(percentile(&r.lat, 0.99)),
            ms(*r.lat.last().unwrap_or(&Duration::ZERO)),
            r.early,
            r.lat.len(),
            ms(percentile(&r.from_sent, 0.5)),
            ms(percentile(&r.from_sent, 0.99)),
        );
    }
    let (b99, c99) = (percentile(&replicas[1].lat, 0.99), percentile(&replicas[2].lat, 0.99));
    let (b50, c50) = (percentile(&replicas[1].lat, 0.5), percentile(&replicas[2].lat, 0.5));
    println!(
        "\nPoll only / LISTEN-NOTIFY, same run: p99 {:.1}x, p50 {}. A's suspend round trip: p50 {} ms, p99 {} ms. \
         Poll interval {} ms on every replica; probes {} ms apart.",
        c99.as_secs_f64() / b99.as_secs_f64().max(1e-6),
        if b50 > Duration::from_micros(100) {
            format!("{:.1}x", c50.as_secs_f64() / b50.as_secs_f64())
        } else {
            format!("{} ms vs {} ms", ms(c50), ms(b50))
        },
        ms(percentile(&suspend_rtt, 0.5)),
        ms(percentile(&suspend_rtt, 0.99)),
        a.poll_ms,
        a.probe_gap_ms
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
    if b99 > Duration::from_millis(100) {
        bail!("B's p99 {} ms is above the 100 ms target", ms(b99));
    }
    Ok(())
}
