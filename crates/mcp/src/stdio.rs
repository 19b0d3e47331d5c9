//! stdio transport: newline-delimited JSON-RPC over a child's stdin/stdout.
//! stderr lines go to the structured log, tagged with the upstream name.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::connection::{Connection, UnsolicitedSink, Wire};

/// Largest single message accepted from a child (guards against runaway output).
const MAX_LINE: usize = 64 * 1024 * 1024;

pub struct StdioWire {
    tx: mpsc::Sender<Vec<u8>>,
    child: Mutex<Option<Child>>,
}

impl StdioWire {
    pub(crate) async fn write(&self, msg: &Value) -> Result<(), String> {
        let mut line = serde_json::to_vec(msg).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.tx.send(line).await.map_err(|_| "process is not running".to_string())
    }

    pub(crate) fn shutdown(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.start_kill();
        }
    }
}

pub struct StdioSpec<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a str>,
    /// Variables of Warden's own environment the child must not inherit
    /// (credentials meant for other upstreams). `WARDEN_*` never passes either.
    pub hide: &'a [String],
}

pub(crate) fn spawn(name: &str, spec: &StdioSpec<'_>, sink: UnsolicitedSink) -> Result<Arc<Connection>, String> {
    let mut cmd = Command::new(spec.command);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("WARDEN_") || spec.hide.iter().any(|h| h == k)) {
            cmd.env_remove(&k);
        }
    }
    cmd.args(spec.args)
        .envs(spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = spec.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", spec.command))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let conn = Connection::new(name, Wire::Stdio(StdioWire { tx, child: Mutex::new(Some(child)) }), sink);

    tokio::spawn(async move {
        while let Some(buf) = rx.recv().await {
            if stdin.write_all(&buf).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });

    let reader_conn = conn.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader).take(MAX_LINE as u64).read_until(b'\n', &mut line).await {
                Ok(0) => break,
                Ok(_) if line.last() != Some(&b'\n') && line.len() >= MAX_LINE => {
                    tracing::error!(upstream = %reader_conn.name, "message over {MAX_LINE} bytes; closing the upstream");
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(upstream = %reader_conn.name, error = %e, "stdout read failed");
                    break;
                }
            }
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Value>(trimmed) {
                Ok(msg) if msg.is_object() => reader_conn.dispatch(msg, None),
                _ => {
                    tracing::warn!(upstream = %reader_conn.name, line = %String::from_utf8_lossy(trimmed), "non-JSON-RPC line on stdout; ignored")
                }
            }
        }
        tracing::warn!(upstream = %reader_conn.name, "upstream process closed stdout");
        reader_conn.close();
    });

    let stderr_name = name.to_string();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            tracing::info!(upstream = %stderr_name, stderr = %l, "upstream stderr");
        }
    });
    Ok(conn)
}
