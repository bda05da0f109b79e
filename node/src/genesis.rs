//! Loading the genesis from TOML (`seeds/genesis.toml`) into the protocol's `Genesis`.
//!
//! ```toml
//! chain_id = "zj-carbon-demo"
//! cluster_admin_key = "<64 hex>"
//! buffer_account = "ZJ-BUFFER"
//! [[accounts]]
//! id = "ZJ-REG"
//! name = "浙江省生态环境厅"
//! region = "浙江省"
//! keys = ["<64 hex>"]
//! threshold = 1
//! ```
//! Every genesis account is a regulator account; the ledger validates the rest.

use carbon_proto::v1::{Account, AccountStatus, Genesis, Role};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    chain_id: String,
    cluster_admin_key: String,
    buffer_account: String,
    accounts: Vec<AccountEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountEntry {
    id: String,
    name: String,
    #[serde(default)]
    region: String,
    keys: Vec<String>,
    threshold: u32,
}

fn key(hex_text: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let b = hex::decode(hex_text.trim()).map_err(|e| anyhow::anyhow!("{what}: not hex ({e})"))?;
    if b.len() != 32 {
        anyhow::bail!("{what}: an ed25519 public key is 32 bytes, not {}", b.len());
    }
    Ok(b)
}

pub fn parse(text: &str) -> anyhow::Result<Genesis> {
    let f: File = toml::from_str(text)?;
    let mut accounts = Vec::new();
    for a in f.accounts {
        let keys = a
            .keys
            .iter()
            .map(|k| key(k, &format!("account {}", a.id)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        accounts.push(Account {
            account_id: a.id,
            role: Role::Regulator as i32,
            name: a.name,
            region: a.region,
            public_keys: keys,
            threshold: a.threshold,
            status: AccountStatus::Open as i32,
            outstanding_shortfall: 0,
        });
    }
    let g = Genesis {
        chain_id: f.chain_id,
        accounts,
        buffer_account_id: f.buffer_account,
        cluster_admin_key: key(&f.cluster_admin_key, "cluster_admin_key")?,
    };
    crate::ledger::genesis_writes(&g).map_err(|e| anyhow::anyhow!("genesis: {}", e.message))?;
    Ok(g)
}

pub fn load(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read genesis {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("genesis {}: {e}", path.display()))
}
