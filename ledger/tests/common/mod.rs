//! A registry in memory for tests: genesis, deterministic demo keys, signing, applying entries
//! through the real ledger, and checking the invariants after every entry.
#![allow(dead_code)]

use carbon_ledger::{self as ledger, audit, queries, Ctx, MemState};
use carbon_proto::signing::sign_body;
use carbon_proto::v1::{
    tx_body::Operation, Account, AccountStatus, Effects, ErrorCode, Genesis, OpenAccount, Outcome,
    Role, SafeguardSettings, SignedTx, TxBody, TxRecord, UnitClass, UnitKind,
};
use carbon_proto::VerifiedTx;
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;

pub const CHAIN: &str = "zj-test";
pub const REG: &str = "ZJ-REG";
pub const BUFFER: &str = "ZJ-BUFFER";
/// 2026-03-01T00:00:00+08:00
pub const T0: u64 = 1_772_294_400_000;

pub fn key(name: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(name.as_bytes()).as_bytes())
}

pub fn pk(name: &str) -> Vec<u8> {
    key(name).verifying_key().to_bytes().to_vec()
}

pub fn cea(vintage: u32) -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage,
        project_id: String::new(),
    }
}

pub fn credit(kind: UnitKind, vintage: u32, project: &str) -> UnitClass {
    UnitClass {
        kind: kind as i32,
        vintage,
        project_id: project.into(),
    }
}

pub fn genesis() -> Genesis {
    let regulator = |id: &str, name: &str| Account {
        account_id: id.into(),
        role: Role::Regulator as i32,
        name: name.into(),
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
        accounts: vec![
            regulator(REG, "浙江省生态环境厅"),
            regulator(BUFFER, "缓冲账户"),
        ],
        buffer_account_id: BUFFER.into(),
        cluster_admin_key: pk("admin"),
        public_aggregate_min: 0,
        safeguards: None,
        eligible_offset_kinds: Vec::new(),
    }
}

/// Rule 15's delays in the test genesis with safeguards: a transfer waits 100 s of ledger time
/// (100 entries of `Reg::apply`), a trusted-list addition or a limit raise 200 s.
pub const TEST_TRANSFER_DELAY_MS: u64 = 100_000;
pub const TEST_LIST_DELAY_MS: u64 = 200_000;

pub fn genesis_with_safeguards() -> Genesis {
    Genesis {
        safeguards: Some(SafeguardSettings {
            enabled: true,
            transfer_delay_ms: TEST_TRANSFER_DELAY_MS,
            trusted_list_delay_ms: TEST_LIST_DELAY_MS,
        }),
        ..genesis()
    }
}

#[derive(Clone)]
pub struct Reg {
    pub state: MemState,
    pub genesis: Genesis,
    pub now: u64,
    pub index: u64,
    nonce: u64,
    /// The ledger version entries are applied with (default: this build's newest).
    pub version: u32,
    /// Which key names sign for an account (default: the account's own name).
    pub signers: BTreeMap<String, Vec<String>>,
    /// The records the last entry committed (the ledger's own executions included).
    pub records: Vec<TxRecord>,
}

/// State without the bookkeeping every transaction writes (tx records, chain index, history,
/// chain state): what a rejected transaction must leave untouched.
pub fn ledger_state(s: &MemState) -> BTreeMap<Vec<u8>, Vec<u8>> {
    s.map
        .iter()
        .filter(|(k, _)| !matches!(k.first(), Some(b'T' | b'Q' | b'X' | b'x' | b'Z')))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Default for Reg {
    fn default() -> Self {
        Self::new()
    }
}

impl Reg {
    pub fn new() -> Self {
        Self::with_genesis(genesis())
    }

    /// A registry whose genesis enables rule 15's safeguards (`genesis_with_safeguards`).
    pub fn with_safeguards() -> Self {
        Self::with_genesis(genesis_with_safeguards())
    }

    pub fn with_genesis(genesis: Genesis) -> Self {
        let mut state = MemState::default();
        state.apply(ledger::genesis_writes(&genesis).expect("genesis is valid"));
        Reg {
            state,
            genesis,
            now: T0,
            index: 1,
            nonce: 0,
            version: ledger::VERSION,
            signers: BTreeMap::new(),
            records: Vec::new(),
        }
    }

    pub fn body(&mut self, signers: &[&str], op: Operation) -> TxBody {
        self.nonce += 1;
        TxBody {
            chain_id: CHAIN.into(),
            signers: signers.iter().map(|s| s.to_string()).collect(),
            valid_until_ms: self.now + 3_600_000,
            nonce: self.nonce,
            memo: String::new(),
            operation: Some(op),
        }
    }

    /// Signs with the keys registered for each signer (its own name by default).
    pub fn sign(&self, body: &TxBody) -> SignedTx {
        let mut keys = Vec::new();
        for s in &body.signers {
            match self.signers.get(s) {
                Some(names) => keys.extend(names.iter().map(|n| key(n))),
                None => keys.push(key(s)),
            }
        }
        let refs: Vec<&SigningKey> = keys.iter().collect();
        sign_body(body, &refs)
    }

    /// Applies signed transactions as one log entry; checks the invariants afterwards.
    pub fn apply(&mut self, txs: Vec<SignedTx>) -> Vec<Outcome> {
        let verified: Vec<VerifiedTx> = txs
            .into_iter()
            .map(|t| carbon_proto::signing::verify(CHAIN, t).expect("test txs verify"))
            .collect();
        let ctx = Ctx {
            log_index: self.index,
            timestamp_ms: self.now,
            ledger_version: self.version,
        };
        let applied = ledger::apply_entry(&self.state, ctx, &verified).expect("no storage fault");
        self.state.apply(applied.writes);
        self.records = applied.records;
        self.index += 1;
        self.now += 1_000;
        if let Err(e) = audit::check_invariants(&self.state) {
            panic!("invariant broken after entry {}: {e}", self.index - 1);
        }
        applied.outcomes
    }

    pub fn submit(&mut self, signers: &[&str], op: Operation) -> Outcome {
        let body = self.body(signers, op);
        let tx = self.sign(&body);
        self.apply(vec![tx]).remove(0)
    }

    /// Submits and asserts success; returns the effects.
    #[track_caller]
    pub fn ok(&mut self, signers: &[&str], op: Operation) -> Effects {
        let o = self.submit(signers, op);
        assert_eq!(
            o.code(),
            ErrorCode::Ok,
            "expected success, got {:?}: {}",
            o.code(),
            o.message
        );
        o.effects.unwrap_or_default()
    }

    /// Submits and asserts the rejection code, and that nothing but bookkeeping changed.
    #[track_caller]
    pub fn rejects(&mut self, signers: &[&str], op: Operation, code: ErrorCode) -> String {
        let before = ledger_state(&self.state);
        let counters = self.counters();
        let o = self.submit(signers, op);
        assert_eq!(
            o.code(),
            code,
            "expected {code:?}, got {:?}: {}",
            o.code(),
            o.message
        );
        assert!(!o.message.is_empty(), "a rejection explains itself");
        assert_eq!(
            ledger_state(&self.state),
            before,
            "a rejected tx changed state"
        );
        assert_eq!(self.counters(), counters, "a rejected tx consumed an id");
        o.message
    }

    pub fn open(&mut self, id: &str, role: Role) {
        self.ok(
            &[REG],
            Operation::OpenAccount(OpenAccount {
                account_id: id.into(),
                role: role as i32,
                name: format!("{id} 测试"),
                region: "杭州市".into(),
                public_keys: vec![pk(id)],
                threshold: 1,
            }),
        );
    }

    pub fn account(&self, id: &str) -> Account {
        queries::account(&self.state, id)
            .expect("read")
            .expect("account exists")
    }

    /// (available, pledged, frozen) of a class.
    pub fn balance(&self, id: &str, class: &UnitClass) -> (u64, u64, u64) {
        let (balances, _) = queries::holdings(&self.state, id).expect("read");
        balances
            .into_iter()
            .find(|b| b.unit_class.as_ref() == Some(class))
            .map_or((0, 0, 0), |b| (b.available, b.pledged, b.frozen))
    }

    pub fn available(&self, id: &str, class: &UnitClass) -> u64 {
        self.balance(id, class).0
    }

    /// The id counters of the chain state (encumbrances, cancellations).
    pub fn counters(&self) -> (u64, u64) {
        let c = queries::chain(&self.state).expect("read").expect("chain");
        (c.next_encumbrance_id, c.next_cancellation_id)
    }

    pub fn head(&self) -> Vec<u8> {
        queries::chain(&self.state)
            .expect("read")
            .expect("chain")
            .head
    }
}
