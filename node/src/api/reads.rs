//! Reads: every query of the registry's rules, answered from this node's applied state after
//! the consistency gate ([`gate`]) has done its part.

use super::auth::{authorise, party_or_regulator, regulator_only, Policy, Reader};
use super::paging::{check_token, Pager};
use crate::errors::ApiError;
use crate::forward::leader;
use crate::ledger::keys;
use crate::ledger::queries;
use crate::node::Node;
use crate::write::checks::now_ms;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::*;
use prost::Message;
use std::sync::Arc;
use tonic::transport::Channel;

/// Linearizable reads: on the leader, confirm leadership and wait until the read index is
/// applied (in rounds shared by the reads waiting: `raft::read_index`); on a follower, return a
/// client to the leader.
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
            node.read_index
                .confirm()
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

/// How long a read forwarded to the leader may wait for it: a paused leader must not hold a
/// read (and carbonctl's chain-id lookup before every write) much past an election; a busy one
/// may take longer than a forwarded write's attempt (which is simply sent again).
pub const FORWARDED_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A linearizable read forwarded to the leader, given up (UNAVAILABLE: retry; a read changes
/// nothing) when this node learns of another leader or after [`FORWARDED_READ_TIMEOUT`].
pub async fn follow<T>(
    node: &Node,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    use crate::write::deliver::leadership_moves;
    let was = node.raft.metrics().borrow().current_leader;
    tokio::select! {
        r = call => r,
        () = leadership_moves(node, was) => Err(ApiError::unavailable(
            "leadership moved while the leader was asked for this read; retry",
        )
        .into()),
        () = tokio::time::sleep(FORWARDED_READ_TIMEOUT) => Err(ApiError::unavailable(format!(
            "the leader did not answer this read in {FORWARDED_READ_TIMEOUT:?}; retry"
        ))
        .into()),
    }
}

pub fn account(node: &Arc<Node>, r: GetAccountRequest) -> Result<GetAccountResponse, ApiError> {
    let a = queries::account(&node.state.view(), &r.account_id)?
        .ok_or_else(|| ApiError::not_found(format!("no account {:?}", r.account_id)))?;
    Ok(GetAccountResponse { account: Some(a) })
}

pub fn holdings(node: &Arc<Node>, r: GetHoldingsRequest) -> Result<GetHoldingsResponse, ApiError> {
    let view = node.state.view();
    let who = authorise(&view, &node.genesis.chain_id, &r)?;
    let (balances, blocks) = queries::holdings(&view, &r.account_id)?;
    if who.may(Policy::PartyOrRegulator(&[&r.account_id])) {
        return Ok(GetHoldingsResponse { balances, blocks });
    }
    who.require(Policy::Authenticated)?;
    // A pledgee sees only the units pledged to it.
    let me = who.account_id().unwrap_or_default();
    let mine: Vec<u64> = queries::encumbrances_of_pledgee(&view, me)?
        .into_iter()
        .filter(|e| e.holder == r.account_id)
        .map(|e| e.id)
        .collect();
    if mine.is_empty() {
        return Err(ApiError::denied(format!(
            "{me:?} may not read {:?}'s holdings",
            r.account_id
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
    let who = authorise(&view, &node.genesis.chain_id, &r)?;
    let index = match (r.holder.is_empty(), r.pledgee.is_empty()) {
        (false, true) => {
            who.require(Policy::PartyOrRegulator(&[&r.holder]))?;
            keys::encumbrances_by_holder(&r.holder)
        }
        (true, false) => {
            who.require(Policy::PartyOrRegulator(&[&r.pledgee]))?;
            keys::encumbrances_by_pledgee(&r.pledgee)
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "name exactly one of holder or pledgee",
            ))
        }
    };
    check_token(&r.page_token, &index)?;
    let pager = Pager::new(r.page_size);
    let rows = queries::encumbrances_page(&view, &index, &r.page_token, pager.read_limit())?;
    let (encumbrances, next_page_token) = pager.take(rows, |e| e.encoded_len());
    Ok(ListEncumbrancesResponse {
        encumbrances,
        next_page_token,
    })
}

pub fn compliance(
    node: &Arc<Node>,
    r: GetComplianceRequest,
) -> Result<GetComplianceResponse, ApiError> {
    let view = node.state.view();
    if !r.enterprise_id.is_empty() {
        let (records, year_closed) = queries::compliance(&view, r.year, Some(&r.enterprise_id))?;
        return Ok(GetComplianceResponse {
            records,
            year_closed,
            next_page_token: Vec::new(),
            close: year_close(&view, r.year)?,
        });
    }
    check_token(&r.page_token, &keys::compliance_of(r.year))?;
    let pager = Pager::new(r.page_size);
    let rows = queries::compliance_page(&view, r.year, &r.page_token, pager.read_limit())?;
    let (records, next_page_token) = pager.take(rows, |c| c.encoded_len());
    let year_closed = queries::year_closed(&view, r.year)?;
    Ok(GetComplianceResponse {
        records,
        year_closed,
        next_page_token,
        close: year_close(&view, r.year)?,
    })
}

/// A closed year's deadline, multiplier and reference price (public: its penalties show them).
fn year_close(
    view: &impl crate::ledger::store::StateView,
    year: u32,
) -> Result<Option<YearClose>, ApiError> {
    Ok(crate::ledger::exec::read::<YearClose>(
        view,
        &keys::year_close(year),
    )?)
}

pub fn project(node: &Arc<Node>, r: GetProjectRequest) -> Result<GetProjectResponse, ApiError> {
    let view = node.state.view();
    let p = queries::project_record(&view, &r.project_id)?
        .ok_or_else(|| ApiError::not_found(format!("no project {:?}", r.project_id)))?;
    check_token(&r.page_token, &keys::issuances_of(&r.project_id))?;
    let pager = Pager::new(r.page_size);
    let rows = queries::issuances_page(&view, &r.project_id, &r.page_token, pager.read_limit())?;
    let (issuances, next_page_token) = pager.take(rows, |i| i.encoded_len());
    Ok(GetProjectResponse {
        project: Some(p),
        issuances,
        next_page_token,
    })
}

pub fn history(node: &Arc<Node>, r: GetHistoryRequest) -> Result<GetHistoryResponse, ApiError> {
    let view = node.state.view();
    authorise(&view, &node.genesis.chain_id, &r)?
        .require(Policy::PartyOrRegulator(&[&r.account_id]))?;
    let pager = Pager::new(r.limit);
    let rows = queries::history_page(&view, &r.account_id, r.from_sequence, pager.read_limit())?;
    let rows = rows
        .into_iter()
        .map(|(k, r)| (k, queries::committed_tx(r)))
        .collect();
    let (transactions, last) = pager.take(rows, |t| t.encoded_len());
    let next_sequence = match keys::trailing_u64(&last) {
        Some(seq) if !last.is_empty() => seq.saturating_add(1),
        _ => 0,
    };
    Ok(GetHistoryResponse {
        transactions,
        next_sequence,
    })
}

/// A committed transaction as `who` may see it: whole when it is public, concerns them (its
/// record names them among its parties) or they are the regulator; else redacted to its place
/// in the chain.
pub fn as_seen_by(who: &Reader, r: TxRecord) -> CommittedTx {
    let concerns = who.sees_parties(&r.parties);
    let t = queries::committed_tx(r);
    if concerns || queries::is_public(&t) {
        t
    } else {
        queries::redacted(&t)
    }
}

/// A committed transaction (found by its tx id) as `who` may see it.
fn seen_by(
    view: &dyn crate::ledger::StateView,
    who: &Reader,
    t: CommittedTx,
) -> Result<CommittedTx, ApiError> {
    let id = t
        .outcome
        .as_ref()
        .map(|o| o.tx_id.as_slice())
        .unwrap_or_default();
    let record = <[u8; 32]>::try_from(id)
        .ok()
        .map(|id| queries::record(view, &id))
        .transpose()?
        .flatten();
    Ok(match record {
        Some(r) => as_seen_by(who, r),
        None => as_seen_by_public(t),
    })
}

/// Whether the transaction at chain `sequence` concerns `who` (or `who` is the regulator).
fn sees_sequence(
    view: &dyn crate::ledger::StateView,
    who: &Reader,
    sequence: u64,
) -> Result<bool, ApiError> {
    if who.is_regulator() {
        return Ok(true);
    }
    Ok(queries::record_at(view, sequence)?.is_some_and(|r| who.sees_parties(&r.parties)))
}

/// What the public may see of a committed transaction.
pub fn as_seen_by_public(t: CommittedTx) -> CommittedTx {
    if queries::is_public(&t) {
        t
    } else {
        queries::redacted(&t)
    }
}

pub fn transaction(
    node: &Arc<Node>,
    r: GetTransactionRequest,
) -> Result<GetTransactionResponse, ApiError> {
    let view = node.state.view();
    let who = authorise(&view, &node.genesis.chain_id, &r)?;
    let id: [u8; 32] = r
        .tx_id
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::new(ErrorCode::InvalidArgument, "a tx id is 32 bytes"))?;
    let t = queries::record(&view, &id)?
        .ok_or_else(|| ApiError::not_found(format!("no transaction {}", hex::encode(id))))?;
    Ok(GetTransactionResponse {
        transaction: Some(as_seen_by(&who, t)),
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

/// What the public may see of market figures (docs/SECURITY.md): complete CST days only, so
/// that a figure never changes once shown (comparing two reads of one day would give the trade
/// in between), and a day of a unit class only with at least `public_aggregate_min` trades.
pub struct PublicMarket {
    /// The first CST date that is not complete (today, by this node's clock).
    pub today: u32,
    pub min_trades: u64,
}

impl PublicMarket {
    pub fn new(node: &Node) -> PublicMarket {
        PublicMarket {
            today: crate::ledger::dates::date_of(now_ms()),
            min_trades: carbon_proto::genesis::public_aggregate_min(&node.genesis),
        }
    }

    pub fn complete(&self, d: &MarketDay) -> bool {
        d.date < self.today
    }

    pub fn shows(&self, d: &MarketDay) -> bool {
        self.complete(d) && d.trades >= self.min_trades
    }
}

pub fn market_stats(
    node: &Arc<Node>,
    r: GetMarketStatsRequest,
) -> Result<GetMarketStatsResponse, ApiError> {
    check_token(&r.page_token, keys::MARKET_DAYS)?;
    let view = node.state.view();
    let who = authorise(&view, &node.genesis.chain_id, &r)?;
    let public = (!who.is_regulator()).then(|| PublicMarket::new(node));
    let pager = Pager::new(r.page_size);
    let rows = queries::market_page(
        &view,
        r.unit_class.as_ref(),
        r.from_date,
        r.to_date,
        &r.page_token,
        pager.read_limit(),
        &|d| public.as_ref().is_none_or(|p| p.shows(d)),
    )?;
    let (days, next_page_token) = pager.take(rows, |d| d.encoded_len());
    Ok(GetMarketStatsResponse {
        days,
        next_page_token,
    })
}

/// Provenance of a serial, as the reader may see it (see `TraceSerialRequest` in the proto and
/// docs/SECURITY.md): credits are public, allowances are traced by their holder, the enterprise
/// they were allocated to and the regulator only.
pub fn trace(node: &Arc<Node>, r: TraceSerialRequest) -> Result<TraceSerialResponse, ApiError> {
    let class = r
        .unit_class
        .clone()
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidUnitClass, "give a unit class"))?;
    let view = node.state.view();
    let who = authorise(&view, &node.genesis.chain_id, &r)?;
    if class.kind() == UnitKind::Cea && !who.is_regulator() {
        return trace_allowance(&view, &who, &class, r.serial);
    }
    let mut t = queries::trace(&view, &class, r.serial)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "serial {} of that class was never created",
            r.serial
        ))
    })?;
    if who.is_regulator() {
        return Ok(t);
    }
    // An issuance is public whole; so is a cancellation. A surrender is private: its reason and
    // year only, not who surrendered nor how much with it.
    t.created_by = match t.created_by {
        Some(c) => Some(seen_by(&view, &who, c)?),
        None => None,
    };
    if let Some(b) = t.retired.as_mut() {
        let mine = who.account_id() == Some(b.account_id.as_str());
        if b.reason() != RetireReason::Cancelled && !mine {
            *b = RetiredBlock {
                range: Some(single(&class, r.serial)),
                reason: b.reason,
                year: b.year,
                ..Default::default()
            };
        }
    }
    Ok(t)
}

fn single(class: &UnitClass, serial: u64) -> SerialRange {
    SerialRange {
        unit_class: Some(class.clone()),
        first: serial,
        last: serial,
    }
}

/// An allowance's serial: whole for the enterprise it was allocated to; the serial alone (no
/// allocation, no boundary) for the account that holds or retired it; for everyone else the
/// same refusal whether the serial exists or not, so that no search over serial numbers finds
/// an allocation's size or a vintage's total.
fn trace_allowance(
    view: &dyn crate::ledger::StateView,
    who: &Reader,
    class: &UnitClass,
    serial: u64,
) -> Result<TraceSerialResponse, ApiError> {
    let refused = || {
        ApiError::denied(
            "an allowance's serial is traced by the account holding it, the enterprise it was \
             allocated to and the regulator, with a ReadAuth (allocations are private)",
        )
    };
    let Some(me) = who.account_id() else {
        return Err(refused());
    };
    let Some(mut t) = queries::trace(view, class, serial)? else {
        return Err(refused());
    };
    let origin_sequence = t.origin.as_ref().map_or(0, |o| o.sequence);
    if sees_sequence(view, who, origin_sequence)? {
        return Ok(t);
    }
    let retired_by_me = t.retired.as_ref().is_some_and(|b| b.account_id == me);
    if !retired_by_me && !queries::holds(view, me, class, serial)? {
        return Err(refused());
    }
    t.origin = Some(SerialOrigin {
        range: Some(single(class, serial)),
        ..Default::default()
    });
    t.created_by = None;
    if let Some(b) = t.retired.as_mut() {
        b.range = Some(single(class, serial));
    }
    Ok(t)
}

/// A page token of a read over several lists (`queries::lists_page`): the list's number, then a
/// key inside that list.
fn check_lists_token(token: &[u8], lists: &[Vec<u8>]) -> Result<(), ApiError> {
    if let Some((list, key)) = token.split_first() {
        let prefix = lists
            .get(usize::from(*list))
            .map_or(&[0xff][..], |p| p.as_slice());
        check_token(key, prefix)?;
        if key.is_empty() {
            check_token(token, &[0xff])?;
        }
    }
    Ok(())
}

pub fn disclosure(
    node: &Arc<Node>,
    r: GetDisclosureRequest,
) -> Result<GetDisclosureResponse, ApiError> {
    check_lists_token(&r.page_token, &queries::disclosure_lists(r.year))?;
    let pager = Pager::new(r.page_size);
    let rows = queries::disclosure_page(
        &node.state.view(),
        r.year,
        &r.page_token,
        pager.read_limit(),
    )?;
    let (records, next_page_token) = pager.take(rows, |d| d.encoded_len());
    let mut out = GetDisclosureResponse {
        next_page_token,
        ..Default::default()
    };
    if r.page_token.is_empty() {
        let k = carbon_proto::genesis::public_aggregate_min(&node.genesis);
        out.financing = queries::open_financing(&node.state.view())?
            .into_iter()
            .map(|f| public_financing(f, k))
            .collect();
        out.inclusion = crate::ledger::inclusion::totals(&node.state.view(), "", r.year)?;
    }
    for d in records {
        match d {
            queries::Disclosed::Compliance(c) => out.compliance.push(c),
            queries::Disclosed::Cancellation(c) => out.cancellations.push(c),
            queries::Disclosed::Issuance(i) => out.issuances.push(i),
            queries::Disclosed::Project(p) => out.projects.push(p),
        }
    }
    Ok(out)
}

/// Rule 17, public: art. 6 authorisations, exports and corresponding adjustments of a vintage
/// year, paged like the disclosure (a token is the list's number, then a state key of it).
pub fn international_transfers(
    node: &Arc<Node>,
    r: ListInternationalTransfersRequest,
) -> Result<ListInternationalTransfersResponse, ApiError> {
    check_lists_token(&r.page_token, &queries::international_lists(r.year))?;
    let pager = Pager::new(r.page_size);
    let rows = queries::international_page(
        &node.state.view(),
        r.year,
        &r.page_token,
        pager.read_limit(),
    )?;
    let (records, next_page_token) = pager.take(rows, |d| d.encoded_len());
    let mut out = ListInternationalTransfersResponse {
        next_page_token,
        ..Default::default()
    };
    for d in records {
        match d {
            queries::Art6Record::Authorisation(a) => out.authorisations.push(a),
            queries::Art6Record::Export(e) => out.exports.push(e),
            queries::Art6Record::Adjustment(c) => out.adjustments.push(c),
        }
    }
    Ok(out)
}

/// Open repos and loans of a class as the public sees them: each kind only over at least `k`
/// contracts.
fn public_financing(mut f: OpenFinancing, k: u64) -> OpenFinancing {
    if f.open_repos < k {
        (f.open_repos, f.repo_units, f.repos_withheld) = (0, 0, true);
    }
    if f.open_loans < k {
        (f.open_loans, f.loan_units, f.loans_withheld) = (0, 0, true);
    }
    f
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
        0 => crate::limits::PAGE_RECORDS_MAX,
        n => n.min(crate::limits::PAGE_RECORDS_MAX),
    }
}

/// The penalty reference price a close with this deadline would use: whole for the regulator;
/// for the public over complete days only, each day listed only with at least
/// `public_aggregate_min` trades, and the totals withheld when the trades they cover, or those
/// of the days not listed, number fewer (a total minus the listed days must not give them).
pub fn reference_price(
    node: &Arc<Node>,
    r: GetReferencePriceRequest,
) -> Result<GetReferencePriceResponse, ApiError> {
    let deadline = date_arg(r.deadline_date, "deadline", false)?;
    let view = node.state.view();
    let who = authorise(&view, &node.genesis.chain_id, &r)?;
    let p = queries::reference_price(&view, deadline)?;
    let mut out = GetReferencePriceResponse {
        first_date: p.first_date,
        last_date: p.last_date,
        days: p.days,
        volume: u64::try_from(p.volume).unwrap_or(u64::MAX),
        turnover_fen: u64::try_from(p.turnover_fen).unwrap_or(u64::MAX),
        traded: p.price_fen.is_some(),
        reference_price_fen: p.price_fen.unwrap_or(0),
        withheld: false,
    };
    if !who.is_regulator() {
        out = public_reference_price(out, &PublicMarket::new(node));
    }
    Ok(out)
}

fn public_reference_price(
    mut out: GetReferencePriceResponse,
    public: &PublicMarket,
) -> GetReferencePriceResponse {
    let complete: Vec<MarketDay> = out.days.drain(..).filter(|d| public.complete(d)).collect();
    let sum = |days: &[&MarketDay], f: fn(&MarketDay) -> u64| {
        days.iter()
            .fold(0u128, |n, d| n.saturating_add(u128::from(f(d))))
    };
    let all: Vec<&MarketDay> = complete.iter().collect();
    let trades = sum(&all, |d| d.trades);
    let listed_trades = sum(
        &complete
            .iter()
            .filter(|d| public.shows(d))
            .collect::<Vec<_>>(),
        |d| d.trades,
    );
    let k = u128::from(public.min_trades);
    let unlisted = trades.saturating_sub(listed_trades);
    out.traded = trades > 0;
    out.withheld = trades > 0 && (trades < k || (unlisted > 0 && unlisted < k));
    let (volume, turnover) = (sum(&all, |d| d.volume), sum(&all, |d| d.turnover_fen));
    (out.volume, out.turnover_fen, out.reference_price_fen) = if out.withheld {
        (0, 0, 0)
    } else {
        let price = turnover.checked_div(volume).unwrap_or(0);
        let fit = |n: u128| u64::try_from(n).unwrap_or(u64::MAX);
        (fit(volume), fit(turnover), fit(price))
    };
    out.days = complete.into_iter().filter(|d| public.shows(d)).collect();
    out
}

pub fn repos(node: &Arc<Node>, r: ListReposRequest) -> Result<ListReposResponse, ApiError> {
    let view = node.state.view();
    party_or_regulator(&view, &node.genesis.chain_id, &r, &r.party)?;
    Ok(ListReposResponse {
        repos: queries::repos_of(&view, &r.party)?,
    })
}

/// Rule 15: the account's trusted list, limits and pending transfers, as of the ledger's time.
pub fn safeguards(
    node: &Arc<Node>,
    r: ListSafeguardsRequest,
) -> Result<ListSafeguardsResponse, ApiError> {
    let view = node.state.view();
    party_or_regulator(&view, &node.genesis.chain_id, &r, &r.account_id)?;
    let now = view
        .ledger_time_ms()
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let s = crate::ledger::safeguards::of_account(&view, &r.account_id, now)?;
    Ok(ListSafeguardsResponse {
        trusted: s.trusted,
        limits: s.limits,
        pending: s.pending,
        settings: Some(crate::ledger::safeguards::shown_settings(&node.genesis)),
        ledger_time_ms: now,
    })
}

/// Rule 16: who may read a person's points: the person, the platform that opened the account,
/// or the regulator (an unknown account is NOT_FOUND only to the regulator; anyone else is
/// refused as for any account that is not theirs).
fn points_reader<R: carbon_proto::read_auth::PrivateRead>(
    view: &dyn crate::ledger::StateView,
    chain_id: &str,
    r: &R,
    person: &str,
) -> Result<Account, ApiError> {
    let who = authorise(view, chain_id, r)?;
    let platform = queries::account(view, person)?
        .map(|a| a.platform_id)
        .unwrap_or_default();
    let parties: Vec<&str> = [person, platform.as_str()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    who.require(Policy::PartyOrRegulator(&parties))?;
    let account = queries::account(view, person)?
        .ok_or_else(|| ApiError::not_found(format!("account {person:?} does not exist")))?;
    Ok(account)
}

pub fn points(node: &Arc<Node>, r: GetPointsRequest) -> Result<GetPointsResponse, ApiError> {
    let view = node.state.view();
    let a = points_reader(&view, &node.genesis.chain_id, &r, &r.account_id)?;
    Ok(GetPointsResponse {
        points: crate::ledger::inclusion::points(&view, &r.account_id, r.year)?,
        platform_id: a.platform_id,
        custodial: a.custodial,
    })
}

pub fn points_statement(
    node: &Arc<Node>,
    r: GetPointsStatementRequest,
) -> Result<GetPointsStatementResponse, ApiError> {
    let view = node.state.view();
    points_reader(&view, &node.genesis.chain_id, &r, &r.account_id)?;
    let from = date_arg(r.from_date, "from date", true)?;
    let to = date_arg(r.to_date, "to date", true)?;
    check_token(&r.page_token, &keys::points_of(&r.account_id))?;
    let pager = Pager::new(r.page_size);
    let rows = crate::ledger::inclusion::statement_page(
        &view,
        &r.account_id,
        from,
        to,
        &r.page_token,
        pager.read_limit(),
    )?;
    let (lines, next_page_token) = pager.take(rows, |l| l.encoded_len());
    Ok(GetPointsStatementResponse {
        lines,
        next_page_token,
    })
}

/// Rule 16, public: inclusion totals per platform, methodology and year (with the platform's
/// region as city), the methodologies, the platforms. Never a person's points.
pub fn inclusion(
    node: &Arc<Node>,
    r: ListInclusionRequest,
) -> Result<ListInclusionResponse, ApiError> {
    let view = node.state.view();
    use crate::ledger::inclusion as inc;
    Ok(ListInclusionResponse {
        totals: inc::totals(&view, &r.platform_id, r.year)?,
        methodologies: inc::methodologies(&view)?,
        platforms: inc::platforms(&view)?,
    })
}

pub fn loans(node: &Arc<Node>, r: ListLoansRequest) -> Result<ListLoansResponse, ApiError> {
    let view = node.state.view();
    let chain = &node.genesis.chain_id;
    let party = if r.party.is_empty() {
        regulator_only(&view, chain, &r)?;
        None
    } else {
        party_or_regulator(&view, chain, &r, &r.party)?;
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
    regulator_only(&view, &node.genesis.chain_id, &r)?;
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
        regulator_only(&view, chain, &r)?;
        None
    } else {
        party_or_regulator(&view, chain, &r, &r.enterprise_id)?;
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
    regulator_only(&view, &node.genesis.chain_id, &r)?;
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
    party_or_regulator(&view, &node.genesis.chain_id, &r, &r.account_id)?;
    let from = date_arg(r.from_date, "from date", true)?;
    let to = date_arg(r.to_date, "to date", true)?;
    queries::statement_token(&r.page_token).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidArgument,
            "page_token is no statement page token: pass next_page_token of the same request",
        )
    })?;
    let (lines, next_page_token) =
        queries::statement(&view, &r.account_id, from, to, &r.page_token, page(r.limit))?;
    Ok(GetStatementResponse {
        lines,
        next_page_token,
    })
}
