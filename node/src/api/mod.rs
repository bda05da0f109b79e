//! The client API: the gRPC `Registry` service of `proto/`.
//!
//! * Writes ([`submit`]): the adapter over the write path (`crate::write`: ingress checks on
//!   any node, idempotency by tx id, forwarding by followers, the leader's proposer).
//! * Reads ([`reads`]): linearizable through the leader by default (read index), or local on
//!   request; private reads need a `ReadAuth` bound to the request ([`auth`]).
//! * [`simulate`]: dry runs of a transaction on the leader's state, committing nothing.
//! * [`watch`]: committed transactions in chain order, resumable from any sequence; private
//!   ones redacted for watchers who may not see them.
//! * [`admin`]: cluster status and membership changes signed by the cluster admin key;
//!   [`backup`]: a consistent backup of this node's state, streamed.
//! * [`health`]: `grpc.health.v1` statuses from Raft and the watchdog; [`reflection`]: server
//!   reflection; [`rpc_metrics`]: request durations per RPC and code.
//!
//! Below it and shared with `write`: `crate::errors` (the one mapping from error codes to gRPC
//! statuses), `crate::forward` (the leader forwarder) and `crate::limits`.

pub mod admin;
pub mod auth;
pub mod backup;
pub mod health;
pub mod paging;
pub mod reads;
pub mod reflection;
pub mod rpc_metrics;
pub mod simulate;
pub mod submit;
pub mod watch;

use crate::errors::ApiError;
use crate::forward::{forwarded, is_forwarded};
use crate::node::Node;
use carbon_proto::v1::registry_server::Registry;
use carbon_proto::v1::*;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct RegistryService {
    pub node: Arc<Node>,
}

type Resp<T> = Result<Response<T>, Status>;

/// Serves a read here, or forwards it to the leader when a linearizable read is asked of a
/// follower.
macro_rules! read {
    ($self:ident, $req:ident, $method:ident, $local:expr) => {{
        let forwarded_in = is_forwarded($req.metadata());
        let r = $req.into_inner();
        match reads::gate(&$self.node, r.consistency, forwarded_in).await? {
            Some(mut leader) => reads::follow(&$self.node, leader.$method(forwarded(r))).await,
            None => {
                let f = $local;
                Ok(Response::new(f(&$self.node, r)?))
            }
        }
    }};
}

#[tonic::async_trait]
impl Registry for RegistryService {
    async fn submit(&self, req: Request<SubmitRequest>) -> Resp<SubmitResponse> {
        let fwd = is_forwarded(req.metadata());
        crate::metrics::get().submitted_txs.inc();
        let outcome = submit::one(&self.node, req.into_inner().tx, fwd).await?;
        if outcome.code() != ErrorCode::Ok {
            return Err(ApiError::rejected(outcome).into());
        }
        Ok(Response::new(SubmitResponse {
            outcome: Some(outcome),
        }))
    }

    async fn submit_batch(&self, req: Request<SubmitBatchRequest>) -> Resp<SubmitBatchResponse> {
        let fwd = is_forwarded(req.metadata());
        let txs = req.into_inner().txs;
        crate::metrics::get().submitted_txs.inc_by(txs.len() as u64);
        if txs.len() > crate::write::checks::BATCH_TXS_MAX {
            return Err(ApiError::not_applied(
                ErrorCode::MessageTooLarge,
                format!(
                    "at most {} transactions per batch; none of these was looked at",
                    crate::write::checks::BATCH_TXS_MAX
                ),
            )
            .into());
        }
        let answers = submit::many(&self.node, txs.into_iter().map(Some).collect(), fwd).await;
        Ok(Response::new(SubmitBatchResponse {
            results: answers.into_iter().map(submit::result).collect(),
        }))
    }

    async fn get_account(&self, req: Request<GetAccountRequest>) -> Resp<GetAccountResponse> {
        read!(self, req, get_account, reads::account)
    }

    async fn get_holdings(&self, req: Request<GetHoldingsRequest>) -> Resp<GetHoldingsResponse> {
        read!(self, req, get_holdings, reads::holdings)
    }

    async fn list_encumbrances(
        &self,
        req: Request<ListEncumbrancesRequest>,
    ) -> Resp<ListEncumbrancesResponse> {
        read!(self, req, list_encumbrances, reads::encumbrances)
    }

    async fn get_compliance(
        &self,
        req: Request<GetComplianceRequest>,
    ) -> Resp<GetComplianceResponse> {
        read!(self, req, get_compliance, reads::compliance)
    }

    async fn get_project(&self, req: Request<GetProjectRequest>) -> Resp<GetProjectResponse> {
        read!(self, req, get_project, reads::project)
    }

    async fn get_history(&self, req: Request<GetHistoryRequest>) -> Resp<GetHistoryResponse> {
        read!(self, req, get_history, reads::history)
    }

    async fn get_transaction(
        &self,
        req: Request<GetTransactionRequest>,
    ) -> Resp<GetTransactionResponse> {
        read!(self, req, get_transaction, reads::transaction)
    }

    async fn get_chain_head(
        &self,
        req: Request<GetChainHeadRequest>,
    ) -> Resp<GetChainHeadResponse> {
        read!(self, req, get_chain_head, reads::chain_head)
    }

    async fn get_market_stats(
        &self,
        req: Request<GetMarketStatsRequest>,
    ) -> Resp<GetMarketStatsResponse> {
        read!(self, req, get_market_stats, reads::market_stats)
    }

    async fn get_disclosure(
        &self,
        req: Request<GetDisclosureRequest>,
    ) -> Resp<GetDisclosureResponse> {
        read!(self, req, get_disclosure, reads::disclosure)
    }

    async fn trace_serial(&self, req: Request<TraceSerialRequest>) -> Resp<TraceSerialResponse> {
        read!(self, req, trace_serial, reads::trace)
    }

    async fn get_reference_price(
        &self,
        req: Request<GetReferencePriceRequest>,
    ) -> Resp<GetReferencePriceResponse> {
        read!(self, req, get_reference_price, reads::reference_price)
    }

    async fn list_repos(&self, req: Request<ListReposRequest>) -> Resp<ListReposResponse> {
        read!(self, req, list_repos, reads::repos)
    }

    async fn list_international_transfers(
        &self,
        req: Request<ListInternationalTransfersRequest>,
    ) -> Resp<ListInternationalTransfersResponse> {
        read!(
            self,
            req,
            list_international_transfers,
            reads::international_transfers
        )
    }

    async fn list_safeguards(
        &self,
        req: Request<ListSafeguardsRequest>,
    ) -> Resp<ListSafeguardsResponse> {
        read!(self, req, list_safeguards, reads::safeguards)
    }

    async fn get_points(&self, req: Request<GetPointsRequest>) -> Resp<GetPointsResponse> {
        read!(self, req, get_points, reads::points)
    }

    async fn get_points_statement(
        &self,
        req: Request<GetPointsStatementRequest>,
    ) -> Resp<GetPointsStatementResponse> {
        read!(self, req, get_points_statement, reads::points_statement)
    }

    async fn list_inclusion(
        &self,
        req: Request<ListInclusionRequest>,
    ) -> Resp<ListInclusionResponse> {
        read!(self, req, list_inclusion, reads::inclusion)
    }

    async fn list_loans(&self, req: Request<ListLoansRequest>) -> Resp<ListLoansResponse> {
        read!(self, req, list_loans, reads::loans)
    }

    async fn list_vintages(&self, req: Request<ListVintagesRequest>) -> Resp<ListVintagesResponse> {
        read!(self, req, list_vintages, reads::vintages)
    }

    async fn list_allocations(
        &self,
        req: Request<ListAllocationsRequest>,
    ) -> Resp<ListAllocationsResponse> {
        read!(self, req, list_allocations, reads::allocations)
    }

    async fn list_accounts(&self, req: Request<ListAccountsRequest>) -> Resp<ListAccountsResponse> {
        read!(self, req, list_accounts, reads::accounts)
    }

    async fn get_statement(&self, req: Request<GetStatementRequest>) -> Resp<GetStatementResponse> {
        read!(self, req, get_statement, reads::statement)
    }

    async fn simulate(&self, req: Request<SimulateRequest>) -> Resp<SimulateResponse> {
        let fwd = is_forwarded(req.metadata());
        let r = req.into_inner();
        match reads::gate(&self.node, ReadConsistency::Linearizable as i32, fwd).await? {
            Some(mut leader) => leader.simulate(forwarded(r)).await,
            None => Ok(Response::new(simulate::run(&self.node, r)?)),
        }
    }

    type WatchStream = watch::WatchStream;

    async fn watch(&self, req: Request<WatchRequest>) -> Resp<Self::WatchStream> {
        Ok(Response::new(watch::open(
            self.node.clone(),
            req.into_inner(),
        )?))
    }

    async fn cluster_status(
        &self,
        req: Request<ClusterStatusRequest>,
    ) -> Resp<ClusterStatusResponse> {
        let fwd = is_forwarded(req.metadata());
        Ok(Response::new(
            admin::cluster_status(&self.node, req.into_inner(), fwd).await?,
        ))
    }

    type BackupStream = backup::BackupStream;

    async fn backup(&self, req: Request<AdminRequest>) -> Resp<Self::BackupStream> {
        Ok(Response::new(
            backup::start(self.node.clone(), req.into_inner()).await?,
        ))
    }

    async fn admin(&self, req: Request<AdminRequest>) -> Resp<AdminResponse> {
        let fwd = is_forwarded(req.metadata());
        Ok(Response::new(
            admin::handle(&self.node, req.into_inner(), fwd).await?,
        ))
    }
}
