//! The nemesis in CI: short random runs on three and five members (`NEMESIS_SECS` makes them
//! longer), and the two partition scenarios of issue 7, item 7, with their liveness bounds.
//! See `src/nemesis/` for the clients, faults and checks, and `src/bin/nemesis.rs` for long runs.

use carbon_tests::nemesis::{self, faults::FaultKind, Options, Report};
use std::time::Duration;

/// A commit gap this long from a partition's start fails a scenario (issue 7: "no gap over ~3 s
/// from partition start").
const GAP_MAX: Duration = Duration::from_millis(3_000);

fn secs(default: u64) -> Duration {
    let s = std::env::var("NEMESIS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    Duration::from_secs(s)
}

fn seed() -> u64 {
    std::env::var("NEMESIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(carbon_tests::now_ms)
}

fn assert_passed(report: &Report) {
    println!("{report}");
    assert!(report.passed(), "the nemesis found problems:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_survive_random_faults_and_partitions() {
    let report = nemesis::run(Options::random(3, secs(30), seed())).await;
    assert_passed(&report);
    assert!(report.faults.len() >= 3, "too few faults: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_members_survive_random_faults_and_partitions() {
    let report = nemesis::run(Options::random(5, secs(30), seed())).await;
    assert_passed(&report);
    assert!(report.faults.len() >= 3, "too few faults: {report}");
}

/// Issue 7, scenario (a): a follower cut off from the leader (it still reaches the other
/// follower) must not inflate its term and depose the healthy leader when the link heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_cut_off_from_the_leader_does_not_depose_it() {
    let opts = Options::scenario(
        3,
        FaultKind::CutFollowerFromLeader,
        Duration::from_secs(8),
        seed(),
    );
    let report = nemesis::run(opts).await;
    println!("{report}");
    let f = report.faults.first().expect("the partition was injected");
    let (during, after) = report.gaps(f);

    println!(
        "scenario (a): leader/term before {:?}, after {:?}; longest gap during {during:?}, after the heal {after:?}",
        f.leader_before, f.leader_after
    );
    assert_eq!(
        f.leader_after, f.leader_before,
        "the leader changed although a majority kept talking"
    );
    assert!(during < GAP_MAX && after < GAP_MAX, "{report}");
    assert_passed(&report);
}

/// Issue 7, scenario (b): five members, the leader reaches only one follower (the hub), which
/// alone reaches the other three. The leader has lost its quorum; the hub can gather one: writes
/// must go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_star_partition_keeps_committing() {
    let opts = Options::scenario(5, FaultKind::Star, Duration::from_secs(10), seed());
    let report = nemesis::run(opts).await;
    println!("{report}");
    let f = report.faults.first().expect("the partition was injected");
    let (during, after) = report.gaps(f);

    println!(
        "scenario (b): leader/term before {:?}, after {:?}; longest gap during {during:?}, after the heal {after:?}",
        f.leader_before, f.leader_after
    );
    assert!(
        during < GAP_MAX,
        "no commit for {during:?} during the star partition"
    );
    assert!(after < GAP_MAX, "no commit for {after:?} after the heal");
    assert_passed(&report);
}
