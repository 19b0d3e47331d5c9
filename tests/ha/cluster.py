"""Three `warden serve` replicas on one real PostgreSQL, a counting upstream,
and a plain JSON-RPC MCP client (Streamable HTTP) that records every call.

Used by test_faults.py. Everything here runs real processes on 127.0.0.1 and
stops them at teardown; every wait has a deadline.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
WARDEN = os.environ.get("WARDEN_BIN", str(ROOT / "target/debug/warden"))
PG = str(ROOT / "scripts/postgres.sh")
PROTOCOL = "2025-06-18"
POLL_MS = 200
DRAIN_S = 5
REPORT = {}  # figures measured by the tests, printed at the end of the run (conftest.py)
LIFETIME_S = 900  # PostgreSQL stops by itself after this, or soon after the test process ends

_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_the_test():
    """In the child, before exec: SIGKILL it when the test process goes away
    (PR_SET_PDEATHSIG), so no replica or upstream outlives a killed run."""
    _prctl(1, signal.SIGKILL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, timeout=0.2):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_until(pred, timeout, what, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cli(*args, env=None, check=True, timeout=60):
    r = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check and r.returncode != 0:
        raise AssertionError(f"warden {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


class Replica:
    def __init__(self, cluster, i):
        self.cluster, self.i = cluster, i
        self.port = free_port()
        self.data = cluster.tmp / f"data{i}"
        self.log = cluster.tmp / f"replica{i}.log"
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "replica already running"
        self.starts += 1
        with open(self.log, "a") as f:
            f.write(f"=== start {self.starts} ===\n")
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            [WARDEN, "serve", "--config", str(self.cluster.cfg), "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", str(self.data)],
            stdout=log, stderr=log, env={**os.environ, "WARDEN_LOG": "warn"}, preexec_fn=_die_with_the_test)
        log.close()
        self.wait_ready()

    def start_retrying(self, failures, attempts=3):
        """Starts the replica as an orchestrator would: a start that fails is
        recorded in `failures` (with the end of its log) and tried again."""
        for k in range(attempts):
            try:
                self.start()
                return
            except AssertionError as e:
                failures.append({"replica": self.i, "attempt": k + 1, "at": time.monotonic(), "error": str(e)[-1500:]})
                self.stop()
        raise AssertionError(f"replica {self.i} did not start in {attempts} attempts: {failures[-1]}")

    def ready(self):
        try:
            r = requests.get(f"{self.url}/readyz", timeout=1)
            return r.status_code == 200 and r.json().get("tools") == 2
        except (requests.RequestException, ValueError):
            return False

    def wait_ready(self, timeout=30):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"replica {self.i} exited ({self.proc.returncode}); see {self.log}:\n"
                                     + self.log.read_text()[-3000:])
            return self.ready()
        wait_until(up, timeout, f"replica {self.i} ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def term(self):
        """SIGTERM, then wait for the drain to finish and the process to exit."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=DRAIN_S + 20)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Cluster:
    def __init__(self, n=3):
        self.tmp = Path(tempfile.mkdtemp(prefix="warden-ha."))
        os.chmod(self.tmp, 0o755)  # the postgres user must reach its data directory
        self.pgdir = self.tmp / "pg"
        self.procs = []
        self.store_url = subprocess.run([PG, "start", str(self.pgdir)], capture_output=True, text=True,
                                        timeout=300, check=True).stdout.strip().splitlines()[-1]
        self.pg_port = int(self.store_url.rsplit(":", 1)[1].split("/")[0])
        # pg_ctl daemonises the server: a watchdog stops it when this process ends (or after LIFETIME_S).
        subprocess.Popen(["sh", "-c", f'for i in $(seq {LIFETIME_S}); do kill -0 {os.getpid()} 2>/dev/null || break; '
                          'sleep 1; done; exec "$0" stop "$1"', PG, str(self.pgdir)],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.exec_log = self.tmp / "executed.log"
        self.exec_log.touch()
        up_port = free_port()
        self.upstream = subprocess.Popen([sys.executable, str(Path(__file__).with_name("counting_upstream.py")),
                                          str(up_port), str(self.exec_log)],
                                         stdout=subprocess.DEVNULL, stderr=open(self.tmp / "upstream.log", "w"),
                                         preexec_fn=_die_with_the_test)
        wait_until(lambda: port_open(up_port), 20, "the counting upstream")
        self.cfg = self.tmp / "warden.yaml"
        self.cfg.write_text(f"""
upstreams:
  - name: count
    transport: streamable-http
    url: http://127.0.0.1:{up_port}/mcp
    timeouts: {{connect_secs: 2, call_secs: 10}}
identity:
  issuer: http://warden-ha.test   # one issuer for all replicas (the default is each one's listen address)
store:
  url: {self.store_url}
  poll_interval_ms: {POLL_MS}
audit:
  signing_key_file: {self.tmp}/audit-signing.key
  checkpoint_interval_secs: 2
server:
  drain_timeout_secs: {DRAIN_S}
policy:
  approvals:
    timeout: 2m
    progress_interval: 1s
""")
        cli("config", "check", str(self.cfg))
        self.admin = cli("admin", "token", "create", "--role", "admin", "--name", "root",
                         "--config", str(self.cfg)).stdout.strip().splitlines()[-1]
        self.approver = cli("admin", "token", "create", "--role", "approver", "--name", "alice", "--teams", "platform",
                            "--config", str(self.cfg)).stdout.strip().splitlines()[-1]
        self.propagation = []  # how long until every replica accepted a new agent's token (s)
        self.replicas = [Replica(self, i) for i in range(n)]
        for r in self.replicas:
            r.start()

    def admin_env(self, i=0):
        return {"WARDEN_SERVER": self.replicas[i].url, "WARDEN_ADMIN_TOKEN": self.admin}

    def agent(self, name, via=0):
        """An inventory bot created through replica `via`, and an access token for it."""
        out = cli("agent", "create", "--name", name, "--owner", "ops@example.com", "--team", "platform",
                  "--allow-tool", "echo", "--allow-tool", "purge", "--reason", "ha fault test",
                  env=self.admin_env(via)).stdout
        secret = next(line.split()[1] for line in out.splitlines() if line.startswith("client_secret:"))
        r = requests.post(f"{self.replicas[via].url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(name, secret), timeout=10)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        # The other replicas learn of a new agent at their next store poll; until
        # then they refuse its token. Wait for all of them, and say how long it took.
        t = time.monotonic()
        for rep in self.replicas:
            wait_until(lambda: Mcp(rep.url, token).open() is None, 10, f"replica {rep.i} to accept {name}'s token")
        self.propagation.append(time.monotonic() - t)
        return token

    def api(self, method, i, path, token=None, **kw):
        return requests.request(method, f"{self.replicas[i].url}{path}", timeout=10,
                                headers={"Authorization": f"Bearer {token or self.admin}"}, **kw)

    def executed(self):
        """tool -> nonce -> how many times the upstream ran it."""
        out = {}
        for line in self.exec_log.read_text().splitlines():
            tool, nonce, _pid = line.split()
            out.setdefault(tool, {}).setdefault(nonce, 0)
            out[tool][nonce] += 1
        return out

    def export_audit(self):
        """Every audit record in the store, through `warden audit export` (the verifiable format)."""
        path = self.tmp / f"export-{time.monotonic_ns()}.jsonl"
        cli("audit", "export", "--config", str(self.cfg), "--format", "jsonl", "--out", str(path), timeout=120)
        return [json.loads(line) for line in path.read_text().splitlines() if '"type":"record"' in line]

    def logs(self):
        return "\n".join(r.log.read_text() for r in self.replicas if r.log.exists())

    def close(self):
        for r in self.replicas:
            r.stop()
        if self.upstream.poll() is None:
            self.upstream.kill()
            self.upstream.wait(timeout=10)
        subprocess.run([PG, "stop", str(self.pgdir)], timeout=60)


class Mcp:
    """One MCP session with one replica, in plain JSON-RPC over Streamable HTTP.
    `call` never raises: it returns what the client saw."""

    def __init__(self, base, token):
        self.base, self.token = base, token
        self.http = requests.Session()
        self.sid = None

    def _post(self, body, timeout, stream=False):
        h = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
             "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": PROTOCOL}
        if self.sid:
            h["Mcp-Session-Id"] = self.sid
        return self.http.post(f"{self.base}/mcp", data=json.dumps(body), headers=h, timeout=(2, timeout),
                              stream=stream)

    def open(self):
        self.sid = None
        r = self._post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "ha-test", "version": "1"}}},
            timeout=10)
        if r.status_code != 200:
            return {"kind": "http", "status": r.status_code, "body": r.text[:300]}
        sid = r.headers.get("mcp-session-id")
        if not sid:
            return {"kind": "http", "status": r.status_code, "body": "no session id"}
        self.sid = sid
        r = self._post({"jsonrpc": "2.0", "method": "notifications/initialized"}, timeout=10)
        if r.status_code != 202:
            self.sid = None
            return {"kind": "http", "status": r.status_code, "body": r.text[:300]}
        return None

    def call(self, tool, args, rid, on_notification=None, timeout=15, progress_token=None):
        try:
            if self.sid is None:
                failed = self.open()
                if failed:
                    return {**failed, "sent": False}
            params = {"name": tool, "arguments": args}
            if progress_token is not None:
                params["_meta"] = {"progressToken": progress_token}
            r = self._post({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params},
                           timeout=timeout, stream=True)
            if r.status_code in (404, 401, 403):
                self.sid = None  # session gone (replica restarted) or identity refused: start over
            if r.status_code != 200:
                return {"kind": "http", "status": r.status_code, "body": r.text[:300], "sent": True}
            if r.headers.get("content-type", "").startswith("application/json"):
                msgs = [r.json()]
            else:
                msgs = sse_messages(r)
            for m in msgs:
                if m.get("id") == rid and ("result" in m or "error" in m):
                    if "error" in m:
                        return {"kind": "error", "code": m["error"].get("code"), "message": m["error"].get("message"),
                                "data": m["error"].get("data"), "sent": True}
                    res = m["result"]
                    text = "".join(c.get("text", "") for c in res.get("content", []))
                    if res.get("isError"):
                        return {"kind": "tool_error", "text": text, "sent": True}
                    return {"kind": "ok", "text": text, "sent": True}
                if on_notification and "method" in m:
                    on_notification(m)
            return {"kind": "transport", "why": "stream ended without an answer", "sent": True}
        except (requests.RequestException, ValueError) as e:
            self.sid = None
            return {"kind": "transport", "why": f"{type(e).__name__}: {e}"[:300], "sent": True}


def sse_messages(r):
    """JSON-RPC messages from an SSE response, as they arrive."""
    data = []
    for line in r.iter_lines(decode_unicode=True):
        if line is None:
            continue
        if line == "":
            # An event with no data (a held call's priming event) carries no message.
            if "".join(data):
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if "".join(data):
        yield json.loads("\n".join(data))


class Load:
    """Agents calling `echo` with a unique nonce, round robin over the replicas,
    each call recorded with its JSON-RPC id, replica, times and outcome."""

    def __init__(self, cluster, agents, pace=0.02):
        self.cluster, self.agents, self.pace = cluster, agents, pace
        self.calls = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ids = iter(range(1000, 10**9))
        self.threads = [threading.Thread(target=self._run, args=(k, name, tok), daemon=True)
                        for k, (name, tok) in enumerate(agents)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self, timeout=60):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive(), "a load thread did not finish"

    def _run(self, k, name, token):
        clients = [Mcp(r.url, token) for r in self.cluster.replicas]
        n = 0
        while not self.stop.is_set():
            i = (k + n) % len(clients)
            n += 1
            with self.lock:
                rid = next(self.ids)
            nonce = f"{name}.{rid}.{os.urandom(4).hex()}"
            t0 = time.monotonic()
            out = clients[i].call("echo", {"nonce": nonce}, rid)
            t1 = time.monotonic()
            if out["kind"] == "ok" and out["text"] != f"echo:{nonce}":
                out = {**out, "kind": "wrong_answer"}
            with self.lock:
                self.calls.append({"agent": name, "replica": i, "id": rid, "nonce": nonce, "t0": t0, "t1": t1, **out})
            time.sleep(self.pace)

    def snapshot(self):
        with self.lock:
            return list(self.calls)


class Front:
    """A loopback TCP front for the replicas, as a Service is: each new
    connection goes to the first replica in `order` that accepts it. A
    connection's bytes are relayed both ways until either side closes."""

    def __init__(self, ports):
        self.ports = list(ports)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.routed = []  # the backend port of each connection, in order
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        deadline = time.monotonic() + 300
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            for port in self.ports:
                try:
                    backend = socket.create_connection(("127.0.0.1", port), timeout=1)
                except OSError:
                    continue
                self.routed.append(port)
                for a, b in ((client, backend), (backend, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
                break
            else:
                client.close()
        self.sock.close()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stopped.set()


class PortWatch:
    """Watches a TCP port and records when it stops and starts accepting."""

    def __init__(self, port):
        self.port = port
        self.changes = []  # (t, up)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        last = None
        while not self.stop.is_set():
            up = port_open(self.port, timeout=0.1)
            if up != last:
                self.changes.append((time.monotonic(), up))
                last = up
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join(5)
