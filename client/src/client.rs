//! A registry client over a list of endpoints: it fails over between them, and retries the SAME
//! signed bytes after a timeout or a leader change (safe: the registry deduplicates by tx id), so
//! a submission either returns its one outcome or a clear error.

use crate::error::ClientError;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::*;
use std::future::Future;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

pub type Result<T> = std::result::Result<T, ClientError>;

/// How long one attempt on one endpoint may take, unless told otherwise.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Client {
    endpoints: Vec<String>,
    channels: Vec<RegistryClient<Channel>>,
    next: usize,
    /// How long a call keeps trying other endpoints (while one of them can be reached).
    pub retry_for: Duration,
    /// Consistency asked of reads.
    pub consistency: ReadConsistency,
    chain_id: Option<String>,
}

/// An endpoint as `host:port` (or `http://host:port`) made into a URL, or why it is not one.
pub fn endpoint_url(addr: &str) -> Result<String> {
    let bad = |why: &str| {
        ClientError::local(format!(
            "endpoint {addr:?}: {why} (expected host:port, e.g. 127.0.0.1:50051)"
        ))
    };
    let addr = addr.trim();
    let url = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else if addr.contains("://") {
        return Err(bad("only http:// and https:// are known"));
    } else {
        format!("http://{addr}")
    };
    let uri: tonic::codegen::http::Uri = url.parse().map_err(|_| bad("not an address"))?;
    let host = uri.host().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if uri.port_u16().is_none_or(|p| p == 0) {
        return Err(bad("no port"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(bad("a path is not allowed"));
    }
    Ok(url)
}

fn endpoint(addr: &str, attempt: Duration) -> Result<RegistryClient<Channel>> {
    let ch = Endpoint::from_shared(endpoint_url(addr)?)
        .map_err(|e| ClientError::local(format!("endpoint {addr:?}: {e}")))?
        .connect_timeout(attempt.min(Duration::from_secs(2)))
        .timeout(attempt)
        .connect_lazy();
    Ok(RegistryClient::new(ch)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20))
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
    /// A client for these endpoints (`host:port`); connections are made on first use.
    pub fn new(endpoints: &[String]) -> Result<Self> {
        Self::with_timeout(endpoints, ATTEMPT_TIMEOUT)
    }

    /// As [`Client::new`], each attempt on one endpoint limited to `attempt`.
    pub fn with_timeout(endpoints: &[String], attempt: Duration) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(ClientError::local("no registry endpoint given"));
        }
        Ok(Client {
            channels: endpoints
                .iter()
                .map(|e| endpoint(e, attempt))
                .collect::<Result<_>>()?,
            endpoints: endpoints.to_vec(),
            next: 0,
            retry_for: Duration::from_secs(30),
            consistency: ReadConsistency::Linearizable,
            chain_id: None,
        })
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
                    let unreachable = is_unreachable(&status);
                    let e = match ClientError::from_status(&status) {
                        ClientError::Unavailable(m) => {
                            ClientError::Unavailable(format!("{}: {m}", self.endpoints[i]))
                        }
                        other => other,
                    };
                    unreachable_in_a_row = if unreachable {
                        unreachable_in_a_row + 1
                    } else {
                        0
                    };
                    let nobody_there = unreachable_in_a_row >= self.channels.len().max(2);
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
            .call(|mut c| {
                let req = req.clone();
                async move { c.get_account(req).await }
            })
            .await?;
        r.account
            .ok_or_else(|| ClientError::Unavailable("no account in the answer".into()))
    }

    pub async fn holdings(
        &mut self,
        account_id: &str,
        auth: ReadAuth,
    ) -> Result<GetHoldingsResponse> {
        let req = GetHoldingsRequest {
            account_id: account_id.into(),
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.get_holdings(req).await }
        })
        .await
    }

    pub async fn encumbrances(
        &mut self,
        holder: &str,
        pledgee: &str,
        auth: ReadAuth,
    ) -> Result<Vec<Encumbrance>> {
        let req = ListEncumbrancesRequest {
            holder: holder.into(),
            pledgee: pledgee.into(),
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.list_encumbrances(req).await }
            })
            .await?;
        Ok(r.encumbrances)
    }

    pub async fn compliance(
        &mut self,
        year: u32,
        enterprise: &str,
    ) -> Result<GetComplianceResponse> {
        let req = GetComplianceRequest {
            year,
            enterprise_id: enterprise.into(),
            consistency: self.consistency as i32,
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.get_compliance(req).await }
        })
        .await
    }

    pub async fn project(&mut self, project_id: &str) -> Result<GetProjectResponse> {
        let req = GetProjectRequest {
            project_id: project_id.into(),
            consistency: self.consistency as i32,
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.get_project(req).await }
        })
        .await
    }

    pub async fn history(
        &mut self,
        account_id: &str,
        from_sequence: u64,
        limit: u32,
        auth: ReadAuth,
    ) -> Result<Vec<CommittedTx>> {
        let req = GetHistoryRequest {
            account_id: account_id.into(),
            from_sequence,
            limit,
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.get_history(req).await }
            })
            .await?;
        Ok(r.transactions)
    }

    pub async fn transaction(&mut self, tx_id: &[u8]) -> Result<CommittedTx> {
        let req = GetTransactionRequest {
            tx_id: tx_id.to_vec(),
            consistency: self.consistency as i32,
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.get_transaction(req).await }
            })
            .await?;
        r.transaction
            .ok_or_else(|| ClientError::Unavailable("no transaction in the answer".into()))
    }

    pub async fn market_stats(
        &mut self,
        unit_class: Option<UnitClass>,
        from_date: u32,
        to_date: u32,
    ) -> Result<Vec<MarketDay>> {
        let req = GetMarketStatsRequest {
            unit_class,
            from_date,
            to_date,
            consistency: self.consistency as i32,
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.get_market_stats(req).await }
            })
            .await?;
        Ok(r.days)
    }

    pub async fn disclosure(&mut self, year: u32) -> Result<GetDisclosureResponse> {
        let req = GetDisclosureRequest {
            year,
            consistency: self.consistency as i32,
        };
        self.call(|mut c| async move { c.get_disclosure(req).await })
            .await
    }

    /// Provenance of one serial: its origin and creating transaction, and its retirement if any.
    pub async fn trace(
        &mut self,
        unit_class: UnitClass,
        serial: u64,
    ) -> Result<TraceSerialResponse> {
        let req = TraceSerialRequest {
            unit_class: Some(unit_class),
            serial,
            consistency: self.consistency as i32,
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.trace_serial(req).await }
        })
        .await
    }

    /// The penalty reference price a close with this deadline would use (public).
    pub async fn reference_price(
        &mut self,
        deadline_date: u32,
    ) -> Result<GetReferencePriceResponse> {
        let req = GetReferencePriceRequest {
            deadline_date,
            consistency: self.consistency as i32,
        };
        self.call(|mut c| async move { c.get_reference_price(req).await })
            .await
    }

    pub async fn repos(&mut self, party: &str, auth: ReadAuth) -> Result<Vec<RepoAgreement>> {
        let req = ListReposRequest {
            party: party.into(),
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.list_repos(req).await }
            })
            .await?;
        Ok(r.repos)
    }

    /// Loans of a party (empty: every loan, for the regulator).
    pub async fn loans(
        &mut self,
        party: &str,
        overdue_only: bool,
        auth: ReadAuth,
    ) -> Result<Vec<Loan>> {
        let req = ListLoansRequest {
            party: party.into(),
            overdue_only,
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.list_loans(req).await }
            })
            .await?;
        Ok(r.loans)
    }

    pub async fn vintages(&mut self, auth: ReadAuth) -> Result<Vec<Vintage>> {
        let req = ListVintagesRequest {
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.list_vintages(req).await }
            })
            .await?;
        Ok(r.vintages)
    }

    pub async fn allocations(
        &mut self,
        vintage: u32,
        enterprise_id: &str,
        auth: ReadAuth,
    ) -> Result<Vec<Allocation>> {
        let req = ListAllocationsRequest {
            vintage,
            enterprise_id: enterprise_id.into(),
            consistency: self.consistency as i32,
            auth: Some(auth),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.list_allocations(req).await }
            })
            .await?;
        Ok(r.allocations)
    }

    /// One page of the account listing (the regulator).
    pub async fn accounts_page(
        &mut self,
        req: ListAccountsRequest,
    ) -> Result<ListAccountsResponse> {
        let req = ListAccountsRequest {
            consistency: self.consistency as i32,
            ..req
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.list_accounts(req).await }
        })
        .await
    }

    /// One page of an account statement.
    pub async fn statement_page(
        &mut self,
        req: GetStatementRequest,
    ) -> Result<GetStatementResponse> {
        let req = GetStatementRequest {
            consistency: self.consistency as i32,
            ..req
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.get_statement(req).await }
        })
        .await
    }

    /// Runs a transaction (signed, or unsigned: every signer assumed to sign) through the ledger
    /// on the leader's current state; nothing is committed.
    pub async fn simulate(&mut self, tx: SignedTx) -> Result<SimulateResponse> {
        self.call(|mut c| {
            let req = SimulateRequest {
                tx: Some(tx.clone()),
            };
            async move { c.simulate(req).await }
        })
        .await
    }

    /// The cluster as the leader sees it (or, with `local`, as the answering node sees it).
    pub async fn cluster_status(&mut self, local: bool) -> Result<ClusterStatusResponse> {
        self.call(|mut c| async move { c.cluster_status(ClusterStatusRequest { local }).await })
            .await
    }

    /// A backup of the answering node's state, as a stream of chunks (`AdminRequest` with the
    /// backup action, signed by the cluster admin key).
    pub async fn backup(&mut self, req: AdminRequest) -> Result<tonic::Streaming<BackupChunk>> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.backup(req).await }
        })
        .await
    }

    pub async fn admin(&mut self, req: AdminRequest) -> Result<AdminResponse> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.admin(req).await }
        })
        .await
    }

    /// Committed transactions from a chain sequence on, as they commit.
    pub async fn watch(&mut self, from_sequence: u64) -> Result<tonic::Streaming<CommittedTx>> {
        self.call(|mut c| async move { c.watch(WatchRequest { from_sequence }).await })
            .await
    }

    /// The whole history in chain order (for offline verification), page by page.
    pub async fn export(&mut self, max: u64) -> Result<Vec<CommittedTx>> {
        let head = self.chain_head().await?;
        let want = head.sequence.min(max);
        let mut out = Vec::new();
        if want == 0 {
            return Ok(out);
        }
        let mut stream = self.watch(1).await?;
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
