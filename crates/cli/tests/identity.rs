//! Identities, inventory and lifecycle, end to end: a real gateway on loopback,
//! a real SQLite store, the demo upstream as a stdio child, HTTP clients.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

struct Env {
    tg: TestGateway,
    admin: String,
    http: reqwest::Client,
}

fn config(extra: &str) -> String {
    format!("upstreams:\n{}{extra}", stdio_upstream("demo", ""))
}

async fn env_with(yaml: &str, store: Arc<warden_store::Store>) -> Env {
    let (_, admin) =
        warden_gateway::admin::api::create_admin_token_in(&store, "test-admin", "admin", &["*".into()], &[], "test")
            .await
            .unwrap();
    let tg = TestGateway::start_with(yaml, store).await;
    Env { tg, admin, http: reqwest::Client::new() }
}

async fn env() -> Env {
    env_with(&config(""), sqlite_store().await).await
}

impl Env {
    async fn token_for(&self, role: &str) -> String {
        warden_gateway::admin::api::create_admin_token_in(
            &self.tg.gw.store,
            &format!("t-{role}"),
            role,
            &["*".into()],
            &[],
            "test",
        )
        .await
        .unwrap()
        .1
    }

    async fn api_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        api_call(&self.http, &self.tg.base(), token, method, path, body).await
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_as(Some(&self.admin.clone()), method, path, body).await
    }

    async fn create(&self, spec: Value) -> (String, String) {
        let (s, v) = self.api(reqwest::Method::POST, "/api/v1/agents", Some(spec)).await;
        assert_eq!(s, 201, "{v}");
        (v["client_id"].as_str().unwrap().to_string(), v["client_secret"].as_str().unwrap().to_string())
    }

    async fn oauth(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        let body: String = url_encode(form);
        let mut rb = self
            .http
            .post(format!("{}/oauth/token", self.tg.base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((u, p)) = basic {
            rb = rb.basic_auth(u, Some(p));
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    async fn access_token(&self, id: &str, secret: &str) -> String {
        let (s, v) = self.oauth(&[("grant_type", "client_credentials")], Some((id, secret))).await;
        assert_eq!(s, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    async fn suspend(&self, name: &str, verb: &str) -> (u16, Value) {
        self.api(reqwest::Method::POST, &format!("/api/v1/agents/{name}/{verb}"), Some(json!({"reason": "test"}))).await
    }
}

fn url_encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| {
            format!("{k}={}", v.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace(' ', "+"))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn spec(name: &str) -> Value {
    json!({"name": name, "owner": "alice@example.com", "team": "platform", "purpose": "tests",
           "allow_tools": ["echo", "sleep"], "allow_resources": ["*"], "allow_prompts": ["*"]})
}

use reqwest::Method;

#[tokio::test]
async fn inventory_validation_conflicts_and_change_log() {
    let e = env().await;
    // Field-level validation.
    let (s, v) = e
        .api(
            Method::POST,
            "/api/v1/agents",
            Some(json!({"name": "Bad Name", "owner": "nobody", "review_cadence_days": 0})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let fields: Vec<&str> =
        v["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "owner", "review_cadence_days"], "{v}");
    // Unknown fields are rejected, not ignored.
    let mut bad = spec("x-bot");
    bad["colour"] = json!("red");
    let (s, v) = e.api(Method::POST, "/api/v1/agents", Some(bad)).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["fields"][0]["field"], "colour", "{v}");
    // Missing owner.
    let (s, v) = e.api(Method::POST, "/api/v1/agents", Some(json!({"name": "x-bot"}))).await;
    assert_eq!((s, v["error"]["fields"][0]["field"].as_str()), (400, Some("owner")), "{v}");
    // Malformed JSON and wrong content type.
    let r = e
        .http
        .post(format!("{}/api/v1/agents", e.tg.base()))
        .bearer_auth(&e.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = e.http.post(format!("{}/api/v1/agents", e.tg.base())).bearer_auth(&e.admin).body("x").send().await.unwrap();
    assert_eq!(r.status(), 415);

    // Create, duplicate → 409.
    e.create(spec("triage-bot")).await;
    let (s, v) = e.api(Method::POST, "/api/v1/agents", Some(spec("triage-bot"))).await;
    assert_eq!(s, 409, "{v}");
    // Rename through PUT is refused; offboarded records are closed.
    let mut renamed = spec("other-bot");
    renamed["team"] = json!("x");
    let (s, _) = e.api(Method::PUT, "/api/v1/agents/triage-bot", Some(renamed)).await;
    assert_eq!(s, 400);
    let (s, _) = e.api(Method::GET, "/api/v1/agents/ghost-bot", None).await;
    assert_eq!(s, 404);

    // Update with a reason; the change log says who, what and why.
    let mut upd = spec("triage-bot");
    upd["team"] = json!("security");
    let r = e
        .http
        .put(format!("{}/api/v1/agents/triage-bot", e.tg.base()))
        .bearer_auth(&e.admin)
        .header("x-warden-reason", "moved to security")
        .json(&upd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, v) = e.api(Method::GET, "/api/v1/agents/triage-bot/changes", None).await;
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{v}");
    assert_eq!(changes[1]["action"], "update");
    assert_eq!(changes[1]["actor"], "admin-token:test-admin");
    assert_eq!(changes[1]["reason"], "moved to security");
    assert_eq!(changes[1]["before"]["team"], "platform");
    assert_eq!(changes[1]["after"]["team"], "security");
    let (s, one) = e.api(Method::GET, &format!("/api/v1/changes/{}", changes[1]["id"].as_str().unwrap()), None).await;
    assert_eq!((s, &one), (200, &changes[1]));
    // Same spec again: no change, nothing logged.
    let (s, v) = e.api(Method::PUT, "/api/v1/agents/triage-bot", Some(upd)).await;
    assert_eq!((s, v["changed"].as_bool()), (200, Some(false)));
    let (_, v) = e.api(Method::GET, "/api/v1/agents/triage-bot/changes", None).await;
    assert_eq!(v["changes"].as_array().unwrap().len(), 2);
    // Connected systems derive from tool access.
    let (_, v) = e.api(Method::GET, "/api/v1/agents/triage-bot", None).await;
    assert_eq!(v["connected_systems"], json!(["demo"]), "{v}");
}

#[tokio::test]
async fn separation_rule_and_exceptions() {
    let e = env().await;
    let mut s1 = spec("sales-bot");
    s1["data_access"] = json!("internal");
    s1["external_channels"] = json!(["email"]);
    let (s, v) = e.api(Method::POST, "/api/v1/agents", Some(s1.clone())).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "external_channels");
    assert!(v["error"]["message"].as_str().unwrap().contains("internal data OR external communication"), "{v}");
    // An expired exception does not help, and is reported.
    let ex = |expires: &str| {
        json!({"name": "sales-outreach", "agent": "sales-bot", "approver": "ciso@example.com",
               "purpose": "quarterly outreach", "channels": ["email"], "data_classification": "internal", "expires": expires})
    };
    let (s, _) = e.api(Method::POST, "/api/v1/exceptions", Some(ex("2020-01-01"))).await;
    assert_eq!(s, 201);
    let (s, v) = e.api(Method::POST, "/api/v1/agents", Some(s1.clone())).await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"), "{v}");
    let (_, v) = e.api(Method::GET, "/api/v1/exceptions?expired=true", None).await;
    assert_eq!(v["exceptions"][0]["name"], "sales-outreach");
    let metrics = e.http.get(format!("{}/metrics", e.tg.base())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("warden_separation_exceptions_expired 1"), "{metrics}");
    // A valid exception allows exactly what it covers.
    e.api(Method::POST, "/api/v1/exceptions", Some(ex("2999-01-01"))).await;
    e.create(s1.clone()).await;
    s1["external_channels"] = json!(["email", "slack-external"]);
    let (s, v) = e.api(Method::PUT, "/api/v1/agents/sales-bot", Some(s1)).await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("slack-external"), "{v}");
    // Bad exception fields.
    let (s, v) = e
        .api(
            Method::POST,
            "/api/v1/exceptions",
            Some(json!({"name": "x", "agent": "a", "approver": "bob",
        "purpose": "p", "data_classification": "internal", "expires": "tomorrow"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["fields"].as_array().unwrap().len(), 2, "{v}");
}

#[tokio::test]
async fn admin_roles_and_agent_tokens_never_admin() {
    let e = env().await;
    let (id, secret) = e.create(spec("role-bot")).await;
    let viewer = e.token_for("viewer").await;
    let auditor = e.token_for("auditor").await;
    let approver = e.token_for("approver").await;
    let agent_jwt = e.access_token(&id, &secret).await;

    // No token, a garbage token, an agent's JWT: 401.
    for t in [None, Some("wat_nope"), Some(agent_jwt.as_str()), Some(secret.as_str())] {
        let (s, v) = e.api_as(t, Method::GET, "/api/v1/agents", None).await;
        assert_eq!(s, 401, "{t:?}: {v}");
    }
    // Viewer reads, cannot write or read the change log.
    assert_eq!(e.api_as(Some(&viewer), Method::GET, "/api/v1/agents", None).await.0, 200);
    assert_eq!(e.api_as(Some(&viewer), Method::POST, "/api/v1/agents", Some(spec("v-bot"))).await.0, 403);
    assert_eq!(e.api_as(Some(&viewer), Method::GET, "/api/v1/agents/role-bot/changes", None).await.0, 403);
    assert_eq!(
        e.api_as(Some(&viewer), Method::POST, "/api/v1/agents/role-bot/suspend", Some(json!({"reason": "x"}))).await.0,
        403
    );
    // Auditor reads changes; approver does not; neither writes.
    assert_eq!(e.api_as(Some(&auditor), Method::GET, "/api/v1/agents/role-bot/changes", None).await.0, 200);
    assert_eq!(e.api_as(Some(&approver), Method::GET, "/api/v1/agents/role-bot/changes", None).await.0, 403);
    assert_eq!(e.api_as(Some(&auditor), Method::POST, "/api/v1/keys/rotate", None).await.0, 403);
    // Admins create and revoke admin tokens; a revoked token stops at once.
    let (s, t) = e.api(Method::POST, "/api/v1/admin/tokens", Some(json!({"name": "ci", "role": "viewer"}))).await;
    assert_eq!(s, 201);
    let ci = t["token"].as_str().unwrap().to_string();
    assert_eq!(e.api_as(Some(&ci), Method::GET, "/api/v1/whoami", None).await.1["role"], "viewer");
    let (s, _) = e.api(Method::DELETE, &format!("/api/v1/admin/tokens/{}", t["id"].as_str().unwrap()), None).await;
    assert_eq!(s, 200);
    assert_eq!(e.api_as(Some(&ci), Method::GET, "/api/v1/whoami", None).await.0, 401);
    let (s, _) = e.api(Method::POST, "/api/v1/admin/tokens", Some(json!({"name": "x", "role": "root"}))).await;
    assert_eq!(s, 400);
    // A foreign Host is refused on the admin API too.
    let r = e
        .http
        .get(format!("{}/api/v1/agents", e.tg.base()))
        .bearer_auth(&e.admin)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn oauth_client_credentials_and_metadata() {
    let e = env().await;
    let (id, secret) = e.create(spec("oauth-bot")).await;
    // Both client authentication methods work.
    let t1 = e.access_token(&id, &secret).await;
    let (s, v) =
        e.oauth(&[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)], None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    // Refusals.
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("grant_type", "client_credentials")], Some((&id, "wcs_wrong")), 401, "invalid_client"),
        (vec![("grant_type", "client_credentials")], Some(("ghost-bot", &secret)), 401, "invalid_client"),
        (vec![("grant_type", "client_credentials")], None, 401, "invalid_client"),
        (vec![("grant_type", "password")], Some((&id, &secret)), 400, "unsupported_grant_type"),
        (vec![], Some((&id, &secret)), 400, "invalid_request"),
        (vec![("grant_type", "client_credentials"), ("scope", "admin")], Some((&id, &secret)), 400, "invalid_scope"),
        (
            vec![("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)],
            Some((&id, &secret)),
            400,
            "invalid_request",
        ),
    ];
    for (form, basic, status, error) in cases {
        let (s, v) = e.oauth(&form, basic).await;
        assert_eq!((s, v["error"].as_str().unwrap_or("")), (status, error), "{form:?}: {v}");
    }
    // The JWT carries the documented claims.
    let payload: Value = {
        use base64::Engine;
        let p = t1.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    };
    let rec = e.tg.gw.store.agent("oauth-bot").await.unwrap().unwrap();
    assert_eq!(payload["sub"], rec.id);
    assert_eq!(payload["agent"], "oauth-bot");
    assert_eq!(payload["team"], "platform");
    assert_eq!(payload["aud"], "warden");
    assert_eq!(payload["iss"], e.tg.base());
    assert!(payload["jti"].is_string() && payload["exp"].as_i64().unwrap() > payload["iat"].as_i64().unwrap());

    // The token opens /mcp and the agent sees only its tools.
    let mut c = e.tg.client(&t1);
    assert_eq!(c.initialize().await.status, 200);
    let mut names = c.tool_names().await;
    names.sort();
    assert_eq!(names, ["echo", "sleep"]);
    assert_eq!(c.call("echo", json!({"text": "hi"})).await.body["result"]["content"][0]["text"], "hi");

    // 401 names the protected-resource metadata, which names Warden as the authorization server.
    let r = e.http.post(e.tg.url()).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    let meta_url = challenge.split("resource_metadata=\"").nth(1).unwrap().trim_end_matches('"').to_string();
    assert_eq!(meta_url, format!("{}/.well-known/oauth-protected-resource/mcp", e.tg.base()));
    let meta: Value = e.http.get(&meta_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["resource"], e.tg.url());
    let issuer = meta["authorization_servers"][0].as_str().unwrap();
    let asm: Value = e
        .http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], issuer);
    assert_eq!(asm["token_endpoint"], format!("{}/oauth/token", e.tg.base()));
    let jwks: Value = e.http.get(asm["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let kid = header_kid(&t1);
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid && k["alg"] == "EdDSA"));

    // Forgeries: tampered payload, alg none, a token from another Warden.
    let parts: Vec<&str> = t1.split('.').collect();
    let tampered = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let none = {
        use base64::Engine;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        format!("{h}.{}.", parts[1])
    };
    let other = env().await;
    let (oid, osec) = other.create(spec("oauth-bot")).await;
    let foreign = other.access_token(&oid, &osec).await;
    for (what, t) in [("tampered", tampered), ("alg none", none), ("other warden", foreign)] {
        let mut c = e.tg.client(&t);
        let r = c.try_initialize().await;
        assert_eq!(r.status, 401, "{what}");
        assert!(r.headers["www-authenticate"].to_str().unwrap().contains("invalid_token"), "{what}");
    }
}

fn header_kid(jwt: &str) -> String {
    use base64::Engine;
    let h = jwt.split('.').next().unwrap();
    let v: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    v["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn kill_switch_suspend_resume_offboard() {
    let e = env().await;
    let (id, secret) = e.create(spec("kill-bot")).await;
    let token = e.access_token(&id, &secret).await;
    let mut c = e.tg.client(&token);
    assert_eq!(c.initialize().await.status, 200);
    // An open GET stream and a call in flight.
    let stream = c.request().header("accept", "text/event-stream").build().unwrap();
    let mut get = reqwest::Request::new(Method::GET, stream.url().clone());
    *get.headers_mut() = stream.headers().clone();
    let mut sse = e.http.execute(get).await.unwrap();
    assert_eq!(sse.status(), 200);
    let mut slow = e.tg.client(&token);
    slow.session = c.session.clone();
    let inflight = tokio::spawn(async move { slow.call("sleep", json!({"ms": 30_000})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let t0 = Instant::now();
    let (s, v) = e.suspend("kill-bot", "suspend").await;
    assert_eq!(s, 200, "{v}");
    let suspend_rtt = t0.elapsed();
    assert_eq!(v["status"], "suspended");
    // The very next request is refused.
    let t1 = Instant::now();
    let r = c.call("echo", json!({"text": "x"})).await;
    let refusal = t1.elapsed();
    assert_eq!(r.status, 401);
    eprintln!("revocation: suspend API round trip {suspend_rtt:?}; next request refused after {refusal:?}");
    // The GET stream ends and the in-flight call is cancelled.
    let end =
        tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = sse.chunk().await {} }).await;
    assert!(end.is_ok(), "GET stream still open after suspend");
    let call =
        tokio::time::timeout(Duration::from_secs(5), inflight).await.expect("in-flight call not cancelled").unwrap();
    assert!(call.body.get("result").is_none(), "the cancelled call was answered: {:?}", call.body);
    // No new tokens while suspended; the session is gone.
    let (s, v) = e.oauth(&[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unauthorized_client")), "{v}");
    assert_eq!(e.tg.gw.sessions.len(), 0);
    assert_eq!(e.suspend("kill-bot", "suspend").await.0, 409);
    // Reason is required.
    let (s, v) = e.api(Method::POST, "/api/v1/agents/kill-bot/resume", Some(json!({"reason": " "}))).await;
    assert_eq!((s, v["error"]["fields"][0]["field"].as_str()), (400, Some("reason")));

    // Resume: the old token stays dead, a new one works.
    assert_eq!(e.suspend("kill-bot", "resume").await.0, 200);
    assert_eq!(e.tg.client(&token).try_initialize().await.status, 401);
    let fresh = e.access_token(&id, &secret).await;
    assert_eq!(e.tg.client(&fresh).initialize().await.status, 200);

    // Offboard: secret revoked, token refused, record closed, offboarding record written.
    let (s, v) = e.suspend("kill-bot", "offboard").await;
    assert_eq!(s, 200);
    let revoked: Vec<&str> =
        v["revocation"]["revoked"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(revoked.contains(&"OAuth client secret"), "{revoked:?}");
    assert_eq!(v["has_client_secret"], false);
    assert_eq!(e.tg.client(&fresh).try_initialize().await.status, 401);
    let (s, v) = e.oauth(&[("grant_type", "client_credentials")], Some((&id, &secret))).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    assert!(e.tg.gw.store.secret_hash("kill-bot").await.unwrap().is_none());
    assert_eq!(e.suspend("kill-bot", "resume").await.0, 409);
    assert_eq!(e.api(Method::PUT, "/api/v1/agents/kill-bot", Some(spec("kill-bot"))).await.0, 409);
    let (_, v) = e.api(Method::GET, "/api/v1/agents/kill-bot/changes", None).await;
    let last = v["changes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "offboard");
    assert_eq!(last["after"]["revocation"]["by"], "admin-token:test-admin");
    assert_eq!(last["after"]["revocation"]["reason"], "test");
}

#[tokio::test]
async fn static_token_agent_is_suspended_through_its_inventory_record() {
    let yaml = config(&format!("agents:\n{}", agent("static-bot", TOKEN_A, "    allow_tools: [\"*\"]\n")));
    let e = env_with(&yaml, sqlite_store().await).await;
    assert_eq!(e.tg.client(TOKEN_A).initialize().await.status, 200);
    e.create(spec("static-bot")).await;
    assert_eq!(e.suspend("static-bot", "suspend").await.0, 200);
    assert_eq!(e.tg.client(TOKEN_A).try_initialize().await.status, 401);
    assert_eq!(e.suspend("static-bot", "resume").await.0, 200);
    assert_eq!(e.tg.client(TOKEN_A).initialize().await.status, 200);
}

#[tokio::test]
async fn apply_is_idempotent_atomic_and_has_a_dry_run() {
    let e = env().await;
    let doc = json!({
        "agents": [spec("alpha-bot"), {"name": "beta-bot", "owner": "bob@example.com", "data_access": "confidential",
                   "external_channels": ["email"], "allow_tools": ["echo"]}],
        "exceptions": [{"name": "beta-mail", "agent": "beta-bot", "approver": "ciso@example.com", "purpose": "alerts",
                        "channels": ["email"], "data_classification": "confidential", "expires": "2999-12-31"}]
    });
    let (s, v) = e.api(Method::POST, "/api/v1/apply", Some(doc.clone())).await;
    assert_eq!(s, 200, "{v}");
    let actions: Vec<&str> = v["plan"].as_array().unwrap().iter().map(|p| p["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "create", "create"]);
    assert_eq!(v["client_secrets"].as_object().unwrap().len(), 2);
    // Idempotent.
    let (_, v) = e.api(Method::POST, "/api/v1/apply", Some(doc.clone())).await;
    let actions: Vec<&str> = v["plan"].as_array().unwrap().iter().map(|p| p["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["unchanged", "unchanged", "unchanged"]);
    assert!(v.get("client_secrets").is_none());
    // Dry run shows the field-level diff and changes nothing.
    let mut changed = doc.clone();
    changed["agents"][0]["team"] = json!("security");
    let version = e.tg.gw.store.version().await.unwrap();
    let (_, v) = e.api(Method::POST, "/api/v1/apply?dry_run=true", Some(changed.clone())).await;
    assert_eq!(v["dry_run"], true);
    let upd = v["plan"].as_array().unwrap().iter().find(|p| p["action"] == "update").unwrap();
    assert_eq!(upd["changes"], json!([{"field": "team", "before": "platform", "after": "security"}]));
    assert_eq!(e.tg.gw.store.version().await.unwrap(), version);
    assert_eq!(e.tg.gw.store.agent("alpha-bot").await.unwrap().unwrap().spec.team, "platform");
    // One bad record: none of the file is applied.
    let mut bad = changed.clone();
    bad["agents"].as_array_mut().unwrap().push(spec("gamma-bot"));
    bad["agents"].as_array_mut().unwrap().push(json!({"name": "delta-bot", "owner": "not-an-email"}));
    let (s, v) = e.api(Method::POST, "/api/v1/apply", Some(bad)).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["fields"][0]["field"], "agents[3].owner", "{v}");
    assert!(e.tg.gw.store.agent("gamma-bot").await.unwrap().is_none());
    assert_eq!(e.tg.gw.store.agent("alpha-bot").await.unwrap().unwrap().spec.team, "platform");
    // A separation violation in the file also applies nothing.
    let mut viol = changed.clone();
    viol["agents"][1]["external_channels"] = json!(["email", "discord"]);
    let (s, v) = e.api(Method::POST, "/api/v1/apply", Some(viol)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(e.tg.gw.store.agent("alpha-bot").await.unwrap().unwrap().spec.team, "platform");
    // Unknown fields anywhere in the document are rejected.
    let (s, _) = e.api(Method::POST, "/api/v1/apply", Some(json!({"agents": [], "bots": []}))).await;
    assert_eq!(s, 400);
    // The real apply.
    let (s, _) = e.api(Method::POST, "/api/v1/apply", Some(changed)).await;
    assert_eq!(s, 200);
    assert_eq!(e.tg.gw.store.agent("alpha-bot").await.unwrap().unwrap().spec.team, "security");
}

#[tokio::test]
async fn reviews_overdue_report_and_metrics() {
    let e = env().await;
    e.create(spec("fresh-bot")).await;
    e.create(spec("stale-bot")).await;
    // Age stale-bot's record past its cadence directly in the store.
    let mut rec = e.tg.gw.store.agent("stale-bot").await.unwrap().unwrap();
    rec.created_at = warden_core::time::Timestamp(rec.created_at.0 - 100 * 86_400);
    let mut w = e.tg.gw.store.write().await.unwrap();
    w.update_agent(&rec, warden_store::SecretUpdate::Keep).await.unwrap();
    w.commit().await.unwrap();
    warden_gateway::admin::inventory::publish(&e.tg.gw).await.unwrap();

    let (_, v) = e.api(Method::GET, "/api/v1/agents?overdue=true", None).await;
    let names: Vec<&str> = v["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["stale-bot"]);
    let metrics = e.http.get(format!("{}/metrics", e.tg.base())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("warden_agents_review_overdue 1"), "{metrics}");
    assert!(metrics.contains("warden_agents{status=\"active\"} 2"), "{metrics}");
    // Filters.
    assert_eq!(e.api(Method::GET, "/api/v1/agents?team=platform", None).await.1["agents"].as_array().unwrap().len(), 2);
    assert_eq!(e.api(Method::GET, "/api/v1/agents?team=other", None).await.1["agents"].as_array().unwrap().len(), 0);
    assert_eq!(
        e.api(Method::GET, "/api/v1/agents?status=suspended", None).await.1["agents"].as_array().unwrap().len(),
        0
    );
    assert_eq!(e.api(Method::GET, "/api/v1/agents?status=bogus", None).await.0, 400);
    assert_eq!(e.api(Method::GET, "/api/v1/agents?colour=red", None).await.0, 400);
    // A review clears it; an empty note is refused.
    assert_eq!(e.api(Method::POST, "/api/v1/agents/stale-bot/review", Some(json!({"note": ""}))).await.0, 400);
    let (s, v) =
        e.api(Method::POST, "/api/v1/agents/stale-bot/review", Some(json!({"note": "access still needed"}))).await;
    assert_eq!((s, v["review_overdue"].as_bool()), (200, Some(false)), "{v}");
    assert!(e.api(Method::GET, "/api/v1/agents?overdue=true", None).await.1["agents"].as_array().unwrap().is_empty());

    // The report answers the six questions, in every format.
    let (_, v) = e.api(Method::GET, "/api/v1/inventory/report?format=json", None).await;
    let row = &v["agents"][0];
    for key in ["name", "status", "owner", "systems", "credentials", "credential_storage", "revocation"] {
        assert!(!row[key].is_null(), "{key}: {row}");
    }
    assert_eq!(row["systems"], json!(["demo"]));
    assert!(row["credentials"][0].as_str().unwrap().contains("argon2id"), "{row}");
    assert!(row["revocation"].as_str().unwrap().contains("warden agent suspend fresh-bot"), "{row}");
    let md = e.api(Method::GET, "/api/v1/inventory/report?format=md", None).await.1;
    let md = md.as_str().unwrap();
    assert!(md.contains("| fresh-bot | active | alice@example.com |"), "{md}");
    let csv = e.api(Method::GET, "/api/v1/inventory/report?format=csv", None).await.1;
    let csv = csv.as_str().unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("name,status,owner"), "{csv}");
    assert_eq!(e.api(Method::GET, "/api/v1/inventory/report?format=pdf", None).await.0, 400);
}

#[tokio::test]
async fn signing_key_rotation_keeps_old_tokens_valid() {
    let e = env().await;
    let (id, secret) = e.create(spec("rot-bot")).await;
    let old = e.access_token(&id, &secret).await;
    let (s, v) = e.api(Method::POST, "/api/v1/keys/rotate", None).await;
    assert_eq!(s, 200);
    let new_kid = v["kid"].as_str().unwrap().to_string();
    assert_eq!(v["jwks"]["keys"].as_array().unwrap().len(), 2);
    let new = e.access_token(&id, &secret).await;
    assert_eq!(header_kid(&new), new_kid);
    assert_ne!(header_kid(&old), new_kid);
    assert_eq!(e.tg.client(&old).initialize().await.status, 200, "old key still verifies");
    assert_eq!(e.tg.client(&new).initialize().await.status, 200);
}

#[tokio::test]
async fn access_changes_apply_to_open_sessions() {
    let e = env().await;
    let (id, secret) = e.create(spec("narrow-bot")).await;
    let t = e.access_token(&id, &secret).await;
    let mut c = e.tg.client(&t);
    c.initialize().await;
    assert_eq!(c.call("echo", json!({"text": "a"})).await.body["result"]["content"][0]["text"], "a");
    let mut narrowed = spec("narrow-bot");
    narrowed["deny_tools"] = json!(["echo"]);
    assert_eq!(e.api(Method::PUT, "/api/v1/agents/narrow-bot", Some(narrowed)).await.0, 200);
    // Same session, same token: echo is now hidden and refused.
    assert!(!c.tool_names().await.contains(&"echo".to_string()));
    assert!(c.call("echo", json!({"text": "a"})).await.body["error"].is_object());
}

/// A JWKS endpoint for a test issuer, with an EC P-256 key.
struct Issuer {
    url: String,
    kid: String,
    pkcs8: Vec<u8>,
}

async fn issuer() -> Issuer {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let p = pair.public_key().as_ref().to_vec();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k8s-1", "use": "sig", "alg": "ES256",
                                "x": b64.encode(&p[1..33]), "y": b64.encode(&p[33..65])}]});
    let app = axum::Router::new().route("/openid/v1/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/openid/v1/jwks", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.ok() });
    Issuer { url, kid: "k8s-1".into(), pkcs8: pkcs8.as_ref().to_vec() }
}

impl Issuer {
    fn sign(&self, kid: &str, claims: Value) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some(kid.to_string());
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8)).unwrap()
    }
}

fn sa_claims(sub: &str, aud: &str, exp_in: i64) -> Value {
    let now = warden_core::time::Timestamp::now().0;
    json!({"iss": "https://kubernetes.default.svc", "sub": sub, "aud": [aud], "iat": now, "exp": now + exp_in})
}

#[tokio::test]
async fn federated_kubernetes_and_spiffe_tokens() {
    let iss = issuer().await;
    let yaml = config(&format!(
        "identity:\n  leeway_secs: 5\n  trusted_issuers:\n    - issuer: https://kubernetes.default.svc\n      jwks_url: {}\n      audiences: [warden]\n      agents:\n        \"system:serviceaccount:bots:triage\": fed-bot\n        \"spiffe://prod.example/ns/bots/sa/deploy\": spiffe-bot\n        \"system:serviceaccount:bots:ghost\": ghost-bot\n",
        iss.url
    ));
    let e = env_with(&yaml, sqlite_store().await).await;
    e.create(spec("fed-bot")).await;
    e.create(spec("spiffe-bot")).await;
    let good = iss.sign(&iss.kid, sa_claims("system:serviceaccount:bots:triage", "warden", 600));
    let mut c = e.tg.client(&good);
    c.initialize().await;
    assert_eq!(c.call("echo", json!({"text": "k8s"})).await.body["result"]["content"][0]["text"], "k8s");
    let svid = iss.sign(&iss.kid, sa_claims("spiffe://prod.example/ns/bots/sa/deploy", "warden", 600));
    assert_eq!(e.tg.client(&svid).initialize().await.status, 200);

    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = sa_claims("system:serviceaccount:bots:triage", "warden", 600);
    let none = format!("{}.{}.", b64.encode(br#"{"alg":"none","kid":"k8s-1"}"#), b64.encode(claims.to_string()));
    let hmac = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("k8s-1".into());
        // The classic confusion: HMAC keyed with the issuer's public key material.
        let jwks: Value = e.http.get(&iss.url).send().await.unwrap().json().await.unwrap();
        let public = jwks.to_string();
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(public.as_bytes())).unwrap()
    };
    let cases = [
        ("wrong aud", iss.sign(&iss.kid, sa_claims("system:serviceaccount:bots:triage", "someone-else", 600))),
        ("expired", iss.sign(&iss.kid, sa_claims("system:serviceaccount:bots:triage", "warden", -120))),
        ("alg none", none),
        ("HMAC confusion", hmac),
        ("unknown kid", iss.sign("k8s-404", claims.clone())),
        ("unmapped subject", iss.sign(&iss.kid, sa_claims("system:serviceaccount:bots:intruder", "warden", 600))),
        (
            "mapped but not in inventory",
            iss.sign(&iss.kid, sa_claims("system:serviceaccount:bots:ghost", "warden", 600)),
        ),
    ];
    for (what, token) in cases {
        let r = e.tg.client(&token).try_initialize().await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
    }
    // The kill switch covers federated identities too.
    assert_eq!(e.suspend("fed-bot", "suspend").await.0, 200);
    assert_eq!(e.tg.client(&good).try_initialize().await.status, 401);
}

/// Two replicas on one PostgreSQL store: a suspension on one is enforced by the
/// other within its poll interval.
#[tokio::test]
async fn two_replicas_share_one_kill_switch() {
    let Some(base) = postgres_base() else { return };
    let url = fresh_postgres_db(&base).await;
    let yaml = config("store:\n  poll_interval_ms: 100\nidentity:\n  issuer: https://warden.example\n");
    let a = env_with(&yaml, Arc::new(warden_store::Store::open(&url).await.unwrap())).await;
    let b_store = Arc::new(warden_store::Store::open(&url).await.unwrap());
    let b = TestGateway::start_with(&yaml, b_store).await;
    let (id, secret) = a.create(spec("shared-bot")).await;
    // A token issued by replica A works on replica B (same keys, same issuer).
    let token = a.access_token(&id, &secret).await;
    let mut cb = b.client(&token);
    let mut ok = false;
    for _ in 0..50 {
        if cb.try_initialize().await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "replica B never accepted A's token");
    let t0 = Instant::now();
    assert_eq!(a.suspend("shared-bot", "suspend").await.0, 200);
    let mut refused_after = None;
    for _ in 0..100 {
        if b.client(&token).try_initialize().await.status == 401 {
            refused_after = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = refused_after.expect("replica B still accepts a suspended agent after 1 s");
    eprintln!("cross-replica revocation latency: {took:?} (poll interval 100 ms)");
    let open = || b.gw.sessions.all().iter().filter(|s| s.agent_name == "shared-bot").count();
    for _ in 0..100 {
        if open() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open(), 0, "B's session was not closed");
}

/// Two replicas on PostgreSQL with a 30 s poll: only the change notification
/// can explain B enforcing A's suspension within a second. Then B's listening
/// connection is killed and kept from coming back while A resumes the agent:
/// that notification is lost, and B catches up when its listener reconnects.
#[tokio::test]
async fn suspension_reaches_the_other_replica_by_notification() {
    let Ok(base) = std::env::var("WARDEN_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("WARDEN_REQUIRE_POSTGRES").is_err(),
            "WARDEN_REQUIRE_POSTGRES set without WARDEN_TEST_POSTGRES_URL"
        );
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = fresh_postgres_db(&base).await;
    let db = url.rsplit_once('/').unwrap().1.to_string();
    let yaml = config("store:\n  poll_interval_ms: 30000\nidentity:\n  issuer: https://warden.example\n");
    let a = env_with(&yaml, Arc::new(warden_store::Store::open(&url).await.unwrap())).await;
    // B connects as a role of its own, so that B alone can be kept from connecting.
    let admin = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&base).await.unwrap();
    let role = format!("b_{db}");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {role} LOGIN SUPERUSER"))).execute(&admin).await.unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let b_url = format!("{scheme}://{role}@{}", rest.split_once('@').unwrap().1);
    let b_store = Arc::new(warden_store::Store::open(&b_url).await.unwrap());
    let b = TestGateway::start_with(&yaml, b_store).await;
    let notices = b.gw.store.notices().clone();
    wait("B's listener is not connected", 5000, &|| notices.connected()).await;
    let (id, secret) = a.create(spec("notified-bot")).await;
    let token = a.access_token(&id, &secret).await;
    // B learns of the new agent from the notification, not from its 30 s poll.
    let status = |name: &str| b.gw.directory.live().by_name.get(name).map(|x| x.record.status);
    let took = wait("B never saw the new agent", 2000, &|| status("notified-bot").is_some()).await;
    eprintln!("agent created on A, known on B after {took:?}");
    assert_eq!(b.client(&token).try_initialize().await.status, 200);
    let t0 = Instant::now();
    assert_eq!(a.suspend("notified-bot", "suspend").await.0, 200);
    let mut refused = None;
    while t0.elapsed() < Duration::from_secs(2) {
        if b.client(&token).try_initialize().await.status == 401 {
            refused = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = refused.expect("B still accepts the suspended agent 2 s later (poll is 30 s)");
    eprintln!("suspension on A refused on B after {took:?} (poll interval 30 s)");
    let before = notices.notifications();
    assert!(before >= 2, "B counted {before} notifications");

    // Kill B's listening connection and keep it out (B's open pooled connections stay) while A resumes the agent.
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER ROLE {role} NOLOGIN"))).execute(&admin).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
    )
    .bind(format!("warden-listener {}", b.gw.approvals.replica))
    .bind(&db)
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "B's one listener");
    wait("B's listener still reports connected", 2000, &|| !notices.connected()).await;
    assert_eq!(a.suspend("notified-bot", "resume").await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status("notified-bot"),
        Some(warden_core::inventory::Status::Suspended),
        "B saw the resumption without a listener or a poll"
    );
    // Let it back in: it reconnects (backoff) and re-reads what it missed.
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER ROLE {role} LOGIN"))).execute(&admin).await.unwrap();
    let t1 = Instant::now();
    wait("B's listener never reconnected", 10_000, &|| notices.connected() && notices.reconnects() == 1).await;
    wait("B did not catch up after reconnecting", 2000, &|| {
        status("notified-bot") == Some(warden_core::inventory::Status::Active)
    })
    .await;
    eprintln!("B caught up {:?} after its role could log in again", t1.elapsed());
    // Suspension voided the old tokens; a new one works on B again.
    assert_eq!(b.client(&token).try_initialize().await.status, 401);
    let token = a.access_token(&id, &secret).await;
    assert_eq!(b.client(&token).try_initialize().await.status, 200);
    // Metrics show the listener's state.
    let m = reqwest::get(format!("{}/metrics", b.base())).await.unwrap().text().await.unwrap();
    assert!(m.contains("warden_store_listener_up 1"), "{m}");
    assert!(m.contains("warden_store_listener_reconnects_total 1"), "{m}");
    admin.close().await;
    drop(b);
}

/// Waits (asynchronously) up to `ms` for `ok`; how long it took.
async fn wait(what: &str, ms: u64, ok: &dyn Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_millis(ms), "{what} after {ms} ms");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

async fn fresh_postgres_db(base: &str) -> String {
    warden_store::testing::fresh_postgres_db(base).await
}
