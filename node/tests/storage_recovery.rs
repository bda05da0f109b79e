//! Recovery of the state machine on real sled and files: an entry of an unknown ledger version
//! stops the replica and writes nothing; a state database lost or behind its snapshot is
//! restored from the snapshot at open; the snapshot pointer only moves forward; a new state tree
//! never reuses a name across restarts.

use carbon_node::raft::{Batch, Entry, LogId, SnapshotMeta};
use carbon_node::storage::{self, snapshots::Snapshots, state_db::StateDb};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, Membership};
use std::collections::BTreeSet;
use std::path::Path;

fn genesis() -> carbon_proto::v1::Genesis {
    carbon_node::genesis::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/genesis.toml"))
        .expect("genesis")
}

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

fn entry(index: u64, ledger_version: u32) -> Entry {
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(Batch {
            timestamp_ms: 1_760_000_000_000 + index,
            ledger_version,
            txs: Vec::new(),
        }),
    }
}

fn membership(index: u64) -> Entry {
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1u64])], ())),
    }
}

#[tokio::test]
async fn an_entry_of_an_unknown_ledger_version_stops_the_replica_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (_log, mut sm) = storage::open(dir.path(), &genesis()).expect("opens");
    sm.apply(vec![membership(0), entry(1, carbon_node::ledger::VERSION)])
        .await
        .expect("known version applies");
    let err = sm
        .apply(vec![entry(2, carbon_node::ledger::VERSION + 1)])
        .await
        .expect_err("an unknown version is refused");
    assert!(
        err.to_string().contains(&format!(
            "needs ledger version {}",
            carbon_node::ledger::VERSION + 1
        )),
        "clear error: {err}"
    );
    let (applied, _) = sm.applied_state().await.expect("state");
    assert_eq!(
        applied,
        Some(log_id(1)),
        "nothing of the refused entry was written"
    );
}

#[tokio::test]
async fn a_lost_state_database_is_restored_from_the_snapshot_at_open() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let (_log, mut sm) = storage::open(dir.path(), &genesis()).expect("opens");
        sm.apply(vec![membership(0), entry(1, 1), entry(2, 1)])
            .await
            .expect("applies");
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("builds");
        assert_eq!(snap.meta.last_log_id, Some(log_id(2)));
        sm.apply(vec![entry(3, 1)]).await.expect("applies");
    }
    // Power loss took every write of the state database (the snapshot files are fsynced).
    std::fs::remove_dir_all(dir.path().join("state")).expect("wipe state");
    let (_log, mut sm) = storage::open(dir.path(), &genesis()).expect("reopens");
    let (applied, membership) = sm.applied_state().await.expect("state");
    assert_eq!(
        applied,
        Some(log_id(2)),
        "restored to the snapshot; the log re-applies the rest"
    );
    assert_eq!(membership.log_id(), &Some(log_id(0)));
    carbon_node::ledger::audit::check_invariants(&sm.view()).expect("invariants hold");
}

fn meta(index: u64, id: &str) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: Some(log_id(index)),
        last_membership: Default::default(),
        snapshot_id: id.into(),
    }
}

#[test]
fn the_snapshot_pointer_only_moves_forward_and_stray_files_go_at_open() {
    let dir = tempfile::tempdir().expect("dir");
    let snaps = Snapshots::open(dir.path().to_path_buf()).expect("opens");
    let write = |m: &SnapshotMeta, g| snaps.write(m, g, std::iter::empty()).expect("writes").0;
    let newer = meta(10, "1-10-g1");
    let p10 = write(&newer, 1);
    snaps.advance(&newer, &p10).expect("advances");
    let older = meta(5, "1-5-g2");
    let p5 = write(&older, 2);
    let (cur, path) = snaps.advance(&older, &p5).expect("keeps the newer");
    assert_eq!(cur.last_log_id, Some(log_id(10)));
    assert_eq!(path, p10);
    assert!(!p5.exists(), "the losing file is deleted");
    // A crash between a build's file and its pointer leaves a stray file: gone at the next open.
    let stray = write(&meta(12, "1-12-g3"), 3);
    drop(snaps);
    let snaps = Snapshots::open(dir.path().to_path_buf()).expect("reopens");
    assert!(!stray.exists());
    assert_eq!(
        snaps.current().expect("reads").map(|c| c.0.snapshot_id),
        Some("1-10-g1".to_string())
    );
}

#[test]
fn state_tree_generations_never_repeat_across_restarts() {
    let dir = tempfile::tempdir().expect("dir");
    let mut names = BTreeSet::new();
    for _ in 0..3 {
        let db = StateDb::open(dir.path()).expect("opens");
        let fresh = db.fresh_tree().expect("fresh");
        assert!(fresh.is_empty());
        assert!(names.insert(fresh.name()), "a repeated tree name");
        assert!(names.insert(db.fresh_tree().expect("fresh").name()));
    }
}
