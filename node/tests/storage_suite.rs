//! openraft's own storage conformance suite (`openraft::testing::Suite`) run against our log
//! store (the raft-log WAL) and state machine (sled), each test on fresh directories.
//!
//! All of the suite's tests but two that feed the stores sequences openraft itself never produces,
//! and which our assertions refuse on purpose:
//! * `get_initial_state_membership_from_log_and_sm` appends an entry below the log's purge point
//!   (raft-log also refuses it: "Log id cannot be reversed when append");
//! * `last_applied_state` applies index 5 right after index 3 (applied indexes must be
//!   contiguous).

// openraft's storage traits return its own (large) `StorageError`.
#![allow(clippy::result_large_err)]

use carbon_node::raft::{StorageError, TypeConfig};
use carbon_node::storage::{self, LogStore, StateMachine};
use openraft::testing::{StoreBuilder, Suite};

fn run_fut(
    f: impl std::future::Future<Output = Result<(), StorageError>>,
) -> Result<(), StorageError> {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let genesis = carbon_node::genesis::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/genesis.toml"),
        )
        .expect("genesis");
        let (log, sm) = storage::open(dir.path(), &genesis).expect("storage opens");
        Ok((dir, log, sm))
    }
}

type S = Suite<TypeConfig, LogStore, StateMachine, Builder, tempfile::TempDir>;

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_fut(async {
                    let (_dir, log, sm) = Builder.build().await?;
                    S::$name(log, sm).await
                })
                .expect(stringify!($name));
            }
        )*
    };
}

suite!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    snapshot_meta,
    apply_single,
    apply_multiple,
);

#[test]
fn transfer_snapshot() {
    run_fut(S::transfer_snapshot(&Builder)).expect("transfer_snapshot");
}
