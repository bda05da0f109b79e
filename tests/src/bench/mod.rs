//! `carbon-bench`: a benchmark of the registry through its public gRPC API only, so it runs
//! against any build of the node — a local cluster it starts from a given `carbon-node`
//! binary (or two builds, alternating), or an existing cluster. docs/BENCHMARKS.md says how to
//! run it and what each figure means. Speed is printed, never asserted.
//!
//! - [`accounts`]: the accounts, their deterministic keys, opening and funding them;
//! - [`workload`]: pre-signed transfers (uniform, one-hot), always within each sender's units;
//! - [`drive`]: closed loops (Submit at concurrency C, SubmitBatch of B from K clients);
//! - [`open_loop`]: fixed-rate sends with latency from the intended send time (HDR);
//! - [`reads`]: local and linearizable reads on the leader, one reader and eight;
//! - [`procfs`], [`measure`]: /proc and data-dir readings around each phase, per role;
//! - [`verify`]: the ed25519 bound of one core; [`postgres`]: the PostgreSQL baseline;
//! - [`target`]: the cluster under test; [`run`]: the scenarios; [`report`]: the tables;
//! - [`inclusion`]: the carbon-inclusion scale run (`--inclusion N`) instead of the scenarios.

pub mod accounts;
pub mod drive;
pub mod inclusion;
pub mod measure;
pub mod open_loop;
pub mod postgres;
pub mod procfs;
pub mod reads;
pub mod report;
pub mod run;
pub mod target;
pub mod verify;
pub mod workload;
