//! A registry client over a list of endpoints: it fails over between them, and retries the SAME
//! signed bytes after a timeout or a leader change (safe: the registry deduplicates by tx id), so
//! a submission either returns its one outcome or a clear error.

use crate::error::ClientError;
use crate::ops::ReadAs;
use carbon_proto::read_auth::PrivateRead;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::*;
use std::future::Future;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

pub type Result<T> = std::result::Result<T, ClientError>;

/// How long one attempt on one endpoint may take, unless told otherwise.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Client {
    endpoints: Vec<String>,
    channels: Vec<RegistryClient<Channel>>,
    /// Whether each endpoint is reached over TLS.
    secure: Vec<bool>,
    next: usize,
    /// How long a call keeps trying other endpoints (while one of them can be reached).
    pub retry_for: Duration,
    /// Consistency asked of reads.
    pub consistency: ReadConsistency,
    chain_id: Option<String>,
}

/// How to reach the registry over TLS.
///
/// An endpoint `https://host:port` always means TLS (and needs `ca_pem`); `http://host:port`
/// always means plaintext (only `carbon-node dev` serves that, on loopback); a bare
/// `host:port` means TLS when a CA is given, plaintext otherwise.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// The registry's CA certificate (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate and its key (PEM), for registries that ask for one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsOptions {
    /// Reads the CA and the optional client certificate and key from files.
    pub fn from_files(
        ca: Option<&std::path::Path>,
        cert: Option<&std::path::Path>,
        key: Option<&std::path::Path>,
    ) -> Result<Self> {
        let read = |p: &std::path::Path, what: &str| {
            std::fs::read(p).map_err(|e| {
                ClientError::local(format!("cannot read the {what} {}: {e}", p.display()))
            })
        };
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c, "client certificate")?, read(k, "client key")?)),
            (None, None) => None,
            _ => {
                return Err(ClientError::local(
                    "a client certificate needs both --tls-cert and --tls-key",
                ))
            }
        };
        Ok(TlsOptions {
            ca_pem: ca.map(|p| read(p, "CA certificate")).transpose()?,
            identity,
        })
    }

    fn config(&self, addr: &str) -> Result<ClientTlsConfig> {
        let ca = self.ca_pem.as_ref().ok_or_else(|| {
            ClientError::local(format!(
                "endpoint {addr}: TLS needs the registry's CA certificate (--ca or CARBON_CA)"
            ))
        })?;
        let mut c = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((cert, key)) = &self.identity {
            c = c.identity(Identity::from_pem(cert, key));
        }
        Ok(c)
    }
}

/// Checks that an endpoint is `host:port`, `http://host:port` or `https://host:port`.
pub fn check_endpoint(addr: &str) -> Result<()> {
    let bad = |why: &str| {
        ClientError::local(format!(
            "endpoint {addr:?}: {why} (expected host:port, e.g. 127.0.0.1:50051)"
        ))
    };
    let url = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else if addr.contains("://") {
        return Err(bad("only http:// and https:// are known"));
    } else {
        format!("http://{addr}")
    };
    let uri: tonic::codegen::http::Uri = url.parse().map_err(|_| bad("not an address"))?;
    if uri.host().unwrap_or_default().is_empty() {
        return Err(bad("no host"));
    }
    if uri.port_u16().is_none_or(|p| p == 0) {
        return Err(bad("no port"));
    }
    if !(uri.path().is_empty() || uri.path() == "/") {
        return Err(bad("a path is not allowed"));
    }
    Ok(())
}

/// The URL of an endpoint and whether it is TLS (see [`TlsOptions`]).
pub fn url(addr: &str, tls: &TlsOptions) -> (String, bool) {
    if addr.starts_with("https://") {
        (addr.to_string(), true)
    } else if addr.starts_with("http://") {
        (addr.to_string(), false)
    } else if tls.ca_pem.is_some() {
        (format!("https://{addr}"), true)
    } else {
        (format!("http://{addr}"), false)
    }
}

/// A channel to one endpoint: TLS as [`TlsOptions`] says, each attempt limited to `attempt`.
pub fn channel(addr: &str, tls: &TlsOptions, attempt: Duration) -> Result<Channel> {
    check_endpoint(addr)?;
    let (url, secure) = url(addr, tls);
    let bad = |e: tonic::transport::Error| ClientError::local(format!("endpoint {addr:?}: {e}"));
    let mut e = Endpoint::from_shared(url).map_err(bad)?;
    if secure {
        e = e.tls_config(tls.config(addr)?).map_err(bad)?;
    }
    Ok(e.connect_timeout(attempt.min(Duration::from_secs(2)))
        .timeout(attempt)
        .connect_lazy())
}

fn endpoint(addr: &str, tls: &TlsOptions, attempt: Duration) -> Result<RegistryClient<Channel>> {
    let ch = channel(addr, tls, attempt)?;
    Ok(RegistryClient::new(ch)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
}

/// The TLS failure behind a transport error, if that is what it is (rustls reports through an
/// `io::Error` of kind `InvalidData`).
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(e);
    while let Some(s) = cur {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return Some(io.to_string());
            }
        }
        cur = s.source();
    }
    None
}

/// Whether a call failed without reaching a registry node (connection refused or timed out,
/// no route): no detail of ours, a transport error underneath.
fn is_unreachable(status: &tonic::Status) -> bool {
    use std::error::Error;
    if carbon_proto::status::detail(status).is_some() {
        return false;
    }
    let mut source = status.source();
    while let Some(e) = source {
        if e.is::<tonic::transport::Error>() || e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    status.code() == tonic::Code::DeadlineExceeded || status.code() == tonic::Code::Cancelled
}

/// One SubmitBatch result read as an answer: exactly one of outcome or error must be set.
pub fn batch_answer(r: SubmitResult) -> Result<Outcome> {
    match r.result {
        Some(submit_result::Result::Outcome(o)) => Ok(o),
        Some(submit_result::Result::Error(d)) => Err(ClientError::from_detail(d)),
        None => Err(ClientError::Unavailable(
            "a batch result carried neither outcome nor error".into(),
        )),
    }
}

impl Client {
    /// A client for these endpoints (`host:port`, plaintext); connections are made on first use.
    pub fn new(endpoints: &[String]) -> Result<Self> {
        Self::with_tls(endpoints, &TlsOptions::default())
    }

    /// A client for these endpoints with TLS options (see [`TlsOptions`] for which is TLS).
    pub fn with_tls(endpoints: &[String], tls: &TlsOptions) -> Result<Self> {
        Self::with_options(endpoints, tls, ATTEMPT_TIMEOUT)
    }

    /// As [`Client::with_tls`], each attempt on one endpoint limited to `attempt`.
    pub fn with_options(endpoints: &[String], tls: &TlsOptions, attempt: Duration) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(ClientError::local("no registry endpoint given"));
        }
        Ok(Client {
            channels: endpoints
                .iter()
                .map(|e| endpoint(e, tls, attempt))
                .collect::<Result<_>>()?,
            secure: endpoints.iter().map(|e| url(e, tls).1).collect(),
            endpoints: endpoints.to_vec(),
            next: 0,
            retry_for: Duration::from_secs(30),
            consistency: ReadConsistency::Linearizable,
            chain_id: None,
        })
    }

    /// An unavailable endpoint: a TLS failure will not heal by retrying, so it is reported at
    /// once with what to check; anything else is retried.
    fn unavailable(&self, i: usize, status: &tonic::Status, m: String) -> ClientError {
        let ep = &self.endpoints[i];
        match tls_failure(status) {
            Some(why) if why.contains("InvalidContentType") => ClientError::local(format!(
                "{ep}: TLS failed ({why}): the server does not speak TLS; only a `carbon-node dev` node serves plaintext, reach it with http://"
            )),
            Some(why) => ClientError::local(format!(
                "{ep}: TLS failed ({why}): is --ca the registry's CA, and does its certificate name this host?"
            )),
            None if !self.secure[i] => ClientError::Unavailable(format!(
                "{ep}: {m} (plaintext connection: if the registry serves TLS, give --ca)"
            )),
            None => ClientError::Unavailable(format!("{ep}: {m}")),
        }
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Calls `f` on one endpoint after another until it answers or the retry budget is spent.
    /// Gives up early when a whole round of endpoints could not even be connected to (nothing
    /// there to wait for): a node that answers, even "no leader yet", is worth retrying.
    pub async fn call<T, F, Fut>(&mut self, mut f: F) -> Result<T>
    where
        F: FnMut(RegistryClient<Channel>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + self.retry_for;
        let mut pause = Duration::from_millis(50);
        let mut unreachable_in_a_row = 0;
        loop {
            let i = self.next % self.channels.len();
            match f(self.channels[i].clone()).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(status) => {
                    unreachable_in_a_row = if is_unreachable(&status) {
                        unreachable_in_a_row + 1
                    } else {
                        0
                    };
                    let nobody_there = unreachable_in_a_row >= self.channels.len().max(2);
                    let e = match ClientError::from_status(&status) {
                        _ if !self.secure[i] && status.message().contains("h2 protocol error") => {
                            ClientError::local(format!(
                                "{}: the server does not speak plaintext gRPC ({}): if it serves TLS, give --ca",
                                self.endpoints[i],
                                status.message()
                            ))
                        }
                        ClientError::Unavailable(m) => self.unavailable(i, &status, m),
                        other => other,
                    };
                    if !e.is_retryable() || Instant::now() >= deadline || nobody_there {
                        return Err(e);
                    }
                }
            }
            self.next += 1;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// The registry's chain id (asked once).
    pub async fn chain_id(&mut self) -> Result<String> {
        if let Some(c) = &self.chain_id {
            return Ok(c.clone());
        }
        let h = self.chain_head().await?;
        self.chain_id = Some(h.chain_id.clone());
        Ok(h.chain_id)
    }

    /// Submits a signed transaction; returns its outcome (code OK), or `Rejected` (with the
    /// stored outcome when it was committed as a rejection, else with its fate). Answers of
    /// unknown fate are retried with the same bytes until the retry budget is spent; an OK status
    /// without an outcome counts as one of them (it is a protocol violation, never a success).
    pub async fn submit(&mut self, tx: SignedTx) -> Result<Outcome> {
        let r = self
            .call(|mut c| {
                let req = SubmitRequest {
                    tx: Some(tx.clone()),
                };
                async move {
                    let r = c.submit(req).await?;
                    if r.get_ref().outcome.is_none() {
                        return Err(tonic::Status::unavailable(
                            "the registry answered OK without an outcome",
                        ));
                    }
                    Ok(r)
                }
            })
            .await?;
        r.outcome
            .ok_or_else(|| ClientError::Unavailable("the registry sent no outcome".into()))
    }

    /// Submits many; one answer per transaction, in order: its outcome (any code: a committed
    /// rejection is an outcome too), or the error with its fate. Transactions whose fate is
    /// unknown are resubmitted (same bytes) until the retry budget is spent.
    pub async fn submit_batch(&mut self, txs: Vec<SignedTx>) -> Result<Vec<Result<Outcome>>> {
        let deadline = Instant::now() + self.retry_for;
        let mut answers: Vec<Result<Outcome>> = txs
            .iter()
            .map(|_| Err(ClientError::Unavailable("not sent".into())))
            .collect();
        let mut pending: Vec<usize> = (0..txs.len()).collect();
        let mut pause = Duration::from_millis(100);
        while !pending.is_empty() {
            let batch: Vec<SignedTx> = pending.iter().map(|&i| txs[i].clone()).collect();
            let r = self
                .call(|mut c| {
                    let req = SubmitBatchRequest { txs: batch.clone() };
                    async move { c.submit_batch(req).await }
                })
                .await?;
            if r.results.len() != pending.len() {
                return Err(ClientError::Unavailable(format!(
                    "the registry answered {} results for {} transactions",
                    r.results.len(),
                    pending.len()
                )));
            }
            let mut again = Vec::new();
            for (&i, result) in pending.iter().zip(r.results) {
                let answer = batch_answer(result);
                if matches!(&answer, Err(e) if e.fate() == Fate::Unknown && e.is_retryable()) {
                    again.push(i);
                }
                answers[i] = answer;
            }
            if again.is_empty() || Instant::now() >= deadline {
                break;
            }
            pending = again;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
        Ok(answers)
    }

    pub async fn chain_head(&mut self) -> Result<GetChainHeadResponse> {
        let consistency = self.consistency as i32;
        self.call(
            |mut c| async move { c.get_chain_head(GetChainHeadRequest { consistency }).await },
        )
        .await
    }

    pub async fn account(&mut self, account_id: &str) -> Result<Account> {
        let req = GetAccountRequest {
            account_id: account_id.into(),
            consistency: self.consistency as i32,
        };
        let r = self
            .rpc(req, |mut c, r| async move { c.get_account(r).await })
            .await?;
        r.account
            .ok_or_else(|| ClientError::Unavailable("no account in the answer".into()))
    }

    /// Puts a credential for exactly `req` into it, signed as `who` (nothing when `None`).
    /// One call of `f` with `req` (cloned for each attempt of [`Self::call`]).
    async fn rpc<R, T, F, Fut>(&mut self, req: R, f: F) -> Result<T>
    where
        R: Clone,
        F: Fn(RegistryClient<Channel>, R) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call(|c| f(c, req.clone())).await
    }

    /// A private read: `req` signed for `who` (if any), then [`Self::rpc`].
    async fn read<R, T, F, Fut>(&mut self, req: R, who: Option<&ReadAs>, f: F) -> Result<T>
    where
        R: PrivateRead + Clone,
        F: Fn(RegistryClient<Channel>, R) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let req = self.signed(req, who).await?;
        self.rpc(req, f).await
    }

    async fn signed<R: PrivateRead>(&mut self, mut req: R, who: Option<&ReadAs>) -> Result<R> {
        if let Some(who) = who {
            let chain = self.chain_id().await?;
            who.sign(&chain, &mut req);
        }
        Ok(req)
    }

    pub async fn holdings(
        &mut self,
        account_id: &str,
        who: &ReadAs,
    ) -> Result<GetHoldingsResponse> {
        let req = GetHoldingsRequest {
            account_id: account_id.into(),
            consistency: self.consistency as i32,
            auth: None,
        };
        self.read(
            req,
            Some(who),
            |mut c, r| async move { c.get_holdings(r).await },
        )
        .await
    }

    pub async fn encumbrances(
        &mut self,
        holder: &str,
        pledgee: &str,
        who: &ReadAs,
    ) -> Result<Vec<Encumbrance>> {
        let mut out = Vec::new();
        let mut page_token = Vec::new();
        loop {
            let req = ListEncumbrancesRequest {
                holder: holder.into(),
                pledgee: pledgee.into(),
                consistency: self.consistency as i32,
                auth: None,
                page_size: 0,
                page_token,
            };
            let r = self
                .read(req, Some(who), |mut c, r| async move {
                    c.list_encumbrances(r).await
                })
                .await?;
            out.extend(r.encumbrances);
            if r.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = r.next_page_token;
        }
    }

    pub async fn compliance(
        &mut self,
        year: u32,
        enterprise: &str,
    ) -> Result<GetComplianceResponse> {
        let mut all = GetComplianceResponse::default();
        loop {
            let req = GetComplianceRequest {
                year,
                enterprise_id: enterprise.into(),
                consistency: self.consistency as i32,
                page_size: 0,
                page_token: std::mem::take(&mut all.next_page_token),
            };
            let r = self
                .rpc(req, |mut c, r| async move { c.get_compliance(r).await })
                .await?;
            all.records.extend(r.records);
            all.year_closed = r.year_closed;
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            all.next_page_token = r.next_page_token;
        }
    }

    pub async fn project(&mut self, project_id: &str) -> Result<GetProjectResponse> {
        let mut all = GetProjectResponse::default();
        loop {
            let req = GetProjectRequest {
                project_id: project_id.into(),
                consistency: self.consistency as i32,
                page_size: 0,
                page_token: std::mem::take(&mut all.next_page_token),
            };
            let r = self
                .rpc(req, |mut c, r| async move { c.get_project(r).await })
                .await?;
            all.project = r.project;
            all.issuances.extend(r.issuances);
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            all.next_page_token = r.next_page_token;
        }
    }

    pub async fn history(
        &mut self,
        account_id: &str,
        from_sequence: u64,
        limit: u32,
        who: &ReadAs,
    ) -> Result<Vec<CommittedTx>> {
        let req = GetHistoryRequest {
            account_id: account_id.into(),
            from_sequence,
            limit,
            consistency: self.consistency as i32,
            auth: None,
        };
        let r = self
            .read(
                req,
                Some(who),
                |mut c, r| async move { c.get_history(r).await },
            )
            .await?;
        Ok(r.transactions)
    }

    /// One page of an account's transactions from a chain sequence on, with the sequence the
    /// next page starts from (0 after the last page).
    pub async fn history_page(
        &mut self,
        account_id: &str,
        from_sequence: u64,
        limit: u32,
        who: &ReadAs,
    ) -> Result<GetHistoryResponse> {
        let req = GetHistoryRequest {
            account_id: account_id.into(),
            from_sequence,
            limit,
            consistency: self.consistency as i32,
            auth: None,
        };
        self.read(
            req,
            Some(who),
            |mut c, r| async move { c.get_history(r).await },
        )
        .await
    }

    /// A transaction by id: whole when `who` is a party or the regulator (or it is public),
    /// else redacted (`tx` unset).
    pub async fn transaction(&mut self, tx_id: &[u8], who: Option<&ReadAs>) -> Result<CommittedTx> {
        let req = GetTransactionRequest {
            tx_id: tx_id.to_vec(),
            consistency: self.consistency as i32,
            auth: None,
        };
        let r = self
            .read(
                req,
                who,
                |mut c, r| async move { c.get_transaction(r).await },
            )
            .await?;
        r.transaction
            .ok_or_else(|| ClientError::Unavailable("no transaction in the answer".into()))
    }

    /// Daily market figures: complete days with enough trades for the public; every day for
    /// the regulator (`who`).
    pub async fn market_stats(
        &mut self,
        unit_class: Option<UnitClass>,
        from_date: u32,
        to_date: u32,
        who: Option<&ReadAs>,
    ) -> Result<Vec<MarketDay>> {
        let mut out = Vec::new();
        let mut page_token = Vec::new();
        loop {
            let req = GetMarketStatsRequest {
                unit_class: unit_class.clone(),
                from_date,
                to_date,
                consistency: self.consistency as i32,
                page_size: 0,
                page_token,
                auth: None,
            };
            let r = self
                .read(
                    req,
                    who,
                    |mut c, r| async move { c.get_market_stats(r).await },
                )
                .await?;
            out.extend(r.days);
            if r.next_page_token.is_empty() {
                // Pages come in unit class order; show days in date order.
                out.sort_by_key(|d| {
                    let c = d.unit_class.clone().unwrap_or_default();
                    (d.date, c.kind, c.vintage, c.project_id)
                });
                return Ok(out);
            }
            page_token = r.next_page_token;
        }
    }

    pub async fn disclosure(&mut self, year: u32) -> Result<GetDisclosureResponse> {
        let mut all = GetDisclosureResponse::default();
        loop {
            let req = GetDisclosureRequest {
                year,
                consistency: self.consistency as i32,
                page_size: 0,
                page_token: std::mem::take(&mut all.next_page_token),
            };
            let r = self
                .rpc(req, |mut c, r| async move { c.get_disclosure(r).await })
                .await?;
            all.compliance.extend(r.compliance);
            all.cancellations.extend(r.cancellations);
            all.issuances.extend(r.issuances);
            all.projects.extend(r.projects);
            all.financing.extend(r.financing);
            all.inclusion.extend(r.inclusion);
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            all.next_page_token = r.next_page_token;
        }
    }

    /// Rule 17, public: every art. 6 authorisation, export and corresponding adjustment of a
    /// vintage year (0: every year), page after page of `page_size` records (0: the server's).
    pub async fn international_transfers(
        &mut self,
        year: u32,
        page_size: u32,
    ) -> Result<ListInternationalTransfersResponse> {
        let mut all = ListInternationalTransfersResponse::default();
        loop {
            let req = ListInternationalTransfersRequest {
                year,
                consistency: self.consistency as i32,
                page_size,
                page_token: std::mem::take(&mut all.next_page_token),
            };
            let r = self
                .rpc(req, |mut c, r| async move {
                    c.list_international_transfers(r).await
                })
                .await?;
            all.authorisations.extend(r.authorisations);
            all.exports.extend(r.exports);
            all.adjustments.extend(r.adjustments);
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            all.next_page_token = r.next_page_token;
        }
    }

    /// Provenance of one serial: its origin and creating transaction, and its retirement if any.
    /// An allowance's serial needs `who`: its holder, its enterprise or the regulator.
    pub async fn trace(
        &mut self,
        unit_class: UnitClass,
        serial: u64,
        who: Option<&ReadAs>,
    ) -> Result<TraceSerialResponse> {
        let req = TraceSerialRequest {
            unit_class: Some(unit_class),
            serial,
            consistency: self.consistency as i32,
            auth: None,
        };
        self.read(req, who, |mut c, r| async move { c.trace_serial(r).await })
            .await
    }

    /// The penalty reference price a close with this deadline would use: public over complete
    /// days with enough trades; whole for the regulator (`who`).
    pub async fn reference_price(
        &mut self,
        deadline_date: u32,
        who: Option<&ReadAs>,
    ) -> Result<GetReferencePriceResponse> {
        let req = GetReferencePriceRequest {
            deadline_date,
            consistency: self.consistency as i32,
            auth: None,
        };
        self.read(req, who, |mut c, r| async move {
            c.get_reference_price(r).await
        })
        .await
    }

    /// Rule 15: an account's trusted list, transfer limits and pending transfers.
    pub async fn safeguards(
        &mut self,
        account_id: &str,
        who: &ReadAs,
    ) -> Result<carbon_proto::v1::ListSafeguardsResponse> {
        let req = carbon_proto::v1::ListSafeguardsRequest {
            account_id: account_id.into(),
            consistency: self.consistency as i32,
            auth: None,
        };
        self.read(req, Some(who), |mut c, r| async move {
            c.list_safeguards(r).await
        })
        .await
    }

    /// Rule 16: a person's carbon points (the person, its platform or the regulator, `who`).
    pub async fn points(
        &mut self,
        account_id: &str,
        year: u32,
        who: &ReadAs,
    ) -> Result<carbon_proto::v1::GetPointsResponse> {
        let req = carbon_proto::v1::GetPointsRequest {
            account_id: account_id.into(),
            year,
            consistency: self.consistency as i32,
            auth: None,
        };
        self.read(
            req,
            Some(who),
            |mut c, r| async move { c.get_points(r).await },
        )
        .await
    }

    /// Rule 16: one page of a person's points statement.
    pub async fn points_statement_page(
        &mut self,
        req: carbon_proto::v1::GetPointsStatementRequest,
        who: &ReadAs,
    ) -> Result<carbon_proto::v1::GetPointsStatementResponse> {
        let req = carbon_proto::v1::GetPointsStatementRequest {
            consistency: self.consistency as i32,
            auth: None,
            ..req
        };
        self.read(req, Some(who), |mut c, r| async move {
            c.get_points_statement(r).await
        })
        .await
    }

    /// Rule 16, public: inclusion totals, methodologies and platforms.
    pub async fn inclusion(
        &mut self,
        platform_id: &str,
        year: u32,
    ) -> Result<carbon_proto::v1::ListInclusionResponse> {
        let req = carbon_proto::v1::ListInclusionRequest {
            platform_id: platform_id.into(),
            year,
            consistency: self.consistency as i32,
        };
        self.rpc(req, |mut c, r| async move { c.list_inclusion(r).await })
            .await
    }

    pub async fn repos(&mut self, party: &str, who: &ReadAs) -> Result<Vec<RepoAgreement>> {
        let req = ListReposRequest {
            party: party.into(),
            consistency: self.consistency as i32,
            auth: None,
        };
        let r = self
            .read(
                req,
                Some(who),
                |mut c, r| async move { c.list_repos(r).await },
            )
            .await?;
        Ok(r.repos)
    }

    /// Loans of a party (empty: every loan, for the regulator).
    pub async fn loans(
        &mut self,
        party: &str,
        overdue_only: bool,
        who: &ReadAs,
    ) -> Result<Vec<Loan>> {
        let req = ListLoansRequest {
            party: party.into(),
            overdue_only,
            consistency: self.consistency as i32,
            auth: None,
        };
        let r = self
            .read(
                req,
                Some(who),
                |mut c, r| async move { c.list_loans(r).await },
            )
            .await?;
        Ok(r.loans)
    }

    pub async fn vintages(&mut self, who: &ReadAs) -> Result<Vec<Vintage>> {
        let req = ListVintagesRequest {
            consistency: self.consistency as i32,
            auth: None,
        };
        let r = self
            .read(req, Some(who), |mut c, r| async move {
                c.list_vintages(r).await
            })
            .await?;
        Ok(r.vintages)
    }

    pub async fn allocations(
        &mut self,
        vintage: u32,
        enterprise_id: &str,
        who: &ReadAs,
    ) -> Result<Vec<Allocation>> {
        let req = ListAllocationsRequest {
            vintage,
            enterprise_id: enterprise_id.into(),
            consistency: self.consistency as i32,
            auth: None,
        };
        let r = self
            .read(req, Some(who), |mut c, r| async move {
                c.list_allocations(r).await
            })
            .await?;
        Ok(r.allocations)
    }

    /// One page of the account listing (the regulator).
    pub async fn accounts_page(
        &mut self,
        req: ListAccountsRequest,
        who: &ReadAs,
    ) -> Result<ListAccountsResponse> {
        let req = ListAccountsRequest {
            consistency: self.consistency as i32,
            auth: None,
            ..req
        };
        self.read(req, Some(who), |mut c, r| async move {
            c.list_accounts(r).await
        })
        .await
    }

    /// One page of an account statement.
    pub async fn statement_page(
        &mut self,
        req: GetStatementRequest,
        who: &ReadAs,
    ) -> Result<GetStatementResponse> {
        let req = GetStatementRequest {
            consistency: self.consistency as i32,
            auth: None,
            ..req
        };
        self.read(req, Some(who), |mut c, r| async move {
            c.get_statement(r).await
        })
        .await
    }

    /// Runs a transaction (signed, or unsigned: every signer assumed to sign) through the ledger
    /// on the leader's current state; nothing is committed. An unsigned one needs `who`, one of
    /// its signing accounts or the regulator (the outcome shows their private state).
    pub async fn simulate(
        &mut self,
        tx: SignedTx,
        who: Option<&ReadAs>,
    ) -> Result<SimulateResponse> {
        let req = SimulateRequest {
            tx: Some(tx),
            auth: None,
        };
        self.read(req, who, |mut c, r| async move { c.simulate(r).await })
            .await
    }

    /// The cluster as the leader sees it (or, with `local`, as the answering node sees it).
    /// The cluster's status; members' addresses and replication only for the regulator (`who`)
    /// or with `admin`, a request with the `cluster_status` action signed by the cluster admin
    /// key.
    pub async fn cluster_status(
        &mut self,
        local: bool,
        who: Option<&ReadAs>,
        admin: Option<AdminRequest>,
    ) -> Result<ClusterStatusResponse> {
        let req = ClusterStatusRequest {
            local,
            auth: None,
            admin,
        };
        self.read(
            req,
            who,
            |mut c, r| async move { c.cluster_status(r).await },
        )
        .await
    }

    /// A backup of the answering node's state, as a stream of chunks (`AdminRequest` with the
    /// backup action, signed by the cluster admin key).
    pub async fn backup(&mut self, req: AdminRequest) -> Result<tonic::Streaming<BackupChunk>> {
        self.rpc(req, |mut c, r| async move { c.backup(r).await })
            .await
    }

    pub async fn admin(&mut self, req: AdminRequest) -> Result<AdminResponse> {
        self.rpc(req, |mut c, r| async move { c.admin(r).await })
            .await
    }

    /// Committed transactions from a chain sequence on, as they commit: the public stream
    /// (private transactions redacted), or as `who` may see them (the regulator: everything).
    pub async fn watch(
        &mut self,
        from_sequence: u64,
        who: Option<&ReadAs>,
    ) -> Result<tonic::Streaming<CommittedTx>> {
        let req = WatchRequest {
            from_sequence,
            auth: None,
        };
        self.read(req, who, |mut c, r| async move { c.watch(r).await })
            .await
    }

    /// The whole history in chain order (for offline verification: the regulator's view).
    pub async fn export(&mut self, max: u64, who: &ReadAs) -> Result<Vec<CommittedTx>> {
        let head = self.chain_head().await?;
        let want = head.sequence.min(max);
        let mut out = Vec::new();
        if want == 0 {
            return Ok(out);
        }
        let mut stream = self.watch(1, Some(who)).await?;
        while (out.len() as u64) < want {
            match stream.message().await {
                Ok(Some(t)) => out.push(t),
                Ok(None) => break,
                Err(s) => return Err(ClientError::from_status(&s)),
            }
        }
        Ok(out)
    }
}
