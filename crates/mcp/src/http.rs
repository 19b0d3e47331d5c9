//! Streamable HTTP client transport (MCP 2025-06-18 / 2025-11-25).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::connection::{Connection, UnsolicitedSink, UpstreamError, Wire};
use crate::sse;

const SESSION: &str = "mcp-session-id";
const VERSION: &str = "mcp-protocol-version";
/// How many times one call may resume its SSE stream with `Last-Event-ID` (SEP-1699).
const MAX_RESUMES: usize = 5;

/// Headers computed for each request: credentials resolved at the point of
/// use, so a rotated or re-read secret takes effect without reconnecting.
pub trait HeaderSource: Send + Sync + std::fmt::Debug {
    fn headers(&self) -> futures::future::BoxFuture<'_, Result<HeaderMap, String>>;
    /// The upstream answered 401 to these headers: forget any cached token so
    /// the next [`HeaderSource::headers`] fetches a fresh one.
    fn rejected(&self) {}
}

pub struct HttpWire {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    dynamic: Option<Arc<dyn HeaderSource>>,
    session: Mutex<Option<String>>,
    version: Mutex<String>,
    /// Serialises re-initialisation after the upstream expires our session.
    reinit: tokio::sync::Mutex<()>,
    connect_timeout: Duration,
}

pub(crate) fn connect(
    name: &str,
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    dynamic: Option<Arc<dyn HeaderSource>>,
    connect_timeout: Duration,
    sink: UnsolicitedSink,
) -> Arc<Connection> {
    let wire = HttpWire {
        client,
        url,
        headers,
        dynamic,
        session: Mutex::new(None),
        version: Mutex::new(crate::LATEST_VERSION.to_string()),
        reinit: tokio::sync::Mutex::new(()),
        connect_timeout,
    };
    Connection::new(name, Wire::Http(wire), sink)
}

/// Builds the static header map, rejecting invalid names or values.
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name {k:?}"))?;
        let value = HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
        map.insert(name, value);
    }
    Ok(map)
}

impl HttpWire {
    pub(crate) fn set_protocol_version(&self, v: &str) {
        *self.version.lock().unwrap() = v.to_string();
    }

    fn session(&self) -> Option<String> {
        self.session.lock().unwrap().clone()
    }

    /// The static headers plus the credentials resolved now. A credential that
    /// cannot be resolved fails the request: never call unauthenticated.
    async fn request_headers(&self, conn: &Connection) -> Result<HeaderMap, UpstreamError> {
        let mut h = self.headers.clone();
        if let Some(d) = &self.dynamic {
            let extra = d.headers().await.map_err(|e| UpstreamError::Credential(conn.name.clone(), e))?;
            for (k, v) in extra.iter() {
                h.insert(k.clone(), v.clone());
            }
        }
        Ok(h)
    }

    fn post(
        &self,
        headers: HeaderMap,
        body: bytes::Bytes,
        with_version: bool,
        traceparent: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut rb = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .body(body);
        if let Some(s) = self.session() {
            rb = rb.header(SESSION, s);
        }
        if with_version {
            rb = rb.header(VERSION, self.version.lock().unwrap().clone());
        }
        if let Some(tp) = traceparent {
            rb = rb.header("traceparent", tp);
        }
        rb
    }

    /// One request's whole exchange: POST, then a JSON body or an SSE stream,
    /// resuming the stream if the server closes it early.
    pub(crate) async fn exchange(&self, conn: &Arc<Connection>, id: u64, msg: &Value) -> Result<(), UpstreamError> {
        let body = bytes::Bytes::from(serde_json::to_vec(msg).map_err(|e| conn.unavailable(e.to_string()))?);
        let is_init = msg.get("method").and_then(Value::as_str) == Some("initialize");
        // The gateway puts the W3C trace context in `_meta`; HTTP servers also get it as a header.
        let traceparent = msg.pointer("/params/_meta/traceparent").and_then(Value::as_str).filter(|t| t.len() == 55);
        let mut retried = false;
        let mut reauthed = false;
        loop {
            let sent_session = self.session();
            let headers = self.request_headers(conn).await?;
            let resp = self.post(headers, body.clone(), !is_init, traceparent).send().await.map_err(|e| {
                conn.close();
                conn.unavailable(format!("request failed: {e}"))
            })?;
            let status = resp.status();
            if status == http::StatusCode::UNAUTHORIZED {
                self.after_401(conn, &resp, &mut reauthed)?;
                continue;
            }
            if status == http::StatusCode::NOT_FOUND && sent_session.is_some() && !is_init && !retried {
                // The upstream forgot our session: re-initialise once, transparently, then retry.
                retried = true;
                self.reinitialize(conn, sent_session).await?;
                continue;
            }
            if is_init && let Some(s) = resp.headers().get(SESSION).and_then(|v| v.to_str().ok()) {
                *self.session.lock().unwrap() = Some(s.to_string());
            }
            let ctype =
                resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
            if ctype.starts_with("text/event-stream") && status.is_success() {
                return self.read_stream(conn, id, resp).await;
            }
            let bytes = resp.bytes().await.map_err(|e| conn.unavailable(format!("reading response: {e}")))?;
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes)
                && v.get("jsonrpc").is_some()
            {
                // A JSON-RPC body (including error bodies on 4xx) is the answer.
                let mut v = v;
                if v.get("id").is_none_or(Value::is_null) && v.get("error").is_some() {
                    v["id"] = Value::from(id);
                }
                conn.dispatch(v, Some(id));
                return Ok(());
            }
            return Err(UpstreamError::Protocol(conn.name.clone(), format!("HTTP {status} without a JSON-RPC body")));
        }
    }

    /// After a 401: Ok to retry once with a fresh credential (an expired or
    /// revoked token is dropped first), else the error to answer with.
    fn after_401(&self, conn: &Connection, resp: &reqwest::Response, reauthed: &mut bool) -> Result<(), UpstreamError> {
        match self.dynamic.as_ref().filter(|_| !*reauthed) {
            Some(d) => {
                *reauthed = true;
                d.rejected();
                Ok(())
            }
            None => Err(self.unauthorized(conn, resp)),
        }
    }

    /// The upstream refused Warden's credential (after one fresh attempt, when it can be refreshed).
    fn unauthorized(&self, conn: &Connection, resp: &reqwest::Response) -> UpstreamError {
        let challenge = resp
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(|c| format!(" ({})", c.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        let why = match &self.dynamic {
            Some(_) => {
                format!("the upstream refused Warden's credential with HTTP 401 twice, a fresh one included{challenge}")
            }
            None => format!("the upstream answered HTTP 401{challenge}: give it a credential with `auth`"),
        };
        UpstreamError::Credential(conn.name.clone(), why)
    }

    async fn reinitialize(&self, conn: &Arc<Connection>, stale: Option<String>) -> Result<(), UpstreamError> {
        let _g = self.reinit.lock().await;
        if self.session() != stale {
            return Ok(()); // another call already re-initialised
        }
        tracing::info!(upstream = %conn.name, "upstream session expired; re-initialising");
        *self.session.lock().unwrap() = None;
        Box::pin(conn.initialize(self.connect_timeout)).await
    }

    async fn read_stream(&self, conn: &Arc<Connection>, id: u64, resp: reqwest::Response) -> Result<(), UpstreamError> {
        let mut resp = resp;
        let mut last_id: Option<String> = None;
        let mut retry = Duration::from_millis(100);
        for attempt in 0..=MAX_RESUMES {
            let mut parser = sse::Parser::default();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                for ev in parser.feed(&chunk) {
                    if let Some(i) = ev.id {
                        last_id = Some(i);
                    }
                    if let Some(r) = ev.retry {
                        retry = Duration::from_millis(r.min(10_000));
                    }
                    if ev.data.trim().is_empty() {
                        continue; // priming event
                    }
                    match serde_json::from_str::<Value>(&ev.data) {
                        Ok(m) => conn.dispatch(m, Some(id)),
                        Err(_) => {
                            tracing::warn!(upstream = %conn.name, "non-JSON SSE event; ignored")
                        }
                    }
                }
                if !conn.has_pending(id) {
                    return Ok(());
                }
            }
            if !conn.has_pending(id) {
                return Ok(());
            }
            let Some(lei) = last_id.clone() else { break };
            if attempt == MAX_RESUMES {
                break;
            }
            // SEP-1699: the server closed the stream before answering; resume it.
            tokio::time::sleep(retry).await;
            let headers = self.request_headers(conn).await?;
            let mut rb = self
                .client
                .get(self.url.clone())
                .headers(headers)
                .header(ACCEPT, "text/event-stream")
                .header("last-event-id", lei)
                .header(VERSION, self.version.lock().unwrap().clone());
            if let Some(s) = self.session() {
                rb = rb.header(SESSION, s);
            }
            resp = rb.send().await.map_err(|e| conn.unavailable(format!("resuming stream: {e}")))?;
            if !resp.status().is_success() {
                break;
            }
        }
        Err(UpstreamError::Protocol(conn.name.clone(), "stream ended without a response".into()))
    }

    /// POSTs a notification or a response; the server answers 202.
    pub(crate) async fn post_oneway(&self, conn: &Connection, msg: &Value) -> Result<(), UpstreamError> {
        let body = bytes::Bytes::from(serde_json::to_vec(msg).map_err(|e| conn.unavailable(e.to_string()))?);
        let mut reauthed = false;
        let resp = loop {
            let headers = self.request_headers(conn).await?;
            let resp = self
                .post(headers, body.clone(), true, None)
                .send()
                .await
                .map_err(|e| conn.unavailable(format!("request failed: {e}")))?;
            if resp.status() != http::StatusCode::UNAUTHORIZED {
                break resp;
            }
            self.after_401(conn, &resp, &mut reauthed)?;
        };
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(UpstreamError::Protocol(conn.name.clone(), format!("HTTP {}", resp.status())))
        }
    }

    /// The standalone GET stream: server messages outside any call. Runs until
    /// the connection closes; a 405 means the server offers none.
    pub(crate) async fn listen(&self, conn: &Arc<Connection>) {
        let mut backoff = Duration::from_millis(500);
        while !conn.is_closed() {
            // No credential now: try again later rather than connect without it.
            let Ok(headers) = self.request_headers(conn).await else {
                tokio::select! {
                    _ = conn.closed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            };
            let mut rb = self
                .client
                .get(self.url.clone())
                .headers(headers)
                .header(ACCEPT, "text/event-stream")
                .header(VERSION, self.version.lock().unwrap().clone());
            if let Some(s) = self.session() {
                rb = rb.header(SESSION, s);
            }
            match rb.send().await {
                Ok(resp) if resp.status() == http::StatusCode::METHOD_NOT_ALLOWED => return,
                Ok(resp) if resp.status() == http::StatusCode::UNAUTHORIZED => {
                    if let Some(d) = &self.dynamic {
                        d.rejected();
                    }
                }
                Ok(resp) if resp.status().is_success() => {
                    backoff = Duration::from_millis(500);
                    let mut parser = sse::Parser::default();
                    let mut stream = resp.bytes_stream();
                    loop {
                        tokio::select! {
                            _ = conn.closed() => return,
                            chunk = stream.next() => {
                                let Some(Ok(chunk)) = chunk else { break };
                                for ev in parser.feed(&chunk) {
                                    if let Ok(m) = serde_json::from_str::<Value>(&ev.data) {
                                        conn.dispatch(m, None);
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(_) | Err(_) => {}
            }
            tokio::select! {
                _ = conn.closed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Ends the session upstream (DELETE), best effort.
    pub(crate) async fn terminate(&self, conn: &Connection) {
        if let Some(s) = self.session()
            && let Ok(headers) = self.request_headers(conn).await
        {
            let _ = self.client.delete(self.url.clone()).headers(headers).header(SESSION, s).send().await;
        }
    }
}
