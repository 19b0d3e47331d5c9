//! Streaming time to first token: the model stub directly vs through
//! Warden's `/v1/chat/completions`, in one run.
//!
//! `warden-bench ttft [--requests N] [--gap-ms MS]` starts `warden demo-llm`
//! and `warden serve` (durable audit, every output guardrail on its default)
//! on loopback. Each request carries an OpenClaw-sized 22 KB system prompt
//! (the same every turn, as an agent resends it) and a new user message. The
//! stub answers the role chunk and the first text chunk at once and then
//! waits `--gap-ms` before each later chunk, so a gateway that held the first
//! token back for the second would show the whole gap. The clock runs from
//! the request's send to the first SSE event carrying non-empty text; the
//! client then drops the stream (which Warden relays as a cancel). The two
//! targets take turns request by request.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{HttpClient, Proc, free_port, ms, percentile, token_hash, wait_up};

#[derive(Parser)]
#[command(name = "warden-bench ttft")]
pub struct TtftArgs {
    #[arg(long, default_value = "target/release/warden")]
    warden: String,
    /// Measured requests per target.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// The stub's wait between text chunks after the first.
    #[arg(long, default_value_t = 50)]
    gap_ms: u64,
}

/// Sends one streamed chat request; the time until the first text chunk.
async fn first_token(client: &HttpClient, url: &str, token: Option<&str>, body: &Bytes) -> anyhow::Result<Duration> {
    let mut rb = hyper::Request::post(url).header("content-type", "application/json");
    if let Some(t) = token {
        rb = rb.header("authorization", format!("Bearer {t}"));
    }
    let sent = Instant::now();
    let resp = client.request(rb.body(Full::new(body.clone()))?).await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let b = resp.into_body().collect().await?.to_bytes();
        bail!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&b));
    }
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        buf.extend_from_slice(&data);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let line = String::from_utf8_lossy(&event);
            let Some(json) = line.trim().strip_prefix("data:") else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(json.trim()) else { continue };
            if v["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty()) {
                return Ok(sent.elapsed());
            }
        }
    }
    bail!("{url}: the stream ended without text")
}

pub async fn run(a: TtftArgs) -> anyhow::Result<()> {
    let up: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let gw: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let _stub = Proc(
        Command::new(&a.warden)
            .args(["demo-llm", "--listen", &up.to_string()])
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", a.warden))?,
    );
    let token = "bench-token-0123456789abcdef";
    let hash = token_hash(&a.warden, token)?;
    let dir = std::env::temp_dir().join(format!("warden-bench-ttft-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("warden.yaml");
    std::fs::write(
        &cfg,
        format!(
            "models:\n  - name: stub\n    base_url: http://{up}/v1\n    models: {{demo-small: stub-small}}\n\
             agents:\n  - name: bench-bot\n    token_sha256: {hash}\n    allow_models: [\"*\"]\n"
        ),
    )?;
    let _gateway = Proc(
        Command::new(&a.warden)
            .args(["serve", "--config"])
            .arg(&cfg)
            .args(["--listen", &gw.to_string(), "--data-dir"])
            .arg(dir.join("data"))
            .env("WARDEN_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_up(up).await?;
    wait_up(gw).await?;

    let para = "You are a coding agent running inside the team's workspace. Read files, run the tests, and open \
        pull requests; never push to main; ask the owner before anything destructive. ";
    let system: String = para.repeat(22_000 / para.len() + 1)[..22_000].to_string();
    // The agent asks for `demo-small`; Warden maps it to the stub's `stub-small`.
    let body = |i: usize, model: &str| {
        Bytes::from(
            serde_json::json!({"model": model, "stream": true, "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": format!("Turn {i}: how is the build? [[say:Hello there, the build is green and all tests pass.]] [[gap:{}]]", a.gap_ms)},
            ]})
            .to_string(),
        )
    };
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(conn);
    let direct = format!("http://{up}/v1/chat/completions");
    let via = format!("http://{gw}/v1/chat/completions");
    for i in 0..50 {
        first_token(&client, &direct, None, &body(i, "stub-small")).await?;
        first_token(&client, &via, Some(token), &body(i, "demo-small")).await?;
    }
    let (mut d, mut w) = (Vec::new(), Vec::new());
    for i in 0..a.requests {
        let (bd, bw) = (body(1000 + i, "stub-small"), body(1000 + i, "demo-small"));
        // Alternate which target goes first.
        if i % 2 == 0 {
            d.push(first_token(&client, &direct, None, &bd).await?);
            w.push(first_token(&client, &via, Some(token), &bw).await?);
        } else {
            w.push(first_token(&client, &via, Some(token), &bw).await?);
            d.push(first_token(&client, &direct, None, &bd).await?);
        }
    }
    d.sort();
    w.sort();
    let row = |label: &str, q: f64| {
        let (x, y) = (percentile(&d, q), percentile(&w, q));
        println!("| {label} | {} | {} | {} |", ms(x), ms(y), ms(y.saturating_sub(x)));
    };
    println!(
        "time to first token, {} streamed requests per target, 22 KB system prompt, {} ms between later chunks\n",
        a.requests, a.gap_ms
    );
    println!("| | direct (ms) | through Warden (ms) | added (ms) |");
    println!("|---|---|---|---|");
    row("p50", 0.5);
    row("p90", 0.9);
    row("p99", 0.99);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
