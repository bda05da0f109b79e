//! The checker: after the last fault is healed, compares the cluster with what the clients were
//! told. Each check yields a [`Check`] (name, passed, details); none panics, so that the report
//! always shows every result.

use super::answer::{self, Answer};
use super::workload::{
    account, channel, ClientLog, Fate, TxRecord, ACCOUNTS_PER_CLIENT, INITIAL_UNITS, VINTAGES,
};
use crate::{demo_key, repo_root, Cluster, CHAIN, REG};
use carbon_proto::v1::{
    CommittedTx, ErrorCode, GetChainHeadRequest, GetHoldingsRequest, Outcome, ReadConsistency,
    SubmitRequest, UnitKind, WatchRequest,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

fn check(name: &'static str, problems: Vec<String>, ok_detail: String) -> Check {
    let passed = problems.is_empty();
    let detail = if passed {
        ok_detail
    } else {
        let n = problems.len();
        let mut d: Vec<String> = problems.into_iter().take(5).collect();
        if n > 5 {
            d.push(format!("... and {} more", n - 5));
        }
        d.join("; ")
    };
    Check {
        name,
        passed,
        detail,
    }
}

/// How the transactions of unknown fate turned out.
#[derive(Debug, Default, Clone)]
pub struct Resolution {
    pub acked: usize,
    pub not_applied: usize,
    pub unknown_committed: usize,
    pub unknown_absent: usize,
}

/// Runs every check. Leaves the cluster stopped (the last checks audit the data directories).
pub async fn run(cluster: &mut Cluster, logs: &[ClientLog]) -> (Vec<Check>, Resolution) {
    let mut checks = Vec::new();
    let txs: Vec<&TxRecord> = logs.iter().flat_map(|l| l.txs.iter()).collect();
    let all: Vec<usize> = (0..cluster.nodes.len()).collect();

    let (heads, converged) = converge(cluster, &all, Duration::from_secs(90)).await;
    checks.push(check(
        "identical chain heads",
        if converged {
            vec![]
        } else {
            vec![format!("heads did not converge in 90 s: {heads:?}")]
        },
        format!(
            "every node at sequence {}",
            heads.first().map_or(0, |h| h.0)
        ),
    ));
    let want = heads.iter().map(|h| h.0).max().unwrap_or(0);

    let exports = export_all(cluster, want).await;
    checks.push(verify_exports(&exports).await);

    let index = index_of(&exports[0]);
    let (c, resolution) = compare_with_clients(&txs, &exports, &index);
    checks.extend(c);

    let model = model_balances(logs.len(), &txs, &index);
    checks.push(balances_on_every_node(cluster, &model).await);

    let violations: u64 = logs.iter().map(|l| l.ok_without_outcome).sum();
    checks.push(check(
        "no OK status without an outcome",
        if violations == 0 {
            vec![]
        } else {
            vec![format!("{violations} answers had status OK and no outcome")]
        },
        "none".into(),
    ));
    checks.push(resubmit_after_expiry(cluster, &txs).await);

    tokio::task::block_in_place(|| cluster.stop_all());
    checks.push(audit_data_dirs(cluster, heads.first().cloned()));
    (checks, resolution)
}

/// Waits (bounded) until every node reports the same chain head twice in a row (so that a
/// write still in flight is not missed); returns the heads seen last.
async fn converge(
    cluster: &Cluster,
    among: &[usize],
    within: Duration,
) -> (Vec<(u64, Vec<u8>)>, bool) {
    let deadline = Instant::now() + within;
    let mut previous = None;
    loop {
        let heads = heads(cluster, among).await;
        if heads.iter().all(|h| h == &heads[0]) && heads[0].0 > 0 {
            if previous.as_ref() == Some(&heads) {
                return (heads, true);
            }
            previous = Some(heads);
        } else {
            previous = None;
            if Instant::now() > deadline {
                return (heads, false);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn heads(cluster: &Cluster, among: &[usize]) -> Vec<(u64, Vec<u8>)> {
    let mut heads = Vec::new();
    for &i in among {
        let mut c = channel(&cluster.nodes[i].client_addr, Duration::from_secs(2));
        let req = GetChainHeadRequest {
            consistency: ReadConsistency::Local as i32,
        };
        heads.push(match c.get_chain_head(req).await {
            Ok(h) => {
                let h = h.into_inner();
                (h.sequence, h.chain_head)
            }
            Err(_) => (0, vec![]),
        });
    }
    heads
}

/// Every node's history, read through its Watch stream from sequence 1 to `want`.
async fn export_all(cluster: &Cluster, want: u64) -> Vec<Vec<CommittedTx>> {
    let mut out = Vec::new();
    for n in &cluster.nodes {
        let mut c = channel(&n.client_addr, Duration::from_secs(300));
        let mut txs = Vec::new();
        // The regulator's stream: every transaction whole, for the offline verification.
        let req = as_regulator(WatchRequest {
            from_sequence: 1,
            auth: None,
        });
        if let Ok(s) = c.watch(req).await {
            let mut s = s.into_inner();
            while (txs.len() as u64) < want {
                match tokio::time::timeout(Duration::from_secs(30), s.message()).await {
                    Ok(Ok(Some(t))) => txs.push(t),
                    _ => break,
                }
            }
        }
        out.push(txs);
    }
    out
}

/// Offline: every export verifies (ids, signatures, chain links), replays through the ledger
/// to the same outcomes with every invariant holding, and all exports are identical.
async fn verify_exports(exports: &[Vec<CommittedTx>]) -> Check {
    let genesis =
        carbon_node::genesis::load(&repo_root().join("seeds/genesis.toml")).expect("genesis");
    let mut problems = Vec::new();
    let mut handles = Vec::new();
    for (i, e) in exports.iter().enumerate() {
        let (g, e) = (genesis.clone(), e.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            use carbon_node::ledger::audit;
            audit::verify_chain(&g, &e).map_err(|err| format!("node {}: {err}", i + 1))?;
            let state = audit::replay(&g, &e).map_err(|err| format!("node {}: {err}", i + 1))?;
            audit::check_invariants(&state).map_err(|err| format!("node {}: {err}", i + 1))
        }));
    }
    for h in handles {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(e),
            Err(e) => problems.push(format!("verification task: {e}")),
        }
    }
    for (i, e) in exports.iter().enumerate().skip(1) {
        if e != &exports[0] {
            problems.push(format!(
                "node {}'s history ({} txs) differs from node 1's ({} txs)",
                i + 1,
                e.len(),
                exports[0].len()
            ));
        }
    }
    check(
        "offline verification of every node's export",
        problems,
        format!(
            "{} nodes x {} txs: chain, signatures, replay, invariants",
            exports.len(),
            exports[0].len()
        ),
    )
}

/// Chain position and outcome of every committed tx id of one history (and the ids seen twice).
struct Index {
    by_id: BTreeMap<Vec<u8>, Outcome>,
    duplicates: Vec<Vec<u8>>,
}

fn index_of(history: &[CommittedTx]) -> Index {
    let mut by_id = BTreeMap::new();
    let mut duplicates = Vec::new();
    for c in history {
        let o = c.outcome.clone().unwrap_or_default();
        if by_id.insert(o.tx_id.clone(), o.clone()).is_some() {
            duplicates.push(o.tx_id);
        }
    }
    Index { by_id, duplicates }
}

fn compare_with_clients(
    txs: &[&TxRecord],
    exports: &[Vec<CommittedTx>],
    index: &Index,
) -> (Vec<Check>, Resolution) {
    let others: Vec<Index> = exports.iter().skip(1).map(|e| index_of(e)).collect();
    let mut acked = Vec::new();
    let mut wrong = Vec::new();
    let mut r = Resolution::default();
    for t in txs {
        let short = hex::encode(&t.id[..6]);
        let committed = index.by_id.get(&t.id);
        match &t.fate {
            Fate::Committed(o) => {
                r.acked += 1;
                for (k, ix) in std::iter::once(index).chain(others.iter()).enumerate() {
                    if ix.by_id.get(&t.id) != Some(o) {
                        acked.push(format!("tx {short} acknowledged at sequence {} is missing or different on node {}", o.sequence, k + 1));
                    }
                }
            }
            Fate::NotApplied(code, msg) => {
                r.not_applied += 1;
                if let Some(o) = committed {
                    wrong.push(format!(
                        "tx {short} was answered {code:?} ({msg}) but is committed at sequence {}",
                        o.sequence
                    ));
                }
            }
            Fate::Unknown(_) => {
                if committed.is_some() {
                    r.unknown_committed += 1;
                } else {
                    r.unknown_absent += 1;
                }
            }
        }
    }
    let dups: Vec<String> = index
        .duplicates
        .iter()
        .map(|id| format!("tx {} is in the chain twice", hex::encode(&id[..6])))
        .collect();
    (
        vec![
            check(
                "every acknowledged tx on every node with the same outcome",
                acked,
                format!("{} acknowledged", r.acked),
            ),
            check(
                "every refused tx absent",
                wrong,
                format!("{} answered not applied", r.not_applied),
            ),
            check(
                "every unanswered tx committed once or absent",
                dups,
                format!(
                    "{} committed, {} absent",
                    r.unknown_committed, r.unknown_absent
                ),
            ),
        ],
        r,
    )
}

/// Balances the clients' records imply: every transfer committed with code OK moved its units
/// (an unanswered one counts as the chain resolved it).
fn model_balances(
    clients: usize,
    txs: &[&TxRecord],
    index: &Index,
) -> BTreeMap<(String, u32), i128> {
    let mut m = BTreeMap::new();
    for c in 0..clients {
        for k in 0..ACCOUNTS_PER_CLIENT {
            for &v in &VINTAGES {
                m.insert((account(c, k), v), INITIAL_UNITS as i128);
            }
        }
    }
    for t in txs {
        let ok = match &t.fate {
            Fate::Committed(o) => o.code() == ErrorCode::Ok,
            _ => index
                .by_id
                .get(&t.id)
                .is_some_and(|o| o.code() == ErrorCode::Ok),
        };
        if ok {
            *m.entry((t.from.clone(), t.vintage)).or_default() -= t.quantity as i128;
            *m.entry((t.to.clone(), t.vintage)).or_default() += t.quantity as i128;
        }
    }
    m
}

/// `req` with a read credential of the regulator (demo key) for exactly that request.
fn as_regulator<R: carbon_proto::read_auth::PrivateRead>(mut req: R) -> R {
    carbon_proto::read_auth::sign(
        &mut req,
        CHAIN,
        REG,
        &demo_key(REG),
        crate::now_ms() + 60_000,
    );
    req
}

/// Every node's holdings (local reads, as the regulator) match the model, and per unit class
/// the clients' accounts hold exactly what was allocated to them.
async fn balances_on_every_node(cluster: &Cluster, model: &BTreeMap<(String, u32), i128>) -> Check {
    let mut problems = Vec::new();
    let clients = model.len() / (ACCOUNTS_PER_CLIENT * VINTAGES.len());
    for n in &cluster.nodes {
        let mut c = channel(&n.client_addr, Duration::from_secs(5));
        let mut totals: BTreeMap<u32, i128> = BTreeMap::new();
        for ((acct, vintage), want) in model {
            let req = as_regulator(GetHoldingsRequest {
                account_id: acct.clone(),
                consistency: ReadConsistency::Local as i32,
                auth: None,
            });
            let got = match c.get_holdings(req).await {
                Ok(h) => h
                    .into_inner()
                    .balances
                    .iter()
                    .filter(|b| {
                        b.unit_class.as_ref().is_some_and(|u| {
                            u.kind == UnitKind::Cea as i32 && u.vintage == *vintage
                        })
                    })
                    .map(|b| (b.available + b.pledged + b.frozen) as i128)
                    .sum::<i128>(),
                Err(e) => {
                    problems.push(format!(
                        "node {}: holdings of {acct}: {}",
                        n.id,
                        e.message()
                    ));
                    continue;
                }
            };
            *totals.entry(*vintage).or_default() += got;
            if got != *want {
                problems.push(format!(
                    "node {}: {acct} holds {got} CEA-{vintage}, the clients' model says {want}",
                    n.id
                ));
            }
        }
        for (vintage, total) in totals {
            let allocated = (clients * ACCOUNTS_PER_CLIENT) as i128 * INITIAL_UNITS as i128;
            if total != allocated {
                problems.push(format!(
                    "node {}: CEA-{vintage} totals {total}, {allocated} were allocated",
                    n.id
                ));
            }
        }
    }
    check(
        "balances match the clients' model and units are conserved per class",
        problems,
        format!(
            "{} accounts x {} classes on {} nodes",
            model.len() / VINTAGES.len(),
            VINTAGES.len(),
            cluster.nodes.len()
        ),
    )
}

/// Acknowledged transactions whose validity has ended, submitted again: each must return its
/// first outcome.
async fn resubmit_after_expiry(cluster: &Cluster, txs: &[&TxRecord]) -> Check {
    let mut acked: Vec<&TxRecord> = txs
        .iter()
        .copied()
        .filter(|t| matches!(t.fate, Fate::Committed(_)))
        .collect();
    acked.sort_by_key(|t| t.valid_until_ms);
    let sample: Vec<&TxRecord> = acked.into_iter().take(20).collect();
    let Some(last) = sample.last() else {
        return check(
            "resubmission after expiry returns the first outcome",
            vec!["no acknowledged transaction to resubmit".into()],
            String::new(),
        );
    };
    // Bounded: validities are tens of seconds.
    let wait = last.valid_until_ms.saturating_sub(crate::now_ms()) + 1_000;
    tokio::time::sleep(Duration::from_millis(wait.min(120_000))).await;
    let mut problems = Vec::new();
    for (k, t) in sample.iter().enumerate() {
        let n = &cluster.nodes[k % cluster.nodes.len()];
        let mut c = channel(&n.client_addr, Duration::from_secs(10));
        let req = SubmitRequest {
            tx: Some(t.signed.clone()),
        };
        let first = match &t.fate {
            Fate::Committed(o) => o,
            _ => continue,
        };
        match answer::submit(c.submit(req).await) {
            Answer::Committed(o) if &o == first => {}
            other => problems.push(format!(
                "tx {} resubmitted to node {} after expiry: {other:?}",
                hex::encode(&t.id[..6]),
                n.id
            )),
        }
    }
    check(
        "resubmission after expiry returns the first outcome",
        problems,
        format!("{} expired transactions resubmitted", sample.len()),
    )
}

/// Offline audit of every stopped node's data directory: invariants, and the same chain head as
/// the live cluster reported.
fn audit_data_dirs(cluster: &Cluster, live: Option<(u64, Vec<u8>)>) -> Check {
    let mut problems = Vec::new();
    for n in &cluster.nodes {
        let dir = n.data_dir.clone();
        match std::panic::catch_unwind(|| crate::audit_data_dir(&dir)) {
            Ok(head) => {
                if Some(&head) != live.as_ref() {
                    problems.push(format!(
                        "node {}: data dir at sequence {}, the live cluster was at {:?}",
                        n.id,
                        head.0,
                        live.as_ref().map(|l| l.0)
                    ));
                }
            }
            Err(_) => problems.push(format!("node {}: the audit of its data dir failed", n.id)),
        }
    }
    check(
        "offline audit of every data directory",
        problems,
        format!("{} data dirs", cluster.nodes.len()),
    )
}
