//! The same scenarios against SQLite (always) and PostgreSQL (when
//! `WARDEN_TEST_POSTGRES_URL` is set; `WARDEN_REQUIRE_POSTGRES=1` makes its absence a failure).

use super::*;
use warden_core::inventory::{AgentSpec, DataAccess, Status};

fn record(name: &str) -> AgentRecord {
    let spec: AgentSpec = serde_json::from_value(serde_json::json!({"name": name, "owner": "o@example.com"})).unwrap();
    AgentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        spec,
        status: Status::Active,
        status_reason: String::new(),
        created_at: Timestamp(1_700_000_000),
        updated_at: Timestamp(1_700_000_000),
        last_review: None,
        tokens_not_before_ms: 0,
        has_client_secret: true,
    }
}

async fn scenarios(store: &Store) {
    let v0 = store.version().await.unwrap();
    // Insert and read back.
    let a = record("alpha-bot");
    let mut w = store.write().await.unwrap();
    w.insert_agent(&a, Some("$argon2id$fake")).await.unwrap();
    let mut c = Change::new("alpha-bot", "admin:ops", "create", "new bot");
    c.after = Some(serde_json::to_value(&a).unwrap());
    w.log(&c).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(store.version().await.unwrap(), v0 + 1);
    assert_eq!(store.agent("alpha-bot").await.unwrap().unwrap(), a);
    assert_eq!(store.secret_hash("alpha-bot").await.unwrap().as_deref(), Some("$argon2id$fake"));
    assert_eq!(store.changes(Some("alpha-bot"), 10).await.unwrap(), vec![c.clone()]);
    assert_eq!(store.change(&c.id).await.unwrap().unwrap(), c);

    // Duplicate name is a conflict, and the failed transaction leaves nothing behind.
    let mut w = store.write().await.unwrap();
    let mut dup = record("alpha-bot");
    dup.spec.team = "other".into();
    let err = w.insert_agent(&dup, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    drop(w);
    assert_eq!(store.agent("alpha-bot").await.unwrap().unwrap().spec.team, "");

    // A rolled-back write (dropped without commit) changes nothing, not even the version.
    let v1 = store.version().await.unwrap();
    let mut w = store.write().await.unwrap();
    w.insert_agent(&record("beta-bot"), None).await.unwrap();
    w.log(&Change::new("beta-bot", "x", "create", "")).await.unwrap();
    drop(w);
    assert!(store.agent("beta-bot").await.unwrap().is_none());
    assert!(store.changes(Some("beta-bot"), 10).await.unwrap().is_empty());
    assert_eq!(store.version().await.unwrap(), v1);

    // Update, clear the secret.
    let mut b = a.clone();
    b.status = Status::Suspended;
    b.spec.data_access = DataAccess::Internal;
    let mut w = store.write().await.unwrap();
    assert_eq!(w.agent("alpha-bot").await.unwrap().unwrap(), a);
    w.update_agent(&b, SecretUpdate::Clear).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(store.agent("alpha-bot").await.unwrap().unwrap(), b);
    assert_eq!(store.secret_hash("alpha-bot").await.unwrap(), None);
    let mut w = store.write().await.unwrap();
    let err = w.update_agent(&record("ghost-bot"), SecretUpdate::Keep).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    drop(w);

    // Exceptions upsert.
    let ex = SeparationException {
        name: "ex-1".into(),
        agent: "alpha-bot".into(),
        approver: "ciso@example.com".into(),
        purpose: "p".into(),
        systems: vec![],
        channels: vec!["email".into()],
        data_classification: DataAccess::Internal,
        expires: "2030-01-01".into(),
    };
    let mut w = store.write().await.unwrap();
    w.put_exception(&ex).await.unwrap();
    let mut ex2 = ex.clone();
    ex2.purpose = "q".into();
    w.put_exception(&ex2).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(store.exceptions().await.unwrap(), vec![ex2]);

    // Admin tokens: lookup by digest; revoked tokens vanish.
    let t = AdminToken {
        id: "t1".into(),
        name: "ops".into(),
        role: "admin".into(),
        created_at: Timestamp(1),
        created_by: "cli".into(),
        revoked_at: None,
    };
    let mut w = store.write().await.unwrap();
    w.insert_admin_token(&t, "abcd").await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(store.admin_token("abcd").await.unwrap().unwrap(), t);
    assert!(store.admin_token("abce").await.unwrap().is_none());
    let mut w = store.write().await.unwrap();
    assert!(w.revoke_admin_token("t1").await.unwrap());
    assert!(!w.revoke_admin_token("t1").await.unwrap());
    w.commit().await.unwrap();
    assert!(store.admin_token("abcd").await.unwrap().is_none());

    // Signing keys: retire all but the newest, prune old retired ones.
    let key = |kid: &str, at: i64| SigningKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_der: vec![1, 2, 255],
        public: vec![0, 9],
        created_at: Timestamp(at),
        retired_at: None,
    };
    let mut w = store.write().await.unwrap();
    w.insert_signing_key(&key("k1", 10)).await.unwrap();
    w.insert_signing_key(&key("k2", 20)).await.unwrap();
    w.retire_signing_keys_except("k2").await.unwrap();
    w.commit().await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].private_der, vec![1, 2, 255]);
    assert!(keys[0].retired_at.is_some() && keys[1].retired_at.is_none());
    let mut w = store.write().await.unwrap();
    w.prune_signing_keys(Timestamp(Timestamp::now().0 + 10)).await.unwrap();
    w.commit().await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k2"]);
}

#[tokio::test]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("warden-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("w.db").display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend, Backend::Sqlite);
    scenarios(&store).await;
    store.close().await;
    // Reopening runs the migrations again harmlessly and keeps the data.
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.agents().await.unwrap().len(), 1);
    store.close().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn postgres() {
    let Ok(base) = std::env::var("WARDEN_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("WARDEN_REQUIRE_POSTGRES").is_err(),
            "WARDEN_REQUIRE_POSTGRES is set but WARDEN_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = fresh_postgres_db(&base).await;
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend, Backend::Postgres);
    scenarios(&store).await;
    store.close().await;
}

use crate::testing::fresh_postgres_db;
