//! tools/call benchmark: the demo upstream directly vs through Warden, in one run.
//!
//! Starts `warden demo-upstream --http` and `warden serve` (identity and
//! filtering on) as separate processes on loopback, then measures, for both
//! targets, with 1 KB arguments and a 1 KB result:
//! - latency at a fixed, open-loop rate (default 1,000 calls/s): each call is
//!   started on schedule whether or not earlier ones finished, latency runs from
//!   its send, and how late sends left against the schedule is reported too.
//!   The targets take turns in one-second blocks, so drift on a shared machine
//!   hits all of them alike;
//! - saturation throughput with N closed-loop workers; the two gateways
//!   (durable audit, audit off) take turns in one-second blocks (ABBA);
//! - the gateway's resident memory at idle.
//!
//! A third target, a minimal pass-through proxy process (`passthrough.rs`),
//! shows the cost of the extra loopback hop alone (the floor for any proxy).
//!
//! Prints a Markdown table. Every request's response is checked.
//!
//! Other harnesses: `warden-bench ttft` (streaming time to first token,
//! `ttft.rs`), `warden-bench propose` (the model door's policy stage on
//! allowed proposed calls, `propose.rs`), `warden-bench append` (the
//! durable audit append alone, `append.rs`), `warden-bench console` (the
//! web console's pages and approval release, `console.rs`) and
//! `warden-bench propagation` (a suspension on one replica enforced on the
//! others, on PostgreSQL, `propagation.rs`).

mod append;
mod console;
mod passthrough;
mod propagation;
mod propose;
mod scan;
mod ttft;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Parser, Clone)]
struct Args {
    /// The warden binary (build it with --release).
    #[arg(long, default_value = "target/release/warden")]
    warden: String,
    /// Fixed rate for the latency test, calls per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds per latency run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Closed-loop workers for the saturation run.
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// Seconds per saturation run.
    #[arg(long, default_value_t = 5)]
    sat_secs: u64,
    /// Argument and result size in bytes.
    #[arg(long, default_value_t = 1024)]
    payload: usize,
    /// Run the gateway with `server.json_responses: true` (JSON instead of SSE answers).
    #[arg(long)]
    json_responses: bool,
    /// A policy file for the gateway (`policy.files`), e.g. examples/policy/baseline.yaml.
    #[arg(long)]
    policy: Option<std::path::PathBuf>,
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Clone)]
struct Target {
    name: &'static str,
    url: String,
    token: Option<String>,
    session: String,
}

async fn post(
    client: &HttpClient,
    t: &Target,
    session: Option<&str>,
    body: Bytes,
) -> anyhow::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
    let mut rb = hyper::Request::post(&t.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(tok) = &t.token {
        rb = rb.header("authorization", format!("Bearer {tok}"));
    }
    if let Some(s) = session {
        rb = rb.header("mcp-session-id", s);
    }
    let resp = client.request(rb.body(Full::new(body))?).await?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status, parts.headers, body.collect().await?.to_bytes()))
}

async fn initialize(client: &HttpClient, mut t: Target) -> anyhow::Result<Target> {
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
    let (status, headers, body) = post(client, &t, None, Bytes::from(init.to_string())).await?;
    if !status.is_success() {
        bail!("{} initialize: HTTP {status}: {}", t.name, String::from_utf8_lossy(&body));
    }
    t.session = headers.get("mcp-session-id").context("no session id")?.to_str()?.to_string();
    let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    post(client, &t, Some(&t.session.clone()), note).await?;
    Ok(t)
}

fn call_body(payload: usize, id: u64) -> Bytes {
    let text = "x".repeat(payload);
    Bytes::from(
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": text}}})
        .to_string(),
    )
}

async fn one_call(client: &HttpClient, t: &Target, body: Bytes, payload: usize) -> anyhow::Result<()> {
    let (status, _, resp) = post(client, t, Some(&t.session), body).await?;
    // The echoed text must come back whole: the result is as large as the argument.
    if !status.is_success() || resp.len() < payload || !memchr_result(&resp) {
        bail!("{}: bad response HTTP {status}: {}", t.name, String::from_utf8_lossy(&resp[..resp.len().min(200)]));
    }
    Ok(())
}

fn memchr_result(b: &[u8]) -> bool {
    b.windows(8).any(|w| w == b"\"result\"")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Latency samples of one target: (latency from send, send lag against schedule).
#[derive(Default)]
struct Samples {
    lat: Vec<Duration>,
    lag: Vec<Duration>,
    errors: u64,
}

impl Samples {
    /// (p50, p99, max, errors, p99 send lag)
    fn summary(mut self) -> (Duration, Duration, Duration, u64, Duration) {
        self.lat.sort();
        self.lag.sort();
        (
            percentile(&self.lat, 0.5),
            percentile(&self.lat, 0.99),
            self.lat.last().copied().unwrap_or_default(),
            self.errors,
            percentile(&self.lag, 0.99),
        )
    }
}

/// Open loop at `rate`/s for one second against `t`, appending to `out`.
/// Each call starts on its schedule whether or not earlier calls finished;
/// latency runs from the moment it is sent, and how late it left against the
/// schedule (tokio's timer has 1 ms granularity) is kept separately.
async fn one_second(client: &HttpClient, t: &Target, a: &Args, first_id: u64, out: &mut Samples) {
    let interval = Duration::from_nanos(1_000_000_000 / a.rate);
    let start = Instant::now() + Duration::from_millis(5);
    let mut handles = Vec::with_capacity(a.rate as usize);
    for i in 0..a.rate {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (c, t) = (client.clone(), t.clone());
        let body = call_body(a.payload, first_id + i);
        let payload = a.payload;
        handles.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = one_call(&c, &t, body, payload).await.is_ok();
            (sent.elapsed(), sent.saturating_duration_since(due), ok)
        }));
    }
    for h in handles {
        let (l, g, ok) = h.await.unwrap();
        out.lat.push(l);
        out.lag.push(g);
        out.errors += u64::from(!ok);
    }
}

/// The latency test: `secs` one-second blocks per target, the targets taking
/// turns block by block, so drift on a shared machine hits every target alike.
async fn fixed_rate(client: &HttpClient, targets: &[&Target], a: &Args) -> Vec<Samples> {
    let mut all: Vec<Samples> = targets.iter().map(|_| Samples::default()).collect();
    for block in 0..a.secs {
        for (t, out) in targets.iter().zip(all.iter_mut()) {
            one_second(client, t, a, 1 + block * a.rate, out).await;
        }
    }
    all
}

/// Closed loop with `workers` for `secs`: (calls completed, seconds taken, errors).
async fn closed_loop(client: &HttpClient, t: &Target, a: &Args, secs: f64) -> (u64, f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut hs = Vec::new();
    for w in 0..a.workers {
        let (c, t, d, e) = (client.clone(), t.clone(), done.clone(), errors.clone());
        let payload = a.payload;
        hs.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                match one_call(&c, &t, call_body(payload, (w as u64) << 32 | i), payload).await {
                    Ok(()) => d.fetch_add(1, Ordering::Relaxed),
                    Err(_) => e.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let started = Instant::now();
    for h in hs {
        h.await.unwrap();
    }
    (done.load(Ordering::Relaxed), started.elapsed().as_secs_f64(), errors.load(Ordering::Relaxed))
}

/// Saturation of one target for `sat_secs`: (calls/s, errors).
async fn saturation(client: &HttpClient, t: &Target, a: &Args) -> (f64, u64) {
    let (calls, secs, errors) = closed_loop(client, t, a, a.sat_secs as f64).await;
    (calls as f64 / secs, errors)
}

/// One side of a paired saturation run.
#[derive(Default)]
struct Side {
    calls: u64,
    secs: f64,
    errors: u64,
    /// The gateway process's CPU time during its blocks.
    cpu: f64,
}

impl Side {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.secs.max(1e-9)
    }
    fn cpu_per_call_us(&self) -> f64 {
        1e6 * self.cpu / (self.calls as f64).max(1.0)
    }
}

/// Saturation of two gateways (pids given) in one-second blocks taking turns
/// in ABBA order, `sat_secs` blocks each, so drift on a shared machine hits
/// both alike and the ratio is not at the mercy of one slow minute.
async fn saturation_pair(client: &HttpClient, pair: [(&Target, u32); 2], a: &Args) -> [Side; 2] {
    let mut sides = [Side::default(), Side::default()];
    for block in 0..a.sat_secs {
        let order = if block % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (t, pid) = pair[i];
            let cpu0 = cpu_secs(pid);
            let (calls, secs, errors) = closed_loop(client, t, a, 1.0).await;
            let s = &mut sides[i];
            s.cpu += cpu_secs(pid) - cpu0;
            s.calls += calls;
            s.secs += secs;
            s.errors += errors;
        }
    }
    sides
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// (records committed, commits, seconds spent committing) from a gateway's `/metrics`.
async fn audit_counters(client: &HttpClient, addr: SocketAddr) -> anyhow::Result<(f64, f64, f64)> {
    let req = hyper::Request::get(format!("http://{addr}/metrics")).body(Full::new(Bytes::new()))?;
    let body = client.request(req).await?.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let get = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok())).unwrap_or(0.0)
    };
    Ok((
        get("warden_audit_records_total "),
        get("warden_audit_commit_seconds_count "),
        get("warden_audit_commit_seconds_sum "),
    ))
}

async fn wait_up(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("{addr} did not come up")
}

/// `warden token hash` of `token`: what an agent's `token_sha256` holds.
fn token_hash(warden: &str, token: &str) -> anyhow::Result<String> {
    use std::io::Write;
    let mut child =
        Command::new(warden).args(["token", "hash"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    child.stdin.take().context("stdin")?.write_all(token.as_bytes())?;
    Ok(String::from_utf8(child.wait_with_output()?.stdout)?.trim().to_string())
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("passthrough") {
        // Internal: `warden-bench passthrough LISTEN UPSTREAM_BASE`, spawned by the harness itself.
        return passthrough::run(argv[2].parse()?, argv[3].clone());
    }
    if argv.get(1).map(String::as_str) == Some("append") {
        let a = append::AppendArgs::parse_from(argv[1..].iter());
        return tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(append::run(a));
    }
    if argv.get(1).map(String::as_str) == Some("propose") {
        let a = propose::ProposeArgs::parse_from(argv[1..].iter());
        return tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(propose::run(a));
    }
    if argv.get(1).map(String::as_str) == Some("console") {
        let a = console::ConsoleArgs::parse_from(argv[1..].iter());
        return tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(console::run(a));
    }
    if argv.get(1).map(String::as_str) == Some("propagation") {
        let a = propagation::PropagationArgs::parse_from(argv[1..].iter());
        return tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(propagation::run(a));
    }
    if argv.get(1).map(String::as_str) == Some("scan") {
        return scan::run(scan::ScanArgs::parse_from(argv[1..].iter()));
    }
    if argv.get(1).map(String::as_str) == Some("ttft") {
        let a = ttft::TtftArgs::parse_from(argv[1..].iter());
        return tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(ttft::run(a));
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(harness(Args::parse()))
}

async fn harness(a: Args) -> anyhow::Result<()> {
    let up_port = free_port();
    let gw_port = free_port();
    let pt_port = free_port();
    let pt_addr: SocketAddr = format!("127.0.0.1:{pt_port}").parse()?;
    let up_addr: SocketAddr = format!("127.0.0.1:{up_port}").parse()?;
    let gw_addr: SocketAddr = format!("127.0.0.1:{gw_port}").parse()?;
    let off_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
    let _upstream = Proc(
        Command::new(&a.warden)
            .args(["demo-upstream", "--http", &up_addr.to_string()])
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", a.warden))?,
    );
    wait_up(up_addr).await?;
    let token = "bench-token-0123456789abcdef";
    let hash = token_hash(&a.warden, token)?;
    let dir = std::env::temp_dir().join(format!("warden-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let write_cfg = |name: &str, audit: bool| -> anyhow::Result<std::path::PathBuf> {
        let cfg = dir.join(name);
        std::fs::write(
            &cfg,
            format!(
                "audit:\n  enabled: {audit}\nserver:\n  json_responses: {}\nupstreams:\n  - name: demo\n    transport: streamable-http\n    url: http://{up_addr}/mcp\n\
             agents:\n  - name: bench-bot\n    token_sha256: {hash}\n    allow_tools: [\"echo\", \"add\"]\n    deny_tools: [\"delete_*\"]\n{}",
                a.json_responses,
                match &a.policy {
                    Some(p) => format!("policy:\n  files: [{:?}]\n", std::fs::canonicalize(p)?.display().to_string()),
                    None => String::new(),
                }
            ),
        )?;
        Ok(cfg)
    };
    let spawn_gateway = |cfg: std::path::PathBuf, addr: SocketAddr, data: &str| -> anyhow::Result<Proc> {
        Ok(Proc(
            Command::new(&a.warden)
                .args(["serve", "--config"])
                .arg(&cfg)
                .args(["--listen", &addr.to_string(), "--data-dir"])
                .arg(dir.join(data))
                .env("WARDEN_LOG", "warn")
                .stderr(Stdio::null())
                .spawn()?,
        ))
    };
    // Durable audit (the default) and, for the audit's cost, the same gateway with it off.
    let gateway = spawn_gateway(write_cfg("warden.yaml", true)?, gw_addr, "data")?;
    let gateway_off = spawn_gateway(write_cfg("warden-audit-off.yaml", false)?, off_addr, "data-off")?;
    wait_up(gw_addr).await?;
    wait_up(off_addr).await?;
    let _passthrough = Proc(
        Command::new(std::env::current_exe()?)
            .args(["passthrough", &pt_addr.to_string(), &format!("http://{up_addr}")])
            .spawn()?,
    );
    wait_up(pt_addr).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(gateway.0.id());

    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(conn);
    let direct = initialize(
        &client,
        Target { name: "direct", url: format!("http://{up_addr}/mcp"), token: None, session: String::new() },
    )
    .await?;
    let via = initialize(
        &client,
        Target {
            name: "warden",
            url: format!("http://{gw_addr}/mcp"),
            token: Some(token.into()),
            session: String::new(),
        },
    )
    .await?;

    let off = initialize(
        &client,
        Target {
            name: "warden, audit off",
            url: format!("http://{off_addr}/mcp"),
            token: Some(token.into()),
            session: String::new(),
        },
    )
    .await?;
    let floor = initialize(
        &client,
        Target { name: "passthrough", url: format!("http://{pt_addr}/mcp"), token: None, session: String::new() },
    )
    .await?;

    // Warm every path (connections, caches) before measuring.
    for t in [&direct, &floor, &via, &off] {
        for i in 0..2000 {
            one_call(&client, t, call_body(a.payload, i), a.payload).await?;
        }
    }
    eprintln!("latency at {}/s for {}s ...", a.rate, a.secs);
    let mut lat = fixed_rate(&client, &[&direct, &floor, &via, &off], &a).await.into_iter().map(Samples::summary);
    let (ld, lf, lg, lo) = (lat.next().unwrap(), lat.next().unwrap(), lat.next().unwrap(), lat.next().unwrap());
    eprintln!("saturation with {} workers for {}s ...", a.workers, a.sat_secs);
    let sd = saturation(&client, &direct, &a).await;
    let sf = saturation(&client, &floor, &a).await;
    let before = audit_counters(&client, gw_addr).await?;
    let [on_side, off_side] = saturation_pair(&client, [(&via, gateway.0.id()), (&off, gateway_off.0.id())], &a).await;
    let after = audit_counters(&client, gw_addr).await?;
    let (records, commits, secs) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
    let (sg, so) = ((on_side.rate(), on_side.errors), (off_side.rate(), off_side.errors));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(gateway.0.id());

    let added = |via: Duration, base: Duration| ms(via.saturating_sub(base));
    println!(
        "| metric | direct | minimal proxy | through Warden | Warden / direct | added by proxy | added by Warden |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (label, d, f, g) in [("p50", ld.0, lf.0, lg.0), ("p99", ld.1, lf.1, lg.1)] {
        println!(
            "| {label} latency @ {}/s (ms) | {} | {} | {} | {:.2} | {} | {} |",
            a.rate,
            ms(d),
            ms(f),
            ms(g),
            g.as_secs_f64() / d.as_secs_f64(),
            added(f, d),
            added(g, d)
        );
    }
    println!("| max latency @ {}/s (ms) | {} | {} | {} | | | |", a.rate, ms(ld.2), ms(lf.2), ms(lg.2));
    println!(
        "| saturation, {} workers (calls/s) | {:.0} | {:.0} | {:.0} | {:.2} | | |",
        a.workers,
        sd.0,
        sf.0,
        sg.0,
        sg.0 / sd.0
    );
    println!("| send lag p99 vs schedule (ms) | {} | {} | {} | | | |", ms(ld.4), ms(lf.4), ms(lg.4));
    println!("| errors (latency, saturation) | {}, {} | {}, {} | {}, {} | | | |", ld.3, sd.1, lf.3, sf.1, lg.3, sg.1);
    println!(
        "| gateway RSS idle at start / after load (MB) | | | {:.1} / {:.1} | | | |",
        rss_idle as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!();
    println!("| audit cost | Warden, durable audit | Warden, audit off | on / off |");
    println!("|---|---|---|---|");
    for (label, on, off) in [("p50", lg.0, lo.0), ("p99", lg.1, lo.1)] {
        println!(
            "| {label} latency @ {}/s (ms) | {} | {} | {:.2} |",
            a.rate,
            ms(on),
            ms(off),
            on.as_secs_f64() / off.as_secs_f64()
        );
    }
    println!("| saturation, {} workers (calls/s) | {:.0} | {:.0} | {:.2} |", a.workers, sg.0, so.0, sg.0 / so.0);
    println!("| errors (latency, saturation) | {}, {} | {}, {} | |", lg.3, sg.1, lo.3, so.1);
    println!(
        "| gateway CPU per call during saturation (µs) | {:.0} | {:.0} | {:.2} |",
        on_side.cpu_per_call_us(),
        off_side.cpu_per_call_us(),
        on_side.cpu_per_call_us() / off_side.cpu_per_call_us()
    );
    println!(
        "| audit group commits during saturation: count, records per commit, mean commit (ms) | {commits:.0}, {:.1}, {:.3} | | |",
        records / commits.max(1.0),
        1000.0 * secs / commits.max(1.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
    if ld.3 + lf.3 + lg.3 + lo.3 + sd.1 + sf.1 + sg.1 + so.1 > 0 {
        bail!("some calls failed");
    }
    Ok(())
}
