//! `grpc.health.v1` (tonic-health) on the client address, for load balancers, Kubernetes gRPC
//! probes, `grpc_health_probe` and `carbonctl cluster health`.
//!
//! A node is SERVING — for the server as a whole (`""`) and for `carbon.registry.v1.Registry`
//! alike — only when all of these hold:
//!
//! * Raft runs (no fatal error) and the node knows a leader;
//! * a leader: the watchdog admits writes (a majority acknowledged it within the lease and its
//!   clock agrees with a majority's: `raft::watchdog::Liveness::admit`);
//! * a follower or learner: it heard from the leader within the lease;
//! * it applied what it knows to be committed, within [`CATCHING_UP_ENTRIES_MAX`] entries (the
//!   larger of its own commit index and the one the leader last announced to it).
//!
//! Otherwise NOT_SERVING, with the reason in the log. A task re-evaluates every [`TICK`].

use crate::node::Node;
use std::sync::Arc;
use std::time::Duration;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// The services whose status this node reports ("" is the server as a whole).
pub const SERVICES: [&str; 2] = ["", "carbon.registry.v1.Registry"];
/// How often the status is re-evaluated.
pub const TICK: Duration = Duration::from_millis(200);
pub use crate::limits::CATCHING_UP_ENTRIES_MAX;

/// `Ok` when the node should serve; otherwise why not.
pub async fn readiness(node: &Node) -> Result<(), String> {
    // Read through a borrow: the metrics (membership, replication) are not copied every tick.
    let (leader, applied) = {
        let m = node.raft.metrics();
        let m = m.borrow();
        if let Err(fatal) = &m.running_state {
            return Err(format!("Raft stopped: {fatal}"));
        }
        if crate::raft::role(&m, &node.liveness) == crate::raft::Role::Recovering {
            return Err(format!(
                "recovering: leads term {} in its own view, not yet acknowledged by a majority",
                m.current_term
            ));
        }
        (
            crate::raft::reported_leader(&m, &node.liveness),
            m.last_applied.map_or(0, |l| l.index),
        )
    };
    let Some(leader) = leader else {
        return Err("no leader known".into());
    };
    let lease = node.liveness.settings.lease;
    if leader == node.id {
        node.liveness.admit().map_err(|r| r.to_string())?;
    } else {
        match node.liveness.leader_contact_age() {
            Some(age) if age <= lease => {}
            Some(age) => {
                return Err(format!(
                    "no word from leader {leader} for {} ms (lease {} ms)",
                    age.as_millis(),
                    lease.as_millis()
                ))
            }
            None => return Err(format!("no word from leader {leader} yet")),
        }
    }
    let committed = node
        .raft
        .with_raft_state(|st| st.committed.map_or(0, |l| l.index))
        .await
        .map_err(|e| format!("Raft stopped: {e}"))?
        .max(node.liveness.leader_commit_seen());
    if applied + CATCHING_UP_ENTRIES_MAX < committed {
        return Err(format!(
            "catching up: applied {applied} of {committed} committed entries"
        ));
    }
    Ok(())
}

/// Keeps the reporter's statuses current until the node stops. Starts NOT_SERVING.
pub async fn run(node: Arc<Node>, reporter: HealthReporter) {
    let mut serving = None;
    set(&reporter, ServingStatus::NotServing).await;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = readiness(&node).await;
        // Logged once per change of status (a reason such as a contact age changes every tick).
        if serving == Some(now.is_ok()) {
            continue;
        }
        serving = Some(now.is_ok());
        match &now {
            Ok(()) => {
                tracing::info!("health: SERVING");
                set(&reporter, ServingStatus::Serving).await;
            }
            Err(why) => {
                tracing::info!("health: NOT_SERVING: {why}");
                set(&reporter, ServingStatus::NotServing).await;
            }
        }
    }
}

async fn set(reporter: &HealthReporter, status: ServingStatus) {
    for service in SERVICES {
        reporter.set_service_status(service, status).await;
    }
}
