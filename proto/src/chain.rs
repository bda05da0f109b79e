//! The registry's hash chain, as anyone holding its history checks it offline.
//!
//! * `head_0 = blake3("carbon-registry/genesis/v1" || genesis)`
//! * `head_i = blake3("carbon-registry/link/v2" || head_{i-1} || ChainLink_i)`, where `ChainLink_i`
//!   is the protobuf encoding of the outcome's structured fields: tx id, log index, sequence,
//!   leader timestamp, error code, effects and ledger version. Never the free-text message: a
//!   reworded message in a new release must not fork the chain during a rolling upgrade.
//!
//! [`verify_chain`] checks every transaction id, every signature and every link. (Replaying the
//! rules themselves needs the ledger: `carbon_node::ledger::audit::replay`.)

use crate::v1::{ChainLink, CommittedTx, Genesis, Outcome};
use prost::Message;

/// The hash that starts the chain.
pub fn genesis_head(g: &Genesis) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"carbon-registry/genesis/v1");
    h.update(&g.encode_to_vec());
    *h.finalize().as_bytes()
}

/// Domain separation of a chain link.
const LINK_DOMAIN: &[u8] = b"carbon-registry/link/v2";

/// What the chain covers of an outcome: its structured fields, never its message.
pub fn link(outcome: &Outcome) -> ChainLink {
    ChainLink {
        tx_id: outcome.tx_id.clone(),
        log_index: outcome.log_index,
        sequence: outcome.sequence,
        timestamp_ms: outcome.timestamp_ms,
        code: outcome.code,
        effects: outcome.effects.clone(),
        ledger_version: outcome.ledger_version,
    }
}

/// The head after one more committed transaction (its outcome's `chain_head` is ignored).
pub fn next_head(previous: &[u8], outcome: &Outcome) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(LINK_DOMAIN);
    h.update(previous);
    h.update(&link(outcome).encode_to_vec());
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
        let v = match crate::signing::ledger_made(&genesis.chain_id, tx) {
            Some(v) => v,
            None => crate::signing::verify(&genesis.chain_id, tx.clone())
                .map_err(|e| fail(e.to_string()))?,
        };
        if o.tx_id != v.tx_id || o.sequence != i as u64 + 1 {
            return Err(fail("the outcome does not belong to this position".into()));
        }
        head = next_head(&head, o);
        if o.chain_head != head {
            return Err(fail("the chain head does not match".into()));
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Effects, ErrorCode, SerialRange};

    fn outcome() -> Outcome {
        Outcome {
            tx_id: vec![7; 32],
            log_index: 12,
            sequence: 3,
            timestamp_ms: 1_760_000_000_000,
            code: ErrorCode::InsufficientUnits as i32,
            message: "holds 5, needs 9".into(),
            effects: Some(Effects {
                moved: vec![SerialRange {
                    first: 10,
                    last: 20,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            chain_head: vec![1; 32],
            ledger_version: 1,
        }
    }

    #[test]
    fn rewording_a_message_does_not_move_the_head() {
        let o = outcome();
        let mut reworded = o.clone();
        reworded.message = "insufficient units: 5 held, 9 asked".into();
        reworded.chain_head = vec![9; 32];
        assert_eq!(next_head(&[0; 32], &o), next_head(&[0; 32], &reworded));
    }

    #[test]
    fn every_structured_field_moves_the_head() {
        let base = next_head(&[0; 32], &outcome());
        let changes: Vec<fn(&mut Outcome)> = vec![
            |o| o.tx_id[0] ^= 1,
            |o| o.log_index += 1,
            |o| o.sequence += 1,
            |o| o.timestamp_ms += 1,
            |o| o.code = ErrorCode::Ok as i32,
            |o| o.effects = None,
            |o| o.ledger_version += 1,
        ];
        for change in changes {
            let mut o = outcome();
            change(&mut o);
            assert_ne!(next_head(&[0; 32], &o), base);
        }
        assert_ne!(next_head(&[1; 32], &outcome()), base);
    }
}
