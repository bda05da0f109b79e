//! Transport security (rustls through tonic, ring as crypto provider).
//!
//! * The **peer port** speaks mutual TLS only, in every mode (`dev` included): both ends present a
//!   certificate of the cluster's CA. A node certificate names its node id as the DNS name
//!   [`node_name`]`(id)` = `node-<id>.carbon.internal`. The calling node checks that the node it
//!   dialled presents that name for the id it meant (standard server-name verification); the
//!   answering node reads the caller's id from the caller's certificate ([`node_id_of`]) and
//!   never from the message.
//! * The **client API** serves TLS with the node certificate; it may ask for client
//!   certificates (`client_ca`, optional or required). `carbon-node dev` alone may serve it in
//!   plaintext, and then only on a loopback address.
//! * [`certs`] makes a local CA, node and client certificates (`carbon-node certs`).

pub mod certs;

use crate::raft::NodeId;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Every node name ends with this; no other certificate name may.
pub const NODE_NAME_SUFFIX: &str = ".carbon.internal";
const NODE_NAME_PREFIX: &str = "node-";

/// The name a node certificate carries for node `id`.
pub fn node_name(id: NodeId) -> String {
    format!("{NODE_NAME_PREFIX}{id}{NODE_NAME_SUFFIX}")
}

/// Parses a node name back to its id (`node-7.carbon.internal` -> 7; canonical decimal only).
fn parse_node_name(name: &str) -> Option<NodeId> {
    let digits = name
        .strip_prefix(NODE_NAME_PREFIX)?
        .strip_suffix(NODE_NAME_SUFFIX)?;
    let id: NodeId = digits.parse().ok()?;
    (id != 0 && id.to_string() == digits).then_some(id)
}

/// The node id a certificate (DER) names, if it names exactly one.
pub fn node_id_of(cert_der: &[u8]) -> Option<NodeId> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut ids = san.value.general_names.iter().filter_map(|n| match n {
        GeneralName::DNSName(d) => parse_node_name(d),
        _ => None,
    });
    let id = ids.next()?;
    ids.next().is_none().then_some(id)
}

/// The DER certificates of a PEM file.
pub fn pem_certs(pem: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let p = p.map_err(|e| anyhow::anyhow!("not a PEM file: {e}"))?;
        if p.label == "CERTIFICATE" {
            out.push(p.contents);
        }
    }
    if out.is_empty() {
        bail!("no certificate in the PEM file");
    }
    Ok(out)
}

/// Where a node's certificates are (the `[tls]` table of a node config).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The cluster's CA certificate (PEM): peers must present a certificate it signed.
    pub ca: PathBuf,
    /// This node's certificate (PEM), naming `node-<id>.carbon.internal` and its hosts.
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
    /// Client API: accept client certificates signed by this CA (PEM).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Client API: refuse clients without such a certificate (needs `client_ca`).
    #[serde(default)]
    pub client_cert_required: bool,
}

impl TlsConfig {
    /// Resolves relative paths against `base` (the config file's directory).
    pub fn rebase(&mut self, base: &Path) {
        for p in [&mut self.ca, &mut self.cert, &mut self.key] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = &mut self.client_ca {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The config of a directory written by `carbon-node certs` for node `id`.
    pub fn in_dir(dir: &Path, id: NodeId) -> Self {
        TlsConfig {
            ca: certs::ca_cert_file(dir),
            cert: certs::node_cert_file(dir, id),
            key: certs::node_key_file(dir, id),
            client_ca: None,
            client_cert_required: false,
        }
    }
}

/// A node's loaded TLS material, checked to name the node it belongs to.
#[derive(Clone)]
pub struct NodeTls {
    id: NodeId,
    ca: Certificate,
    identity: Identity,
    client_ca: Option<Certificate>,
    client_cert_required: bool,
}

fn read(p: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read the {what} {}", p.display()))
}

impl NodeTls {
    /// Loads the files of `c` for node `id`; refuses a certificate that names another node.
    pub fn load(c: &TlsConfig, id: NodeId) -> anyhow::Result<Self> {
        let ca = read(&c.ca, "CA certificate")?;
        let cert = read(&c.cert, "node certificate")?;
        let key = read(&c.key, "node key")?;
        pem_certs(&ca).with_context(|| format!("CA certificate {}", c.ca.display()))?;
        let leaf = pem_certs(&cert).with_context(|| format!("certificate {}", c.cert.display()))?;
        match node_id_of(&leaf[0]) {
            Some(named) if named == id => {}
            Some(named) => bail!(
                "certificate {} names node {named}, but this is node {id}",
                c.cert.display()
            ),
            None => bail!(
                "certificate {} names no node (it needs the DNS name {})",
                c.cert.display(),
                node_name(id)
            ),
        }
        let client_ca = match &c.client_ca {
            Some(p) => Some(Certificate::from_pem(read(p, "client CA certificate")?)),
            None if c.client_cert_required => {
                bail!("client_cert_required needs client_ca")
            }
            None => None,
        };
        Ok(NodeTls {
            id,
            ca: Certificate::from_pem(ca),
            identity: Identity::from_pem(cert, key),
            client_ca,
            client_cert_required: c.client_cert_required,
        })
    }

    /// The peer port: this node's certificate, and a certificate of the cluster CA required of
    /// every caller.
    pub fn peer_server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(false)
    }

    /// Dialling node `target`: it must present a certificate naming `target`; we present ours.
    pub fn peer_client(&self, target: NodeId) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
            .domain_name(node_name(target))
    }

    /// The client API.
    pub fn client_api_server(&self) -> ServerTlsConfig {
        let c = ServerTlsConfig::new().identity(self.identity.clone());
        match &self.client_ca {
            Some(ca) => c
                .client_ca_root(ca.clone())
                .client_auth_optional(!self.client_cert_required),
            None => c,
        }
    }

    /// Forwarding to the leader's client API: the leader's certificate must be of the cluster
    /// CA and name the host dialled; we present ours (in case client certificates are required).
    pub fn forward_client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
    }

    pub fn id(&self) -> NodeId {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_round_trip_and_nothing_else_parses() {
        assert_eq!(parse_node_name(&node_name(42)), Some(42));
        for bad in [
            "node-0.carbon.internal",
            "node-07.carbon.internal",
            "node-+7.carbon.internal",
            "node-.carbon.internal",
            "node-7.carbon.internal.evil",
            "xnode-7.carbon.internal",
            "localhost",
        ] {
            assert_eq!(parse_node_name(bad), None, "{bad}");
        }
    }
}
