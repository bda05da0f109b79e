//! Prometheus metrics (the `prometheus-client` crate's registry and text encoding), served as
//! OpenMetrics text on the admin HTTP address (`metrics_addr`, `dev`: http://127.0.0.1:9464/metrics).
//!
//! What is measured where:
//!
//! * per RPC of the client API and gRPC code: request durations ([`RpcLayer`], a tower layer on the
//!   client server);
//! * transactions submitted to this node (`api`), transactions per proposed entry and the
//!   proposer's queue (`write::proposer`), apply time per entry (`storage::state`), append-to-fsync
//!   time of the WAL and the WAL flush worker's counters (`storage::log`), snapshot build and
//!   install durations and sizes (`storage::state`);
//! * Raft's term, leader, commit, applied and snapshot indexes, and per-follower matched index
//!   and lag, read from openraft's metrics when scraped (`serve::metrics_http::scrape`); health
//!   (`api::health`).
//!
//! Hot path: recording is a few relaxed atomic adds — no lock, no allocation (the RPC table is
//! built once; [`Histogram`] is an array of atomic buckets). One process runs one node, so the
//! metrics are one process-wide set ([`get`]).
//!
//! A leaf: this module imports nothing of the node; the modules that measure record into it,
//! and `serve::metrics_http` reads Raft, the WAL and health into its gauges when scraped.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Bucket bounds (seconds) of every latency histogram: 100 µs to 60 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 60.0,
];
/// Bucket bounds of transactions per log entry.
pub const BATCH_BUCKETS: [f64; 10] = [
    1.0, 2.0, 4.0, 16.0, 64.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];
/// gRPC status codes by number (0..=16).
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A histogram of fixed buckets, each an atomic counter: observing is lock-free (unlike
/// `prometheus_client`'s own histogram, which takes a mutex). Values are kept in micro-units
/// (microseconds for seconds) for the sum.
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug)]
struct HistogramInner {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus one for +Inf.
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            inner: Arc::new(HistogramInner {
                bounds,
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum_micros: AtomicU64::new(0),
            }),
        }
    }

    /// Hot path.
    pub fn observe(&self, value: f64) {
        let i = self.inner.bounds.partition_point(|b| *b < value);
        self.inner.counts[i].fetch_add(1, Ordering::Relaxed);
        let micros = (value * 1e6).clamp(0.0, u64::MAX as f64) as u64;
        self.inner.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Hot path.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // The encoder wants per-bucket counts (it accumulates them itself).
        let mut count = 0;
        let mut buckets = Vec::with_capacity(self.inner.counts.len());
        for (i, c) in self.inner.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            count += n;
            let bound = self.inner.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        let sum = self.inner.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: &'static str,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FollowerLabels {
    pub follower: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

/// Request durations per RPC path and gRPC code: a fixed table built once, so that recording
/// looks nothing up in a map; only the pairs that happened are encoded.
#[derive(Debug, Clone)]
pub struct RpcTable {
    /// `(path, per-code histograms)`, sorted by path; unknown paths share the last row.
    rows: Arc<Vec<(&'static str, Vec<Histogram>)>>,
}

impl TypedMetric for RpcTable {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for RpcTable {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (method, per_code) in self.rows.iter() {
            for (code, h) in GRPC_CODES.iter().zip(per_code) {
                // Most method x code pairs never happen: only those that did are written.
                if h.count() == 0 {
                    continue;
                }
                let labels = RpcLabels { method, code };
                h.encode(encoder.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Every metric of the node.
pub struct Metrics {
    registry: Registry,
    rpcs: RpcTable,
    pub submitted_txs: Counter,
    pub batch_txs: Histogram,
    pub batcher_queue: Gauge,
    pub proposals_in_flight: Gauge,
    pub apply_seconds: Histogram,
    pub wal_sync_seconds: Histogram,
    pub wal_syncs: Counter,
    pub wal_sync_seconds_total: Counter<f64, AtomicU64>,
    pub wal_written_bytes: Counter,
    pub snapshot_build_seconds: Histogram,
    pub snapshot_build_bytes: Gauge,
    pub snapshot_install_seconds: Histogram,
    pub snapshot_install_bytes: Gauge,
    pub raft_term: Gauge,
    pub raft_leader: Gauge,
    pub raft_state: Family<StateLabels, Gauge>,
    pub raft_last_log_index: Gauge,
    pub raft_commit_index: Gauge,
    pub raft_applied_index: Gauge,
    pub raft_snapshot_index: Gauge,
    pub raft_quorum_ack_age_seconds: Gauge<f64, AtomicU64>,
    pub raft_voters: Gauge,
    pub follower_matched_index: Family<FollowerLabels, Gauge>,
    pub follower_lag_entries: Family<FollowerLabels, Gauge>,
    pub health_serving: Gauge,
    pub read_index_rounds: Counter,
    pub read_index_shared: Counter,
    pub read_index_lease: Counter,
    pub quiet_spells: Counter,
    /// Bulk rows (rule 16) this leader admitted after a wait, and refused (`write::bulk`).
    pub bulk_rows_waited: Counter,
    pub bulk_rows_refused: Counter,
    pub leadership_terms: Counter,
}

/// RPC paths the node serves, from the descriptors (Registry) and the standard services.
fn rpc_paths() -> Vec<&'static str> {
    use prost::Message;
    let mut paths = vec![
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];
    let fds = prost_types::FileDescriptorSet::decode(carbon_proto::FILE_DESCRIPTOR_SET)
        .expect("the crate's own descriptors decode");
    for file in &fds.file {
        for service in &file.service {
            for m in &service.method {
                let path = format!("/{}.{}/{}", file.package(), service.name(), m.name());
                // Built once per process: a bounded set of static label values.
                paths.push(Box::leak(path.into_boxed_str()));
            }
        }
    }
    paths.sort_unstable();
    paths.dedup();
    paths.push("other");
    paths
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("carbon");
        let rpcs = RpcTable {
            rows: Arc::new(
                rpc_paths()
                    .into_iter()
                    .map(|path| {
                        let per_code = GRPC_CODES
                            .iter()
                            .map(|_| Histogram::new(&LATENCY_BUCKETS))
                            .collect();
                        (path, per_code)
                    })
                    .collect(),
            ),
        };
        r.register_with_unit(
            "grpc_request_duration",
            "Client API requests by method and gRPC code, time to the response headers",
            Unit::Seconds,
            rpcs.clone(),
        );
        let hist = |r: &mut Registry, name: &str, help: &str, unit: Option<Unit>, b| {
            let h = Histogram::new(b);
            match unit {
                Some(u) => r.register_with_unit(name, help, u, h.clone()),
                None => r.register(name, help, h.clone()),
            }
            h
        };
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
            r.register(name, help, g.clone());
            g
        };
        let submitted_txs = Counter::default();
        r.register(
            "submitted_transactions",
            "Transactions submitted to this node (Submit and SubmitBatch), before any check",
            submitted_txs.clone(),
        );
        let batch_txs = hist(
            &mut r,
            "batch_transactions",
            "Transactions per log entry proposed by this leader",
            None,
            &BATCH_BUCKETS,
        );
        let batcher_queue = gauge(
            &mut r,
            "batcher_queue_transactions",
            "Transactions waiting in the leader's batcher",
        );
        let proposals_in_flight = gauge(
            &mut r,
            "proposals_in_flight",
            "Log entries proposed by this leader and not yet applied",
        );
        let apply_seconds = hist(
            &mut r,
            "apply_duration",
            "Time to apply one committed log entry to the state (ledger + one sled batch)",
            Some(Unit::Seconds),
            &LATENCY_BUCKETS,
        );
        let wal_sync_seconds = hist(
            &mut r,
            "wal_append_sync_duration",
            "Time from appending log entries to the WAL until they are fdatasync'ed",
            Some(Unit::Seconds),
            &LATENCY_BUCKETS,
        );
        let wal_syncs = Counter::default();
        r.register(
            "wal_syncs",
            "Filesystem syncs by the WAL flush worker since start",
            wal_syncs.clone(),
        );
        let wal_sync_seconds_total = Counter::<f64, AtomicU64>::default();
        r.register(
            "wal_sync_seconds",
            "Time spent in filesystem syncs by the WAL flush worker since start",
            wal_sync_seconds_total.clone(),
        );
        let wal_written_bytes = Counter::default();
        r.register(
            "wal_written_bytes",
            "Bytes written by the WAL flush worker since start",
            wal_written_bytes.clone(),
        );
        let snapshot_build_seconds = hist(
            &mut r,
            "snapshot_build_duration",
            "Time to build a snapshot (applies pause meanwhile)",
            Some(Unit::Seconds),
            &LATENCY_BUCKETS,
        );
        let snapshot_build_bytes = gauge(
            &mut r,
            "snapshot_build_bytes",
            "Size of the last snapshot this node built",
        );
        let snapshot_install_seconds = hist(
            &mut r,
            "snapshot_install_duration",
            "Time to install a snapshot received from the leader",
            Some(Unit::Seconds),
            &LATENCY_BUCKETS,
        );
        let snapshot_install_bytes = gauge(
            &mut r,
            "snapshot_install_bytes",
            "Size of the last snapshot this node installed",
        );
        let raft_term = gauge(&mut r, "raft_term", "Current Raft term");
        let raft_leader = gauge(
            &mut r,
            "raft_leader_id",
            "Node id of the leader this node knows (0: none)",
        );
        let raft_state = Family::<StateLabels, Gauge>::default();
        r.register(
            "raft_server_state",
            "1 for this node's Raft role (Leader, Follower, Candidate, Learner, Shutdown)",
            raft_state.clone(),
        );
        let raft_last_log_index = gauge(&mut r, "raft_last_log_index", "Last log index");
        let raft_commit_index = gauge(
            &mut r,
            "raft_commit_index",
            "Largest log index this node knows committed",
        );
        let raft_applied_index = gauge(&mut r, "raft_applied_index", "Last applied log index");
        let raft_snapshot_index = gauge(
            &mut r,
            "raft_snapshot_index",
            "Last log index in the current snapshot",
        );
        let raft_quorum_ack_age_seconds = Gauge::<f64, AtomicU64>::default();
        r.register(
            "raft_quorum_ack_age_seconds",
            "Leader only: time since a majority last acknowledged it (-1 on a follower)",
            raft_quorum_ack_age_seconds.clone(),
        );
        let raft_voters = gauge(&mut r, "raft_voters", "Voters in the membership");
        let follower_matched_index = Family::<FollowerLabels, Gauge>::default();
        r.register(
            "raft_follower_matched_index",
            "Leader only: last log index replicated to each follower",
            follower_matched_index.clone(),
        );
        let follower_lag_entries = Family::<FollowerLabels, Gauge>::default();
        r.register(
            "raft_follower_lag_entries",
            "Leader only: the leader's last log index minus each follower's matched index",
            follower_lag_entries.clone(),
        );
        let health_serving = gauge(
            &mut r,
            "health_serving",
            "1 when grpc.health.v1 answers SERVING (see api::health)",
        );
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let read_index_rounds = counter(
            &mut r,
            "read_index_rounds",
            "Leadership confirmations for linearizable reads and settles (raft::read_index)",
        );
        let read_index_shared = counter(
            &mut r,
            "read_index_shared",
            "Linearizable reads served by a confirmation another read started",
        );
        let read_index_lease = counter(
            &mut r,
            "read_index_lease",
            "Linearizable reads served under this leader's read lease, without a round",
        );
        let quiet_spells = counter(
            &mut r,
            "quiet_spells",
            "Times this leader went quiet: no majority acknowledged it within the lease",
        );
        let bulk_rows_waited = counter(
            &mut r,
            "bulk_rows_waited",
            "Bulk rows (OpenPersonalAccounts, RecordReductions) this leader held for their turn \
             before proposing them (bulk_rows_per_second)",
        );
        let bulk_rows_refused = counter(
            &mut r,
            "bulk_rows_refused",
            "Bulk rows this leader refused with RESOURCE_EXHAUSTED because their turn was too far \
             away (bulk_rows_per_second)",
        );
        let leadership_terms = counter(
            &mut r,
            "leadership_terms",
            "Terms this node has led since it started (leader changes to this node)",
        );
        Metrics {
            registry: r,
            rpcs,
            submitted_txs,
            batch_txs,
            batcher_queue,
            proposals_in_flight,
            apply_seconds,
            wal_sync_seconds,
            wal_syncs,
            wal_sync_seconds_total,
            wal_written_bytes,
            snapshot_build_seconds,
            snapshot_build_bytes,
            snapshot_install_seconds,
            snapshot_install_bytes,
            raft_term,
            raft_leader,
            raft_state,
            raft_last_log_index,
            raft_commit_index,
            raft_applied_index,
            raft_snapshot_index,
            raft_quorum_ack_age_seconds,
            raft_voters,
            follower_matched_index,
            follower_lag_entries,
            health_serving,
            read_index_rounds,
            read_index_shared,
            read_index_lease,
            quiet_spells,
            bulk_rows_waited,
            bulk_rows_refused,
            leadership_terms,
        }
    }

    /// The row of an RPC path (hot path: a binary search over static strings).
    pub fn rpc(&self, path: &str) -> usize {
        let rows = &self.rpcs.rows;
        rows[..rows.len() - 1]
            .binary_search_by(|(p, _)| (*p).cmp(path))
            .unwrap_or(rows.len() - 1)
    }

    /// Hot path.
    pub fn observe_rpc(&self, row: usize, grpc_code: usize, elapsed: Duration) {
        let code = grpc_code.min(GRPC_CODES.len() - 1);
        self.rpcs.rows[row].1[code].observe_duration(elapsed);
    }

    /// The registry as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_into_cumulative_buckets() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        let mut r = Registry::default();
        r.register("x", "x", h.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).expect("encode");
        assert!(text.contains("x_bucket{le=\"1.0\"} 2"), "{text}");
        assert!(text.contains("x_bucket{le=\"2.0\"} 3"), "{text}");
        assert!(text.contains("x_bucket{le=\"+Inf\"} 4"), "{text}");
        assert!(text.contains("x_count 4"), "{text}");
        assert!(text.contains("x_sum 6.0"), "{text}");
    }

    #[test]
    fn rpc_rows_cover_the_registry_and_unknown_paths() {
        let m = get();
        let submit = m.rpc("/carbon.registry.v1.Registry/Submit");
        assert_eq!(m.rpcs.rows[submit].0, "/carbon.registry.v1.Registry/Submit");
        assert_eq!(m.rpc("/nope/Nothing"), m.rpcs.rows.len() - 1);
        m.observe_rpc(submit, 0, Duration::from_millis(3));
        assert!(m
            .encode()
            .contains("method=\"/carbon.registry.v1.Registry/Submit\",code=\"OK\""));
    }
}
