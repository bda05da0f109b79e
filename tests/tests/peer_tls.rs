//! The peer port speaks mutual TLS only, and a caller is the node its certificate names: over
//! real gRPC against a real three-node cluster, plaintext, a missing or foreign certificate, a
//! client certificate, a non-member's certificate and a certificate of another node id are all
//! refused; and a node dialling a peer refuses a peer whose certificate names another node.

use carbon_node::tls::{node_name, NodeTls, TlsConfig};
use carbon_proto::peer::{peer_client::PeerClient, PeerMessage};
use carbon_tests::*;
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

async fn peer_over(
    addr: &str,
    tls: Option<ClientTlsConfig>,
) -> Result<PeerClient<Channel>, String> {
    let e = match tls {
        Some(t) => Endpoint::from_shared(format!("https://{addr}"))
            .and_then(|e| e.tls_config(t))
            .map_err(|e| e.to_string())?,
        None => Endpoint::from_shared(format!("http://{addr}")).map_err(|e| e.to_string())?,
    };
    let ch = e
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(PeerClient::new(ch))
}

/// Sends a vote message claiming `from`; returns the gRPC code of the answer (Ok = accepted).
async fn vote(addr: &str, tls: Option<ClientTlsConfig>, from: u64) -> Result<tonic::Code, String> {
    let mut p = peer_over(addr, tls).await?;
    let msg = PeerMessage {
        from_node_id: from,
        to_node_id: 1,
        payload: vec![0xff; 16], // not a valid vote: only the identity checks may pass
    };
    Ok(match p.vote(msg).await {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_port_accepts_only_the_node_its_certificate_names() {
    let cluster = Cluster::start(3, 10_000);
    cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(30))
        .await;
    let n1 = cluster.nodes[0].peer_addr.clone();
    let as_node = |id: u64| Some(pki().client_tls_as(&pki().node(id), &node_name(1)));

    // Plaintext: no gRPC answer at all.
    let plain = vote(&n1, None, 2).await;
    assert!(
        !matches!(
            plain,
            Ok(tonic::Code::Ok) | Ok(tonic::Code::InvalidArgument)
        ),
        "plaintext got through: {plain:?}"
    );
    // TLS without a client certificate, and with a certificate of another CA naming node 2.
    let no_cert = vote(&n1, Some(pki().client_tls().domain_name(node_name(1))), 2).await;
    assert!(
        !matches!(
            no_cert,
            Ok(tonic::Code::Ok) | Ok(tonic::Code::InvalidArgument)
        ),
        "no certificate got through: {no_cert:?}"
    );
    let other_ca = carbon_node::tls::certs::Authority::generate("other").expect("ca");
    let forged = other_ca
        .node(2, &["127.0.0.1".into()])
        .expect("forged certificate");
    let foreign = vote(&n1, Some(pki().client_tls_as(&forged, &node_name(1))), 2).await;
    assert!(
        !matches!(
            foreign,
            Ok(tonic::Code::Ok) | Ok(tonic::Code::InvalidArgument)
        ),
        "a foreign CA's certificate got through: {foreign:?}"
    );

    // Certificates of the cluster's CA: only the node it names, and only a member.
    let client_cert = pki().client("someone");
    assert_eq!(
        vote(
            &n1,
            Some(pki().client_tls_as(&client_cert, &node_name(1))),
            2
        )
        .await,
        Ok(tonic::Code::PermissionDenied),
        "a client certificate names no node"
    );
    assert_eq!(
        vote(&n1, as_node(2), 3).await,
        Ok(tonic::Code::PermissionDenied),
        "node 2's certificate claiming to be node 3"
    );
    assert_eq!(
        vote(&n1, as_node(9), 9).await,
        Ok(tonic::Code::PermissionDenied),
        "a certified node outside the membership"
    );
    assert_eq!(
        vote(&n1, as_node(2), 2).await,
        Ok(tonic::Code::InvalidArgument),
        "node 2 as itself passes the identity checks (and its garbage payload is refused)"
    );

    // Dialling: the settings the node's peer client uses refuse a peer that names another node.
    let certs = cluster.dir.path().join("certs");
    let tls2 = NodeTls::load(&TlsConfig::in_dir(&certs, 2), 2).expect("node 2's TLS");
    let wrong = peer_over(&n1, Some(tls2.peer_client(3))).await;
    assert!(wrong.is_err(), "node 1 accepted as node 3");
    let right = vote(&n1, Some(tls2.peer_client(1)), 2).await;
    assert_eq!(right, Ok(tonic::Code::InvalidArgument));

    // The cluster is untouched: it still commits.
    let leader = cluster
        .wait_for_leader(&[0, 1, 2], Duration::from_secs(10))
        .await;
    let mut c = cluster.client(leader).await;
    let t = sign(
        &body(
            &[REG],
            open_account_op("AFTER-PEER-PROBES", carbon_proto::v1::Role::Individual),
        ),
        &[&demo_key(REG)],
    );
    let o = submit(&mut c, t).await.outcome();
    assert_eq!(o.code(), carbon_proto::v1::ErrorCode::Ok);
    cluster
        .wait_converged(&[0, 1, 2], o.sequence, Duration::from_secs(20))
        .await;
}

#[test]
fn a_node_refuses_to_start_with_a_certificate_of_another_node() {
    let dir = tempfile::tempdir().expect("dir");
    pki().node_files(dir.path(), 2);
    let c = TlsConfig::in_dir(dir.path(), 2);
    let err = NodeTls::load(&c, 3).err().expect("refused").to_string();
    assert!(err.contains("names node 2"), "{err}");
    assert!(NodeTls::load(&c, 2).is_ok());
}
