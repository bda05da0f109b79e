//! Making certificates (`carbon-node certs`): a local certificate authority, node certificates
//! that name their node id, and client certificates, with `rcgen`. For local clusters, tests and
//! small deployments; an operator with a PKI of their own issues the same shapes there (see
//! `docs/SECURITY.md`).
//!
//! * The CA: ECDSA P-256, valid ten years from the first day of this year.
//! * A node certificate: the DNS name [`super::node_name`]`(id)` (its identity) plus the hosts its
//!   client API is reached by (IP addresses or DNS names), for TLS servers and clients alike;
//!   valid five years.
//! * A client certificate: common name = the client's name, TLS client only, no node name.

use super::NodeId;
use super::{node_name, NODE_NAME_SUFFIX};
use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// Years a CA certificate is valid from the first day of the current year.
const CA_VALIDITY_YEARS: i32 = 10;
/// Years a node or client certificate is valid from the first day of the current year.
const LEAF_VALIDITY_YEARS: i32 = 5;

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority that signs node and client certificates.
pub struct Authority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn this_year() -> i32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    (carbon_proto::dates::date_of(now) / 10_000) as i32
}

fn validity(p: &mut CertificateParams, years: i32) {
    let y = this_year();
    p.not_before = rcgen::date_time_ymd(y, 1, 1);
    p.not_after = rcgen::date_time_ymd(y + years, 1, 1);
}

impl Authority {
    /// A new CA named `name` (e.g. the chain id).
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, format!("carbon registry CA {name}"));
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut p, CA_VALIDITY_YEARS);
        let cert = p.self_signed(&key)?;
        Ok(Authority {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(p, key),
        })
    }

    /// An existing CA, from its certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> anyhow::Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("CA key")?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).context("CA certificate")?;
        Ok(Authority {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    fn sign(&self, mut p: CertificateParams) -> anyhow::Result<Issued> {
        let key = KeyPair::generate()?;
        validity(&mut p, LEAF_VALIDITY_YEARS);
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A node certificate: it names node `id` and the `hosts` its ports are reached by.
    pub fn node(&self, id: NodeId, hosts: &[String]) -> anyhow::Result<Issued> {
        if id == 0 {
            bail!("node id 0 is reserved");
        }
        let mut names = vec![node_name(id)];
        for h in hosts {
            if h.ends_with(NODE_NAME_SUFFIX) {
                bail!("host {h:?} would look like a node identity; name hosts otherwise");
            }
            names.push(h.clone());
        }
        let mut p = CertificateParams::new(names)?;
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, format!("carbon-node {id}"));
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(p)
    }

    /// A client certificate for `name` (TLS client authentication only; it names no node).
    pub fn client(&self, name: &str) -> anyhow::Result<Issued> {
        if name.is_empty() || name.ends_with(NODE_NAME_SUFFIX) {
            bail!("a client certificate needs a name that is not a node identity");
        }
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(p)
    }
}

/// File names inside a certificate directory.
pub fn ca_cert_file(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}
pub fn ca_key_file(dir: &Path) -> PathBuf {
    dir.join("ca.key")
}
pub fn node_cert_file(dir: &Path, id: NodeId) -> PathBuf {
    dir.join(format!("node-{id}.pem"))
}
pub fn node_key_file(dir: &Path, id: NodeId) -> PathBuf {
    dir.join(format!("node-{id}.key"))
}
pub fn client_cert_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("client-{name}.pem"))
}
pub fn client_key_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("client-{name}.key"))
}

/// Writes a file that must not exist yet; private keys are readable by their owner only.
fn write_new(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The CA of `dir`: loaded when `ca.pem` and `ca.key` exist, else made and written.
pub fn ca_in(dir: &Path, name: &str) -> anyhow::Result<Authority> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (cert, key) = (ca_cert_file(dir), ca_key_file(dir));
    if cert.exists() || key.exists() {
        let c = std::fs::read_to_string(&cert)
            .with_context(|| format!("cannot read {}", cert.display()))?;
        let k = std::fs::read_to_string(&key)
            .with_context(|| format!("cannot read {}", key.display()))?;
        return Authority::from_pem(&c, &k);
    }
    let ca = Authority::generate(name)?;
    write_new(&key, ca.key_pem(), true)?;
    write_new(&cert, ca.cert_pem(), false)?;
    Ok(ca)
}

/// What `carbon-node certs` does: the CA of `dir` (made if missing), then a certificate for
/// every node id and client name that has none yet. Existing files are never overwritten.
/// Returns the files written.
pub fn write_dir(
    dir: &Path,
    name: &str,
    nodes: &[NodeId],
    hosts: &[String],
    clients: &[String],
) -> anyhow::Result<Vec<PathBuf>> {
    let had_ca = ca_cert_file(dir).exists();
    let ca = ca_in(dir, name)?;
    let mut written = Vec::new();
    if !had_ca {
        written.extend([ca_cert_file(dir), ca_key_file(dir)]);
    }
    for &id in nodes {
        let (cert, key) = (node_cert_file(dir, id), node_key_file(dir, id));
        if cert.exists() {
            continue;
        }
        let issued = ca.node(id, hosts)?;
        write_new(&key, &issued.key_pem, true)?;
        write_new(&cert, &issued.cert_pem, false)?;
        written.extend([cert, key]);
    }
    for c in clients {
        let (cert, key) = (client_cert_file(dir, c), client_key_file(dir, c));
        if cert.exists() {
            continue;
        }
        let issued = ca.client(c)?;
        write_new(&key, &issued.key_pem, true)?;
        write_new(&cert, &issued.cert_pem, false)?;
        written.extend([cert, key]);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_certificates_name_their_node_and_clients_name_none() {
        let ca = Authority::generate("t").expect("ca");
        let n = ca
            .node(7, &["127.0.0.1".into(), "localhost".into()])
            .expect("node");
        let der = super::super::pem_certs(n.cert_pem.as_bytes()).expect("pem");
        assert_eq!(super::super::node_id_of(&der[0]), Some(7));
        let c = ca.client("auditor").expect("client");
        let der = super::super::pem_certs(c.cert_pem.as_bytes()).expect("pem");
        assert_eq!(super::super::node_id_of(&der[0]), None);
        assert!(ca.node(1, &["node-2.carbon.internal".into()]).is_err());
    }

    #[test]
    fn a_directory_keeps_its_ca_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("dir");
        let first = write_dir(dir.path(), "t", &[1, 2], &["127.0.0.1".into()], &[]).expect("w");
        assert_eq!(first.len(), 6);
        let ca_before = std::fs::read(ca_cert_file(dir.path())).expect("ca");
        let second = write_dir(
            dir.path(),
            "t",
            &[1, 2, 3],
            &["127.0.0.1".into()],
            &["ops".into()],
        )
        .expect("w");
        assert_eq!(second.len(), 4, "{second:?}");
        assert_eq!(
            std::fs::read(ca_cert_file(dir.path())).expect("ca"),
            ca_before
        );
    }
}
