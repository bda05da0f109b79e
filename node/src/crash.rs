//! Crash points: named places where the crash-at-every-step test (tests/tests/crash_points.rs)
//! stops the process the way a power cut or `kill -9` would, to prove that a restart recovers.
//!
//! Compiled in only with the `failpoints` feature (the workspace's test build enables it through
//! the `carbon-tests` package); armed at run time by the `FAILPOINTS` environment variable of the
//! `fail` crate: `FAILPOINTS=wal-append-before-sync=return` aborts the process the first time
//! that point is reached. Without the feature a crash point compiles to nothing.
//!
//! The points, in the order a write meets them: `wal-append-before-sync`, `wal-vote-before-sync`,
//! `wal-truncate-before-sync`, `wal-purge-before-sync` (storage::log); `apply-before-write`
//! (storage::apply); `write-back-before-batch` (storage::view, on the write-back thread, with
//! entries applied and answered but not in sled yet); `snapshot-build-after-file`, `snapshot-after-pointer` (storage::state,
//! storage::snapshots); `install-after-pointer`, `install-after-load`, `install-after-switch`
//! (storage::state, storage::state_db).

// Besides the crash points, one fault point returns an error instead: `apply-fails` (a storage
// error while applying), to prove a fatal Raft error stops the process (serve::run).

/// Every crash point, for the test that visits them all.
pub const CRASH_POINTS: &[&str] = &[
    "wal-append-before-sync",
    "wal-vote-before-sync",
    "wal-truncate-before-sync",
    "wal-purge-before-sync",
    "apply-before-write",
    "write-back-before-batch",
    "snapshot-build-after-file",
    "snapshot-after-pointer",
    "install-after-pointer",
    "install-after-load",
    "install-after-switch",
];

/// Aborts the process here when the point is armed (see the module docs).
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        fail::fail_point!($name, |_| {
            eprintln!("crash point {} reached: aborting", $name);
            std::process::abort()
        })
    };
}
