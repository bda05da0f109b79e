//! Watch streams, cluster status, and membership changes signed by the cluster admin key.

use carbon_proto::signing::admin_signing_hash;
use carbon_proto::v1::{
    admin_body::Action, AddLearner, AdminBody, AdminRequest, ChangeMembership,
    ClusterStatusRequest, ErrorCode, Role, WatchRequest,
};
use carbon_tests::*;
use ed25519_dalek::{Signer, SigningKey};
use prost::Message;
use std::time::Duration;

async fn next_seq(stream: &mut tonic::Streaming<carbon_proto::v1::CommittedTx>) -> u64 {
    let item = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a commit arrives within 10 s")
        .expect("stream ok")
        .expect("stream open");
    item.outcome.map_or(0, |o| o.sequence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_commits_in_order_live_and_from_any_sequence() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let mut c = cluster.client(0).await;
    let reg = demo_key(REG);
    for i in 0..5 {
        let t = sign(
            &body(&[REG], open_account_op(&format!("W-{i}"), Role::Individual)),
            &[&reg],
        );
        assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
    }
    let mut stream = c
        .watch(WatchRequest {
            from_sequence: 1,
            auth: None,
        })
        .await
        .expect("watch")
        .into_inner();
    for expect in 1..=5 {
        assert_eq!(next_seq(&mut stream).await, expect);
    }
    // Live: new commits arrive on the open stream.
    for i in 5..8 {
        let t = sign(
            &body(&[REG], open_account_op(&format!("W-{i}"), Role::Individual)),
            &[&reg],
        );
        assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
    }
    for expect in 6..=8 {
        assert_eq!(next_seq(&mut stream).await, expect);
    }
    // Resumed from the middle.
    let mut resumed = c
        .watch(WatchRequest {
            from_sequence: 4,
            auth: None,
        })
        .await
        .expect("watch")
        .into_inner();
    for expect in 4..=8 {
        assert_eq!(next_seq(&mut resumed).await, expect);
    }
}

fn admin(action: Action, key: &SigningKey) -> AdminRequest {
    let body = AdminBody {
        chain_id: CHAIN.into(),
        valid_until_ms: now_ms() + 60_000,
        nonce: rand_nonce(),
        action: Some(action),
    }
    .encode_to_vec();
    let sig = key.sign(&admin_signing_hash(CHAIN, &body));
    AdminRequest {
        body,
        signature: sig.to_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourth_node_joins_as_learner_then_voter_by_signed_admin_requests() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let mut c = cluster.client((leader + 1) % 3).await;
    let t = sign(
        &body(&[REG], open_account_op("J-1", Role::Individual)),
        &[&demo_key(REG)],
    );
    assert_eq!(submit(&mut c, t).await.code(), ErrorCode::Ok);
    let status = c
        .cluster_status(ClusterStatusRequest::default())
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.members.iter().filter(|m| m.voter).count(), 3);
    assert_eq!(status.leader_id, cluster.nodes[leader].id);

    let new = cluster.add_node();
    let add = Action::AddLearner(AddLearner {
        node_id: cluster.nodes[new].id,
        peer_address: cluster.nodes[new].peer_addr.clone(),
        client_address: cluster.nodes[new].client_addr.clone(),
    });
    // The wrong key is refused.
    let forged = c
        .admin(admin(add.clone(), &test_key("intruder")))
        .await
        .expect_err("forged admin request");
    assert_eq!(forged.code(), tonic::Code::Unauthenticated);
    // Sent to a follower, it is forwarded to the leader.
    let key = demo_key("cluster-admin");
    c.admin(admin(add, &key)).await.expect("learner added");
    cluster
        .wait_converged(&[0, 1, 2, new], 1, Duration::from_secs(30))
        .await;
    let voters = Action::ChangeMembership(ChangeMembership {
        voters: (1..=4).collect(),
    });
    let r = c
        .admin(admin(voters, &key))
        .await
        .expect("voters changed")
        .into_inner();
    let status = r.status.expect("status");
    assert_eq!(status.members.iter().filter(|m| m.voter).count(), 4);
    // The new voter takes writes too.
    let mut c4 = cluster.client(new).await;
    let t = sign(
        &body(&[REG], open_account_op("J-2", Role::Individual)),
        &[&demo_key(REG)],
    );
    assert_eq!(submit(&mut c4, t).await.code(), ErrorCode::Ok);
    cluster
        .wait_converged(&[0, 1, 2, new], 2, Duration::from_secs(30))
        .await;
    cluster.stop_all();
    for n in &cluster.nodes {
        audit_data_dir(&n.data_dir);
    }
}
