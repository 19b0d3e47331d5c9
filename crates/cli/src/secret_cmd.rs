//! `warden secret`: Warden's encrypted secret store. Values are read from
//! stdin (never argv, which other users can see in the process list) and are
//! never printed.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;
use warden_gateway::credentials;
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
    let (store, kek) = open(&a).await?;
    let now = warden_core::time::now_ms();
    match cmd {
        SecretCommand::GenerateKey => unreachable!(),
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
