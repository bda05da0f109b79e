//! This node's certificate, replaceable while the node runs: on SIGHUP the node reads its
//! `[tls]` certificate and key again ([`super::NodeTls::reload`]); every TLS handshake on the
//! peer port and the client API after that presents the new certificate (the servers resolve it
//! per handshake, [`Current`]), and so does every new outgoing peer connection. A certificate
//! that fails the checks made at start (it must name this node) is refused and the old one kept.
//!
//! With short-lived certificates this is the answer to revocation (docs/SECURITY.md): issue a
//! new certificate before the old one expires, put it in place, send SIGHUP.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
use crate::limits::ACCEPTED_CONNECTIONS_QUEUED_MAX;

/// The certificate and key this node presents now.
#[derive(Debug)]
pub struct Current(RwLock<Arc<CertifiedKey>>);

impl Current {
    pub fn new(key: CertifiedKey) -> Arc<Current> {
        Arc::new(Current(RwLock::new(Arc::new(key))))
    }

    pub fn get(&self) -> Arc<CertifiedKey> {
        match self.0.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, key: CertifiedKey) {
        match self.0.write() {
            Ok(mut k) => *k = Arc::new(key),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(key),
        }
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its private key (PEM) as rustls serves them.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| anyhow::anyhow!("key: {e}"))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| anyhow::anyhow!("key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| anyhow::anyhow!("the key does not belong to the certificate: {e}"))?;
    Ok(certified)
}

/// The roots of a CA file (PEM).
pub fn roots(ca_pem: &[u8]) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(|e| anyhow::anyhow!("CA certificate: {e}"))?)
            .map_err(|e| anyhow::anyhow!("CA certificate: {e}"))?;
    }
    Ok(roots)
}

/// Who must show a certificate to the server: nobody, or callers with one of these roots
/// (`required`: every caller).
pub enum Callers {
    Anyone,
    Certified {
        roots: RootCertStore,
        required: bool,
    },
}

/// A server's TLS settings (HTTP/2 only, as gRPC), presenting `current`.
pub fn server_config(current: Arc<Current>, callers: Callers) -> anyhow::Result<Arc<ServerConfig>> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match callers {
        Callers::Anyone => builder.with_no_client_auth(),
        Callers::Certified { roots, required } => {
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let v = if required {
                v.build()?
            } else {
                v.allow_unauthenticated().build()?
            };
            builder.with_client_cert_verifier(v)
        }
    };
    let mut config = builder.with_cert_resolver(current);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS connections of `listener`, handshaken (each on its own task, at most
/// [`HANDSHAKE_TIMEOUT`]; a failed handshake is dropped and logged), for a tonic server's
/// `serve_with_incoming_shutdown`. Accepting stops when the server drops the stream.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPTED_CONNECTIONS_QUEUED_MAX);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let tcp = match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, say: do not spin.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::debug!("TLS handshake refused: {e}"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
