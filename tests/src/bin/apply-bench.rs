//! Apply benchmark: the state machine alone, in process — what every replica spends applying
//! committed entries of transfers (ledger + sled), without consensus, network or signatures.
//! Prints figures; asserts nothing about speed.
//!
//! `cargo run --release -p carbon-tests --bin apply-bench -- [accounts] [transfers] [txs per entry]`
//! (defaults 10000 50000 500). Set `HOT=1` for one sender to one receiver.

use carbon_node::raft::{Batch, Entry, LogId};
use carbon_node::storage;
use carbon_proto::v1::{
    tx_body::Operation, Allocate, DeclareVintage, ErrorCode, Role, SignedTx, Transfer, UnitClass,
    UnitKind,
};
use carbon_tests::*;
use openraft::{CommittedLeaderId, EntryPayload};
use prost::Message;
use std::time::Instant;

/// The node's allocator (node/src/main.rs), so that the figures are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SOURCE: &str = "BENCH-SOURCE";

fn cea() -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: 2025,
        project_id: String::new(),
    }
}

fn account(i: usize) -> String {
    format!("BENCH-{i:07}")
}

fn transfer(from: &str, to: &str, q: u64) -> SignedTx {
    let op = Operation::Transfer(Transfer {
        from_account: from.into(),
        to_account: to.into(),
        unit_class: Some(cea()),
        quantity: q,
    });
    sign(&body(&[from], op), &[&test_key(from)])
}

fn reg(op: Operation) -> SignedTx {
    sign(&body(&[REG], op), &[&demo_key(REG)])
}

/// Per-process CPU seconds and bytes written so far.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let written = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    ((ticks(11) + ticks(12)) / 100.0, written)
}

struct Applier {
    state: storage::StateMachine,
    index: u64,
}

impl Applier {
    fn apply(&mut self, txs: &[SignedTx]) {
        self.index += 1;
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), self.index),
            payload: EntryPayload::Normal(Batch {
                timestamp_ms: now_ms(),
                ledger_version: carbon_node::ledger::VERSION,
                txs: txs.iter().map(|t| t.encode_to_vec().into()).collect(),
            }),
        };
        let applied =
            (self.index > 1).then(|| LogId::new(CommittedLeaderId::new(1, 1), self.index - 1));
        let r = storage::apply::apply(&self.state.view(), applied, entry).expect("applies");
        for o in &r.response.outcomes {
            assert_eq!(o.code(), ErrorCode::Ok, "{}", o.message);
        }
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let accounts = args.first().copied().unwrap_or(10_000);
    let n = args.get(1).copied().unwrap_or(50_000);
    let per_entry = args.get(2).copied().unwrap_or(500);
    let hot = std::env::var_os("HOT").is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    let genesis =
        carbon_node::genesis::load(&repo_root().join("seeds/genesis.toml")).expect("genesis");
    let (_log, state) = storage::open(dir.path(), &genesis).expect("opens");
    let mut a = Applier { state, index: 0 };
    let t0 = Instant::now();
    let mut setup = vec![
        reg(open_account_op(SOURCE, Role::Enterprise)),
        reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 1 << 40,
        })),
        reg(Operation::Allocate(Allocate {
            enterprise_id: SOURCE.into(),
            vintage: 2025,
            quantity: 1 << 36,
        })),
    ];
    setup.extend((0..accounts).map(|i| reg(open_account_op(&account(i), Role::Enterprise))));
    for chunk in setup.chunks(per_entry) {
        a.apply(chunk);
    }
    let fund: Vec<SignedTx> = (0..accounts)
        .map(|i| transfer(SOURCE, &account(i), 1_000_000))
        .collect();
    for chunk in fund.chunks(per_entry) {
        a.apply(chunk);
    }
    println!(
        "setup: {accounts} accounts opened and funded in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let mut rng = fastrand::Rng::with_seed(7);
    let txs: Vec<SignedTx> = (0..n)
        .map(|_| {
            if hot {
                return transfer(&account(0), &account(1), 1);
            }
            let from = rng.usize(..accounts);
            let to = (from + 1 + rng.usize(..accounts - 1)) % accounts;
            transfer(&account(from), &account(to), 1 + rng.u64(..5))
        })
        .collect();
    let (cpu0, w0) = usage();
    let t0 = Instant::now();
    for chunk in txs.chunks(per_entry) {
        a.apply(chunk);
    }
    a.state.flush().expect("flush");
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, w1) = usage();
    println!(
        "apply: {n} transfers ({} per entry, {}): {:.1} us/tx wall, {:.1} us/tx cpu, {} B written/tx, {} hot records",
        per_entry,
        if hot { "one sender" } else { "uniform random" },
        wall * 1e6 / n as f64,
        (cpu1 - cpu0) * 1e6 / n as f64,
        (w1 - w0) / n as u64,
        a.state.view().hot_records(),
    );
}
