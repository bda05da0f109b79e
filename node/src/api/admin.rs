//! Cluster status and administration. Membership changes are signed by the cluster admin key
//! (the genesis key until a `RotateClusterAdminKey` transaction replaced it: `ledger::cluster`)
//! over `admin_signing_hash(chain, body)`, and run on the leader. New voters join
//! as learners first (`AddLearner`, which waits up to `LEARNER_CATCH_UP_WAIT` for the learner to
//! catch up), then `ChangeMembership` makes the membership exactly the voters it names (learners
//! not named are removed), refusing a new voter that has not caught up (MEMBER_NOT_CAUGHT_UP).

use super::health::CATCHING_UP_ENTRIES_MAX;
use crate::errors::{from_status, ApiError};
use crate::forward::{forwarded, leader};
use crate::limits::{ADMIN_REQUESTS_REMEMBERED_MAX, ADMIN_REQUEST_VALID_MS_MAX};
use crate::node::Node;
use crate::raft::NodeAddr;
use crate::write::checks::now_ms;
use carbon_proto::v1::{
    admin_body::Action, AdminBody, AdminRequest, AdminResponse, ClusterStatusRequest,
    ClusterStatusResponse, ErrorCode, NodeStatus,
};
use prost::Message;
use std::collections::BTreeSet;
use std::sync::Arc;

type RaftMetrics = openraft::RaftMetrics<crate::raft::NodeId, NodeAddr>;

/// This node's view of the cluster. On the leader, each member's matched index and lag are
/// what the leader replicated to it; elsewhere they are unknown (0): ask the leader
/// ([`cluster_status`] forwards).
pub async fn status(node: &Node) -> ClusterStatusResponse {
    let m = node.raft.metrics().borrow().clone();
    let last_log_index = m.last_log_index.unwrap_or(0);
    let replication = m.replication.clone().unwrap_or_default();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| {
            let matched = if Some(*id) == m.current_leader && *id == node.id {
                last_log_index
            } else {
                matched_index(&m, *id).unwrap_or(0)
            };
            let lag_entries = if replication.is_empty() {
                0
            } else {
                last_log_index.saturating_sub(matched)
            };
            NodeStatus {
                node_id: *id,
                peer_address: n.peer_addr.clone(),
                client_address: n.client_addr.clone(),
                voter: voters.contains(id),
                matched_index: matched,
                lag_entries,
            }
        })
        .collect();
    let commit_index = node
        .raft
        .with_raft_state(|st| st.committed.map_or(0, |l| l.index))
        .await
        .unwrap_or(0);
    let cluster_admin_key = crate::ledger::queries::cluster_admin_key(&node.state.view())
        .ok()
        .flatten()
        .unwrap_or_default();
    ClusterStatusResponse {
        cluster_admin_key,
        node_id: node.id,
        leader_id: crate::raft::reported_leader(&m, &node.liveness).unwrap_or(0),
        term: m.current_term,
        applied_index: m.last_applied.map_or(0, |l| l.index),
        last_log_index,
        members,
        snapshot_index: m.snapshot.map_or(0, |l| l.index),
        commit_index,
        detail: true,
        role: crate::raft::role(&m, &node.liveness).as_str().into(),
    }
}

/// The cluster as the leader sees it (members' replication and lag), asked of the leader when
/// this node is not it; this node's own view with `local`, or when no leader is known or
/// reachable. Addresses and replication only for the regulator's credential or an admin
/// request (`detail_allowed`); a credential that is present but wrong is refused.
pub async fn cluster_status(
    node: &Node,
    req: ClusterStatusRequest,
    was_forwarded: bool,
) -> Result<ClusterStatusResponse, ApiError> {
    if !req.local && !was_forwarded {
        if let Some((id, addr)) = leader(&node.raft) {
            if id != node.id {
                if let Ok(mut c) = node.forwarder.client(&addr.client_addr) {
                    match c.cluster_status(forwarded(req.clone())).await {
                        Ok(r) => return Ok(r.into_inner()),
                        // The leader judged the credential: its refusal stands.
                        Err(s) if crate::errors::detail(&s).is_some() => {
                            return Err(from_status(&s))
                        }
                        Err(_) => {}
                    }
                }
            }
        }
    }
    let detail = detail_allowed(node, &req)?;
    let s = status(node).await;
    Ok(if detail { s } else { public_view(s) })
}

/// Whether `req` may see members' addresses and replication: with the regulator's read
/// credential, or an admin request with the `cluster_status` action.
fn detail_allowed(node: &Node, req: &ClusterStatusRequest) -> Result<bool, ApiError> {
    if let Some(admin) = &req.admin {
        let body = verify(node, admin)?;
        if !matches!(body.action, Some(Action::ClusterStatus(_))) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "ClusterStatus takes an admin request with the cluster_status action",
            ));
        }
        return Ok(true);
    }
    let who = super::auth::authorise(&node.state.view(), &node.genesis.chain_id, req)?;
    Ok(who.is_regulator())
}

/// What anyone may see of the cluster: ids, roles, the leader, term and indexes; no addresses
/// and no replication figures.
fn public_view(mut s: ClusterStatusResponse) -> ClusterStatusResponse {
    for m in &mut s.members {
        m.peer_address.clear();
        m.client_address.clear();
        m.matched_index = 0;
        m.lag_entries = 0;
    }
    s.detail = false;
    s
}

pub fn verify(node: &Node, req: &AdminRequest) -> Result<AdminBody, ApiError> {
    let denied = |m: &str| ApiError::new(ErrorCode::BadSignature, m.to_string());
    let key = crate::ledger::queries::cluster_admin_key(&node.state.view())
        .map_err(|e| ApiError::unavailable(e.0))?
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .ok_or_else(|| ApiError::unavailable("the cluster admin key is unusable"))?;
    let sig = <[u8; 64]>::try_from(req.signature.as_slice())
        .map_err(|_| denied("malformed admin signature"))?;
    let hash = carbon_proto::signing::admin_signing_hash(&node.genesis.chain_id, &req.body);
    carbon_proto::signing::verify_signature(&key, &sig, &hash)
        .map_err(|_| denied("the admin signature does not verify with the cluster admin key"))?;
    let body = AdminBody::decode(req.body.as_slice())
        .map_err(|e| ApiError::new(ErrorCode::Malformed, format!("admin body: {e}")))?;
    if body.chain_id != node.genesis.chain_id {
        return Err(ApiError::new(
            ErrorCode::WrongChain,
            "admin request for another chain",
        ));
    }
    let now = now_ms();
    if now > body.valid_until_ms {
        return Err(ApiError::new(
            ErrorCode::Expired,
            "the admin request has expired",
        ));
    }
    if body.valid_until_ms - now > ADMIN_REQUEST_VALID_MS_MAX {
        return Err(ApiError::new(
            ErrorCode::InvalidArgument,
            format!(
                "an admin request may be valid for at most {ADMIN_REQUEST_VALID_MS_MAX} ms \
                 (ADMIN_REQUEST_VALID_MS_MAX) from this node's clock; sign a new one"
            ),
        ));
    }
    remember_once(blake3::hash(&req.body).into(), body.valid_until_ms, now)?;
    Ok(body)
}

/// Admin requests this node accepted and that are still valid: body hash -> valid until (ms).
static ACCEPTED: std::sync::Mutex<std::collections::BTreeMap<[u8; 32], u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Accepts a verified admin request once: a replay of it (the same body) is refused while it is
/// valid (and after that as expired). Only bodies signed by the cluster admin key get here, so
/// only its holder can fill the memory.
fn remember_once(hash: [u8; 32], valid_until_ms: u64, now: u64) -> Result<(), ApiError> {
    let mut accepted = match ACCEPTED.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    accepted.retain(|_, until| *until >= now);
    if accepted.contains_key(&hash) {
        return Err(ApiError::new(
            ErrorCode::Replayed,
            "this admin request was accepted before: a replay is refused; sign a new one",
        ));
    }
    if accepted.len() >= ADMIN_REQUESTS_REMEMBERED_MAX {
        return Err(crate::errors::exhausted(format!(
            "{ADMIN_REQUESTS_REMEMBERED_MAX} admin requests accepted in the last \
             {ADMIN_REQUEST_VALID_MS_MAX} ms (ADMIN_REQUESTS_REMEMBERED_MAX); retry later"
        )));
    }
    accepted.insert(hash, valid_until_ms);
    Ok(())
}

/// How long `AddLearner` waits for the learner to catch up before it answers (below carbonctl's
/// default attempt timeout of 5 s; a learner catching up from a large snapshot takes longer, and
/// the answer then says so).
const LEARNER_CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The last log index the leader knows member `id` to hold; `None` when it was never reached
/// (or this node is not the leader and knows no replication).
fn matched_index(m: &RaftMetrics, id: u64) -> Option<u64> {
    m.replication.as_ref()?.get(&id)?.as_ref().map(|l| l.index)
}

/// Whether member `id` was reached and its log matches the leader's to within
/// `CATCHING_UP_ENTRIES_MAX` entries; with the figures (matched, last).
fn caught_up(m: &RaftMetrics, id: u64) -> (bool, u64, u64) {
    let last = m.last_log_index.unwrap_or(0);
    let matched = matched_index(m, id);
    let ok = matched.is_some_and(|i| i.saturating_add(CATCHING_UP_ENTRIES_MAX) >= last);
    (ok, matched.unwrap_or(0), last)
}

/// Every new voter was reached and caught up: a learner that never was (a mistyped address)
/// must not become a voter, which would leave the cluster without its fault tolerance.
fn require_caught_up(node: &Node, voters: &BTreeSet<u64>) -> Result<(), ApiError> {
    let m = node.raft.metrics().borrow().clone();
    for &id in voters {
        if id == node.id
            || m.membership_config
                .membership()
                .voter_ids()
                .any(|v| v == id)
        {
            continue;
        }
        let (ok, matched, last) = caught_up(&m, id);
        if !ok {
            return Err(ApiError::new(
                ErrorCode::MemberNotCaughtUp,
                format!(
                    "member {id} has {matched} of the leader's {last} log entries (or was never reached): add it as a learner, check its addresses, and wait until `cluster status` shows it caught up; nothing changed"
                ),
            ));
        }
    }
    Ok(())
}

/// Adds a learner and waits, at most `LEARNER_CATCH_UP_WAIT`, until it was reached and caught up.
async fn add_learner(node: &Node, id: u64, addr: NodeAddr) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + LEARNER_CATCH_UP_WAIT;
    let added = tokio::time::timeout_at(deadline, node.raft.add_learner(id, addr, true)).await;
    if let Ok(r) = added {
        r.map_err(|e| ApiError::unavailable(format!("membership change failed: {e}")))?;
    }
    loop {
        let (ok, matched, last) = caught_up(&node.raft.metrics().borrow(), id);
        if ok {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                ErrorCode::MemberNotCaughtUp,
                format!(
                    "learner {id} was added but has {matched} of the leader's {last} log entries after {LEARNER_CATCH_UP_WAIT:?}: watch its lag in `cluster status`; if it does not fall, check its addresses (`cluster voters` refuses it until it has caught up)"
                ),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub async fn handle(
    node: &Arc<Node>,
    req: AdminRequest,
    was_forwarded: bool,
) -> Result<AdminResponse, ApiError> {
    // The leader checks the signature, against the key its state has (a follower's may trail
    // a rotation).
    match leader(&node.raft) {
        Some((id, _)) if id == node.id => {}
        Some((_, addr)) if !was_forwarded => {
            let mut c = node.forwarder.client(&addr.client_addr)?;
            return c
                .admin(forwarded(req))
                .await
                .map(|r| r.into_inner())
                .map_err(|s| from_status(&s));
        }
        _ => return Err(ApiError::unavailable("no leader to run the change")),
    }
    let body = verify(node, &req)?;
    let fail = |e: String| ApiError::unavailable(format!("membership change failed: {e}"));
    match body.action {
        Some(Action::AddLearner(a)) => {
            if a.node_id == 0 {
                return Err(ApiError::new(
                    ErrorCode::InvalidArgument,
                    "node id 0 is reserved",
                ));
            }
            let addr = NodeAddr {
                peer_addr: a.peer_address,
                client_addr: a.client_address,
            };
            add_learner(node, a.node_id, addr).await?;
        }
        Some(Action::ChangeMembership(c)) => {
            let voters: BTreeSet<u64> = c.voters.into_iter().collect();
            if voters.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidArgument,
                    "name at least one voter",
                ));
            }
            require_caught_up(node, &voters)?;
            node.raft
                .change_membership(voters.clone(), false)
                .await
                .map_err(|e| fail(e.to_string()))?;
            // The membership becomes exactly the named voters: a learner not named (one that
            // was never reached, say) is removed too.
            let stray: BTreeSet<u64> = node
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .learner_ids()
                .filter(|id| !voters.contains(id))
                .collect();
            if !stray.is_empty() {
                node.raft
                    .change_membership(openraft::ChangeMembers::RemoveNodes(stray), false)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        Some(Action::Backup(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "a backup is taken with the Backup RPC",
            ))
        }
        Some(Action::ClusterStatus(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "the detailed status is asked with the ClusterStatus RPC",
            ))
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::Malformed,
                "the admin body has no action",
            ))
        }
    }
    Ok(AdminResponse {
        status: Some(status(node).await),
    })
}
