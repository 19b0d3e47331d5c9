use base64::Engine;
use serde_json::json;

use crate::envelope::{self, EnvelopeError};
use crate::{Kek, KnownSecrets, SealedSecret, SecretRef};

#[test]
fn references_parse_and_print_back() {
    for s in ["env://GITHUB_TOKEN", "file:///run/secrets/gh", "store://gh-triage", "vault://secret/teams/gh#token"] {
        assert_eq!(SecretRef::parse(s).unwrap().to_string(), s);
        assert!(SecretRef::looks_like(s));
    }
    assert_eq!(
        SecretRef::parse("vault://kv/a/b#k").unwrap(),
        SecretRef::Vault { mount: "kv".into(), path: "a/b".into(), key: "k".into() }
    );
    for bad in [
        "env://",
        "env://A-B",
        "file://relative/path",
        "store://",
        "store://a/b",
        "vault://secret#k",
        "vault://secret/p",
        "vault://secret/p#",
        "vault://secret/../p#k",
        "ghp_plaintext",
        "https://example.com",
    ] {
        let e = SecretRef::parse(bad).unwrap_err();
        assert!(e.contains(bad), "{e}");
    }
    assert!(!SecretRef::looks_like("Bearer abc"));
}

#[test]
fn a_secret_never_prints_its_value() {
    let s = crate::Secret::new("hunter2-hunter2".into());
    assert_eq!(format!("{s:?}"), "Secret([15 bytes])");
}

#[test]
fn envelope_round_trip_wrong_key_tamper_and_rekey() {
    let kek = Kek::parse(&Kek::generate_text()).unwrap();
    let other = Kek::parse(&hex::encode([7u8; 32])).unwrap();
    assert_eq!(kek.id().len(), 16);
    assert_ne!(kek.id(), other.id());
    let sealed = SealedSecret::seal(&kek, "gh", "ghp_value_1234567890");
    assert!(!sealed.ciphertext.contains("ghp_value"));
    assert_eq!(sealed.open(&kek, "gh").unwrap().expose(), "ghp_value_1234567890");
    // Two seals of the same value differ (fresh data key and nonces).
    assert_ne!(SealedSecret::seal(&kek, "gh", "ghp_value_1234567890"), sealed);

    let wrong = sealed.open(&other, "gh").unwrap_err();
    assert!(matches!(wrong, EnvelopeError::WrongKey { .. }), "{wrong}");
    // A forged key id does not help: the wrapped data key does not authenticate.
    let forged = SealedSecret { kek_id: other.id().into(), ..sealed.clone() };
    assert_eq!(forged.open(&other, "gh").unwrap_err(), EnvelopeError::Tampered("gh".into()));
    // Moved to another name: refused (the name is associated data).
    assert_eq!(sealed.open(&kek, "prod-db").unwrap_err(), EnvelopeError::Tampered("prod-db".into()));
    // One flipped bit in the ciphertext.
    let mut raw = base64::engine::general_purpose::STANDARD.decode(&sealed.ciphertext).unwrap();
    raw[14] ^= 1;
    let flipped = SealedSecret { ciphertext: base64::engine::general_purpose::STANDARD.encode(raw), ..sealed.clone() };
    assert_eq!(flipped.open(&kek, "gh").unwrap_err(), EnvelopeError::Tampered("gh".into()));

    let re = sealed.rewrap(&kek, &other, "gh").unwrap();
    assert_eq!(re.ciphertext, sealed.ciphertext, "rekey rewraps the data key only");
    assert_eq!(re.open(&other, "gh").unwrap().expose(), "ghp_value_1234567890");
    assert!(matches!(re.open(&kek, "gh"), Err(EnvelopeError::WrongKey { .. })));

    let check = SealedSecret::seal(&kek, envelope::CHECK_NAME, envelope::CHECK_VALUE);
    envelope::check(&kek, &check).unwrap();
    assert!(envelope::check(&other, &check).is_err());
    for bad in ["", "short", &hex::encode([1u8; 31]), "!!!"] {
        assert!(matches!(Kek::parse(bad), Err(EnvelopeError::BadKey(_))), "{bad:?}");
    }
}

#[test]
fn known_secrets_are_found_in_every_form() {
    let secret = "s3cr3t+Value/with spaces&=?";
    let m = KnownSecrets::new([("gh", secret), ("tiny", "abc")]);
    assert_eq!(m.too_short, vec!["tiny".to_string()]);
    let std = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut leaks = vec![
        secret.to_string(),
        std.encode(secret),
        url.encode(secret),
        hex::encode(secret),
        hex::encode_upper(secret),
        "s3cr3t%2BValue%2Fwith%20spaces%26%3D%3F".to_string(),
        "s3cr3t%2bValue%2fwith+spaces%26%3d%3f".to_string(),
        serde_json::to_string(&json!({"k": format!("a\"{secret}")})).unwrap(),
    ];
    // Inside longer base64 blobs, at each alignment.
    for prefix in ["", "x", "xy", "xyz", "wxyz"] {
        leaks.push(std.encode(format!("{prefix}Authorization: Bearer {secret} and more")));
        leaks.push(url.encode(format!("{prefix}{secret}")));
    }
    for leak in &leaks {
        let text = format!("before {leak} after");
        assert_eq!(m.find(&text), vec!["gh"], "{leak}");
        let r = m.redact(&text);
        assert!(r.contains("[REDACTED:gh]") && !r.contains(secret), "{leak} -> {r}");
    }
    assert!(m.find("nothing to see, abc abc").is_empty());
    assert!(matches!(m.redact("clean"), std::borrow::Cow::Borrowed(_)));

    let mut v = json!({"out": [format!("token={secret}"), 5, {"nested": hex::encode(secret)}], secret: "key leak"});
    assert_eq!(m.redact_value(&mut v), 3);
    let text = v.to_string();
    assert!(!text.contains(secret) && !text.contains(&hex::encode(secret)), "{text}");
    assert_eq!(v["out"][0], "token=[REDACTED:gh]");
    assert!(KnownSecrets::default().is_empty());
}
