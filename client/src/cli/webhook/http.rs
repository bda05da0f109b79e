//! The webhook's HTTP client: one HTTP/1.1 POST per connection (hyper's connection API over a
//! tokio TCP stream, through rustls for https:// URLs), bounded by a timeout. A webhook sees a
//! few requests a second at most; a fresh connection each time keeps a half-dead keep-alive
//! connection from ever holding a delivery.

use carbon_client::ClientError;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The system's CA bundle on Debian and its derivatives (https:// without --webhook-ca).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The most bytes of an answer read (its body is ignored: only the status counts).
const ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Where deliveries go.
pub struct Endpoint {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

fn bad(m: impl Into<String>) -> ClientError {
    ClientError::local(m)
}

impl Endpoint {
    /// An http:// or https:// URL; https:// trusts the CA certificates of `ca` (PEM) or the
    /// system's bundle.
    pub fn new(url: &str, ca: Option<&Path>, timeout: Duration) -> Result<Endpoint, ClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| bad(format!("webhook URL {url:?}: {e}")))?;
        let secure = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad(format!("webhook URL {url:?}: not http:// or https://"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad(format!("webhook URL {url:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = if secure {
            Some(tls_connector(&host, ca)?)
        } else {
            None
        };
        Ok(Endpoint {
            uri,
            host,
            port,
            tls,
            timeout,
        })
    }

    /// Posts one delivery; `Ok` only on a 2xx answer within the timeout.
    pub async fn post(&self, body: Bytes, tx_id: &str, sequence: u64) -> Result<(), String> {
        let authority = self
            .uri
            .authority()
            .map_or(self.host.clone(), |a| a.to_string());
        let path = self
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let req = Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", tx_id)
            .header("X-Carbon-Sequence", sequence.to_string())
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    async fn exchange(&self, req: Request<Full<Bytes>>) -> Result<(), String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect {}:{}: {e}", self.host, self.port))?;
        match &self.tls {
            None => send(tcp, req).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.host))?;
                send(tls, req).await
            }
        }
    }
}

/// Sends the request on a fresh HTTP/1.1 connection and checks the answer's status.
async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let answer = sender.send_request(req).await;
    let result = match answer {
        Ok(resp) => {
            let status = resp.status();
            // Read (a bounded part of) the answer so that the endpoint sees it received.
            let _ = http_body_util::Limited::new(resp.into_body(), ANSWER_BYTES_MAX)
                .collect()
                .await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the endpoint answered {status}"))
            }
        }
        Err(e) => Err(format!("no answer: {e}")),
    };
    driver.abort();
    result
}

fn tls_connector(
    host: &str,
    ca: Option<&Path>,
) -> Result<(TlsConnector, ServerName<'static>), ClientError> {
    let file = ca.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| bad(format!("CA certificates {}: {e}", file.display())))?;
    for c in certs {
        let c = c.map_err(|e| bad(format!("CA certificates {}: {e}", file.display())))?;
        roots
            .add(c)
            .map_err(|e| bad(format!("CA certificate in {}: {e}", file.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!(
            "no CA certificate in {} (give --webhook-ca)",
            file.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| bad(format!("webhook host {host:?}: {e}")))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}
