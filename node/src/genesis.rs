//! Loading the genesis (format: `carbon_proto::genesis`) and validating it with the ledger's rules.

use carbon_proto::v1::Genesis;
use std::path::Path;

pub fn load(path: &Path) -> anyhow::Result<Genesis> {
    let g = carbon_proto::genesis::load(path)?;
    crate::ledger::genesis_writes(&g)
        .map_err(|e| anyhow::anyhow!("genesis {}: {}", path.display(), e.message))?;
    Ok(g)
}
