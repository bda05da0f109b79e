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
//! * [`reload`]: the node certificate is replaced without a restart (SIGHUP): the servers
//!   resolve it per handshake.

pub mod certs;
pub mod reload;

use anyhow::{bail, Context};
use reload::{Callers, Current};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A member's id, as its certificate names it (the same type as `raft::NodeId`: tls sits
/// below raft and does not import it).
pub type NodeId = u64;

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

/// A node's loaded TLS material, checked to name the node it belongs to. Clones share the
/// current certificate: a [`NodeTls::reload`] reaches every server and client made from it.
#[derive(Clone)]
pub struct NodeTls {
    id: NodeId,
    paths: TlsConfig,
    ca_pem: Vec<u8>,
    ca: Certificate,
    /// What the servers present (resolved per handshake).
    current: Arc<Current>,
    /// What outgoing connections present (read when a client is made).
    identity: Arc<RwLock<Identity>>,
    client_ca_pem: Option<Vec<u8>>,
    client_cert_required: bool,
    /// Counts reloads: outgoing peer clients made before one are made anew.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

fn read(p: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read the {what} {}", p.display()))
}

/// Reads the node certificate and key of `c`, checked to name node `id` and to match.
fn read_identity(
    c: &TlsConfig,
    id: NodeId,
) -> anyhow::Result<(Vec<u8>, Vec<u8>, rustls::sign::CertifiedKey)> {
    let cert = read(&c.cert, "node certificate")?;
    let key = read(&c.key, "node key")?;
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
    let certified = reload::certified_key(&cert, &key).with_context(|| {
        format!(
            "certificate {} and key {}",
            c.cert.display(),
            c.key.display()
        )
    })?;
    Ok((cert, key, certified))
}

impl NodeTls {
    /// Reads and checks the CA, the node certificate (it must name node `id`) and its key.
    pub fn load(c: &TlsConfig, id: NodeId) -> anyhow::Result<Self> {
        let ca = read(&c.ca, "CA certificate")?;
        pem_certs(&ca).with_context(|| format!("CA certificate {}", c.ca.display()))?;
        let (cert, key, certified) = read_identity(c, id)?;
        let client_ca_pem = match &c.client_ca {
            Some(p) => Some(read(p, "client CA certificate")?),
            None if c.client_cert_required => {
                bail!("client_cert_required needs client_ca")
            }
            None => None,
        };
        Ok(NodeTls {
            id,
            paths: c.clone(),
            ca: Certificate::from_pem(&ca),
            ca_pem: ca,
            current: Current::new(certified),
            identity: Arc::new(RwLock::new(Identity::from_pem(cert, key))),
            client_ca_pem,
            client_cert_required: c.client_cert_required,
            generation: Arc::default(),
        })
    }

    /// Reads the node certificate and key again (SIGHUP): from now on every handshake presents
    /// the new certificate. A certificate that does not name this node, or a key that does not
    /// match it, is refused and the old pair kept.
    pub fn reload(&self) -> anyhow::Result<()> {
        let (cert, key, certified) = read_identity(&self.paths, self.id)?;
        self.current.set(certified);
        let identity = Identity::from_pem(cert, key);
        match self.identity.write() {
            Ok(mut i) => *i = identity,
            Err(poisoned) => *poisoned.into_inner() = identity,
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// How many reloads happened: a client made at an older generation presents an older
    /// certificate.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn identity(&self) -> Identity {
        match self.identity.read() {
            Ok(i) => i.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The peer port: this node's certificate, and a certificate of the cluster CA required of
    /// every caller.
    pub fn peer_server(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        reload::server_config(
            self.current.clone(),
            Callers::Certified {
                roots: reload::roots(&self.ca_pem)?,
                required: true,
            },
        )
    }

    /// Dialling node `target`: it must present a certificate naming `target`; we present ours.
    pub fn peer_client(&self, target: NodeId) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity())
            .domain_name(node_name(target))
    }

    /// The client API: the node certificate; client certificates of `client_ca` when set.
    pub fn client_api_server(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let callers = match &self.client_ca_pem {
            Some(ca) => Callers::Certified {
                roots: reload::roots(ca)?,
                required: self.client_cert_required,
            },
            None => Callers::Anyone,
        };
        reload::server_config(self.current.clone(), callers)
    }

    /// Forwarding to the leader's client API: the leader's certificate must be of the cluster
    /// CA and name the host dialled; we present ours (in case client certificates are required).
    pub fn forward_client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity())
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
