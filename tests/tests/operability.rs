//! What an operator's tools see, over real gRPC and HTTP on real node processes: grpc.health.v1
//! following the node's state, server reflection, the Prometheus endpoint, and errors in the
//! standard `google.rpc.Status` shape (undecodable requests are INVALID_ARGUMENT/MALFORMED).

use carbon_proto::v1::{tx_body::Operation, ErrorCode, Role, SubmitRequest, Transfer, UnitClass};
use carbon_tests::*;
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

fn cea(v: u32) -> UnitClass {
    UnitClass {
        kind: carbon_proto::v1::UnitKind::Cea as i32,
        vintage: v,
        project_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_quorum_and_leader_contact() {
    let mut cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    for i in 0..3 {
        cluster
            .wait_health(i, ServingStatus::Serving, Duration::from_secs(20))
            .await;
    }
    // A service nobody registered is NOT_FOUND, as the health protocol says.
    let unknown = cluster.health(leader, "no.such.Service").await;
    assert_eq!(
        unknown.map_err(|s| s.code()),
        Err(tonic::Code::NotFound),
        "an unknown service"
    );

    // The leader loses both followers: no quorum, so NOT_SERVING (the watchdog refuses writes).
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    for f in &followers {
        cluster.pause(*f);
    }
    cluster
        .wait_health(leader, ServingStatus::NotServing, Duration::from_secs(10))
        .await;
    for f in &followers {
        cluster.resume(*f);
    }
    for i in 0..3 {
        cluster
            .wait_health(i, ServingStatus::Serving, Duration::from_secs(30))
            .await;
    }

    // A follower cut off from every other member (the others stopped) hears from no leader.
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    let follower = (0..3).find(|i| *i != leader).expect("a follower");
    for i in (0..3).filter(|i| *i != follower) {
        cluster.stop(i);
    }
    cluster
        .wait_health(follower, ServingStatus::NotServing, Duration::from_secs(10))
        .await;
    let samples = cluster.metrics(follower);
    assert_eq!(sample(&samples, "carbon_health_serving", ""), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_registry_in_both_protocol_versions() {
    use tokio_stream::StreamExt;
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let channel = tls_channel(&cluster.nodes[0].client_addr)
        .await
        .expect("connect");

    {
        use tonic_reflection::pb::v1::{
            server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection v1")
            .into_inner();
        let answer = answers.next().await.expect("an answer").expect("ok");
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("not a service list: {answer:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"carbon.registry.v1.Registry".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"grpc.health.v1.Health".to_string()),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.contains("peer")), "{names:?}");

        // The Registry's file descriptor resolves (grpcurl describes and calls through it).
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "carbon.registry.v1.Registry".into(),
            )),
        };
        let mut answers = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection v1")
            .into_inner();
        let answer = answers.next().await.expect("an answer").expect("ok");
        assert!(
            matches!(
                answer.message_response,
                Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()
            ),
            "{answer:?}"
        );
    }
    {
        use tonic_reflection::pb::v1alpha::{
            server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            ServerReflectionRequest,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = ServerReflectionClient::new(channel)
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection v1alpha")
            .into_inner();
        let answer = answers.next().await.expect("an answer").expect("ok");
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("not a service list: {answer:?}");
        };
        assert!(list
            .service
            .iter()
            .any(|s| s.name == "carbon.registry.v1.Registry"));
    }
}

/// Raw bytes in a gRPC frame, whatever the method expects.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_standard_statuses_and_garbage_is_invalid_argument() {
    let cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let channel = tls_channel(&cluster.nodes[0].client_addr)
        .await
        .expect("connect");

    // Bytes that are no protobuf message at all (a truncated length-delimited field).
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let status = grpc
        .unary(
            tonic::Request::new(vec![0x0a, 0xff, 0xff, 0x01, 0x02]),
            http::uri::PathAndQuery::from_static("/carbon.registry.v1.Registry/Submit"),
            RawCodec,
        )
        .await
        .expect_err("garbage is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "MALFORMED");
    assert_eq!(info.domain, carbon_proto::status::DOMAIN);
    assert_eq!(info.metadata["fate"], "FATE_NOT_APPLIED");
    let d = carbon_proto::status::detail(&status).expect("our detail");
    assert_eq!(d.code(), ErrorCode::Malformed);

    // A committed rejection: the standard reading and ours agree, and ours has the outcome.
    let mut c = cluster.client(0).await;
    let op = Operation::Transfer(Transfer {
        from_account: REG.into(),
        to_account: "NOBODY-1".into(),
        unit_class: Some(cea(2025)),
        quantity: 1,
    });
    let tx = sign(&body(&[REG], op), &[&demo_key(REG)]);
    let status = c
        .submit(SubmitRequest { tx: Some(tx) })
        .await
        .expect_err("a rejection");
    let info = status.get_details_error_info().expect("an ErrorInfo");
    let d = carbon_proto::status::detail(&status).expect("our detail");
    assert_ne!(d.code(), ErrorCode::Ok);
    assert_eq!(info.reason, d.code().as_str_name());
    assert_eq!(info.metadata["fate"], "FATE_COMMITTED");
    assert!(
        d.outcome.is_some(),
        "a committed rejection carries its outcome"
    );
    assert!(
        status.message().starts_with(info.reason.as_str()),
        "{status:?}"
    );

    // And the node still serves.
    let tx = sign(
        &body(&[REG], open_account_op("ZJ-OPS-1", Role::Enterprise)),
        &[&demo_key(REG)],
    );
    assert_eq!(submit(&mut c, tx).await.code(), ErrorCode::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_and_parsed() {
    let cluster = Cluster::start(3, 10_000);
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(20))
        .await;
    let mut c = cluster.client(leader).await;
    let n = 20;
    for i in 0..n {
        let tx = sign(
            &body(
                &[REG],
                open_account_op(&format!("ZJ-MET-{i}"), Role::Enterprise),
            ),
            &[&demo_key(REG)],
        );
        assert_eq!(submit(&mut c, tx).await.code(), ErrorCode::Ok);
    }
    cluster
        .wait_health(leader, ServingStatus::Serving, Duration::from_secs(10))
        .await;
    let m = cluster.metrics(leader);
    let submit_ok = sample(
        &m,
        "carbon_grpc_request_duration_seconds_count",
        "method=\"/carbon.registry.v1.Registry/Submit\",code=\"OK\"",
    );
    assert!(submit_ok >= Some(n as f64), "{submit_ok:?}");
    assert!(sample(&m, "carbon_submitted_transactions_total", "") >= Some(n as f64));
    assert!(sample(&m, "carbon_batch_transactions_count", "") >= Some(1.0));
    assert!(sample(&m, "carbon_apply_duration_seconds_count", "") >= Some(n as f64));
    assert!(sample(&m, "carbon_wal_append_sync_duration_seconds_count", "") >= Some(1.0));
    assert!(sample(&m, "carbon_wal_syncs_total", "") >= Some(1.0));
    assert_eq!(
        sample(&m, "carbon_raft_leader_id", ""),
        Some(cluster.nodes[leader].id as f64)
    );
    assert_eq!(
        sample(&m, "carbon_raft_server_state", "state=\"Leader\""),
        Some(1.0)
    );
    assert!(sample(&m, "carbon_raft_term", "") >= Some(1.0));
    let applied = sample(&m, "carbon_raft_applied_index", "").expect("applied");
    let committed = sample(&m, "carbon_raft_commit_index", "").expect("committed");
    assert!(
        applied >= n as f64 && committed >= applied,
        "{applied} {committed}"
    );
    assert_eq!(sample(&m, "carbon_raft_voters", ""), Some(3.0));
    assert_eq!(sample(&m, "carbon_health_serving", ""), Some(1.0));
    // The leader sees both followers' replication.
    for f in (0..3).filter(|i| *i != leader) {
        let labels = format!("follower=\"{}\"", cluster.nodes[f].id);
        assert!(
            sample(&m, "carbon_raft_follower_matched_index", &labels).is_some(),
            "{labels}"
        );
        assert!(sample(&m, "carbon_raft_follower_lag_entries", &labels).is_some());
    }
    // A follower knows its leader and has no follower gauges.
    let follower = (0..3).find(|i| *i != leader).expect("a follower");
    let fm = cluster.metrics(follower);
    assert_eq!(
        sample(&fm, "carbon_raft_server_state", "state=\"Follower\""),
        Some(1.0)
    );
    assert!(sample(&fm, "carbon_raft_follower_lag_entries", "").is_none());
    // Every metric the Grafana dashboard and the alert rules use is one the node exports.
    let (_, text) = http_get(&cluster.nodes[leader].metrics_addr, "/metrics").expect("scrape");
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for file in [
        "deploy/monitoring/grafana-dashboard.json",
        "deploy/monitoring/alerts.yaml",
    ] {
        let doc = std::fs::read_to_string(repo_root().join(file)).expect(file);
        let mut used: Vec<&str> = doc
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("carbon_"))
            .collect();
        used.sort_unstable();
        used.dedup();
        assert!(used.len() >= 5, "{file}: {used:?}");
        for name in used {
            let family = ["_bucket", "_sum", "_count", "_total"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                m.iter().any(|s| s.name == name) || families.contains(&family),
                "{file} uses {name}, which the node does not export"
            );
        }
    }
    // Anything else on the metrics address is a 404, not the metrics.
    let (status, _) = http_get(&cluster.nodes[leader].metrics_addr, "/").expect("get /");
    assert_eq!(status, 404);
}
