//! The genesis file (`seeds/genesis.toml`) as clients, nodes and offline verifiers read it.
//!
//! ```toml
//! chain_id = "zj-carbon-demo"
//! cluster_admin_key = "<64 hex>"
//! buffer_account = "ZJ-BUFFER"
//! public_aggregate_min = 3        # optional: fewest contracts a public aggregate covers
//! # optional (rule 15, ledger version 3): trusted lists, transfer delay, daily limits;
//! # absent or enabled = false: transfers are immediate. 0 or absent delays: 26 h and 4 days.
//! safeguards = { enabled = true, transfer_delay_ms = 93600000, trusted_list_delay_ms = 345600000 }
//! # optional: the credit kinds a surrender may use within the offset cap; absent: CCER,
//! # FORESTRY, BLUE_CARBON. Inclusion credits (PHCER, rule 16) count only when listed.
//! eligible_offset_kinds = ["CCER", "FORESTRY", "BLUE_CARBON", "PHCER"]
//! [[accounts]]
//! id = "ZJ-REG"
//! name = "浙江省生态环境厅"
//! region = "浙江省"
//! keys = ["<64 hex>"]
//! threshold = 1
//! ```
//! Every genesis account is a regulator account. The node validates the rest when it starts.

use crate::v1::{Account, AccountStatus, Genesis, Role};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    chain_id: String,
    cluster_admin_key: String,
    buffer_account: String,
    /// The fewest contracts a public aggregate covers (absent: 3).
    #[serde(default)]
    public_aggregate_min: Option<u32>,
    #[serde(default)]
    safeguards: Option<SafeguardsEntry>,
    #[serde(default)]
    eligible_offset_kinds: Vec<String>,
    accounts: Vec<AccountEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SafeguardsEntry {
    enabled: bool,
    #[serde(default)]
    transfer_delay_ms: u64,
    #[serde(default)]
    trusted_list_delay_ms: u64,
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

#[derive(Debug, thiserror::Error)]
#[error("genesis: {0}")]
pub struct GenesisError(pub String);

fn key(hex_text: &str, what: &str) -> Result<Vec<u8>, GenesisError> {
    let b =
        hex::decode(hex_text.trim()).map_err(|e| GenesisError(format!("{what}: not hex ({e})")))?;
    if b.len() != 32 {
        return Err(GenesisError(format!(
            "{what}: an ed25519 public key is 32 bytes, not {}",
            b.len()
        )));
    }
    Ok(b)
}

pub fn parse_toml(text: &str) -> Result<Genesis, GenesisError> {
    let f: File = toml::from_str(text).map_err(|e| GenesisError(e.to_string()))?;
    let mut accounts = Vec::new();
    for a in f.accounts {
        let keys = a
            .keys
            .iter()
            .map(|k| key(k, &format!("account {}", a.id)))
            .collect::<Result<Vec<_>, _>>()?;
        accounts.push(Account {
            account_id: a.id,
            role: Role::Regulator as i32,
            name: a.name,
            region: a.region,
            public_keys: keys,
            threshold: a.threshold,
            status: AccountStatus::Open as i32,
            outstanding_shortfall: 0,
            platform_id: String::new(),
            custodial: false,
        });
    }
    let mut eligible_offset_kinds = Vec::new();
    for k in &f.eligible_offset_kinds {
        let kind = crate::v1::UnitKind::from_str_name(&format!("UNIT_KIND_{k}"))
            .filter(|k| {
                !matches!(
                    k,
                    crate::v1::UnitKind::Unspecified | crate::v1::UnitKind::Cea
                )
            })
            .ok_or_else(|| {
                GenesisError(format!(
                    "eligible_offset_kinds: {k:?} is not a credit kind (CCER, FORESTRY, \
                     BLUE_CARBON, PHCER)"
                ))
            })?;
        eligible_offset_kinds.push(kind as i32);
    }
    Ok(Genesis {
        eligible_offset_kinds,
        chain_id: f.chain_id,
        accounts,
        buffer_account_id: f.buffer_account,
        cluster_admin_key: key(&f.cluster_admin_key, "cluster_admin_key")?,
        public_aggregate_min: match f.public_aggregate_min {
            Some(0) => {
                return Err(GenesisError(
                    "public_aggregate_min must be at least 1 (leave it out for the default, 3)"
                        .into(),
                ))
            }
            Some(k) => k,
            None => 0,
        },
        safeguards: f.safeguards.map(|s| crate::v1::SafeguardSettings {
            enabled: s.enabled,
            transfer_delay_ms: s.transfer_delay_ms,
            trusted_list_delay_ms: s.trusted_list_delay_ms,
        }),
    })
}

pub fn load(path: &std::path::Path) -> Result<Genesis, GenesisError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| GenesisError(format!("{}: {e}", path.display())))?;
    parse_toml(&text).map_err(|e| GenesisError(format!("{}: {}", path.display(), e.0)))
}

/// The default of `Genesis.public_aggregate_min`.
pub const PUBLIC_AGGREGATE_MIN_DEFAULT: u32 = 3;

/// The fewest contracts a public aggregate of this registry may cover.
pub fn public_aggregate_min(g: &Genesis) -> u64 {
    u64::from(match g.public_aggregate_min {
        0 => PUBLIC_AGGREGATE_MIN_DEFAULT,
        k => k,
    })
}
