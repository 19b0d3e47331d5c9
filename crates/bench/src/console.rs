//! The web console: page time with a big inventory, and how fast a decision
//! made in the console releases a held call, on the same and another replica.
//!
//! `warden-bench console [--agents 10000] [--approvals 1000] [--requests 200]
//! [--holds 20]` runs everything in-process on loopback:
//! - a fresh SQLite store (`Store::open`) seeded with `--agents` store agents
//!   and `--approvals` pending approvals (agents, teams and tiers varied; their
//!   holder replica keeps a heartbeat so the orphan sweep leaves them pending);
//! - an admin token (`create_admin_token_in`), two gateways (replicas A and B)
//!   on the same SQLite file with the default `store.poll_interval_ms`, the
//!   demo upstream over HTTP;
//! - page times: console sign-in with the admin token (`POST /console/auth/token`),
//!   then `--requests` sequential GETs per page after 20 warm-ups, pages taking
//!   turns request by request: `/healthz` and `/api/v1/approvals?limit=50`
//!   (bearer) as baselines, `/console/approvals`, `/console/approvals?partial=rows`
//!   and `/console/agents`. Latency is as seen by a keep-alive loopback client.
//! - release: an MCP `tools/call delete_file` (default policy: high tier,
//!   require_approval) held on replica A, approved with a form POST to
//!   `/console/approvals/<id>/decide` on replica B (cross-replica) or on A
//!   (same replica); time from the decide response to the held call's result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use warden_core::inventory::{AgentRecord, AgentSpec, Status};
use warden_core::time::{Timestamp, now_ms};
use warden_store::{Approval, ApprovalStatus};

use crate::{HttpClient, Target, initialize, ms, percentile, post};

#[derive(Parser)]
#[command(name = "warden-bench console")]
pub struct ConsoleArgs {
    /// Store agents (bots) in the inventory.
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Pending approvals.
    #[arg(long, default_value_t = 1_000)]
    approvals: usize,
    /// Measured requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Held calls released cross-replica (and half as many on the same replica).
    #[arg(long, default_value_t = 20)]
    holds: usize,
}

const MCP_TOKEN: &str = "bench-console-agent-0123456789";
const SEED_HOLDER: &str = "bench-seed-replica";

fn yaml(up: SocketAddr) -> String {
    format!(
        "upstreams:\n  - name: demo\n    transport: streamable-http\n    url: http://{up}/mcp\n\
         agents:\n  - name: mcp-bot\n    token_sha256: {}\n    allow_tools: [\"*\"]\n\
         audit:\n  enabled: true\n",
        warden_core::identity::TokenHash::of(MCP_TOKEN).to_hex()
    )
}

fn agent(i: usize) -> AgentRecord {
    let spec: AgentSpec = serde_json::from_value(serde_json::json!({
        "name": format!("bot-{i:05}"),
        "owner": format!("owner{}@example.com", i % 97),
        "team": format!("team-{}", i % 20),
        "purpose": "benchmark inventory",
        "allow_tools": ["*"],
    }))
    .expect("agent spec");
    AgentRecord {
        id: format!("00000000-0000-7000-8000-{i:012}"),
        spec,
        status: Status::Active,
        status_reason: String::new(),
        created_at: Timestamp(1_700_000_000 + i as i64),
        updated_at: Timestamp(1_700_000_000 + i as i64),
        last_review: None,
        tokens_not_before_ms: 0,
        has_client_secret: true,
    }
}

fn approval(i: usize, agents: usize) -> Approval {
    let a = (i * 7919) % agents;
    let tiers = ["low", "medium", "high", "critical"];
    let now = Timestamp::now().0;
    Approval {
        id: format!("apr_bench{i:06}"),
        status: ApprovalStatus::Pending,
        agent: format!("bot-{a:05}"),
        owner: format!("owner{}@example.com", a % 97),
        team: format!("team-{}", a % 20),
        tool: ["pay__transfer", "fs__delete_file", "deploy__scale", "crm__export"][i % 4].into(),
        arguments: serde_json::json!({"amount": i, "path": format!("/srv/data/{i}"), "api_key": "[REDACTED:key]"}),
        args_digest: format!("d{i}"),
        tier: tiers[i % 4].into(),
        rule: format!("rule-{}", i % 9),
        reason: "needs a human".into(),
        approvers: if i.is_multiple_of(3) { Some("finance".into()) } else { None },
        trace_id: format!("{i:032x}"),
        entry: "mcp".into(),
        session_id: Some(format!("s{i}")),
        created_at: Timestamp(now - (i as i64)),
        expires_at: Timestamp(now + 24 * 3600),
        decided_by: None,
        decided_at: None,
        comment: None,
        holder: SEED_HOLDER.into(),
        outcome: None,
    }
}

/// A measured page: its label, URL and request headers.
type Page<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

struct Replica {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn replica(yaml: &str, db: &str) -> anyhow::Result<(Replica, Arc<warden_store::Store>)> {
    let config = warden_config::parse(yaml).map_err(|e| anyhow::anyhow!("config: {e}"))?;
    let store = Arc::new(warden_store::Store::open(db).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let gw = warden_gateway::Gateway::new(&config, store.clone(), addr)?;
    let conflicts = gw.start().await?;
    if !conflicts.is_empty() {
        bail!("conflicts: {conflicts:?}");
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(warden_gateway::serve(gw, listener, async move {
        let _ = rx.await;
    }));
    Ok((Replica { addr, _stop: tx }, store))
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

async fn get(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
    let mut rb = hyper::Request::get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = client.request(rb.body(Full::new(Bytes::new()))?).await?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

async fn form_post(
    client: &HttpClient,
    base: &str,
    path: &str,
    cookie: Option<&str>,
    body: String,
) -> anyhow::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
    let mut rb = hyper::Request::post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", base);
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    let resp = client.request(rb.body(Full::new(Bytes::from(body)))?).await?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

/// Signs in with the admin token: (cookie header value, CSRF token).
async fn sign_in(client: &HttpClient, base: &str, token: &str) -> anyhow::Result<(String, String)> {
    let (s, h, b) = form_post(client, base, "/console/auth/token", None, form_encode(&[("token", token)])).await?;
    let cookie = h
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("warden-session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .with_context(|| format!("sign-in: HTTP {s}, no session cookie: {}", String::from_utf8_lossy(&b)))?;
    let (s, _, page) = get(client, &format!("{base}/console/approvals"), &[("cookie", &cookie)]).await?;
    let page = String::from_utf8_lossy(&page);
    if !s.is_success() {
        bail!("approvals page: HTTP {s}: {}", &page[..page.len().min(300)]);
    }
    let csrf = page
        .split("name=\"csrf-token\"")
        .nth(1)
        .and_then(|r| r.split("content=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .context("no csrf-token meta on the page")?
        .to_string();
    Ok((cookie, csrf))
}

fn row(name: &str, mut v: Vec<Duration>, base: Option<Duration>, bytes: usize) -> String {
    v.sort();
    let p50 = percentile(&v, 0.5);
    let ratio = base.map_or("–".into(), |b| format!("{:.1}×", p50.as_secs_f64() / b.as_secs_f64().max(1e-9)));
    format!(
        "| {name} | {} | {} | {} | {} | {ratio} | {} KB |",
        ms(p50),
        ms(percentile(&v, 0.95)),
        ms(percentile(&v, 0.99)),
        ms(*v.last().unwrap_or(&Duration::ZERO)),
        bytes / 1024
    )
}

pub async fn run(a: ConsoleArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("warden-bench-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = format!("sqlite://{}", dir.join("warden.db").display());

    // Seed the store.
    let t0 = Instant::now();
    let seed = warden_store::Store::open(&db).await?;
    {
        let mut w = seed.write().await?;
        for i in 0..a.agents {
            w.insert_agent(&agent(i), None).await?;
        }
        w.commit().await?;
    }
    seed.heartbeat(SEED_HOLDER, now_ms()).await?;
    for i in 0..a.approvals {
        seed.insert_approval(&approval(i, a.agents.max(1))).await?;
    }
    let (_, admin) =
        warden_gateway::admin::api::create_admin_token_in(&seed, "bench", "admin", &["*".into()], &[], "bench")
            .await
            .map_err(|e| anyhow::anyhow!("admin token: {e:?}"))?;
    eprintln!("seeded {} agents, {} approvals in {:.1}s", a.agents, a.approvals, t0.elapsed().as_secs_f64());
    // The seeded approvals' holder stays alive, so the orphan sweep keeps them pending.
    let seed = Arc::new(seed);
    {
        let seed = seed.clone();
        tokio::spawn(async move {
            loop {
                let _ = seed.heartbeat(SEED_HOLDER, now_ms()).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    let up = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let up_addr = up.local_addr()?;
    tokio::spawn(warden_demo::serve_http(up));
    let cfg = yaml(up_addr);
    let poll = warden_config::parse(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?.store.poll_interval_ms.0;
    let (ra, store_a) = replica(&cfg, &db).await?;
    let (rb, _store_b) = replica(&cfg, &db).await?;
    let (base_a, base_b) = (format!("http://{}", ra.addr), format!("http://{}", rb.addr));

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (cookie_b, csrf_b) = sign_in(&client, &base_b, &admin).await?;
    let (cookie_a, csrf_a) = sign_in(&client, &base_a, &admin).await?;

    // 1. Page times, on replica A, pages taking turns.
    let bearer = format!("Bearer {admin}");
    let pages: Vec<Page<'_>> = vec![
        ("`GET /healthz` (baseline)", format!("{base_a}/healthz"), vec![]),
        (
            "`GET /api/v1/approvals?limit=50` (bearer, baseline)",
            format!("{base_a}/api/v1/approvals?limit=50"),
            vec![("authorization", bearer.as_str())],
        ),
        ("`GET /console/approvals`", format!("{base_a}/console/approvals"), vec![("cookie", cookie_a.as_str())]),
        (
            "`GET /console/approvals?partial=rows`",
            format!("{base_a}/console/approvals?partial=rows"),
            vec![("cookie", cookie_a.as_str())],
        ),
        ("`GET /console/agents`", format!("{base_a}/console/agents"), vec![("cookie", cookie_a.as_str())]),
    ];
    let mut lat: Vec<Vec<Duration>> = pages.iter().map(|_| Vec::new()).collect();
    let mut sizes = vec![0usize; pages.len()];
    for i in 0..(20 + a.requests) {
        for (k, (name, url, h)) in pages.iter().enumerate() {
            let t = Instant::now();
            let (s, _, body) = get(&client, url, h).await?;
            let took = t.elapsed();
            if !s.is_success() {
                bail!("{name}: HTTP {s}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
            }
            if i == 0 && k == 2 {
                let text = String::from_utf8_lossy(&body);
                let rows = text.matches("/console/approvals/apr_bench").count();
                eprintln!("approvals page: {} bytes, {rows} links to seeded approvals", body.len());
            }
            sizes[k] = body.len();
            if i >= 20 {
                lat[k].push(took);
            }
        }
    }

    // 2. Release of held calls.
    let mcp =
        Target { name: "mcp-bot", url: format!("{base_a}/mcp"), token: Some(MCP_TOKEN.into()), session: String::new() };
    let mcp = initialize(&client, mcp).await?;
    let mut cross = Vec::new();
    let mut same = Vec::new();
    let total = a.holds + a.holds / 2;
    for n in 0..total {
        let on_b = n < a.holds;
        let path = format!("/srv/bench/{n}");
        let body = Bytes::from(
            serde_json::json!({"jsonrpc": "2.0", "id": 1000 + n, "method": "tools/call",
                "params": {"name": "delete_file", "arguments": {"path": path}}})
            .to_string(),
        );
        let (c, t) = (client.clone(), mcp.clone());
        let held = tokio::spawn(async move {
            let r = post(&c, &t, Some(&t.session), body).await;
            (Instant::now(), r)
        });
        // Find its pending approval.
        let deadline = Instant::now() + Duration::from_secs(10);
        let id = loop {
            let list = store_a.approvals(Some(ApprovalStatus::Pending), 100_000).await?;
            if let Some(x) = list.iter().find(|x| x.agent == "mcp-bot" && x.arguments["path"] == path.as_str()) {
                break x.id.clone();
            }
            if Instant::now() > deadline {
                bail!("call {n} was not held for approval (is delete_file require_approval?)");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        // Land the decision at a random phase of the poll (holds start right after a poll otherwise).
        tokio::time::sleep(Duration::from_millis((n as u64 * 379) % poll.max(1))).await;
        let (base, cookie, csrf) = if on_b { (&base_b, &cookie_b, &csrf_b) } else { (&base_a, &cookie_a, &csrf_a) };
        let sent = Instant::now();
        let (s, _, b) = form_post(
            &client,
            base,
            &format!("/console/approvals/{id}/decide"),
            Some(cookie),
            form_encode(&[("csrf", csrf), ("decision", "approve"), ("comment", "bench")]),
        )
        .await?;
        let decided = Instant::now();
        if !(s.is_success() || s.is_redirection()) {
            bail!("decide {id}: HTTP {s}: {}", String::from_utf8_lossy(&b[..b.len().min(300)]));
        }
        let (done, r) = held.await?;
        let (st, _, rb) = r?;
        let text = String::from_utf8_lossy(&rb);
        if !st.is_success() || !text.contains("\"result\"") || text.contains("\"isError\":true") {
            bail!("held call {n}: HTTP {st}: {}", &text[..text.len().min(300)]);
        }
        let after_resp = done.saturating_duration_since(decided);
        let after_send = done.saturating_duration_since(sent);
        if on_b { cross.push((after_resp, after_send)) } else { same.push((after_resp, after_send)) }
    }

    // Report.
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "\nMachine: {cores} cores, {cpu}. SQLite store, {} store agents, {} pending approvals (+1 admin token).\n",
        a.agents, a.approvals
    );
    println!(
        "Page times, {} sequential requests each after 20 warm-ups (keep-alive loopback client, pages taking turns):\n",
        a.requests
    );
    println!("| Request | p50 ms | p95 ms | p99 ms | max ms | p50 vs /healthz | body |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut base = lat[0].clone();
    base.sort();
    let b50 = percentile(&base, 0.5);
    for (k, (name, _, _)) in pages.iter().enumerate() {
        println!("{}", row(name, lat[k].clone(), if k == 0 { None } else { Some(b50) }, sizes[k]));
    }
    let mut api = lat[1].clone();
    api.sort();
    let mut con = lat[2].clone();
    con.sort();
    println!(
        "\n`/console/approvals` p50 vs `/api/v1/approvals?limit=50` p50: {:.1}×",
        percentile(&con, 0.5).as_secs_f64() / percentile(&api, 0.5).as_secs_f64().max(1e-9)
    );
    println!("\nRelease of a held `tools/call` (held on replica A), `store.poll_interval_ms` = {poll} (default):\n");
    println!("| Decided in the console of | holds | p50 ms | p95 ms | max ms | p50 from decide sent ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, v) in [("replica B (other replica)", cross), ("replica A (same replica)", same)] {
        let mut r: Vec<Duration> = v.iter().map(|x| x.0).collect();
        let mut s: Vec<Duration> = v.iter().map(|x| x.1).collect();
        r.sort();
        s.sort();
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            r.len(),
            ms(percentile(&r, 0.5)),
            ms(percentile(&r, 0.95)),
            ms(*r.last().unwrap_or(&Duration::ZERO)),
            ms(percentile(&s, 0.5))
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
