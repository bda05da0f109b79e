//! What the fuzz targets exercise, shared with the regression tests: the fuzz targets call these
//! functions, and `node/tests/fuzz_regressions.rs` includes this file to replay every input that
//! once crashed (kept in `fuzz/regressions/<target>/`).
//!
//! * [`signed_tx_ingress`]: any bytes as a `SignedTx` through every ingress check, and as a
//!   `TxBody` through the body checks.
//! * [`ledger_apply`]: any bytes as a few transaction bodies applied, as one log entry, to a
//!   registry with a valid genesis, accounts, units, a project and a pledge; the ledger must not
//!   fault or panic, must answer every transaction, and every invariant must hold afterwards.
//! * [`peer_message`]: any bytes as a peer envelope and as each payload a peer may send
//!   (append, vote, snapshot chunk, batch), down to the signed transactions inside a batch.

use carbon_node::ledger::{self, audit, Ctx, MemState};
use carbon_node::raft::{decode, Batch, TypeConfig};
use carbon_node::write::checks as ingress;
use carbon_proto::peer::PeerMessage;
use carbon_proto::signing::tx_id;
use carbon_proto::v1::*;
use carbon_proto::VerifiedTx;
use ed25519_dalek::SigningKey;
use prost::Message;
use std::sync::OnceLock;

pub const CHAIN: &str = "zj-fuzz";
/// 2026-03-01T00:00:00+08:00: the ledger's clock for every fuzzed entry.
pub const T0: u64 = 1_772_294_400_000;
pub const REG: &str = "ZJ-REG";
pub const BUFFER: &str = "ZJ-BUFFER";
/// Accounts of the fuzzed registry besides the genesis ones, with their roles.
pub const ACCOUNTS: [(&str, Role); 6] = [
    ("E1", Role::Enterprise),
    ("E2", Role::Enterprise),
    ("BANK", Role::Bank),
    ("VER", Role::Verifier),
    ("PO", Role::ProjectOwner),
    ("IND", Role::Individual),
];
pub const PROJECT: &str = "P1";

pub fn key(name: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(name.as_bytes()).as_bytes())
}

fn pk(name: &str) -> Vec<u8> {
    key(name).verifying_key().to_bytes().to_vec()
}

pub fn signed_tx_ingress(data: &[u8]) {
    if let Ok(tx) = SignedTx::decode(data) {
        if let Ok((tx, _id)) = ingress::admit(Some(tx)) {
            let results = ingress::verify_all(CHAIN, vec![tx]);
            assert_eq!(results.len(), 1);
            if let Some(Ok(v)) = results.first() {
                let _ = ingress::is_expired(v, T0);
            }
        }
    }
    if let Ok(body) = TxBody::decode(data) {
        let _ = ingress::check_body(&body);
    }
}

pub fn peer_message(data: &[u8]) {
    use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
    let envelope = PeerMessage::decode(data).ok();
    let payloads = [Some(data), envelope.as_ref().map(|m| m.payload.as_slice())];
    for payload in payloads.into_iter().flatten() {
        if let Ok(r) = decode::<AppendEntriesRequest<TypeConfig>>(payload) {
            for e in r.entries {
                if let openraft::EntryPayload::Normal(b) = e.payload {
                    batch_txs(&b);
                }
            }
        }
        let _ = decode::<VoteRequest<u64>>(payload);
        let _ = decode::<InstallSnapshotRequest<TypeConfig>>(payload);
        if let Ok(b) = decode::<Batch>(payload) {
            batch_txs(&b);
        }
    }
}

fn batch_txs(b: &Batch) {
    for t in &b.txs {
        if let Ok(s) = SignedTx::decode(t.as_ref()) {
            let _ = VerifiedTx::from_verified_log(s);
        }
    }
}

/// The fuzzed registry's starting state and every key its accounts use.
pub struct Base {
    pub state: MemState,
    pub keys: Vec<[u8; 32]>,
}

fn genesis() -> Genesis {
    let regulator = |id: &str| Account {
        account_id: id.into(),
        role: Role::Regulator as i32,
        name: id.into(),
        region: "浙江省".into(),
        public_keys: vec![pk(id)],
        threshold: 1,
        status: AccountStatus::Open as i32,
        outstanding_shortfall: 0,
        platform_id: String::new(),
        custodial: false,
    };
    Genesis {
        chain_id: CHAIN.into(),
        accounts: vec![regulator(REG), regulator(BUFFER)],
        buffer_account_id: BUFFER.into(),
        cluster_admin_key: pk("admin"),
        public_aggregate_min: 0,
        safeguards: None,
        eligible_offset_kinds: Vec::new(),
    }
}

/// A transaction as the ledger receives it, "signed" by every key of the registry (the
/// fuzzer explores the rules, not ed25519): the chain id and expiry are made valid.
pub fn verified(mut body: TxBody, keys: &[[u8; 32]]) -> VerifiedTx {
    body.chain_id = CHAIN.into();
    body.valid_until_ms = u64::MAX;
    let bytes = body.encode_to_vec();
    VerifiedTx {
        tx_id: tx_id(&bytes),
        body,
        signed: SignedTx {
            body: bytes,
            signatures: Vec::new(),
        },
        signer_keys: keys.to_vec(),
    }
}

pub fn body(signers: &[&str], nonce: u64, op: tx_body::Operation) -> TxBody {
    TxBody {
        chain_id: CHAIN.into(),
        signers: signers.iter().map(|s| s.to_string()).collect(),
        valid_until_ms: u64::MAX,
        nonce,
        memo: String::new(),
        operation: Some(op),
    }
}

pub fn cea(vintage: u32) -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage,
        project_id: String::new(),
    }
}

/// The transactions that build the base registry (also seeds of the corpus).
pub fn setup_bodies() -> Vec<TxBody> {
    use tx_body::Operation as O;
    let mut out = Vec::new();
    let mut n = 0;
    let mut push = |signers: &[&str], op: O| {
        n += 1;
        out.push(body(signers, n, op));
    };
    for (id, role) in ACCOUNTS {
        push(
            &[REG],
            O::OpenAccount(OpenAccount {
                account_id: id.into(),
                role: role as i32,
                name: id.into(),
                region: "杭州市".into(),
                public_keys: vec![pk(id)],
                threshold: 1,
            }),
        );
    }
    push(
        &[REG],
        O::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 1_000_000,
        }),
    );
    for e in ["E1", "E2"] {
        push(
            &[REG],
            O::Allocate(Allocate {
                enterprise_id: e.into(),
                vintage: 2025,
                quantity: 10_000,
            }),
        );
    }
    push(
        &["PO"],
        O::ProposeProject(ProposeProject {
            project_id: PROJECT.into(),
            owner_id: "PO".into(),
            kind: UnitKind::Forestry as i32,
            name: "林业碳汇".into(),
            methodology: "CCER-14-001-V01".into(),
            region: "丽水市".into(),
            crediting_start_year: 2024,
            crediting_end_year: 2030,
        }),
    );
    push(
        &[REG],
        O::ApproveProject(ApproveProject {
            project_id: PROJECT.into(),
            buffer_share_bp: 1_000,
        }),
    );
    push(
        &[REG],
        O::IssueCredits(IssueCredits {
            project_id: PROJECT.into(),
            monitoring_year: 2025,
            quantity: 5_000,
        }),
    );
    push(
        &["E1", "BANK"],
        O::Pledge(Pledge {
            pledgor: "E1".into(),
            pledgee: "BANK".into(),
            unit_class: Some(cea(2025)),
            quantity: 2_000,
            secured_amount_fen: 100_000_000,
            maturity_date: 20271231,
            contract_ref: "C-1".into(),
        }),
    );
    out
}

pub fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let g = genesis();
        let mut state = MemState::default();
        state.apply(ledger::genesis_writes(&g).expect("genesis"));
        let mut keys: Vec<[u8; 32]> = [REG, BUFFER]
            .iter()
            .chain(ACCOUNTS.iter().map(|(id, _)| id))
            .map(|n| key(n).verifying_key().to_bytes())
            .collect();
        keys.sort_unstable();
        let txs: Vec<VerifiedTx> = setup_bodies()
            .into_iter()
            .map(|b| verified(b, &keys))
            .collect();
        let ctx = Ctx {
            log_index: 1,
            timestamp_ms: T0,
            ledger_version: ledger::VERSION,
        };
        let applied = ledger::apply_entry(&state, ctx, &txs).expect("setup applies");
        for o in &applied.outcomes {
            assert_eq!(o.code(), ErrorCode::Ok, "setup: {}", o.message);
        }
        state.apply(applied.writes);
        Base { state, keys }
    })
}

/// Most bodies one fuzz input is split into (one log entry).
pub const BODIES_MAX: usize = 8;

/// Splits an input into bodies: each is a little-endian u16 length and that many bytes.
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < BODIES_MAX && rest.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let n = n.min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Frames bodies the way [`split`] reads them (for the seed corpus).
pub fn frame(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in bodies {
        let n = u16::try_from(b.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&b[..usize::from(n)]);
    }
    out
}

pub fn ledger_apply(data: &[u8]) {
    let base = base();
    let txs: Vec<VerifiedTx> = split(data)
        .into_iter()
        .filter_map(|b| TxBody::decode(b).ok())
        .map(|b| verified(b, &base.keys))
        .collect();
    let mut state = base.state.clone();
    let ctx = Ctx {
        log_index: 2,
        timestamp_ms: T0,
        ledger_version: ledger::VERSION,
    };
    let applied = ledger::apply_entry(&state, ctx, &txs).expect("the ledger never faults on input");
    assert_eq!(applied.outcomes.len(), txs.len());
    state.apply(applied.writes);
    if let Err(e) = audit::check_invariants(&state) {
        panic!("an invariant broke: {e}");
    }
}

/// Seed inputs of every target: (target, name, bytes). Valid bodies of most operations, signed
/// transactions, a batch and a peer envelope. `node/tests/fuzz_regressions.rs` replays them and
/// writes them to `fuzz/seeds/` when `FUZZ_SEEDS_WRITE` is set.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use carbon_node::raft::encode;
    use tx_body::Operation as O;
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();

    let mut bodies = setup_bodies();
    let n = bodies.len() as u64;
    let more: Vec<(Vec<&str>, O)> = vec![
        (
            vec!["E1"],
            O::Transfer(Transfer {
                from_account: "E1".into(),
                to_account: "E2".into(),
                unit_class: Some(cea(2025)),
                quantity: 10,
            }),
        ),
        (
            vec!["E1", "E2"],
            O::Trade(Trade {
                seller: "E1".into(),
                buyer: "E2".into(),
                unit_class: Some(cea(2025)),
                quantity: 5,
                price_fen: 9_000,
                exchange_ref: "X".into(),
            }),
        ),
        (
            vec!["BANK"],
            O::ReleasePledge(ReleasePledge {
                pledge_id: 1,
                quantity: 100,
            }),
        ),
        (
            vec!["BANK"],
            O::EnforcePledge(EnforcePledge { pledge_id: 1 }),
        ),
        (
            vec![REG],
            O::Freeze(Freeze {
                account_id: "E2".into(),
                unit_class: Some(cea(2025)),
                quantity: 7,
                court_order_ref: "court".into(),
            }),
        ),
        (
            vec![REG],
            O::Unfreeze(Unfreeze {
                freeze_id: 2,
                quantity: 7,
                court_order_ref: "court".into(),
            }),
        ),
        (
            vec!["VER"],
            O::ReportEmissions(ReportEmissions {
                enterprise_id: "E1".into(),
                year: 2025,
                tonnes: 9_000,
            }),
        ),
        (
            vec!["E1"],
            O::Surrender(Surrender {
                enterprise_id: "E1".into(),
                year: 2025,
                unit_class: Some(cea(2025)),
                quantity: 100,
            }),
        ),
        (
            vec![REG],
            O::TrueUp(TrueUp {
                enterprise_id: "E2".into(),
                vintage: 2025,
                final_quantity: 500,
            }),
        ),
        (
            vec![REG],
            O::CloseComplianceYear(CloseComplianceYear {
                year: 2025,
                deadline_date: 20260101,
                penalty_multiplier: 5,
                fallback_price_fen: 8_000,
            }),
        ),
        (
            vec!["PO"],
            O::Cancel(Cancel {
                holder: "PO".into(),
                unit_class: Some(UnitClass {
                    kind: UnitKind::Forestry as i32,
                    vintage: 2025,
                    project_id: PROJECT.into(),
                }),
                quantity: 3,
                beneficiary: "b".into(),
                purpose: "p".into(),
                ..Default::default()
            }),
        ),
        (
            vec![REG],
            O::SuspendAccount(SuspendAccount {
                account_id: "IND".into(),
                reason: "r".into(),
            }),
        ),
        (
            vec!["E2"],
            O::UpdateKeys(UpdateKeys {
                account_id: "E2".into(),
                public_keys: vec![key("E2b").verifying_key().to_bytes().to_vec()],
                threshold: 1,
            }),
        ),
        (
            vec![REG],
            O::CloseAccount(CloseAccount {
                account_id: "VER".into(),
            }),
        ),
    ];
    for (i, (signers, op)) in more.into_iter().enumerate() {
        bodies.push(body(&signers, n + i as u64 + 1, op));
    }
    let encoded: Vec<Vec<u8>> = bodies.iter().map(|b| b.encode_to_vec()).collect();
    for (i, b) in encoded.iter().enumerate() {
        out.push((
            "ledger_apply",
            format!("one-{i}"),
            frame(std::slice::from_ref(b)),
        ));
        out.push(("signed_tx_ingress", format!("body-{i}"), b.clone()));
        let signed = carbon_proto::signing::sign_body(&bodies[i], &[&key(REG)]);
        out.push((
            "signed_tx_ingress",
            format!("signed-{i}"),
            signed.encode_to_vec(),
        ));
    }
    let tail = encoded.len().saturating_sub(6);
    out.push(("ledger_apply", "several".into(), frame(&encoded[tail..])));
    let batch = Batch {
        timestamp_ms: T0,
        ledger_version: carbon_node::ledger::VERSION,
        txs: bodies
            .iter()
            .take(4)
            .map(|b| {
                carbon_proto::signing::sign_body(b, &[&key(REG)])
                    .encode_to_vec()
                    .into()
            })
            .collect(),
    };
    let payload = encode(&batch).expect("postcard");
    out.push(("peer_message", "batch".into(), payload.clone()));
    let msg = PeerMessage {
        from_node_id: 2,
        to_node_id: 1,
        payload,
    };
    out.push(("peer_message", "envelope".into(), msg.encode_to_vec()));
    out
}
