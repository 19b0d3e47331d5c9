use serde_json::{Value, json};

use crate::checkpoint::{Checkpoint, KeyRing, Signer};
use crate::export::{checkpoint_line, header_line, record_line, verify_export};
use crate::record::{GENESIS, Record, canonical_json, format_ms, parse_ms};
use crate::verify::{ProblemKind, Report, Verifier};

struct Chain {
    rows: Vec<(u64, Value, String)>,
    cps: Vec<Checkpoint>,
}

fn signer() -> Signer {
    Signer::from_pkcs8(&Signer::generate_pkcs8()).unwrap()
}

fn ring(s: &Signer) -> KeyRing {
    let mut k = KeyRing::default();
    k.add(s.public_key());
    k
}

/// `n` records, a checkpoint every `every`, and one at the end.
fn chain(s: &Signer, n: u64, every: u64) -> Chain {
    let mut prev = GENESIS.to_string();
    let mut rows = Vec::new();
    let mut cps = Vec::new();
    for seq in 1..=n {
        let mut r = Record {
            id: format!("r{seq}"),
            at: format_ms(1_700_000_000_000 + seq as i64),
            kind: "call".into(),
            agent: format!("bot-{}", seq % 3),
            tool: "demo__echo".into(),
            args: json!({"text": format!("call {seq}"), "n": seq, "nested": {"b": 1, "a": [1.5, "x"]}}),
            verdict: "allow".into(),
            ..Record::default()
        };
        let (body, hash) = r.seal(seq, &prev);
        prev = hash.clone();
        if seq % every == 0 || seq == n {
            cps.push(s.sign(seq, &format_ms(1_700_000_000_000 + seq as i64), &hash));
        }
        rows.push((seq, body, hash));
    }
    Chain { rows, cps }
}

fn verify(c: &Chain, keys: &KeyRing, anchor: Option<&Checkpoint>) -> Report {
    let mut v = Verifier::new(keys, anchor);
    for cp in &c.cps {
        v.checkpoint(cp.clone());
    }
    for (seq, body, hash) in &c.rows {
        let index = [("agent", body["agent"].clone()), ("verdict", body["verdict"].clone())];
        v.record(Some(*seq), body, hash, &index);
    }
    v.finish()
}

fn problem(r: &Report) -> (u64, ProblemKind) {
    let p = r.problem.as_ref().unwrap_or_else(|| panic!("expected a problem, got {r:?}"));
    (p.seq, p.kind)
}

#[test]
fn canonical_json_sorts_keys_at_every_level() {
    let v = json!({"b": 1, "a": {"d": [true, null, {"z": 1, "y": "é\n"}], "c": 2.5}});
    assert_eq!(canonical_json(&v), r#"{"a":{"c":2.5,"d":[true,null,{"y":"é\n","z":1}]},"b":1}"#);
    assert_eq!(parse_ms(&format_ms(1_700_000_000_123)), Some(1_700_000_000_123));
}

#[test]
fn a_records_serde_output_is_its_canonical_json() {
    // Sealing hashes serde's output directly; that is only sound while it equals
    // the canonical form (fields declared in byte order, maps sorted).
    let mut r = Record {
        id: "r1".into(),
        at: format_ms(1_700_000_000_000),
        kind: "call".into(),
        entry: "mcp".into(),
        agent: "bot".into(),
        owner: "alice@example.com".into(),
        session: "s-1".into(),
        method: "tools/call".into(),
        tool: "demo__echo".into(),
        args_sha256: "ab".repeat(32),
        args: json!({"zeta": {"b": [1, 2.5, null], "a": "\u{e9}\"q\""}, "alpha": true}),
        verdict: "allow".into(),
        rule: "r".into(),
        tier: "low".into(),
        upstream: "demo".into(),
        upstream_status: "ok".into(),
        latency_us: 7,
        upstream_us: 3,
        model: "m".into(),
        input_tokens: 1,
        output_tokens: 2,
        cost_micros: 3,
        trace_id: "t".into(),
        ..Record::default()
    };
    let (text, hash) = r.seal_canonical(9, GENESIS);
    assert_eq!(text, canonical_json(&r.to_value()));
    assert_eq!(hash, crate::record::record_hash(&r.to_value()));
    let (body, hash2) = r.clone().seal(9, GENESIS);
    assert_eq!((canonical_json(&body), hash2), (text, hash));
}

#[test]
fn an_untouched_chain_verifies() {
    let s = signer();
    let c = chain(&s, 50, 10);
    let r = verify(&c, &ring(&s), None);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.records, r.checkpoints, r.last_seq, r.last_checkpoint, r.unsigned_tail), (50, 5, 50, 50, 0));
}

#[test]
fn records_after_the_last_checkpoint_are_reported_unsigned() {
    let s = signer();
    let mut c = chain(&s, 25, 10);
    c.cps.pop(); // the one at 25
    let r = verify(&c, &ring(&s), None);
    assert!(r.ok());
    assert_eq!((r.last_checkpoint, r.unsigned_tail), (20, 5));
}

#[test]
fn an_edited_record_is_named() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    c.rows[16].1["verdict"] = json!("deny");
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (17, ProblemKind::Edited));
}

#[test]
fn an_edited_index_column_is_named() {
    let s = signer();
    let c = chain(&s, 5, 10);
    let keys = ring(&s);
    let mut v = Verifier::new(&keys, None);
    for (seq, body, hash) in &c.rows {
        let agent = if *seq == 3 { json!("someone-else") } else { body["agent"].clone() };
        v.record(Some(*seq), body, hash, &[("agent", agent)]);
    }
    let r = v.finish();
    assert_eq!(problem(&r), (3, ProblemKind::Edited));
    assert!(r.problem.unwrap().message.contains("agent"));
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    c.rows[11].1["verdict"] = json!("deny");
    c.rows[11].2 = crate::record_hash(&c.rows[11].1);
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (13, ProblemKind::BrokenLink));
}

#[test]
fn a_rehashed_chain_is_caught_by_the_checkpoint() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    // Rewrite record 12 and re-link everything after it: only signatures can tell.
    c.rows[11].1["verdict"] = json!("deny");
    let mut prev = c.rows[10].2.clone();
    for row in c.rows.iter_mut().skip(11) {
        row.1["prev"] = json!(prev);
        row.2 = crate::record_hash(&row.1);
        prev = row.2.clone();
    }
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (20, ProblemKind::Rewritten));
}

#[test]
fn a_deleted_record_is_named() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    c.rows.remove(7);
    let r = verify(&c, &ring(&s), None);
    assert_eq!(problem(&r), (8, ProblemKind::Deleted));
    assert!(r.problem.unwrap().message.contains("record 8 is missing"));
}

#[test]
fn a_deletion_with_renumbering_breaks_the_link() {
    let s = signer();
    let mut c = chain(&s, 30, 100);
    c.rows.remove(7);
    for (i, row) in c.rows.iter_mut().enumerate().skip(7) {
        row.0 = i as u64 + 1;
        row.1["seq"] = json!(i + 1);
        row.2 = crate::record_hash(&row.1);
    }
    c.cps.clear();
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (8, ProblemKind::BrokenLink));
}

#[test]
fn an_inserted_record_is_named() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    // A forged record slotted in as 9 (the rest renumbered): its prev is made right,
    // so the record after it no longer links.
    let mut forged = Record { id: "forged".into(), verdict: "allow".into(), ..Record::default() };
    let (body, hash) = forged.seal(9, &c.rows[7].2);
    c.rows.insert(8, (9, body, hash));
    for (i, row) in c.rows.iter_mut().enumerate().skip(9) {
        row.0 = i as u64 + 1;
        row.1["seq"] = json!(i + 1);
        row.2 = crate::record_hash(&row.1);
    }
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (10, ProblemKind::BrokenLink));
}

#[test]
fn reordered_records_are_named() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    // Rows swapped in the store (each keeps its own seq): out of order.
    c.rows.swap(4, 5);
    let r = verify(&c, &ring(&s), None);
    assert_eq!(problem(&r).1, ProblemKind::Deleted, "record 6 where 5 was expected: {r:?}");
    // Bodies swapped between seq slots: the store's seq disagrees with the record's.
    let mut c = chain(&s, 30, 10);
    let (a, b) = (c.rows[4].1.clone(), c.rows[5].1.clone());
    c.rows[4].1 = b;
    c.rows[5].1 = a;
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (5, ProblemKind::Reordered));
}

#[test]
fn a_truncated_tail_is_caught_by_its_checkpoint() {
    let s = signer();
    let mut c = chain(&s, 30, 10);
    c.rows.truncate(25);
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (26, ProblemKind::Truncated));
}

#[test]
fn forged_and_foreign_checkpoints_are_refused() {
    let s = signer();
    let mut c = chain(&s, 20, 10);
    c.cps[0].hash = c.rows[9].2.clone();
    c.cps[0].signature = c.cps[1].signature.clone();
    assert_eq!(problem(&verify(&c, &ring(&s), None)), (10, ProblemKind::BadCheckpoint));
    let other = signer();
    let c = chain(&s, 20, 10);
    let r = verify(&c, &ring(&other), None);
    assert_eq!(problem(&r), (10, ProblemKind::BadCheckpoint));
    assert!(r.problem.unwrap().message.contains("unknown key"));
}

#[test]
fn a_pruned_chain_verifies_from_its_anchor_and_not_without_it() {
    let s = signer();
    let c = chain(&s, 40, 10);
    let anchor = c.cps[1].clone(); // record 20
    let kept = Chain { rows: c.rows[20..].to_vec(), cps: c.cps[2..].to_vec() };
    let r = verify(&kept, &ring(&s), Some(&anchor));
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.first_seq, r.records), (21, 20));
    assert_eq!(problem(&verify(&kept, &ring(&s), None)), (1, ProblemKind::Deleted));
    let mut forged = anchor.clone();
    forged.hash = GENESIS.into();
    assert_eq!(problem(&verify(&kept, &ring(&s), Some(&forged))), (20, ProblemKind::BadCheckpoint));
}

fn export(c: &Chain, from: usize, anchor: Option<&Checkpoint>) -> String {
    let last = c.rows.last().unwrap().0;
    let mut out = vec![header_line("2026-11-21T00:00:00.000Z", c.rows[from].0, last, anchor)];
    for (seq, body, hash) in &c.rows[from..] {
        out.push(record_line(body, hash));
        if let Some(cp) = c.cps.iter().find(|cp| cp.seq == *seq) {
            out.push(checkpoint_line(cp));
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn an_export_verifies_offline_and_tampering_with_it_is_named() {
    let s = signer();
    let keys = {
        let mut k = KeyRing::default();
        k.parse(&format!("# audit key\n{}", s.public_key_line())).unwrap();
        k
    };
    let c = chain(&s, 30, 10);
    let text = export(&c, 10, Some(&c.cps[0]));
    let r = verify_export(&text, &keys);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.first_seq, r.last_seq), (11, 30));

    let lines: Vec<&str> = text.lines().collect();
    let edited = text.replace("\"call 15\"", "\"call 99\"");
    assert_eq!(problem(&verify_export(&edited, &keys)), (15, ProblemKind::Edited));
    let mut dropped = lines.clone();
    dropped.remove(5);
    assert_eq!(problem(&verify_export(&dropped.join("\n"), &keys)).1, ProblemKind::Deleted);
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    assert!(!verify_export(&swapped.join("\n"), &keys).ok());
    let mut cut = lines.clone();
    cut.truncate(lines.len() - 3);
    assert_eq!(problem(&verify_export(&cut.join("\n"), &keys)).1, ProblemKind::Truncated);
    assert_eq!(problem(&verify_export(&text, &ring(&signer()))).1, ProblemKind::BadCheckpoint);
    assert_eq!(problem(&verify_export("{not json", &keys)).1, ProblemKind::Malformed);
    assert!(KeyRing::default().parse("rsa AAAA").is_err());
}
