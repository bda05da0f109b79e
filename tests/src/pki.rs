//! Certificates for the tests: node and client certificates signed at run time by the test-only
//! CA of `tests/pki` (made with `carbon-node certs`), so that every cluster of the tests runs
//! with mutual TLS between peers and TLS on the client API, and every client trusts that CA.

use carbon_node::tls::certs::{self, Authority, Issued};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Hosts every test node certificate names (the tests listen on loopback only).
const HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

pub struct Pki {
    ca: Authority,
    nodes: Mutex<BTreeMap<u64, Issued>>,
}

/// The test CA's certificate file (what `carbonctl --ca` is given).
pub fn ca_file() -> PathBuf {
    super::repo_root().join("tests/pki/ca.pem")
}

/// The process's test PKI.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = super::repo_root().join("tests/pki");
        let read = |p: PathBuf| std::fs::read_to_string(&p).expect("test CA file");
        let ca = Authority::from_pem(
            &read(certs::ca_cert_file(&dir)),
            &read(certs::ca_key_file(&dir)),
        )
        .expect("test CA loads");
        Pki {
            ca,
            nodes: Mutex::default(),
        }
    })
}

impl Pki {
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// Node `id`'s certificate (made once per process).
    pub fn node(&self, id: u64) -> Issued {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes
            .entry(id)
            .or_insert_with(|| {
                let hosts: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
                self.ca.node(id, &hosts).expect("node certificate")
            })
            .clone()
    }

    /// A new certificate for node `id` (another key and serial each call): what an operator
    /// puts in place of the old one.
    pub fn fresh_node(&self, id: u64) -> Issued {
        let hosts: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
        self.ca.node(id, &hosts).expect("node certificate")
    }

    /// A client certificate for `name`.
    pub fn client(&self, name: &str) -> Issued {
        self.ca.client(name).expect("client certificate")
    }

    /// Writes node `id`'s certificate, key and the CA into `dir`; returns the `[tls]` table of
    /// its config.
    pub fn node_files(&self, dir: &Path, id: u64) -> String {
        std::fs::create_dir_all(dir).expect("certs dir");
        let n = self.node(id);
        let (ca, cert, key) = (
            certs::ca_cert_file(dir),
            certs::node_cert_file(dir, id),
            certs::node_key_file(dir, id),
        );
        std::fs::write(&ca, self.ca_pem()).expect("write CA");
        std::fs::write(&cert, &n.cert_pem).expect("write cert");
        std::fs::write(&key, &n.key_pem).expect("write key");
        format!(
            "[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\n",
            ca.display(),
            cert.display(),
            key.display()
        )
    }

    /// TLS settings of a client that trusts the test CA.
    pub fn client_tls(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca_pem()))
    }

    /// TLS settings of a client that presents `issued` (e.g. a node certificate, to speak to a
    /// peer port as that node).
    pub fn client_tls_as(&self, issued: &Issued, domain: &str) -> ClientTlsConfig {
        self.client_tls()
            .identity(Identity::from_pem(&issued.cert_pem, &issued.key_pem))
            .domain_name(domain)
    }
}
