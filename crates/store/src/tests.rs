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

fn approval(id: &str, holder: &str, expires: i64) -> Approval {
    Approval {
        id: id.into(),
        status: ApprovalStatus::Pending,
        agent: "alpha-bot".into(),
        owner: "o@example.com".into(),
        team: "payments".into(),
        tool: "pay__transfer".into(),
        arguments: serde_json::json!({"amount": 5000, "api_key": "[REDACTED:key]"}),
        args_digest: "d1".into(),
        tier: "high".into(),
        rule: "big-payments".into(),
        reason: "needs a human".into(),
        approvers: Some("finance".into()),
        trace_id: "t".into(),
        entry: "mcp".into(),
        session_id: Some("s1".into()),
        created_at: Timestamp(100),
        expires_at: Timestamp(expires),
        decided_by: None,
        decided_at: None,
        comment: None,
        holder: holder.into(),
        outcome: None,
    }
}

async fn approval_scenarios(store: &Store) {
    let far = Timestamp::now().0 + 3600;
    let a = approval("apr_1", "r1", far);
    store.insert_approval(&a).await.unwrap();
    assert_eq!(store.approval("apr_1").await.unwrap().unwrap(), a);
    assert_eq!(store.approvals(Some(ApprovalStatus::Pending), 10).await.unwrap(), vec![a.clone()]);
    // Decided once; a second decision does not move it.
    let now = Timestamp::now();
    assert!(
        store.decide_approval("apr_1", ApprovalStatus::Approved, Some("human"), Some("ok"), now, true).await.unwrap()
    );
    assert!(!store.decide_approval("apr_1", ApprovalStatus::Denied, Some("other"), None, now, true).await.unwrap());
    let ids = vec!["apr_1".to_string(), "apr_missing".to_string()];
    assert_eq!(store.decided_among(&ids).await.unwrap(), vec![("apr_1".to_string(), ApprovalStatus::Approved)]);
    assert!(store.decided_among(&[]).await.unwrap().is_empty());
    let got = store.approval("apr_1").await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.decided_by.as_deref(), got.comment.as_deref()),
        (ApprovalStatus::Approved, Some("human"), Some("ok"))
    );
    store.set_approval_outcome("apr_1", "executed").await.unwrap();
    store.set_approval_outcome("apr_1", "again").await.unwrap();
    assert_eq!(store.approval("apr_1").await.unwrap().unwrap().outcome.as_deref(), Some("executed"));
    // Past its deadline a human cannot decide it; the holder's expiry still can.
    store.insert_approval(&approval("apr_2", "r1", 200)).await.unwrap();
    assert!(!store.decide_approval("apr_2", ApprovalStatus::Approved, Some("human"), None, now, true).await.unwrap());
    assert!(store.decide_approval("apr_2", ApprovalStatus::Expired, None, None, now, false).await.unwrap());
    // Orphans: a holder without a fresh heartbeat loses its pending approvals honestly.
    store.insert_approval(&approval("apr_3", "dead", far)).await.unwrap();
    store.insert_approval(&approval("apr_4", "alive", far)).await.unwrap();
    store.insert_approval(&approval("apr_5", "dead", far)).await.unwrap();
    assert!(store.decide_approval("apr_5", ApprovalStatus::Approved, Some("h"), None, now, true).await.unwrap());
    store.heartbeat("alive", 10_000).await.unwrap();
    store.heartbeat("dead", 1_000).await.unwrap();
    store.heartbeat("alive", 20_000).await.unwrap();
    assert_eq!(store.replica_seen_at("alive").await.unwrap(), Some(20_000));
    assert_eq!(store.replicas().await.unwrap(), vec![("alive".to_string(), 20_000), ("dead".to_string(), 1_000)]);
    assert_eq!(store.sweep_orphaned_approvals("me", 5_000, now).await.unwrap(), 2);
    let s3 = store.approval("apr_3").await.unwrap().unwrap();
    assert_eq!(s3.status, ApprovalStatus::Interrupted);
    assert!(s3.outcome.unwrap().contains("gateway restarted"));
    assert_eq!(store.approval("apr_4").await.unwrap().unwrap().status, ApprovalStatus::Pending);
    let s5 = store.approval("apr_5").await.unwrap().unwrap();
    assert_eq!(s5.status, ApprovalStatus::Approved);
    assert!(s5.outcome.unwrap().contains("not executed"));
    // Grants: only unexpired ones, for that agent and tool.
    let g = Grant {
        id: "g1".into(),
        agent: "alpha-bot".into(),
        tool: "pay__transfer".into(),
        args_digest: None,
        created_by: "human".into(),
        created_at: now,
        expires_at: Timestamp(now.0 + 60),
        approval_id: "apr_1".into(),
    };
    store.insert_grant(&g).await.unwrap();
    store.insert_grant(&Grant { id: "g2".into(), expires_at: Timestamp(now.0 - 1), ..g.clone() }).await.unwrap();
    assert_eq!(store.grants("alpha-bot", "pay__transfer", now).await.unwrap(), vec![g]);
    assert!(store.grants("beta-bot", "pay__transfer", now).await.unwrap().is_empty());
}

async fn scenarios(store: &Store) {
    approval_scenarios(store).await;
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
        teams: vec!["payments".into(), "ops".into()],
        groups: vec!["finance".into()],
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

fn audit_record(agent: &str, verdict: &str, at_ms: i64) -> warden_audit::Record {
    warden_audit::Record {
        id: uuid::Uuid::now_v7().to_string(),
        at: warden_audit::record::format_ms(at_ms),
        kind: "call".into(),
        entry: "mcp".into(),
        agent: agent.into(),
        method: "tools/call".into(),
        tool: "demo__echo".into(),
        args: serde_json::json!({"text": "hi"}),
        verdict: verdict.into(),
        input_tokens: 3,
        cost_micros: 7,
        ..Default::default()
    }
}

async fn audit_scenarios(store: &Store, replica: &Store) {
    use warden_audit::verify::ProblemKind;
    let signer = warden_audit::Signer::from_pkcs8(&warden_audit::Signer::generate_pkcs8()).unwrap();
    let mut keys = warden_audit::KeyRing::default();
    keys.add(signer.public_key());
    let checkpoint = |head: AuditHead| {
        let cp = signer.sign(head.seq, &warden_audit::record::format_ms(warden_core::time::now_ms()), &head.hash);
        async move { store.insert_checkpoint(&cp).await.unwrap() }
    };
    let start = store.audit_head().await.unwrap();
    assert!(start.seq > 0, "inventory changes were chained in their own transactions");
    let now = warden_core::time::now_ms();
    let old = now - 10 * 86_400_000;
    let mut batch: Vec<_> =
        (0..10).map(|i| audit_record("old-bot", if i % 2 == 0 { "allow" } else { "deny" }, old)).collect();
    let head = store.append_audit(&mut batch).await.unwrap();
    assert_eq!(head.seq, start.seq + 10);
    assert_eq!(batch[9].seq, head.seq);
    checkpoint(head.clone()).await;
    // Replicas (here: tasks) appending at once still extend one chain.
    let mut tasks = Vec::new();
    for t in 0..2 {
        tasks.push(async move {
            for _ in 0..5 {
                let mut b =
                    vec![audit_record(&format!("bot-{t}"), "allow", now), audit_record("bot-x", "rate_limited", now)];
                store.append_audit(&mut b).await.unwrap();
            }
        });
    }
    futures::future::join_all(tasks).await;
    // Long-lived appenders keep the head in memory; when another replica moved
    // it meanwhile, the batch is sealed again on the fresh head, not forked.
    let (mut a, mut b) = (store.audit_appender(), replica.audit_appender());
    let own = store.backend == Backend::Sqlite;
    assert_eq!((a.own_connection(), b.own_connection()), (own, own));
    for round in 0..5 {
        let mut x = vec![audit_record("bot-x", "rate_limited", now)];
        let mut y = vec![audit_record("bot-y", "allow", now), audit_record("bot-y", "allow", now)];
        let hx = a.append(&mut x).await.unwrap();
        let hy = b.append(&mut y).await.unwrap();
        assert_eq!((hx.seq + 2, y[0].prev.clone()), (hy.seq, hx.hash.clone()), "round {round}");
    }
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, start.seq + 45);
    let mut x: Vec<_> = (0..5).map(|_| audit_record("bot-x", "rate_limited", now)).collect();
    let hx = a.append(&mut x).await.unwrap();
    assert_eq!((hx.seq, x[0].prev.clone()), (head.seq + 5, head.hash));
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.seq, start.seq + 50);
    checkpoint(head.clone()).await;
    let r = store.verify_audit(&keys).await.unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.records, r.last_seq, r.last_checkpoint, r.unsigned_tail), (head.seq, head.seq, head.seq, 0));

    let q = |f: AuditFilter| async move { store.audit_query(&f).await.unwrap() };
    assert_eq!(q(AuditFilter { agent: Some("old-bot".into()), limit: 100, ..Default::default() }).await.len(), 10);
    let denied = q(AuditFilter { verdict: Some("deny".into()), limit: 100, ..Default::default() }).await;
    assert_eq!(denied.len(), 5);
    assert!(denied.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
    assert_eq!(
        q(AuditFilter { since_ms: Some(now - 1000), kind: Some("call".into()), limit: 100, ..Default::default() })
            .await
            .len(),
        40
    );
    assert_eq!(q(AuditFilter { since_ms: Some(now - 1000), limit: 3, ..Default::default() }).await.len(), 3);
    let usage = store.audit_usage("agent", now - 30 * 86_400_000, now + 1000).await.unwrap();
    let x = usage.iter().find(|u| u.key == "bot-x").unwrap();
    assert_eq!((x.requests, x.tool_calls, x.denials, x.input_tokens, x.cost_micros), (20, 20, 20, 60, 140));
    let o = usage.iter().find(|u| u.key == "old-bot").unwrap();
    assert_eq!((o.requests, o.denials), (10, 5));
    assert!(store.audit_usage("nonsense", 0, now).await.is_err());

    // Newest first, keyset paging by seq.
    let newest = |f: AuditFilter| async move { store.audit_query_newest(&f).await.unwrap() };
    let calls = AuditFilter { since_ms: Some(now - 1000), kind: Some("call".into()), ..Default::default() };
    let page1 = newest(AuditFilter { limit: 15, ..calls.clone() }).await;
    assert_eq!(page1.len(), 15);
    assert_eq!(page1[0].seq, head.seq);
    assert!(page1.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let page2 = newest(AuditFilter { limit: 100, before_seq: Some(page1[14].seq), ..calls.clone() }).await;
    assert_eq!(page2.len(), 25);
    assert!(page2[0].seq < page1[14].seq);
    // The tier is read from the body (it has no column of its own).
    let mut tiered = vec![warden_audit::Record { tier: "high".into(), ..audit_record("tier-bot", "allow", now) }];
    store.append_audit(&mut tiered).await.unwrap();
    let high = newest(AuditFilter { tier: Some("high".into()), limit: 100, ..Default::default() }).await;
    assert_eq!(high.iter().map(|r| r.seq).collect::<Vec<_>>(), [tiered[0].seq]);
    let odd = AuditFilter { tier: Some("x'; DROP TABLE audit_records; --".into()), limit: 10, ..Default::default() };
    assert!(newest(odd).await.is_empty());
    // One record, and the checkpoint covering it.
    let one = store.audit_record(start.seq + 3).await.unwrap().unwrap();
    assert_eq!((one.seq, one.body["seq"].as_u64()), (start.seq + 3, Some(start.seq + 3)));
    assert!(store.audit_record(head.seq + 1000).await.unwrap().is_none());
    assert_eq!(store.audit_checkpoint_at_or_after(start.seq + 1).await.unwrap().unwrap().seq, start.seq + 10);
    assert!(store.audit_checkpoint_at_or_after(head.seq + 1).await.unwrap().is_none());
    // MCP calls per agent and day.
    let per_day = store.audit_calls_per_day(old - 1000, Some("old-bot")).await.unwrap();
    assert_eq!(per_day, vec![("old-bot".to_string(), old / 86_400_000, 10)]);
    let all_days = store.audit_calls_per_day(now - 1000, None).await.unwrap();
    assert_eq!(all_days.iter().map(|r| r.2).sum::<i64>(), 41);
    // Exports verify offline with the public key alone, whole or in part.
    let keys_ref = &keys;
    let export = |since: Option<i64>, until: Option<i64>| async move {
        let mut buf = Vec::new();
        let s = store.export_audit(since, until, &mut buf).await.unwrap();
        let text = String::from_utf8(buf).unwrap();
        let r = warden_audit::export::verify_export(&text, keys_ref);
        assert!(r.ok(), "{since:?}..{until:?}: {r:?}\n{text}");
        s
    };
    let whole = export(None, None).await;
    assert_eq!((whole.first_seq, whole.last_seq, whole.records), (1, head.seq, head.seq));
    // From the checkpoint before the first record since `now` (inventory records may share its millisecond).
    let recent = export(Some(now), None).await;
    assert!(recent.first_seq == start.seq + 11 || recent.first_seq == 1, "{recent:?}");
    assert_eq!(recent.last_seq, head.seq);
    let early = export(None, Some(old + 1)).await;
    assert_eq!((early.first_seq, early.last_seq), (1, start.seq + 10));
    assert!(matches!(store.export_audit(None, Some(0), &mut Vec::new()).await, Err(ExportError::NothingBefore)));

    // Retention keeps the chain verifiable from the anchoring checkpoint.
    let pruned = store.prune_audit(now - 86_400_000).await.unwrap();
    assert_eq!(pruned, start.seq + 10);
    assert_eq!(store.audit_head().await.unwrap().anchor_seq, start.seq + 10);
    let r = store.verify_audit(&keys).await.unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.first_seq, start.seq + 11);

    // Tampering, one kind after another; each is named at the record it touched.
    let target = start.seq + 20;
    let keys = &keys;
    let tamper = |sql: &'static str| async move {
        sqlx::query(sql).bind(target as i64).execute(&store.pool).await.unwrap();
        let r = store.verify_audit(keys).await.unwrap();
        r.problem.map(|p| (p.seq, p.kind))
    };
    assert_eq!(
        tamper("UPDATE audit_records SET verdict = 'deny' WHERE seq = $1").await,
        Some((target, ProblemKind::Edited))
    );
    let body = "UPDATE audit_records SET verdict = 'allow', body = REPLACE(body, '\"hi\"', '\"bye\"') WHERE seq = $1";
    assert_eq!(tamper(body).await, Some((target, ProblemKind::Edited)));
    assert_eq!(tamper("DELETE FROM audit_records WHERE seq = $1").await, Some((target, ProblemKind::Deleted)));
    let cut = tamper("DELETE FROM audit_records WHERE seq >= $1").await;
    assert_eq!(cut.map(|p| p.1), Some(ProblemKind::Truncated));
}

async fn console_scenarios(store: &Store, replica: &Store) {
    use crate::console::{ApprovalFilter, ConsoleSession};
    let now = 10_000_000;
    let s = ConsoleSession {
        id_sha256: "h1".into(),
        principal: serde_json::json!({"name": "oidc:a@example.com", "role": "approver"}),
        csrf: "c1".into(),
        created_at_ms: now,
        last_seen_ms: now,
        expires_at_ms: now + 3_600_000,
        idp_sid: Some("sid-1".into()),
        idp_subject: Some("sub-a".into()),
        id_token: Some("eyJ".into()),
    };
    store.insert_console_session(&s).await.unwrap();
    // Another replica serves it.
    assert_eq!(replica.console_session("h1", now + 1000, 60_000).await.unwrap(), Some(s.clone()));
    // Idle past the limit: gone; touched, it lives again within the limit.
    assert_eq!(replica.console_session("h1", now + 61_000, 60_000).await.unwrap(), None);
    replica.touch_console_session("h1", now + 50_000).await.unwrap();
    assert!(store.console_session("h1", now + 61_000, 60_000).await.unwrap().is_some());
    // Past the absolute end, however active.
    store.touch_console_session("h1", now + 3_600_000).await.unwrap();
    assert_eq!(store.console_session("h1", now + 3_600_001, 60_000).await.unwrap(), None);
    // Back-channel logout by sid, then by subject.
    let mut s2 = s.clone();
    s2.id_sha256 = "h2".into();
    store.insert_console_session(&s2).await.unwrap();
    assert_eq!(store.delete_console_sessions_of(Some("sid-1"), None).await.unwrap(), 2);
    store.insert_console_session(&s2).await.unwrap();
    assert_eq!(store.delete_console_sessions_of(None, Some("sub-other")).await.unwrap(), 0);
    assert_eq!(store.delete_console_sessions_of(None, Some("sub-a")).await.unwrap(), 1);
    assert_eq!(store.delete_console_sessions_of(None, None).await.unwrap(), 0);
    assert!(!store.delete_console_session("h2").await.unwrap());
    // A sign-in in flight is taken once; a replay finds nothing; a stale one is refused.
    let pending = serde_json::json!({"state": "st", "nonce": "n", "verifier": "v"});
    store.insert_console_login("l1", &pending, now).await.unwrap();
    assert_eq!(replica.take_console_login("l1", now + 1000, 600_000).await.unwrap(), Some(pending.clone()));
    assert_eq!(store.take_console_login("l1", now + 1000, 600_000).await.unwrap(), None);
    store.insert_console_login("l2", &pending, now).await.unwrap();
    assert_eq!(store.take_console_login("l2", now + 600_000, 600_000).await.unwrap(), None);
    store.insert_console_login("l3", &pending, now).await.unwrap();
    store.insert_console_session(&ConsoleSession { id_sha256: "h3".into(), ..s.clone() }).await.unwrap();
    assert_eq!(store.prune_console(now + 3_600_000, 60_000, 600_000).await.unwrap(), 2);
    // Approval pages: filters, counts, facets.
    let far = Timestamp::now().0 + 3600;
    for i in 0..5 {
        let mut a = approval(&format!("apr_page_{i}"), "r1", far);
        a.created_at = Timestamp(1000 + i);
        a.team = if i % 2 == 0 { "pg-pay".into() } else { "pg-sup".into() };
        a.tier = if i < 3 { "high".into() } else { "pg-crit".into() };
        store.insert_approval(&a).await.unwrap();
    }
    let pending = vec![ApprovalStatus::Pending];
    let f = ApprovalFilter { statuses: pending.clone(), team: Some("pg-pay".into()), limit: 2, ..Default::default() };
    let (page, total) = store.approvals_page(&f).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(page.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["apr_page_4", "apr_page_2"]);
    let (page, _) = store.approvals_page(&ApprovalFilter { offset: 2, ..f.clone() }).await.unwrap();
    assert_eq!(page.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["apr_page_0"]);
    let f = ApprovalFilter { statuses: pending.clone(), tier: Some("pg-crit".into()), limit: 10, ..Default::default() };
    assert_eq!(store.approvals_page(&f).await.unwrap().1, 2);
    let f = ApprovalFilter { tier: Some("x'; DROP TABLE approvals; --".into()), limit: 10, ..Default::default() };
    assert_eq!(store.approvals_page(&f).await.unwrap().1, 0);
    let facets = store.approval_facets(&pending).await.unwrap();
    assert!(facets.teams.contains(&"pg-pay".to_string()) && facets.teams.contains(&"pg-sup".to_string()));
    assert!(facets.tiers.contains(&"pg-crit".to_string()));
}

#[tokio::test]
async fn sqlite() {
    let dir = std::env::temp_dir().join(format!("warden-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("w.db").display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend, Backend::Sqlite);
    let table: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'audit_records'")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(table.contains("seq INTEGER PRIMARY KEY"), "seq is the rowid: {table}");
    scenarios(&store).await;
    let replica = Store::open(&url).await.unwrap();
    audit_scenarios(&store, &replica).await;
    console_scenarios(&store, &replica).await;
    replica.close().await;
    store.close().await;
    audit_contention(&format!("sqlite://{}/contention.db", dir.display())).await;
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
    let replica = Store::open(&url).await.unwrap();
    audit_scenarios(&store, &replica).await;
    console_scenarios(&store, &replica).await;
    shared_token_scenarios(&store, &replica).await;
    replica.close().await;
    store.close().await;
    let url = fresh_postgres_db(&base).await;
    audit_contention(&url).await;
}

use crate::testing::fresh_postgres_db;

/// The shared buckets: capacity, the retry hint, refill, and no overshoot when
/// two stores (replicas) take from one bucket at once.
async fn shared_token_scenarios(a: &Store, b: &Store) {
    let second = std::time::Duration::from_secs(1);
    for _ in 0..3 {
        assert_eq!(a.take_shared_token("k1", second, 3).await.unwrap(), None);
    }
    let wait = a.take_shared_token("k1", second, 3).await.unwrap().expect("the 4th token is refused");
    assert!(wait > std::time::Duration::ZERO && wait <= second, "{wait:?}");
    // Another replica sees the same empty bucket; another key is untouched.
    assert!(b.take_shared_token("k1", second, 3).await.unwrap().is_some());
    assert_eq!(b.take_shared_token("k2", second, 3).await.unwrap(), None);
    // After the hint, one token is back.
    tokio::time::sleep(wait + std::time::Duration::from_millis(20)).await;
    assert_eq!(b.take_shared_token("k1", second, 3).await.unwrap(), None);
    assert!(a.take_shared_token("k1", second, 3).await.unwrap().is_some());
    // 40 concurrent takes from two replicas on a bucket of 5 that refills once a minute.
    let minute = std::time::Duration::from_secs(60);
    let takes = (0..40).map(|i| {
        let s = if i % 2 == 0 { a } else { b };
        s.take_shared_token("k3", minute, 5)
    });
    let got = futures::future::join_all(takes).await;
    let taken = got.iter().filter(|r| matches!(r, Ok(None))).count();
    assert!(got.iter().all(Result::is_ok));
    assert_eq!(taken, 5, "two replicas took {taken} tokens from a bucket of 5");
    // Nothing is pruned that was used within the hour.
    assert_eq!(a.prune_shared_tokens().await.unwrap(), 0);
}

/// Four long-lived appenders on three store handles (replicas) writing at once
/// extend one chain: when one loses the race for the head it appends under the
/// lock, so no batch fails however often the head moves under it.
async fn audit_contention(url: &str) {
    let stores = [Store::open(url).await.unwrap(), Store::open(url).await.unwrap(), Store::open(url).await.unwrap()];
    let start = stores[0].audit_head().await.unwrap().seq;
    let now = warden_core::time::now_ms();
    let tasks = (0..4).map(|t| {
        let store = &stores[t % 3];
        async move {
            let mut w = store.audit_appender();
            for _ in 0..40 {
                let mut b = vec![audit_record(&format!("bot-{t}"), "allow", now), audit_record("bot-z", "deny", now)];
                w.append(&mut b).await.expect("an append failed under contention");
            }
        }
    });
    futures::future::join_all(tasks).await;
    let head = stores[0].audit_head().await.unwrap();
    assert_eq!(head.seq, start + 4 * 40 * 2);
    let r = stores[1].verify_audit(&warden_audit::KeyRing::default()).await.unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.records, head.seq);
    for s in stores {
        s.close().await;
    }
}

/// A replica that starts and migrates (an upgrade: here a next version that
/// runs the baseline's statements again) while another is committing audit
/// records: neither fails. Run in one transaction, the migration held a SHARE
/// lock on `audit_records` (from `CREATE INDEX IF NOT EXISTS`) while it waited
/// for the audit head row, which the committing replica held while it waited
/// for `audit_records`: PostgreSQL broke the deadlock by failing one of them.
#[tokio::test]
async fn postgres_migration_beside_an_audit_commit() {
    let Some(base) = postgres_base() else { return };
    let url = fresh_postgres_db(&base).await;
    let serving = Store::open(&url).await.unwrap();
    let mut next: Vec<schema::Step> = schema::STEPS.to_vec();
    next.push(schema::Step { version: SCHEMA_VERSION + 1, ops: schema::STEPS[0].ops });
    // An audit commit on the serving replica, between its two statements (the
    // head row is locked first, as the appender does)...
    let mut tx = serving.pool.begin().await.unwrap();
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut *tx).await.unwrap();
    // ...when another replica starts.
    let starting = tokio::spawn({
        let url = url.clone();
        async move { Store::open_with(&url, &next).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let insert = sqlx::query(
        "INSERT INTO audit_records (seq, at, kind, entry, agent, tool, method, verdict, model, input_tokens, \
         output_tokens, cost_micros, body, hash) VALUES (1, 0, 'call', 'mcp', 'a', 't', 'm', 'allow', '', 0, 0, 0, '{}', 'h')",
    )
    .execute(&mut *tx)
    .await;
    let insert = match insert {
        Ok(_) => tx.commit().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let started =
        tokio::time::timeout(std::time::Duration::from_secs(20), starting).await.expect("the start hung").unwrap();
    assert!(insert.is_ok(), "the serving replica's audit commit failed: {insert:?}");
    let second = started.expect("the starting replica failed to open the store");
    assert_eq!(second.schema_version().await.unwrap(), SCHEMA_VERSION + 1, "the step ran");
    assert_eq!(second.audit_head().await.unwrap().seq, 0);
    second.close().await;
    serving.close().await;
}

// ---- Versioned schema migrations ----

async fn raw_pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite:") { format!("{url}?mode=rwc") } else { url.to_string() };
    AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap()
}

/// A store the schema does not know any more: stamped one version ahead.
async fn refuses_a_newer_schema(url: &str) {
    let s = Store::open(url).await.unwrap();
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    sqlx::query("UPDATE meta SET value = $1 WHERE key = 'schema_version'")
        .bind(SCHEMA_VERSION + 1)
        .execute(&s.pool)
        .await
        .unwrap();
    s.close().await;
    let err = Store::open(url).await.err().expect("a newer schema must be refused");
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::SchemaTooNew { database, binary }
            if database == SCHEMA_VERSION + 1 && binary == SCHEMA_VERSION),
        "{msg}"
    );
    assert!(msg.contains(&format!("at version {}", SCHEMA_VERSION + 1)), "{msg}");
    assert!(msg.contains(&format!("schema version {SCHEMA_VERSION};")), "{msg}");
    // Refused without touching it.
    let pool = raw_pool(url).await;
    let v: i64 =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schema_version'").fetch_one(&pool).await.unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
    pool.close().await;
}

/// A database from before versioning: some tables, an older `admin_tokens`
/// (without `teams` and `groups_list`), no version row.
async fn upgrades_an_unversioned_database(url: &str) {
    let pool = raw_pool(url).await;
    for sql in [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('inventory_version', 7)",
        "CREATE TABLE admin_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE, \
         role TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, revoked_at BIGINT)",
        "INSERT INTO admin_tokens VALUES ('t1', 'ops', 'abc', 'admin', 1, 'test', NULL)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let s = Store::open(url).await.unwrap();
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(s.version().await.unwrap(), 7, "existing meta rows are kept");
    let t = s.admin_token("abc").await.unwrap().expect("the old token survives");
    assert_eq!((t.name.as_str(), t.teams.clone()), ("ops", vec!["*".to_string()]), "new columns read as their default");
    // The tables the old database lacked exist now.
    assert!(s.agents().await.unwrap().is_empty());
    assert!(s.approvals(None, 10).await.unwrap().is_empty());
    s.close().await;
}

/// Version N+1 migrates a database that version N keeps using; then N, restarting, refuses it.
async fn upgrades_while_in_use(url: &str) {
    let mut next: Vec<schema::Step> = schema::STEPS.to_vec();
    next.push(schema::Step {
        version: SCHEMA_VERSION + 1,
        ops: |_| {
            vec![
                schema::Op::Sql("CREATE TABLE IF NOT EXISTS future_things (id TEXT PRIMARY KEY, note TEXT)".into()),
                schema::Op::AddColumn { table: "agents", column: "future_note", decl: "TEXT" },
            ]
        },
    });
    let old = Arc::new(Store::open(url).await.unwrap());
    let writer = {
        let old = old.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let mut w = old.write().await.unwrap();
                w.insert_agent(&record(&format!("live-bot-{i}")), None).await.unwrap();
                w.commit().await.unwrap();
                let _ = old.agents().await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let new = Store::open_with(url, &next).await.unwrap();
    writer.await.expect("version N kept working while N+1 migrated");
    assert_eq!(new.schema_version().await.unwrap(), SCHEMA_VERSION + 1);
    // N still reads and writes the upgraded tables.
    let mut w = old.write().await.unwrap();
    w.insert_agent(&record("after-upgrade-bot"), None).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(old.agents().await.unwrap().len(), 41);
    assert_eq!(new.agents().await.unwrap().len(), 41);
    sqlx::query("UPDATE agents SET future_note = 'n' WHERE name = 'after-upgrade-bot'")
        .execute(&new.pool)
        .await
        .unwrap();
    // N+1 opening again has nothing left to do.
    assert_eq!(new.migrate_with(&next).await.unwrap(), SCHEMA_VERSION + 1);
    // N restarting refuses the database N+1 migrated.
    let err = Store::open(url).await.err().expect("N refuses N+1's schema");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    new.close().await;
    old.close().await;
}

fn sqlite_url() -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("warden-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("w.db").display());
    (dir, url)
}

#[tokio::test]
async fn sqlite_schema_versions() {
    for case in 0..3 {
        let (dir, url) = sqlite_url();
        match case {
            0 => refuses_a_newer_schema(&url).await,
            1 => upgrades_an_unversioned_database(&url).await,
            _ => upgrades_while_in_use(&url).await,
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn postgres_base() -> Option<String> {
    match std::env::var("WARDEN_TEST_POSTGRES_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("WARDEN_REQUIRE_POSTGRES").is_err(),
                "WARDEN_REQUIRE_POSTGRES is set but WARDEN_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

#[tokio::test]
async fn postgres_schema_versions() {
    let Some(base) = postgres_base() else { return };
    refuses_a_newer_schema(&fresh_postgres_db(&base).await).await;
    upgrades_an_unversioned_database(&fresh_postgres_db(&base).await).await;
    upgrades_while_in_use(&fresh_postgres_db(&base).await).await;
}

/// Replicas starting together on a fresh database: the advisory lock makes
/// them migrate one after the other, so none fails on another's half-made tables.
#[tokio::test]
async fn postgres_concurrent_first_opens() {
    let Some(base) = postgres_base() else { return };
    for _ in 0..3 {
        let url = fresh_postgres_db(&base).await;
        let opens = (0..4).map(|_| Store::open(&url));
        let stores: Vec<Store> =
            futures::future::join_all(opens).await.into_iter().map(|r| r.expect("every replica opens")).collect();
        for s in &stores {
            assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        }
        for s in stores {
            s.close().await;
        }
    }
}

// ---- Change notifications (PostgreSQL) ----

/// Waits up to `ms` for `f`; whether it finished.
async fn within<F: std::future::Future>(ms: u64, f: F) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), f).await.is_ok()
}

async fn until(ms: u64, mut ok: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        if ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ok()
}

#[tokio::test]
async fn postgres_change_notifications() {
    let Some(base) = postgres_base() else { return };
    let url = fresh_postgres_db(&base).await;
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    let listener = b.listen("b").expect("PostgreSQL listens");
    let n = b.notices().clone();
    assert!(until(5000, || n.connected()).await, "listener never connected");
    // Connecting is followed by a full re-read: both wake-ups fire once.
    assert!(within(1000, n.inventory_changed()).await);
    assert!(within(1000, n.approvals_decided()).await);
    assert_eq!(n.take_decided(), notify::DecidedIds::All);

    // A committed write wakes the other store.
    let mut w = a.write().await.unwrap();
    w.insert_agent(&record("n-bot"), None).await.unwrap();
    w.commit().await.unwrap();
    assert!(within(2000, n.inventory_changed()).await, "no notification of a committed write");
    // A rolled-back write, a quiet write and a refused decision notify nobody.
    let mut w = a.write().await.unwrap();
    w.insert_agent(&record("gone-bot"), None).await.unwrap();
    drop(w);
    a.write().await.unwrap().commit_quiet().await.unwrap();
    let heard = n.notifications();
    assert!(!within(300, n.inventory_changed()).await, "a rolled-back or quiet write notified");
    assert_eq!(n.notifications(), heard);

    // A decision names its approval; a decision that does not move it sends nothing.
    let far = Timestamp::now().0 + 3600;
    a.insert_approval(&approval("apr_n1", "b", far)).await.unwrap();
    let now = Timestamp::now();
    assert!(a.decide_approval("apr_n1", ApprovalStatus::Approved, Some("h"), None, now, true).await.unwrap());
    assert!(within(2000, n.approvals_decided()).await, "no notification of a decision");
    assert_eq!(n.take_decided(), notify::DecidedIds::Some(vec!["apr_n1".into()]));
    assert!(!a.decide_approval("apr_n1", ApprovalStatus::Denied, Some("h"), None, now, true).await.unwrap());
    assert_eq!(a.approval("apr_n1").await.unwrap().unwrap().status, ApprovalStatus::Approved);
    assert!(!within(300, n.approvals_decided()).await, "a decision that changed nothing notified");
    // The kill switch cancelling pending approvals wakes every holder.
    a.insert_approval(&approval("apr_n2", "b", far)).await.unwrap();
    let mut w = a.write().await.unwrap();
    assert_eq!(w.cancel_pending_approvals("alpha-bot", now, "suspended").await.unwrap(), 1);
    w.commit().await.unwrap();
    assert!(within(2000, n.approvals_decided()).await);
    assert_eq!(n.take_decided(), notify::DecidedIds::All);
    assert!(within(2000, n.inventory_changed()).await);

    // The listening connection killed: it reconnects and wakes everything (the catch-up).
    let admin = raw_pool(&url).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(format!("{} b", notify::APPLICATION_NAME))
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "exactly one listening connection");
    assert!(until(5000, || n.reconnects() == 1 && n.connected()).await, "listener did not reconnect");
    assert!(within(1000, n.inventory_changed()).await, "no re-read after reconnecting");
    assert_eq!(n.take_decided(), notify::DecidedIds::All);
    // And it hears new writes again.
    let mut w = a.write().await.unwrap();
    w.insert_agent(&record("later-bot"), None).await.unwrap();
    w.commit().await.unwrap();
    assert!(within(2000, n.inventory_changed()).await, "no notification after reconnecting");
    listener.abort();
    admin.close().await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn sqlite_has_no_listener() {
    let (dir, url) = sqlite_url();
    let s = Store::open(&url).await.unwrap();
    assert!(s.listen("x").is_none());
    assert!(!s.notices().connected());
    s.close().await;
    std::fs::remove_dir_all(&dir).ok();
}
