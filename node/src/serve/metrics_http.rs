//! The metrics endpoint: `GET /metrics` on `metrics_addr` (axum). A scrape reads Raft's, the
//! WAL's, the proposer's and health's state into the gauges of [`crate::metrics`], then encodes
//! the whole registry.

use crate::metrics::{get, FollowerLabels, StateLabels};
use crate::node::Node;
use crate::storage::LogStore;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;

fn state_name(s: openraft::ServerState) -> &'static str {
    use openraft::ServerState as S;
    match s {
        S::Leader => "Leader",
        S::Follower => "Follower",
        S::Candidate => "Candidate",
        S::Learner => "Learner",
        S::Shutdown => "Shutdown",
    }
}

fn gauge_u64(g: &Gauge, v: u64) {
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
}

/// Reads Raft's, the WAL's and the batcher's state into the gauges, then encodes everything.
pub async fn scrape(node: &Node, log: &LogStore) -> String {
    let m = get();
    let rm = node.raft.metrics().borrow().clone();
    gauge_u64(&m.raft_term, rm.current_term);
    gauge_u64(
        &m.raft_leader,
        crate::raft::reported_leader(&rm, &node.liveness).unwrap_or(0),
    );
    m.raft_state.clear();
    m.raft_state
        .get_or_create(&StateLabels {
            state: state_name(rm.state),
        })
        .set(1);
    let last_log = rm.last_log_index.unwrap_or(0);
    gauge_u64(&m.raft_last_log_index, last_log);
    gauge_u64(
        &m.raft_applied_index,
        rm.last_applied.map_or(0, |l| l.index),
    );
    gauge_u64(&m.raft_snapshot_index, rm.snapshot.map_or(0, |l| l.index));
    let committed = node
        .raft
        .with_raft_state(|st| st.committed.map_or(0, |l| l.index))
        .await
        .unwrap_or(0);
    gauge_u64(&m.raft_commit_index, committed);
    m.raft_quorum_ack_age_seconds.set(
        rm.millis_since_quorum_ack
            .map_or(-1.0, |ms| ms as f64 / 1e3),
    );
    gauge_u64(
        &m.raft_voters,
        rm.membership_config.membership().voter_ids().count() as u64,
    );
    m.follower_matched_index.clear();
    m.follower_lag_entries.clear();
    for (id, matched) in rm.replication.iter().flatten() {
        if *id == node.id {
            continue;
        }
        let matched = matched.map_or(0, |l| l.index);
        let labels = FollowerLabels { follower: *id };
        gauge_u64(&m.follower_matched_index.get_or_create(&labels), matched);
        gauge_u64(
            &m.follower_lag_entries.get_or_create(&labels),
            last_log.saturating_sub(matched),
        );
    }
    let wal = log.flush_metrics();
    // The WAL keeps totals; the counters catch up to them (one scrape at a time, so that two
    // concurrent scrapes do not add the same difference twice).
    {
        static CATCHING_UP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = CATCHING_UP.lock().unwrap_or_else(|p| p.into_inner());
        m.wal_syncs
            .inc_by(wal.sync_batch_count.saturating_sub(m.wal_syncs.get()));
        let seconds = wal.sync_us as f64 / 1e6;
        m.wal_sync_seconds_total
            .inc_by((seconds - m.wal_sync_seconds_total.get()).max(0.0));
        m.wal_written_bytes
            .inc_by(wal.write_bytes.saturating_sub(m.wal_written_bytes.get()));
    }
    gauge_u64(&m.batcher_queue, node.proposer.queue_depth() as u64);
    let serving = crate::api::health::readiness(node).await.is_ok();
    m.health_serving.set(i64::from(serving));
    m.encode()
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    node: Arc<Node>,
    log: LogStore,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::{http::header, routing::get as route_get, Router};
    let app = Router::new().route(
        "/metrics",
        route_get(move || {
            let (node, log) = (node.clone(), log.clone());
            async move {
                (
                    [(header::CONTENT_TYPE, CONTENT_TYPE)],
                    scrape(&node, &log).await,
                )
            }
        }),
    );
    tracing::info!(addr = %listener.local_addr()?, "metrics on http://{}/metrics", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// What `prometheus_client` encodes: OpenMetrics text (Prometheus scrapes it natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
