//! Reads: every query of the registry's rules, answered from this node's applied state after
//! the consistency gate ([`gate`]) has done its part.

use super::auth::{
    is_regulator, party_or_regulator, reader, regulator_only, require_self_or_regulator,
};
use super::errors::ApiError;
use super::forward::leader;
use super::ingress::now_ms;
use crate::ledger::queries;
use crate::node::Node;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::*;
use std::sync::Arc;
use tonic::transport::Channel;

/// Most records one history or watch page returns.
pub const MAX_PAGE: usize = 1_000;

/// Linearizable reads: on the leader, confirm leadership and wait until the read index is
/// applied (openraft's `ensure_linearizable`); on a follower, return a client to the leader.
/// Local reads: nothing to do.
pub async fn gate(
    node: &Arc<Node>,
    consistency: i32,
    was_forwarded: bool,
) -> Result<Option<RegistryClient<Channel>>, ApiError> {
    if consistency == ReadConsistency::Local as i32 {
        return Ok(None);
    }
    match leader(&node.raft) {
        Some((id, _)) if id == node.id => {
            node.raft
                .ensure_linearizable()
                .await
                .map_err(|e| ApiError::unavailable(format!("cannot confirm leadership: {e}")))?;
            Ok(None)
        }
        Some((_, addr)) if !was_forwarded => Ok(Some(node.forwarder.client(&addr.client_addr)?)),
        _ => Err(ApiError::unavailable(
            "no leader to confirm a linearizable read; retry or ask for a local read",
        )),
    }
}

pub fn account(node: &Arc<Node>, r: GetAccountRequest) -> Result<GetAccountResponse, ApiError> {
    let a = queries::account(&node.state.view(), &r.account_id)?
        .ok_or_else(|| ApiError::not_found(format!("no account {:?}", r.account_id)))?;
    Ok(GetAccountResponse { account: Some(a) })
}

pub fn holdings(node: &Arc<Node>, r: GetHoldingsRequest) -> Result<GetHoldingsResponse, ApiError> {
    let view = node.state.view();
    let who = reader(&view, &node.genesis.chain_id, r.auth.as_ref())?;
    let (balances, blocks) = queries::holdings(&view, &r.account_id)?;
    if who.account_id == r.account_id || is_regulator(&who) {
        return Ok(GetHoldingsResponse { balances, blocks });
    }
    // A pledgee sees only the units pledged to it.
    let mine: Vec<u64> = queries::encumbrances_of_pledgee(&view, &who.account_id)?
        .into_iter()
        .filter(|e| e.holder == r.account_id)
        .map(|e| e.id)
        .collect();
    if mine.is_empty() {
        return Err(ApiError::denied(format!(
            "{:?} may not read {:?}'s holdings",
            who.account_id, r.account_id
        )));
    }
    let blocks: Vec<SerialBlock> = blocks
        .into_iter()
        .filter(|b| b.state() == BlockState::Pledged && mine.contains(&b.encumbrance_id))
        .collect();
    Ok(GetHoldingsResponse {
        balances: Vec::new(),
        blocks,
    })
}

pub fn encumbrances(
    node: &Arc<Node>,
    r: ListEncumbrancesRequest,
) -> Result<ListEncumbrancesResponse, ApiError> {
    let view = node.state.view();
    let who = reader(&view, &node.genesis.chain_id, r.auth.as_ref())?;
    let encumbrances = match (r.holder.is_empty(), r.pledgee.is_empty()) {
        (false, true) => {
            require_self_or_regulator(&who, &r.holder)?;
            queries::encumbrances_of_holder(&view, &r.holder)?
        }
        (true, false) => {
            require_self_or_regulator(&who, &r.pledgee)?;
            queries::encumbrances_of_pledgee(&view, &r.pledgee)?
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "name exactly one of holder or pledgee",
            ))
        }
    };
    Ok(ListEncumbrancesResponse { encumbrances })
}

pub fn compliance(
    node: &Arc<Node>,
    r: GetComplianceRequest,
) -> Result<GetComplianceResponse, ApiError> {
    let e = (!r.enterprise_id.is_empty()).then_some(r.enterprise_id.as_str());
    let (records, year_closed) = queries::compliance(&node.state.view(), r.year, e)?;
    Ok(GetComplianceResponse {
        records,
        year_closed,
    })
}

pub fn project(node: &Arc<Node>, r: GetProjectRequest) -> Result<GetProjectResponse, ApiError> {
    let (p, issuances) = queries::project(&node.state.view(), &r.project_id)?
        .ok_or_else(|| ApiError::not_found(format!("no project {:?}", r.project_id)))?;
    Ok(GetProjectResponse {
        project: Some(p),
        issuances,
    })
}

pub fn history(node: &Arc<Node>, r: GetHistoryRequest) -> Result<GetHistoryResponse, ApiError> {
    let view = node.state.view();
    let who = reader(&view, &node.genesis.chain_id, r.auth.as_ref())?;
    require_self_or_regulator(&who, &r.account_id)?;
    let limit = match r.limit as usize {
        0 => MAX_PAGE,
        n => n.min(MAX_PAGE),
    };
    Ok(GetHistoryResponse {
        transactions: queries::history(&view, &r.account_id, r.from_sequence, limit)?,
    })
}

pub fn transaction(
    node: &Arc<Node>,
    r: GetTransactionRequest,
) -> Result<GetTransactionResponse, ApiError> {
    let id: [u8; 32] = r
        .tx_id
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::new(ErrorCode::InvalidArgument, "a tx id is 32 bytes"))?;
    let t = queries::transaction(&node.state.view(), &id)?
        .ok_or_else(|| ApiError::not_found(format!("no transaction {}", hex::encode(id))))?;
    Ok(GetTransactionResponse {
        transaction: Some(t),
    })
}

pub fn chain_head(
    node: &Arc<Node>,
    _r: GetChainHeadRequest,
) -> Result<GetChainHeadResponse, ApiError> {
    let chain = queries::chain(&node.state.view())?.unwrap_or_default();
    let applied = node
        .raft
        .metrics()
        .borrow()
        .last_applied
        .map_or(0, |l| l.index);
    Ok(GetChainHeadResponse {
        sequence: chain.sequence,
        chain_head: chain.head,
        applied_index: applied,
        chain_id: node.genesis.chain_id.clone(),
    })
}

pub fn market_stats(
    node: &Arc<Node>,
    r: GetMarketStatsRequest,
) -> Result<GetMarketStatsResponse, ApiError> {
    Ok(GetMarketStatsResponse {
        days: queries::market_days(
            &node.state.view(),
            r.unit_class.as_ref(),
            r.from_date,
            r.to_date,
        )?,
    })
}

pub fn trace(node: &Arc<Node>, r: TraceSerialRequest) -> Result<TraceSerialResponse, ApiError> {
    let class = r
        .unit_class
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidUnitClass, "give a unit class"))?;
    queries::trace(&node.state.view(), &class, r.serial)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "serial {} of that class was never created",
            r.serial
        ))
    })
}

pub fn disclosure(
    node: &Arc<Node>,
    r: GetDisclosureRequest,
) -> Result<GetDisclosureResponse, ApiError> {
    let d = queries::disclosure(&node.state.view(), r.year)?;
    Ok(GetDisclosureResponse {
        compliance: d.compliance,
        cancellations: d.cancellations,
        issuances: d.issuances,
        projects: d.projects,
        financing: d.financing,
    })
}

fn date_arg(date: u32, what: &str, optional: bool) -> Result<u32, ApiError> {
    if (optional && date == 0) || crate::ledger::dates::is_valid_date(date) {
        Ok(date)
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidArgument,
            format!("{what} {date} is not a yyyymmdd date"),
        ))
    }
}

fn page(limit: u32) -> usize {
    match limit as usize {
        0 => MAX_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Public: the penalty reference price a close with this deadline would use.
pub fn reference_price(
    node: &Arc<Node>,
    r: GetReferencePriceRequest,
) -> Result<GetReferencePriceResponse, ApiError> {
    let deadline = date_arg(r.deadline_date, "deadline", false)?;
    let p = queries::reference_price(&node.state.view(), deadline)?;
    Ok(GetReferencePriceResponse {
        first_date: p.first_date,
        last_date: p.last_date,
        days: p.days,
        volume: u64::try_from(p.volume).unwrap_or(u64::MAX),
        turnover_fen: u64::try_from(p.turnover_fen).unwrap_or(u64::MAX),
        traded: p.price_fen.is_some(),
        reference_price_fen: p.price_fen.unwrap_or(0),
    })
}

pub fn repos(node: &Arc<Node>, r: ListReposRequest) -> Result<ListReposResponse, ApiError> {
    let view = node.state.view();
    party_or_regulator(&view, &node.genesis.chain_id, r.auth.as_ref(), &r.party)?;
    Ok(ListReposResponse {
        repos: queries::repos_of(&view, &r.party)?,
    })
}

pub fn loans(node: &Arc<Node>, r: ListLoansRequest) -> Result<ListLoansResponse, ApiError> {
    let view = node.state.view();
    let chain = &node.genesis.chain_id;
    let party = if r.party.is_empty() {
        regulator_only(&view, chain, r.auth.as_ref())?;
        None
    } else {
        party_or_regulator(&view, chain, r.auth.as_ref(), &r.party)?;
        Some(r.party.as_str())
    };
    let today = crate::ledger::dates::date_of(now_ms());
    let mut loans = queries::loans(&view, party, today)?;
    if r.overdue_only {
        loans.retain(|l| l.overdue);
    }
    Ok(ListLoansResponse { loans })
}

pub fn vintages(
    node: &Arc<Node>,
    r: ListVintagesRequest,
) -> Result<ListVintagesResponse, ApiError> {
    let view = node.state.view();
    regulator_only(&view, &node.genesis.chain_id, r.auth.as_ref())?;
    Ok(ListVintagesResponse {
        vintages: queries::vintages(&view)?,
    })
}

pub fn allocations(
    node: &Arc<Node>,
    r: ListAllocationsRequest,
) -> Result<ListAllocationsResponse, ApiError> {
    let view = node.state.view();
    let chain = &node.genesis.chain_id;
    let enterprise = if r.enterprise_id.is_empty() {
        regulator_only(&view, chain, r.auth.as_ref())?;
        None
    } else {
        party_or_regulator(&view, chain, r.auth.as_ref(), &r.enterprise_id)?;
        Some(r.enterprise_id.as_str())
    };
    Ok(ListAllocationsResponse {
        allocations: queries::allocations(&view, r.vintage, enterprise)?,
    })
}

pub fn accounts(
    node: &Arc<Node>,
    r: ListAccountsRequest,
) -> Result<ListAccountsResponse, ApiError> {
    let view = node.state.view();
    regulator_only(&view, &node.genesis.chain_id, r.auth.as_ref())?;
    let filter = queries::AccountFilter {
        role: (r.role() != Role::Unspecified).then(|| r.role()),
        region: (!r.region.is_empty()).then(|| r.region.clone()),
        status: (r.status() != AccountStatus::Unspecified).then(|| r.status()),
    };
    let (accounts, more) = queries::accounts(&view, &filter, &r.after_account_id, page(r.limit))?;
    let next_after_account_id = match (more, accounts.last()) {
        (true, Some(a)) => a.account_id.clone(),
        _ => String::new(),
    };
    Ok(ListAccountsResponse {
        accounts,
        next_after_account_id,
    })
}

pub fn statement(
    node: &Arc<Node>,
    r: GetStatementRequest,
) -> Result<GetStatementResponse, ApiError> {
    let view = node.state.view();
    party_or_regulator(
        &view,
        &node.genesis.chain_id,
        r.auth.as_ref(),
        &r.account_id,
    )?;
    let from = date_arg(r.from_date, "from date", true)?;
    let to = date_arg(r.to_date, "to date", true)?;
    let (lines, next_page_token) =
        queries::statement(&view, &r.account_id, from, to, &r.page_token, page(r.limit))?;
    Ok(GetStatementResponse {
        lines,
        next_page_token,
    })
}
