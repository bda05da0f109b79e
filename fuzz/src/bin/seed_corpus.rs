//! Writes a seed corpus for every target into `corpus/<target>/` (run by `run.sh`): valid
//! bodies of many operations, signed transactions, and peer messages carrying a batch.

use carbon_fuzz::*;
use carbon_node::raft::{encode, Batch};
use carbon_proto::peer::PeerMessage;
use carbon_proto::v1::{tx_body::Operation as O, *};
use prost::Message;
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), bytes).expect("seed");
}

fn main() {
    let mut bodies = setup_bodies();
    let n = bodies.len() as u64;
    let more: Vec<(Vec<&str>, O)> = vec![
        (vec!["E1"], O::Transfer(Transfer { from_account: "E1".into(), to_account: "E2".into(), unit_class: Some(cea(2025)), quantity: 10 })),
        (vec!["E1", "E2"], O::Trade(Trade { seller: "E1".into(), buyer: "E2".into(), unit_class: Some(cea(2025)), quantity: 5, price_fen: 9_000, exchange_ref: "X".into() })),
        (vec!["BANK"], O::ReleasePledge(ReleasePledge { pledge_id: 1, quantity: 100 })),
        (vec!["BANK"], O::EnforcePledge(EnforcePledge { pledge_id: 1 })),
        (vec![REG], O::Freeze(Freeze { account_id: "E2".into(), unit_class: Some(cea(2025)), quantity: 7, court_order_ref: "court".into() })),
        (vec![REG], O::Unfreeze(Unfreeze { freeze_id: 2, quantity: 7, court_order_ref: "court".into() })),
        (vec!["VER"], O::ReportEmissions(ReportEmissions { enterprise_id: "E1".into(), year: 2025, tonnes: 9_000 })),
        (vec!["E1"], O::Surrender(Surrender { enterprise_id: "E1".into(), year: 2025, unit_class: Some(cea(2025)), quantity: 100 })),
        (vec![REG], O::TrueUp(TrueUp { enterprise_id: "E2".into(), vintage: 2025, final_quantity: 500 })),
        (vec![REG], O::CloseComplianceYear(CloseComplianceYear { year: 2025, deadline_date: 20260101, penalty_multiplier: 5, fallback_price_fen: 8_000 })),
        (vec!["PO"], O::Cancel(Cancel { holder: "PO".into(), unit_class: Some(UnitClass { kind: UnitKind::Forestry as i32, vintage: 2025, project_id: PROJECT.into() }), quantity: 3, beneficiary: "b".into(), purpose: "p".into() })),
        (vec![REG], O::SuspendAccount(SuspendAccount { account_id: "IND".into(), reason: "r".into() })),
        (vec!["E2"], O::UpdateKeys(UpdateKeys { account_id: "E2".into(), public_keys: vec![key("E2b").verifying_key().to_bytes().to_vec()], threshold: 1 })),
        (vec![REG], O::CloseAccount(CloseAccount { account_id: "VER".into() })),
    ];
    for (i, (signers, op)) in more.into_iter().enumerate() {
        bodies.push(body(&signers, n + i as u64 + 1, op));
    }
    let encoded: Vec<Vec<u8>> = bodies.iter().map(|b| b.encode_to_vec()).collect();
    for (i, b) in encoded.iter().enumerate() {
        write("ledger_apply", &format!("one-{i}"), &frame(std::slice::from_ref(b)));
        write("signed_tx_ingress", &format!("body-{i}"), b);
        let signed = carbon_proto::signing::sign_body(&bodies[i], &[&key(REG)]);
        write("signed_tx_ingress", &format!("signed-{i}"), &signed.encode_to_vec());
    }
    let tail = encoded.len().saturating_sub(6);
    write("ledger_apply", "several", &frame(&encoded[tail..]));
    let batch = Batch {
        timestamp_ms: T0,
        txs: bodies
            .iter()
            .take(4)
            .map(|b| carbon_proto::signing::sign_body(b, &[&key(REG)]).encode_to_vec())
            .collect(),
    };
    let payload = encode(&batch).expect("postcard");
    write("peer_message", "batch", &payload);
    let msg = PeerMessage { from_node_id: 2, to_node_id: 1, payload };
    write("peer_message", "envelope", &msg.encode_to_vec());
    println!("seed corpus written to corpus/");
}
