//! The model door's policy stage on a turn whose proposed calls are all
//! allowed: what it adds to a model answer, in one run.
//!
//! `warden-bench propose [--requests N] [--stream]` starts `warden demo-llm` and
//! `warden serve` (durable audit, default guardrails, a rule allowing
//! `read_file`) on loopback. Each request is a chat completion (streamed
//! with `--stream`, as OpenClaw asks, timed to the stream's end)
//! with an OpenClaw-sized 22 KB system prompt, sent through Warden in three
//! shapes that take turns request by request, with the same answer text:
//! - `none`: the answer proposes no tool call (the baseline);
//! - `one`: it proposes one built-in call the policy allows (`read_file`);
//! - `mcp`: it proposes Warden's own MCP tool under OpenClaw's name
//!   (`warden__echo`), which the stage recognises and leaves to `/mcp`.
//!
//! The difference to `none` is the stage: argument screening, the policy, and
//! the durable audit record of the proposal (committed alongside the request's
//! own record). The stub directly is shown for reference.

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
#[command(name = "warden-bench propose")]
pub struct ProposeArgs {
    #[arg(long, default_value = "target/release/warden")]
    warden: String,
    /// Measured requests per shape.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Streamed answers (as OpenClaw asks for), timed to the end of the stream.
    #[arg(long)]
    stream: bool,
    /// The same with the audit trail off, to show the durable records' share.
    #[arg(long)]
    audit_off: bool,
}

/// One chat request; its latency, after checking the answer's tool calls.
async fn chat(
    client: &HttpClient,
    url: &str,
    token: Option<&str>,
    body: &Bytes,
    calls: usize,
) -> anyhow::Result<Duration> {
    let mut rb = hyper::Request::post(url).header("content-type", "application/json");
    if let Some(t) = token {
        rb = rb.header("authorization", format!("Bearer {t}"));
    }
    let sent = Instant::now();
    let resp = client.request(rb.body(Full::new(body.clone()))?).await?;
    let status = resp.status();
    let b = resp.into_body().collect().await?.to_bytes();
    let took = sent.elapsed();
    if !status.is_success() {
        bail!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&b));
    }
    let text = String::from_utf8_lossy(&b);
    let got = if text.starts_with("data:") {
        if !text.contains("[DONE]") {
            bail!("{url}: the stream did not end: {text}");
        }
        text.matches(r#""type":"function""#).count()
    } else {
        let v: serde_json::Value = serde_json::from_slice(&b)?;
        v["choices"][0]["message"]["tool_calls"].as_array().map_or(0, Vec::len)
    };
    if got != calls {
        bail!("{url}: {got} tool calls in the answer, expected {calls}: {text}");
    }
    Ok(took)
}

pub async fn run(a: ProposeArgs) -> anyhow::Result<()> {
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
    let dir = std::env::temp_dir().join(format!("warden-bench-propose-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("warden.yaml");
    std::fs::write(
        &cfg,
        format!(
            "audit: {{enabled: {}}}\nupstreams:\n  - name: demo\n    transport: stdio\n    command: {:?}\n    args: [demo-upstream]\n\
             models:\n  - name: stub\n    base_url: http://{up}/v1\n    models: {{demo-small: stub-small}}\n\
             policy:\n  rules:\n    - {{name: reads, match: {{tools: [read_file]}}, tier: low, action: allow}}\n\
             agents:\n  - name: bench-bot\n    token_sha256: {hash}\n    allow_models: [\"*\"]\n    allow_tools: [\"*\"]\n",
            !a.audit_off, a.warden
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
    // The catalog fills once the demo upstream has connected.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let para = "You are a coding agent running inside the team's workspace. Read files, run the tests, and open \
        pull requests; never push to main; ask the owner before anything destructive. ";
    let system: String = para.repeat(22_000 / para.len() + 1)[..22_000].to_string();
    let shapes: [(&str, &str, usize); 3] = [
        ("none", "", 0),
        ("one", r#"[[tool:read_file {"path": "/workspace/README.md"}]]"#, 1),
        ("mcp", r#"[[tool:warden__echo {"text": "status of the build"}]]"#, 1),
    ];
    let body = |i: usize, model: &str, tools: &str| {
        Bytes::from(
            serde_json::json!({"model": model, "stream": a.stream, "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": format!("Turn {i}: check the readme. [[say:Reading it now.]] {tools}")},
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
        chat(&client, &direct, None, &body(i, "stub-small", ""), 0).await?;
        for (_, tools, n) in shapes {
            chat(&client, &via, Some(token), &body(i, "demo-small", tools), n).await?;
        }
    }
    let mut direct_t = Vec::new();
    let mut via_t: [Vec<Duration>; 3] = Default::default();
    for i in 0..a.requests {
        direct_t.push(chat(&client, &direct, None, &body(1000 + i, "stub-small", ""), 0).await?);
        // Rotate which shape goes first.
        for k in 0..3 {
            let s = (i + k) % 3;
            let (_, tools, n) = shapes[s];
            via_t[s].push(chat(&client, &via, Some(token), &body(1000 + i, "demo-small", tools), n).await?);
        }
    }
    direct_t.sort();
    for v in &mut via_t {
        v.sort();
    }
    println!(
        "{} chat through Warden ({}), {} requests per shape, 22 KB system prompt; the stub directly for reference\n",
        if a.stream { "streamed (to the end of the stream)" } else { "non-streamed" },
        if a.audit_off { "audit off" } else { "durable audit" },
        a.requests
    );
    println!("| | stub direct (ms) | no call (ms) | one allowed call (ms) | added | Warden MCP tool (ms) | added |");
    println!("|---|---|---|---|---|---|---|");
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        let d = percentile(&direct_t, q);
        let [n, o, m] = [0, 1, 2].map(|s| percentile(&via_t[s], q));
        let add = |x: Duration| {
            let (x, n) = (x.as_secs_f64() * 1e3, n.as_secs_f64() * 1e3);
            format!("{:+.3}", x - n)
        };
        println!("| {label} | {} | {} | {} | {} | {} | {} |", ms(d), ms(n), ms(o), add(o), ms(m), add(m));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
