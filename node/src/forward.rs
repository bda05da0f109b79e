//! Forwarding to the leader: a follower passes writes and linearizable reads to the current
//! leader's client API over a pooled connection. A forwarded request carries a marker header, so
//! it is never forwarded a second time (no loops while leadership moves).

use crate::errors::ApiError;
use crate::limits::CLIENT_MESSAGE_BYTES_MAX;
use crate::raft::{NodeAddr, NodeId, Raft};
use carbon_proto::v1::registry_client::RegistryClient;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

pub const FORWARDED: &str = "x-carbon-forwarded";

pub struct Forwarder {
    pool: Mutex<HashMap<String, RegistryClient<Channel>>>,
    /// TLS to the leader's client API (None only when client APIs serve plaintext: `dev`).
    tls: Option<ClientTlsConfig>,
}

impl Forwarder {
    pub fn new(tls: Option<ClientTlsConfig>) -> Self {
        Forwarder {
            pool: Mutex::default(),
            tls,
        }
    }

    pub fn client(&self, addr: &str) -> Result<RegistryClient<Channel>, ApiError> {
        let mut pool = match self.pool.lock() {
            Ok(p) => p,
            Err(p) => p.into_inner(),
        };
        if let Some(c) = pool.get(addr) {
            return Ok(c.clone());
        }
        let bad = |e: tonic::transport::Error| {
            ApiError::unavailable(format!("leader address {addr:?}: {e}"))
        };
        let endpoint = match &self.tls {
            Some(tls) => Endpoint::from_shared(format!("https://{addr}"))
                .and_then(|e| e.tls_config(tls.clone()))
                .map_err(bad)?,
            None => Endpoint::from_shared(format!("http://{addr}")).map_err(bad)?,
        };
        let channel = endpoint
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        let c = RegistryClient::new(channel)
            .max_decoding_message_size(CLIENT_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(CLIENT_MESSAGE_BYTES_MAX);
        pool.insert(addr.to_string(), c.clone());
        Ok(c)
    }
}

/// The current leader and its addresses, as this node knows them.
pub fn leader(raft: &Raft) -> Option<(NodeId, NodeAddr)> {
    let m = raft.metrics();
    let m = m.borrow();
    let id = m.current_leader?;
    let node = m.membership_config.membership().get_node(&id)?.clone();
    Some((id, node))
}

pub fn is_forwarded(meta: &MetadataMap) -> bool {
    meta.contains_key(FORWARDED)
}

/// Wraps a message for forwarding, with the marker header.
pub fn forwarded<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    r
}
