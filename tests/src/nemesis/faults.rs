//! The faults the nemesis injects, one at a time, each healed before the next: process faults
//! (SIGKILL, SIGSTOP/SIGCONT, SIGTERM and restart) of the leader or a follower, and network
//! partitions through the partition proxies (`crate::proxy`).

use super::workload::channel;
use crate::Cluster;
use carbon_proto::v1::ClusterStatusRequest;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL the leader; restart it after the fault's duration.
    KillLeader,
    KillFollower,
    /// SIGSTOP the leader; SIGCONT after the fault's duration.
    PauseLeader,
    PauseFollower,
    /// SIGTERM the leader, wait for it to exit, start it again.
    RestartLeader,
    RestartFollower,
    /// Cut every link of the leader, both ways.
    IsolateLeader,
    IsolateFollower,
    /// Cut only the links between the leader and one follower, both ways: the follower still
    /// reaches the others (issue 7, scenario (a)).
    CutFollowerFromLeader,
    /// Five or more members: the leader reaches only one follower (the hub); the others reach
    /// only the hub (issue 7, scenario (b)).
    Star,
    /// A random minority, with or without the leader, cut from the majority.
    SplitMinority,
}

impl FaultKind {
    pub const ALL: [FaultKind; 11] = [
        FaultKind::KillLeader,
        FaultKind::KillFollower,
        FaultKind::PauseLeader,
        FaultKind::PauseFollower,
        FaultKind::RestartLeader,
        FaultKind::RestartFollower,
        FaultKind::IsolateLeader,
        FaultKind::IsolateFollower,
        FaultKind::CutFollowerFromLeader,
        FaultKind::Star,
        FaultKind::SplitMinority,
    ];

    pub fn is_partition(self) -> bool {
        matches!(
            self,
            FaultKind::IsolateLeader
                | FaultKind::IsolateFollower
                | FaultKind::CutFollowerFromLeader
                | FaultKind::Star
                | FaultKind::SplitMinority
        )
    }

    /// Whether the fault can be injected on a cluster of `members`.
    pub fn fits(self, members: usize) -> bool {
        match self {
            FaultKind::Star => members >= 5,
            _ => members >= 3,
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    /// Member ids the fault acted on. For a partition, the leader's side with the leader first;
    /// for `CutFollowerFromLeader`, the leader and the follower cut off from it.
    pub targets: Vec<u64>,
    pub start: Instant,
    /// When the fault ended (process back, links restored).
    pub healed: Instant,
    /// (leader id, term) before the fault and one settle period after the heal.
    pub leader_before: Option<(u64, u64)>,
    pub leader_after: Option<(u64, u64)>,
    /// For partitions: every reachable member's (id, term) just before the heal.
    pub terms_before_heal: Vec<(u64, u64)>,
}

/// Every running member's (id, term), as its client API reports it (short timeouts).
pub async fn terms(cluster: &Cluster) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for (i, n) in cluster.nodes.iter().enumerate() {
        if !cluster.is_up(i) {
            continue;
        }
        let mut c = channel(&n.client_addr, Duration::from_millis(500));
        if let Ok(s) = c
            .cluster_status(ClusterStatusRequest {
                local: true,
                ..Default::default()
            })
            .await
        {
            out.push((n.id, s.into_inner().term));
        }
    }
    out
}

/// The leader as the members that claim leadership report it: (index, id, term), the highest
/// term winning. Asks every running node, with short timeouts.
pub async fn leader(cluster: &Cluster) -> Option<(usize, u64, u64)> {
    let mut best: Option<(usize, u64, u64)> = None;
    for (i, n) in cluster.nodes.iter().enumerate() {
        if !cluster.is_up(i) {
            continue;
        }
        let mut c = channel(&n.client_addr, Duration::from_millis(500));
        let Ok(s) = c
            .cluster_status(ClusterStatusRequest {
                local: true,
                ..Default::default()
            })
            .await
        else {
            continue;
        };
        let s = s.into_inner();
        if s.leader_id == s.node_id && best.is_none_or(|b| s.term > b.2) {
            best = Some((i, s.node_id, s.term));
        }
    }
    best
}

/// Injects `kind` for `duration` (process faults) or holds the partition for `duration`, then
/// heals. Returns `None` when the cluster has no leader to aim at.
pub async fn inject(
    cluster: &mut Cluster,
    kind: FaultKind,
    duration: Duration,
    rng: &mut fastrand::Rng,
) -> Option<Fault> {
    let (leader_i, leader_id, term) = leader(cluster).await?;
    let n = cluster.nodes.len();
    let followers: Vec<usize> = (0..n).filter(|&i| i != leader_i).collect();
    let follower = followers[rng.usize(..followers.len())];
    let ids: Vec<u64> = cluster.nodes.iter().map(|m| m.id).collect();
    let id = |i: usize| ids[i];
    let start = Instant::now();
    let mut terms_before_heal = Vec::new();
    let targets: Vec<u64> = match kind {
        FaultKind::KillLeader | FaultKind::KillFollower => {
            let i = if kind == FaultKind::KillLeader {
                leader_i
            } else {
                follower
            };
            blocking(|| cluster.kill(i));
            tokio::time::sleep(duration).await;
            cluster.spawn(i);
            vec![id(i)]
        }
        FaultKind::PauseLeader | FaultKind::PauseFollower => {
            let i = if kind == FaultKind::PauseLeader {
                leader_i
            } else {
                follower
            };
            cluster.pause(i);
            tokio::time::sleep(duration).await;
            cluster.resume(i);
            vec![id(i)]
        }
        FaultKind::RestartLeader | FaultKind::RestartFollower => {
            let i = if kind == FaultKind::RestartLeader {
                leader_i
            } else {
                follower
            };
            blocking(|| cluster.stop(i));
            cluster.spawn(i);
            vec![id(i)]
        }
        _ => {
            let (side, cuts) = partition(kind, &ids, id(leader_i), id(follower), rng);
            let net = cluster.net();
            for (a, b) in cuts {
                net.cut_both(a, b);
            }
            tokio::time::sleep(duration).await;
            terms_before_heal = terms(cluster).await;
            cluster.net().heal();
            side
        }
    };
    Some(Fault {
        kind,
        targets,
        start,
        healed: Instant::now(),
        leader_before: Some((leader_id, term)),
        leader_after: None,
        terms_before_heal,
    })
}

/// The pairs to cut for a partition, and the members on the leader's side (leader first; for
/// `CutFollowerFromLeader` the leader and the follower cut off).
fn partition(
    kind: FaultKind,
    ids: &[u64],
    leader: u64,
    follower: u64,
    rng: &mut fastrand::Rng,
) -> (Vec<u64>, Vec<(u64, u64)>) {
    let pairs = |side: &[u64]| -> Vec<(u64, u64)> {
        let mut cuts = Vec::new();
        for &a in side {
            for &b in ids {
                if !side.contains(&b) {
                    cuts.push((a, b));
                }
            }
        }
        cuts
    };
    match kind {
        FaultKind::IsolateLeader => (vec![leader], pairs(&[leader])),
        FaultKind::IsolateFollower => (vec![leader], pairs(&[follower])),
        FaultKind::CutFollowerFromLeader => (vec![leader, follower], vec![(leader, follower)]),
        FaultKind::Star => {
            // Every link not touching the hub is cut.
            let mut cuts = Vec::new();
            for (k, &a) in ids.iter().enumerate() {
                for &b in &ids[k + 1..] {
                    if a != follower && b != follower {
                        cuts.push((a, b));
                    }
                }
            }
            (vec![leader, follower], cuts)
        }
        _ => {
            // SplitMinority: a minority that holds the leader half of the time.
            let size = (ids.len() - 1) / 2;
            let mut others: Vec<u64> = ids.iter().copied().filter(|&x| x != leader).collect();
            rng.shuffle(&mut others);
            let mut minority: Vec<u64> = if rng.bool() {
                std::iter::once(leader)
                    .chain(others.iter().copied().take(size - 1))
                    .collect()
            } else {
                others.iter().copied().take(size).collect()
            };
            minority.sort_unstable();
            let cuts = pairs(&minority);
            let side = if minority.contains(&leader) {
                minority
            } else {
                ids.iter()
                    .copied()
                    .filter(|x| !minority.contains(x))
                    .collect()
            };
            (side, cuts)
        }
    }
}

/// Runs a blocking harness call (waiting for a process) without stalling the runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}
