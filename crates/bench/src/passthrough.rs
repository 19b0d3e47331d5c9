//! The floor: a minimal HTTP/1.1 pass-through proxy (hyper server + hyper
//! client, bodies forwarded as bytes, no parsing, no auth). Measured in the same
//! run as direct and Warden, it shows what one extra loopback hop through any
//! proxy process costs on this machine, separately from Warden's own work.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Full<Bytes>>;

async fn forward(
    client: Upstream,
    upstream: String,
    req: hyper::Request<Incoming>,
) -> anyhow::Result<hyper::Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut out = hyper::Request::builder().method(parts.method).uri(format!("{upstream}{}", parts.uri));
    for (k, v) in &parts.headers {
        if k != http::header::HOST {
            out = out.header(k, v);
        }
    }
    let resp = client.request(out.body(Full::new(body))?).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(hyper::Response::from_parts(parts, Full::new(body)))
}

pub fn run(listen: SocketAddr, upstream: String) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new()).build(conn);
        loop {
            let (sock, _) = listener.accept().await?;
            sock.set_nodelay(true)?;
            let (client, upstream) = (client.clone(), upstream.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| forward(client.clone(), upstream.clone(), req));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(sock), svc).await;
            });
        }
    })
}
