//! `warden secret`: Warden's encrypted secret store. Values are read from
//! stdin (never argv, which other users can see in the process list) and are
//! never printed.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;
use warden_gateway::pipeline::credentials;
use warden_secrets::{Kek, SealedSecret};
use warden_store::Store;

use crate::audit_cmd::StoreArgs;

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Store a secret; the value is read from stdin (one trailing newline dropped).
    Set {
        name: String,
    },
    /// Names and metadata (version, created, rotated), never values.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Replace a stored secret's value (read from stdin) and mark it rotated.
    Rotate {
        name: String,
    },
    Delete {
        name: String,
    },
    /// Rotate the master key: rewrap every data key under the key in
    /// `--new-key-file` (or `WARDEN_NEW_MASTER_KEY`), in one transaction.
    Rekey {
        #[arg(long)]
        new_key_file: Option<std::path::PathBuf>,
    },
    /// Print a new random master key (base64) for WARDEN_MASTER_KEY or a key file.
    GenerateKey,
    /// Report every credential: which agents use it, when last used and last
    /// rotated. Flags those not rotated within the maximum age, those shared by
    /// several agents, and credentials written in plaintext in the config file.
    /// Exits 1 when anything is flagged.
    Audit {
        /// Maximum age in days [default: secrets.max_age_days, else 90].
        #[arg(long)]
        max_age_days: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

/// Credentials written in plaintext in a config file's text: credential-named
/// `headers:`/`env:` values that are not references, and anything the secret
/// detector recognises. Places and lines only, never values.
pub fn plaintext_in_config(text: &str) -> Vec<String> {
    let mut out: Vec<(Option<usize>, String)> = warden_config::literal_credentials(text)
        .into_iter()
        .map(|l| (l.line, format!("{} (line {})", l.place, l.line.map_or("?".into(), |n| n.to_string()))))
        .collect();
    for f in warden_detect::secrets::SecretRules::defaults().scan(text) {
        let line = text[..f.start].matches('\n').count() + 1;
        if !out.iter().any(|(l, _)| *l == Some(line)) {
            out.push((Some(line), format!("line {line}: {} ({})", f.kind, f.evidence)));
        }
    }
    out.sort();
    out.into_iter().map(|(_, s)| s).collect()
}

#[derive(serde::Serialize)]
struct CredentialReport {
    reference: String,
    /// Config keys naming it.
    places: Vec<String>,
    agents: Vec<String>,
    last_used_ms: Option<i64>,
    /// When its value last changed (for store:// the rotation time; otherwise
    /// the first change a gateway saw), if known.
    rotated_ms: Option<i64>,
    stale: bool,
    shared: bool,
}

async fn audit(
    store: &Store,
    config: Option<(&warden_config::Config, &str)>,
    max_age_days: u64,
    json: bool,
) -> anyhow::Result<bool> {
    use std::collections::BTreeMap;
    let now = warden_core::time::now_ms();
    let max_age_ms = max_age_days as i64 * 86_400_000;
    let mut creds: BTreeMap<String, CredentialReport> = BTreeMap::new();
    let entry = |m: &mut BTreeMap<String, CredentialReport>, r: &str| {
        m.entry(r.to_string())
            .or_insert_with(|| CredentialReport {
                reference: r.to_string(),
                places: Vec::new(),
                agents: Vec::new(),
                last_used_ms: None,
                rotated_ms: None,
                stale: false,
                shared: false,
            })
            .reference
            .clone()
    };
    let mut config_agents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some((c, _)) = config {
        for r in c.secret_references() {
            let k = entry(&mut creds, &r.reference.to_string());
            creds.get_mut(&k).unwrap().places.push(r.place.clone());
            if let Some(a) = r.agent {
                config_agents.entry(k).or_default().push(a);
            }
        }
    }
    for m in store.secret_list().await? {
        let k = entry(&mut creds, &format!("store://{}", m.name));
        creds.get_mut(&k).unwrap().rotated_ms = Some(m.rotated_at_ms);
    }
    for v in store.credential_values().await? {
        if let Some(c) = creds.get_mut(&v.reference).filter(|c| c.rotated_ms.is_none()) {
            c.rotated_ms = Some(v.changed_at_ms);
        }
    }
    for u in store.credential_usage().await? {
        let k = entry(&mut creds, &u.reference);
        let c = creds.get_mut(&k).unwrap();
        if u.detached_at_ms.is_none() {
            c.agents.push(u.agent.clone());
        }
        c.last_used_ms = c.last_used_ms.max(Some(u.last_used_at_ms));
    }
    for (k, agents) in config_agents {
        creds.get_mut(&k).unwrap().agents.extend(agents);
    }
    for c in creds.values_mut() {
        c.agents.sort();
        c.agents.dedup();
        c.shared = c.agents.len() > 1;
        c.stale = c.rotated_ms.is_some_and(|r| now - r > max_age_ms);
    }
    let plaintext = config.map(|(_, text)| plaintext_in_config(text)).unwrap_or_default();
    let flagged = creds.values().any(|c| c.stale || c.shared) || !plaintext.is_empty();
    if json {
        let creds: Vec<&CredentialReport> = creds.values().collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "max_age_days": max_age_days, "credentials": creds, "plaintext_in_config": plaintext,
                "config_checked": config.is_some(), "flagged": flagged}))?
        );
        return Ok(flagged);
    }
    let when = |t: Option<i64>| t.map_or("-".to_string(), warden_audit::record::format_ms);
    println!("{:<44} {:<24} {:<24} AGENTS", "CREDENTIAL", "LAST USED", "LAST ROTATED");
    for c in creds.values() {
        println!("{:<44} {:<24} {:<24} {}", c.reference, when(c.last_used_ms), when(c.rotated_ms), c.agents.join(","));
    }
    println!();
    for c in creds.values().filter(|c| c.stale) {
        println!("STALE      {}: not rotated for over {max_age_days} days (last {})", c.reference, when(c.rotated_ms));
    }
    for c in creds.values().filter(|c| c.shared) {
        println!(
            "SHARED     {}: used by {} agents ({}); give each agent its own",
            c.reference,
            c.agents.len(),
            c.agents.join(", ")
        );
    }
    for p in &plaintext {
        println!("PLAINTEXT  {p}: move it to a secret reference (store://, env://, file://, vault://)");
    }
    if config.is_none() {
        println!("(no --config given: the config file was not checked for plaintext credentials)");
    }
    if !flagged {
        println!("nothing flagged");
    }
    Ok(flagged)
}

/// A name must be usable as `store://NAME`.
fn name_ok(name: &str) -> anyhow::Result<()> {
    warden_secrets::SecretRef::parse(&format!("store://{name}"))
        .map(|_| ())
        .map_err(|_| anyhow::anyhow!("secret names are letters, digits, '_', '-' and '.': {name:?}"))
}

/// `set` (the name must be new) or `rotate` (it must exist): seals the value from stdin.
async fn put(store: &Store, kek: Option<Kek>, name: &str, rotate: bool, now: i64) -> anyhow::Result<()> {
    name_ok(name)?;
    let kek = need(kek)?;
    match (store.secret_sealed(name).await?.is_some(), rotate) {
        (true, false) => bail!("secret {name:?} exists: use `warden secret rotate {name}` to replace its value"),
        (false, true) => bail!("no secret named {name:?} (warden secret set {name})"),
        _ => {}
    }
    let value = read_value()?;
    let v = store.secret_put(name, &SealedSecret::seal(&kek, name, &value), now).await?;
    if rotate {
        println!("rotated {name} (version {v}); gateways use the new value from their next call");
    } else {
        println!("stored {name} (version {v}); reference it as store://{name}");
    }
    Ok(())
}

fn read_value() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut v = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut v).context("reading the value from stdin")?;
    let trimmed = v.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&v).to_string();
    if trimmed.is_empty() {
        bail!("no value on stdin (pipe it in: printf %s \"$TOKEN\" | warden secret set NAME)");
    }
    Ok(zeroize::Zeroizing::new(trimmed))
}

async fn open(a: &StoreArgs) -> anyhow::Result<(Store, Option<Kek>)> {
    let config = a.config.as_ref().map(|p| warden_config::load(p)).transpose()?;
    let url = crate::store_url(a.store_url.clone(), config.as_ref(), &a.data_dir)?;
    let store = Store::open(&url).await.with_context(|| format!("opening store {}", crate::redact_url(&url)))?;
    let file = config.as_ref().and_then(|c| c.secrets.master_key_file.as_ref().map(|f| f.0.clone()));
    let kek = credentials::master_key(file.as_deref(), &|k| std::env::var(k).ok())?;
    credentials::verify_master_key(&store, kek.as_ref()).await?;
    Ok((store, kek))
}

fn need(kek: Option<Kek>) -> anyhow::Result<Kek> {
    kek.ok_or_else(|| {
        anyhow::anyhow!(
            "no master key: set WARDEN_MASTER_KEY or secrets.master_key_file (warden secret generate-key makes one)"
        )
    })
}

pub async fn secret(cmd: SecretCommand, a: StoreArgs) -> anyhow::Result<()> {
    if let SecretCommand::GenerateKey = cmd {
        println!("{}", Kek::generate_text());
        return Ok(());
    }
    if let SecretCommand::Audit { max_age_days, json } = cmd {
        let config = match &a.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                Some((warden_config::load(p)?, text))
            }
            None => None,
        };
        let url = crate::store_url(a.store_url.clone(), config.as_ref().map(|(c, _)| c), &a.data_dir)?;
        let store = Store::open(&url).await.with_context(|| format!("opening store {}", crate::redact_url(&url)))?;
        let max_age = max_age_days.unwrap_or_else(|| config.as_ref().map_or(90, |(c, _)| c.secrets.max_age_days.0));
        if audit(&store, config.as_ref().map(|(c, t)| (c, t.as_str())), max_age, json).await? {
            std::process::exit(1);
        }
        return Ok(());
    }
    let (store, kek) = open(&a).await?;
    let now = warden_core::time::now_ms();
    match cmd {
        SecretCommand::GenerateKey | SecretCommand::Audit { .. } => unreachable!(),
        SecretCommand::Set { name } => put(&store, kek, &name, false, now).await?,
        SecretCommand::Rotate { name } => put(&store, kek, &name, true, now).await?,
        SecretCommand::Delete { name } => {
            if !store.secret_delete(&name).await? {
                bail!("no secret named {name:?}");
            }
            println!("deleted {name}");
        }
        SecretCommand::List { json } => {
            let list = store.secret_list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<32} {:>7}  {:<24} ROTATED", "NAME", "VERSION", "CREATED");
                for s in list {
                    let when = warden_audit::record::format_ms;
                    println!(
                        "{:<32} {:>7}  {:<24} {}",
                        s.name,
                        s.version,
                        when(s.created_at_ms),
                        when(s.rotated_at_ms)
                    );
                }
            }
        }
        SecretCommand::Rekey { new_key_file } => {
            let old = need(kek)?;
            let text = match (&new_key_file, std::env::var("WARDEN_NEW_MASTER_KEY")) {
                (Some(p), _) => zeroize::Zeroizing::new(
                    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
                ),
                (None, Ok(v)) => zeroize::Zeroizing::new(v),
                (None, Err(_)) => bail!("give the new master key with --new-key-file or WARDEN_NEW_MASTER_KEY"),
            };
            let new = Kek::parse(&text).map_err(|e| anyhow::anyhow!("new master key: {e}"))?;
            if new.id() == old.id() {
                bail!("the new master key is the current one");
            }
            let n = store.secret_rewrap_all(|name, s| s.rewrap(&old, &new, name).map_err(|e| e.to_string())).await?;
            println!(
                "rewrapped {n} data keys under master key {}; switch WARDEN_MASTER_KEY / the key file to the new key now",
                new.id()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plaintext_in_config;

    #[test]
    fn plaintext_credentials_in_a_config_are_named_by_line_never_by_value() {
        let clean = "agents:\n  - name: bot\n    token_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n\
                     upstreams:\n  - name: gh\n    transport: streamable-http\n    url: http://127.0.0.1:9/mcp\n\
                     \x20   auth: {type: header, secret: store://gh}\n    headers:\n      X-Api-Key: env://GH_KEY\n";
        assert_eq!(plaintext_in_config(clean), Vec::<String>::new());
        let token = ["ghp_", "Zx9Qw3Er5Ty7Ui1Op3As5Df7Gh9Jk1Lz2Xc4"].concat();
        let dirty = format!(
            "upstreams:\n  - name: local\n    transport: stdio\n    command: x\n    env:\n      GITHUB_TOKEN: {token}\n\
             \x20     NOTE: \"see {token}\"\n"
        );
        let found = plaintext_in_config(&dirty);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("env.GITHUB_TOKEN (line 6)"), "{found:?}");
        assert!(found[1].starts_with("line 7: github-pat"), "{found:?}");
        assert!(found.iter().all(|f| !f.contains(&token)), "a value leaked: {found:?}");
    }
}
