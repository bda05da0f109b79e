//! Crash at every step: for each crash point of node/src/crash.rs, a three-member cluster under a
//! stream of writes has a member abort there (as kill -9 or a power cut would stop it), restarts
//! it without the crash point, and checks that it comes back, converges with the others (same
//! chain head), that every acknowledged write is there, and that every data dir audits clean.
//!
//! How each point is reached: appends, applies and votes happen as soon as the member follows a
//! leader; snapshot builds and purges every `SNAPSHOT_LOGS` entries; installs when the member
//! starts late, after the others purged the entries it misses; truncation when a leader cut off
//! from the others appended entries that the new leader overwrites (partition proxies).

use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    tx_body::Operation, Allocate, DeclareVintage, ErrorCode, GetTransactionRequest, Outcome,
    ReadConsistency, Role, SignedTx, Transfer, UnitClass, UnitKind,
};
use carbon_tests::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const SNAPSHOT_LOGS: u64 = 20;
const LOGS_TO_KEEP: u64 = 5;
const SENDER: &str = "ZJ-CRASH-A";
const SINK: &str = "ZJ-CRASH-B";

fn reg(op: Operation) -> SignedTx {
    sign(&body(&[REG], op), &[&demo_key(REG)])
}

fn transfer() -> SignedTx {
    let op = Operation::Transfer(Transfer {
        from_account: SENDER.into(),
        to_account: SINK.into(),
        unit_class: Some(UnitClass {
            kind: UnitKind::Cea as i32,
            vintage: 2025,
            project_id: String::new(),
        }),
        quantity: 1,
    });
    sign(&body(&[SENDER], op), &[&test_key(SENDER)])
}

async fn setup(c: &mut RegistryClient<Channel>) {
    for t in [
        reg(open_account_op(SENDER, Role::Enterprise)),
        reg(open_account_op(SINK, Role::Enterprise)),
        reg(Operation::DeclareVintage(DeclareVintage {
            vintage: 2025,
            cap: 10_000_000,
        })),
        reg(Operation::Allocate(Allocate {
            enterprise_id: SENDER.into(),
            vintage: 2025,
            quantity: 1_000_000,
        })),
    ] {
        assert_eq!(submit(c, t).await.code(), ErrorCode::Ok);
    }
}

/// Writes one transfer after another to the given endpoints (any that answers), one entry each,
/// until stopped; keeps every acknowledged outcome.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Outcome>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(endpoints: Vec<String>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), acked.clone());
        let task = tokio::spawn(async move {
            let mut i = 0usize;
            while !s.load(Ordering::Relaxed) {
                i += 1;
                let Ok(mut c) = try_connect(&endpoints[i % endpoints.len()]).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let tx = transfer();
                // Retry the same bytes a few times; give up on it when the fate stays unknown.
                for _ in 0..3 {
                    match submit(&mut c, tx.clone()).await {
                        Submitted::Outcome(o) => {
                            a.lock().expect("lock").push(o);
                            break;
                        }
                        Submitted::Error(..) => {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                    }
                }
            }
        });
        Load { stop, acked, task }
    }

    async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        let acked = self.acked.lock().expect("lock").clone();
        acked
    }

    fn count(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }
}

/// Waits (bounded) for member `i` to end; returns its log.
async fn wait_for_crash(cluster: &mut Cluster, i: usize, point: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = cluster.exit_status(i) {
            assert!(!status.success(), "{point}: the member exited cleanly");
            let log = cluster.log_of(i);
            assert!(
                log.contains(&format!("crash point {point} reached")),
                "{point}: the member ended for another reason:\n{}",
                tail(&log)
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{point}: the member never reached its crash point:\n{}",
        tail(&cluster.log_of(i))
    );
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Checks that every acknowledged outcome is on the node, as acknowledged.
async fn all_acked_present(c: &mut RegistryClient<Channel>, acked: &[Outcome], point: &str) {
    for o in acked {
        // As the regulator: a private transaction is whole only for its parties and the regulator.
        let mut req = GetTransactionRequest {
            tx_id: o.tx_id.clone(),
            consistency: ReadConsistency::Local as i32,
            auth: None,
        };
        carbon_proto::read_auth::sign(&mut req, CHAIN, REG, &demo_key(REG), now_ms() + 60_000);
        let t = c
            .get_transaction(req)
            .await
            .unwrap_or_else(|e| panic!("{point}: acknowledged tx lost: {e}"))
            .into_inner();
        assert_eq!(
            t.transaction.and_then(|t| t.outcome).as_ref(),
            Some(o),
            "{point}: acknowledged outcome changed"
        );
    }
}

/// The whole scenario for one crash point; `victim` is the member that carries it.
async fn crash_and_recover(point: &str) {
    let late = point.starts_with("install-");
    let truncate = point == "wal-truncate-before-sync";
    let victim = 2;
    let armed = format!("{point}=return");
    let mut spec = Spec {
        snapshot_logs: SNAPSHOT_LOGS,
        logs_to_keep: LOGS_TO_KEEP,
        partitions: truncate,
        ..Spec::new(3)
    };
    // Truncation happens on whichever member led alone: arm every member.
    let armed_members: Vec<usize> = if truncate {
        vec![0, 1, 2]
    } else {
        vec![victim]
    };
    for &m in &armed_members {
        spec.env.push((m, "FAILPOINTS".to_string(), armed.clone()));
    }
    let mut cluster = Cluster::configure(spec);
    let first: Vec<usize> = if late { vec![0, 1] } else { vec![0, 1, 2] };
    for &i in first.iter().rev() {
        cluster.spawn(i);
    }
    let leader = cluster
        .wait_for_leader(&first, Duration::from_secs(30))
        .await;
    let mut c = cluster.client(leader).await;
    setup(&mut c).await;
    let endpoints: Vec<String> = first
        .iter()
        .map(|&i| cluster.nodes[i].client_addr.clone())
        .collect();
    let load = Load::start(endpoints);
    let crashed = if late {
        // Let the others build a snapshot and purge what the victim will miss, then start it.
        let deadline = Instant::now() + Duration::from_secs(60);
        while load.count() < (SNAPSHOT_LOGS + LOGS_TO_KEEP) as usize * 3 {
            assert!(
                Instant::now() < deadline,
                "{point}: the load does not progress"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cluster.spawn(victim);
        wait_for_crash(&mut cluster, victim, point, Duration::from_secs(60)).await;
        victim
    } else if truncate {
        truncate_on_old_leader(&mut cluster, point).await
    } else {
        wait_for_crash(&mut cluster, victim, point, Duration::from_secs(60)).await;
        victim
    };
    // Back without the crash point; the writes go on meanwhile.
    cluster.nodes[crashed].env.clear();
    cluster.spawn(crashed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked = load.stop().await;
    assert!(!acked.is_empty(), "{point}: nothing was acknowledged");
    let at_least = acked.iter().map(|o| o.sequence).max().unwrap_or(0);
    cluster
        .wait_converged(&[0, 1, 2], at_least, Duration::from_secs(60))
        .await;
    let mut cv = cluster.client(crashed).await;
    all_acked_present(&mut cv, &acked, point).await;
    drop((c, cv));
    cluster.stop_all();
    let heads: Vec<(u64, Vec<u8>)> = (0..3)
        .map(|i| audit_data_dir(&cluster.nodes[i].data_dir))
        .collect();
    assert!(
        heads.iter().all(|h| h == &heads[0]),
        "{point}: replicas disagree after recovery"
    );
    eprintln!(
        "{point}: member {} crashed there and recovered; {} writes acknowledged, chain at {}",
        crashed + 1,
        acked.len(),
        heads[0].0
    );
}

/// Cuts the leader off, gives it writes it can only append, lets the others elect and commit,
/// heals: the old leader must truncate its uncommitted suffix, where it crashes. Returns its index.
async fn truncate_on_old_leader(cluster: &mut Cluster, point: &str) -> usize {
    let old = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let old_id = cluster.nodes[old].id;
    for other in [0usize, 1, 2].into_iter().filter(|&i| i != old) {
        cluster.net().cut_both(old_id, cluster.nodes[other].id);
    }
    // Writes to the isolated leader: appended to its log, never committed.
    let mut c = cluster.client(old).await;
    for _ in 0..5 {
        let _ = tokio::time::timeout(Duration::from_millis(300), submit(&mut c, transfer())).await;
    }
    let rest: Vec<usize> = [0usize, 1, 2].into_iter().filter(|&i| i != old).collect();
    cluster
        .wait_for_leader(&rest, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.net().heal();
    wait_for_crash(cluster, old, point, Duration::from_secs(60)).await;
    old
}

macro_rules! crash_tests {
    ($($name:ident => $point:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                crash_and_recover($point).await;
            }
        )*

        #[test]
        fn every_crash_point_has_a_test() {
            let tested = [$($point),*];
            for p in carbon_node::crash::CRASH_POINTS {
                assert!(tested.contains(p), "crash point {p} has no test");
            }
        }
    };
}

crash_tests!(
    crash_after_append_before_sync => "wal-append-before-sync",
    crash_after_vote_before_sync => "wal-vote-before-sync",
    crash_after_truncate_before_sync => "wal-truncate-before-sync",
    crash_after_purge_before_sync => "wal-purge-before-sync",
    crash_before_apply_write => "apply-before-write",
    crash_before_write_back => "write-back-before-batch",
    crash_after_snapshot_file => "snapshot-build-after-file",
    crash_after_snapshot_pointer => "snapshot-after-pointer",
    crash_after_install_pointer => "install-after-pointer",
    crash_after_install_load => "install-after-load",
    crash_after_install_switch => "install-after-switch",
);
