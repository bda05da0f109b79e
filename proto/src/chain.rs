//! The registry's hash chain, as anyone holding its history checks it offline.
//!
//! * `head_0 = blake3("carbon-registry/genesis/v1" || genesis)`
//! * `head_i = blake3(head_{i-1} || tx_id_i || outcome_i encoded with chain_head empty)`
//!
//! [`verify_chain`] checks every transaction id, every signature and every link. (Replaying the
//! rules themselves needs the ledger: `carbon_node::ledger::audit::replay`.)

use crate::v1::{CommittedTx, Genesis, Outcome};
use prost::Message;

/// The hash that starts the chain.
pub fn genesis_head(g: &Genesis) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"carbon-registry/genesis/v1");
    h.update(&g.encode_to_vec());
    *h.finalize().as_bytes()
}

/// The head after one more committed transaction.
pub fn next_head(previous: &[u8], tx_id: &[u8], outcome: &Outcome) -> [u8; 32] {
    let mut o = outcome.clone();
    o.chain_head.clear();
    let mut h = blake3::Hasher::new();
    h.update(previous);
    h.update(tx_id);
    h.update(&o.encode_to_vec());
    *h.finalize().as_bytes()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("history entry {position}: {reason}")]
pub struct ChainError {
    pub position: usize,
    pub reason: String,
}

/// Verifies a history from genesis (entries in chain order, starting at sequence 1); returns the
/// head.
pub fn verify_chain(genesis: &Genesis, history: &[CommittedTx]) -> Result<[u8; 32], ChainError> {
    let mut head = genesis_head(genesis);
    for (i, c) in history.iter().enumerate() {
        let fail = |reason: String| ChainError {
            position: i + 1,
            reason,
        };
        let (Some(tx), Some(o)) = (&c.tx, &c.outcome) else {
            return Err(fail("lacks its transaction or outcome".into()));
        };
        let v = crate::signing::verify(&genesis.chain_id, tx.clone())
            .map_err(|e| fail(e.to_string()))?;
        if o.tx_id != v.tx_id || o.sequence != i as u64 + 1 {
            return Err(fail("the outcome does not belong to this position".into()));
        }
        head = next_head(&head, &v.tx_id, o);
        if o.chain_head != head {
            return Err(fail("the chain head does not match".into()));
        }
    }
    Ok(head)
}
