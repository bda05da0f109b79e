//! The read side: every query of the registry's rules, as pure functions over a state view. The
//! API layer decides who may see what; these functions only read.

use super::dates;
use super::exec::{read, read_all};
use super::index;
use super::keys;
use super::store::{StateView, ViewFault};
use carbon_proto::v1::{
    Account, AccountStatus, Allocation, Balance, BlockState, Cancellation, ChainState, CommittedTx,
    ComplianceRecord, Encumbrance, Genesis, Issuance, Loan, LoanStatus, MarketDay, OpenFinancing,
    Project, ProjectStatus, RepoAgreement, RepoStatus, RetiredBlock, Role, SerialBlock,
    SerialOrigin, StatementLine, TraceSerialResponse, TxRecord, UnitClass, UnitKind, Vintage,
    YearClose,
};
use prost::Message as _;

pub use super::trading::{reference_price, ReferencePrice};
use std::collections::BTreeMap;

type R<T> = Result<T, ViewFault>;

/// One page of a list read: the records with their state keys (the last key is where the next
/// page starts), in key order.
pub type Page<T> = Vec<(Vec<u8>, T)>;

/// Up to `limit` records under `prefix` whose keys come after `after` (exclusive; empty: from
/// the first), in key order; `load` turns a row into a record, or skips it (`None`). Reads the
/// state a chunk at a time, never the whole prefix at once.
pub fn page<T>(
    v: &dyn StateView,
    prefix: &[u8],
    after: &[u8],
    limit: usize,
    mut load: impl FnMut(&[u8], &[u8]) -> R<Option<T>>,
) -> R<Page<T>> {
    let chunk = limit.clamp(16, 1_024);
    let mut start = if after.is_empty() {
        prefix.to_vec()
    } else {
        let mut s = after.to_vec();
        s.push(0); // the smallest key after `after`
        s
    };
    let mut out = Vec::new();
    while out.len() < limit {
        let rows = v.scan_from(prefix, &start, chunk)?;
        let n = rows.len();
        for (k, val) in rows {
            if let Some(t) = load(&k, &val)? {
                out.push((k.clone(), t));
                if out.len() >= limit {
                    break;
                }
            }
            start = k;
            start.push(0);
        }
        if n < chunk {
            break;
        }
    }
    Ok(out)
}

/// Decodes a record of type `M` from a row.
fn decoded<M: prost::Message + Default>(k: &[u8], val: &[u8]) -> R<M> {
    M::decode(val).map_err(|e| ViewFault(format!("record {} does not decode: {e}", hex::encode(k))))
}

pub fn genesis(v: &dyn StateView) -> R<Option<Genesis>> {
    read(v, keys::GENESIS)
}

/// The current cluster admin key: the last `RotateClusterAdminKey`'s, or the genesis key.
pub fn cluster_admin_key(v: &dyn StateView) -> R<Option<Vec<u8>>> {
    if let Some(k) = read::<Vec<u8>>(v, keys::CLUSTER_ADMIN_KEY)? {
        return Ok(Some(k));
    }
    Ok(genesis(v)?.map(|g| g.cluster_admin_key))
}

pub fn chain(v: &dyn StateView) -> R<Option<ChainState>> {
    read(v, keys::CHAIN)
}

pub fn account(v: &dyn StateView, account_id: &str) -> R<Option<Account>> {
    read(v, &keys::account(account_id))
}

/// Per-class balances and every serial block the account holds, in key order.
pub fn holdings(v: &dyn StateView, account_id: &str) -> R<(Vec<Balance>, Vec<SerialBlock>)> {
    let blocks: Vec<SerialBlock> = read_all(v, &keys::holdings_of(account_id))?
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let mut balances: BTreeMap<Vec<u8>, Balance> = BTreeMap::new();
    for b in &blocks {
        let Some(r) = &b.range else { continue };
        let class = r.unit_class.clone().unwrap_or_default();
        let n = r
            .last
            .checked_sub(r.first)
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| ViewFault(format!("a block holds {}..{}", r.first, r.last)))?;
        let bal = balances
            .entry(keys::class(&class))
            .or_insert_with(|| Balance {
                unit_class: Some(class),
                ..Default::default()
            });
        let total = match b.state() {
            BlockState::Pledged => &mut bal.pledged,
            BlockState::Frozen => &mut bal.frozen,
            BlockState::Repo => &mut bal.repo,
            BlockState::PendingTransfer => &mut bal.pending_transfer,
            _ => &mut bal.available,
        };
        *total = total
            .checked_add(n)
            .ok_or_else(|| ViewFault("a balance overflows".into()))?;
    }
    Ok((balances.into_values().collect(), blocks))
}

fn encumbrances_under(v: &dyn StateView, prefix: &[u8]) -> R<Vec<Encumbrance>> {
    let mut out = Vec::new();
    for (k, _) in v.scan_prefix(prefix)? {
        if let Some(id) = keys::trailing_u64(&k) {
            if let Some(e) = read::<Encumbrance>(v, &keys::encumbrance(id))? {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// A page of the encumbrances indexed under `index_prefix` (`keys::encumbrances_by_holder` or
/// `keys::encumbrances_by_pledgee`).
pub fn encumbrances_page(
    v: &dyn StateView,
    index_prefix: &[u8],
    after: &[u8],
    limit: usize,
) -> R<Page<Encumbrance>> {
    page(
        v,
        index_prefix,
        after,
        limit,
        |k, _| match keys::trailing_u64(k) {
            Some(id) => read::<Encumbrance>(v, &keys::encumbrance(id)),
            None => Ok(None),
        },
    )
}

/// Pledges and freezes on the account's units.
pub fn encumbrances_of_holder(v: &dyn StateView, holder: &str) -> R<Vec<Encumbrance>> {
    encumbrances_under(v, &keys::encumbrances_by_holder(holder))
}

/// Pledges a bank holds.
pub fn encumbrances_of_pledgee(v: &dyn StateView, pledgee: &str) -> R<Vec<Encumbrance>> {
    encumbrances_under(v, &keys::encumbrances_by_pledgee(pledgee))
}

pub fn encumbrance(v: &dyn StateView, id: u64) -> R<Option<Encumbrance>> {
    read(v, &keys::encumbrance(id))
}

/// Compliance records of a year (one enterprise, or all) and whether the year is closed.
pub fn compliance(
    v: &dyn StateView,
    year: u32,
    enterprise: Option<&str>,
) -> R<(Vec<ComplianceRecord>, bool)> {
    let records = match enterprise {
        Some(e) => read::<ComplianceRecord>(v, &keys::compliance(year, e))?
            .into_iter()
            .collect(),
        None => read_all::<ComplianceRecord>(v, &keys::compliance_of(year))?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
    };
    let closed = read::<YearClose>(v, &keys::year_close(year))?.is_some();
    Ok((records, closed))
}

/// A page of a year's compliance records (every enterprise).
pub fn compliance_page(
    v: &dyn StateView,
    year: u32,
    after: &[u8],
    limit: usize,
) -> R<Page<ComplianceRecord>> {
    page(v, &keys::compliance_of(year), after, limit, |k, val| {
        decoded(k, val).map(Some)
    })
}

/// A page of a project's issuances.
pub fn issuances_page(
    v: &dyn StateView,
    project_id: &str,
    after: &[u8],
    limit: usize,
) -> R<Page<Issuance>> {
    page(
        v,
        &keys::issuances_of(project_id),
        after,
        limit,
        |k, val| decoded(k, val).map(Some),
    )
}

pub fn project_record(v: &dyn StateView, project_id: &str) -> R<Option<Project>> {
    read(v, &keys::project(project_id))
}

pub fn project(v: &dyn StateView, project_id: &str) -> R<Option<(Project, Vec<Issuance>)>> {
    let Some(p) = read::<Project>(v, &keys::project(project_id))? else {
        return Ok(None);
    };
    let issuances = read_all::<Issuance>(v, &keys::issuances_of(project_id))?
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    Ok(Some((p, issuances)))
}

pub fn transaction(v: &dyn StateView, tx_id: &[u8; 32]) -> R<Option<CommittedTx>> {
    super::committed(v, tx_id)
}

/// Whether anyone may see a committed transaction whole: the operations whose effects the
/// public disclosure shows (issuance, project approval, cancellation, close of a compliance
/// year), and only when they took effect. Everything else concerns its parties.
pub fn is_public(t: &CommittedTx) -> bool {
    use carbon_proto::v1::{tx_body::Operation as O, ErrorCode, TxBody};
    use prost::Message;
    let took_effect = t
        .outcome
        .as_ref()
        .is_some_and(|o| o.code() == ErrorCode::Ok);
    let op =
        t.tx.as_ref()
            .and_then(|s| TxBody::decode(s.body.as_slice()).ok())
            .and_then(|b| b.operation);
    took_effect
        && matches!(
            op,
            Some(
                O::IssueCredits(_)
                    | O::AuthoriseUnits(_)
                    | O::ExportUnits(_)
                    | O::ApproveProject(_)
                    | O::Cancel(_)
                    | O::CloseComplianceYear(_)
            )
        )
}

/// What the public sees of a private transaction: its place in the chain, nothing of its body
/// or effects.
pub fn redacted(t: &CommittedTx) -> CommittedTx {
    let o = t.outcome.clone().unwrap_or_default();
    CommittedTx {
        tx: None,
        outcome: Some(carbon_proto::v1::Outcome {
            tx_id: o.tx_id,
            log_index: o.log_index,
            sequence: o.sequence,
            timestamp_ms: o.timestamp_ms,
            chain_head: o.chain_head,
            ..Default::default()
        }),
    }
}

/// A committed transaction's stored record (with its parties and statement lines).
pub fn record(v: &dyn StateView, tx_id: &[u8; 32]) -> R<Option<TxRecord>> {
    match index::sequence_of(v, tx_id)? {
        Some(seq) => record_at(v, seq),
        None => Ok(None),
    }
}

fn decode_record(seq: u64, bytes: &[u8]) -> R<TxRecord> {
    TxRecord::decode(bytes)
        .map_err(|e| ViewFault(format!("the record of sequence {seq} does not decode: {e}")))
}

/// The record of the transaction at chain position `seq`.
pub fn record_at(v: &dyn StateView, seq: u64) -> R<Option<TxRecord>> {
    match index::record_at(v, seq)? {
        Some(bytes) => decode_record(seq, &bytes).map(Some),
        None => Ok(None),
    }
}

/// A stored record as the committed transaction it is.
pub fn committed_tx(r: TxRecord) -> CommittedTx {
    CommittedTx {
        tx: r.tx,
        outcome: r.outcome,
    }
}

/// The records of the transactions that concerned an account, from a chain sequence on, at
/// most `limit`, each with its chain sequence as 8 big-endian bytes (a page token).
pub fn history_page(
    v: &dyn StateView,
    account_id: &str,
    from_sequence: u64,
    limit: usize,
) -> R<Page<TxRecord>> {
    let mut out = Vec::new();
    for seq in index::history(v, account_id, from_sequence, limit)? {
        let r = record_at(v, seq)?.ok_or_else(|| {
            ViewFault(format!(
                "history of {account_id:?} names sequence {seq}, not in the chain"
            ))
        })?;
        out.push((seq.to_be_bytes().to_vec(), r));
    }
    Ok(out)
}

/// The transactions that concerned an account, from a chain sequence on, at most `limit`.
pub fn history(
    v: &dyn StateView,
    account_id: &str,
    from_sequence: u64,
    limit: usize,
) -> R<Vec<CommittedTx>> {
    Ok(history_page(v, account_id, from_sequence, limit)?
        .into_iter()
        .map(|(_, t)| committed_tx(t))
        .collect())
}

/// Committed transactions in chain order from `from_sequence` (1-based), at most `limit`:
/// what an offline audit replays.
pub fn committed_since(v: &dyn StateView, from_sequence: u64, limit: usize) -> R<Vec<CommittedTx>> {
    Ok(records_since(v, from_sequence, limit)?
        .into_iter()
        .map(committed_tx)
        .collect())
}

/// The records of [`committed_since`] (with their parties: what Watch streams).
pub fn records_since(v: &dyn StateView, from_sequence: u64, limit: usize) -> R<Vec<TxRecord>> {
    let mut out = Vec::new();
    let mut seq = from_sequence.max(1);
    while out.len() < limit {
        let bucket = index::records_in_bucket_from(v, seq)?;
        if bucket.is_empty() {
            break;
        }
        for bytes in bucket {
            if out.len() == limit {
                break;
            }
            out.push(decode_record(seq, &bytes)?);
            seq = seq.saturating_add(1);
        }
    }
    Ok(out)
}

/// The block of `prefix` records whose range holds `serial` (records keyed by first serial).
fn containing<M: prost::Message + Default>(
    v: &dyn StateView,
    prefix: &[u8],
    serial: u64,
    range: impl Fn(&M) -> Option<&carbon_proto::v1::SerialRange>,
) -> R<Option<M>> {
    let mut found = None;
    for (_, m) in read_all::<M>(v, prefix)? {
        match range(&m) {
            Some(r) if r.first <= serial && serial <= r.last => found = Some(m),
            Some(r) if r.first > serial => break,
            _ => {}
        }
    }
    Ok(found)
}

/// Whether the account holds `serial` of the class (in any state).
pub fn holds(v: &dyn StateView, account_id: &str, class: &UnitClass, serial: u64) -> R<bool> {
    let prefix = keys::holdings_of_class(account_id, class);
    Ok(containing::<SerialBlock>(v, &prefix, serial, |b| b.range.as_ref())?.is_some())
}

/// Provenance of one serial: its origin, the transaction that created it, its retirement if any.
pub fn trace(v: &dyn StateView, class: &UnitClass, serial: u64) -> R<Option<TraceSerialResponse>> {
    let Some(origin) =
        containing::<SerialOrigin>(v, &keys::origins_of(class), serial, |o| o.range.as_ref())?
    else {
        return Ok(None);
    };
    let created_by = match <[u8; 32]>::try_from(origin.tx_id.as_slice()) {
        Ok(id) => transaction(v, &id)?,
        Err(_) => None,
    };
    let retired =
        containing::<RetiredBlock>(v, &keys::retired_of(class), serial, |r| r.range.as_ref())?;
    Ok(Some(TraceSerialResponse {
        origin: Some(origin),
        created_by,
        retired,
    }))
}

/// Whether a market day passes the filter: one unit class (kind set; vintage and project, when
/// set, narrow further), between two dates inclusive (zero = open-ended).
fn market_day_matches(
    d: &MarketDay,
    filter: Option<&UnitClass>,
    from_date: u32,
    to_date: u32,
) -> bool {
    let c = d.unit_class.clone().unwrap_or_default();
    if let Some(f) = filter {
        if f.kind() != UnitKind::Unspecified && f.kind != c.kind {
            return false;
        }
        if f.vintage != 0 && f.vintage != c.vintage {
            return false;
        }
        if !f.project_id.is_empty() && f.project_id != c.project_id {
            return false;
        }
    }
    !((from_date != 0 && d.date < from_date) || (to_date != 0 && d.date > to_date))
}

/// A page of daily market figures that pass the filter and `shown` (what the reader may see),
/// in unit class then date order.
pub fn market_page(
    v: &dyn StateView,
    filter: Option<&UnitClass>,
    from_date: u32,
    to_date: u32,
    after: &[u8],
    limit: usize,
    shown: &dyn Fn(&MarketDay) -> bool,
) -> R<Page<MarketDay>> {
    page(v, keys::MARKET_DAYS, after, limit, |k, val| {
        let d: MarketDay = decoded(k, val)?;
        Ok((market_day_matches(&d, filter, from_date, to_date) && shown(&d)).then_some(d))
    })
}

/// Every daily market figure that passes the filter, in date then unit class order.
pub fn market_days(
    v: &dyn StateView,
    filter: Option<&UnitClass>,
    from_date: u32,
    to_date: u32,
) -> R<Vec<MarketDay>> {
    let mut out: Vec<MarketDay> = read_all::<MarketDay>(v, keys::MARKET_DAYS)?
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| market_day_matches(d, filter, from_date, to_date))
        .collect();
    out.sort_by(|a, b| {
        (
            a.date,
            keys::class(a.unit_class.as_ref().unwrap_or(&UnitClass::default())),
        )
            .cmp(&(
                b.date,
                keys::class(b.unit_class.as_ref().unwrap_or(&UnitClass::default())),
            ))
    });
    Ok(out)
}

/// The public view of a year: compliance results, cancellations made that year (the CST date of
/// the cancellation decides the year), issuances for that monitoring year, approved projects,
/// and open repos and loans now, by unit class. No balances.
pub struct Disclosure {
    pub compliance: Vec<ComplianceRecord>,
    pub cancellations: Vec<Cancellation>,
    pub issuances: Vec<Issuance>,
    pub projects: Vec<Project>,
    pub financing: Vec<OpenFinancing>,
}

/// The state prefixes of the disclosure's four lists, in page order.
pub fn disclosure_lists(year: u32) -> [Vec<u8>; 4] {
    [
        keys::compliance_of(year),
        keys::CANCELLATIONS.to_vec(),
        keys::ISSUANCES.to_vec(),
        keys::PROJECTS.to_vec(),
    ]
}

/// Whether a compliance year was closed.
pub fn year_closed(v: &dyn StateView, year: u32) -> R<bool> {
    Ok(read::<YearClose>(v, &keys::year_close(year))?.is_some())
}

/// One record of the public disclosure.
pub enum Disclosed {
    Compliance(ComplianceRecord),
    Cancellation(Cancellation),
    Issuance(Issuance),
    Project(Project),
}

impl Disclosed {
    pub fn encoded_len(&self) -> usize {
        use prost::Message;
        match self {
            Disclosed::Compliance(r) => r.encoded_len(),
            Disclosed::Cancellation(r) => r.encoded_len(),
            Disclosed::Issuance(r) => r.encoded_len(),
            Disclosed::Project(r) => r.encoded_len(),
        }
    }
}

/// A page over several lists read one after the other (the disclosure's, art. 6's). A page key
/// is the list's number (1 byte) then the state key, so that `after` resumes inside the right
/// list; `load` gets the list's number with each record.
pub fn lists_page<T>(
    v: &dyn StateView,
    lists: &[Vec<u8>],
    after: &[u8],
    limit: usize,
    mut load: impl FnMut(usize, &[u8], &[u8]) -> R<Option<T>>,
) -> R<Page<T>> {
    let (first_list, mut inner_after) = match after.split_first() {
        Some((list, rest)) => (usize::from(*list), rest.to_vec()),
        None => (0, Vec::new()),
    };
    let mut out: Page<T> = Vec::new();
    for (i, prefix) in lists.iter().enumerate().skip(first_list) {
        let left = limit.saturating_sub(out.len());
        if left == 0 {
            break;
        }
        let rows = page(v, prefix, &inner_after, left, |k, val| load(i, k, val))?;
        let tag = u8::try_from(i).unwrap_or(u8::MAX);
        out.extend(
            rows.into_iter()
                .map(|(k, d)| ([&[tag][..], &k].concat(), d)),
        );
        inner_after.clear();
    }
    Ok(out)
}

/// A page of the public disclosure of a year: its four lists one after the other (compliance,
/// cancellations, issuances, projects). A page key is the list's number (1 byte) then the state
/// key, so that `after` resumes inside the right list.
pub fn disclosure_page(
    v: &dyn StateView,
    year: u32,
    after: &[u8],
    limit: usize,
) -> R<Page<Disclosed>> {
    lists_page(v, &disclosure_lists(year), after, limit, |i, k, val| {
        Ok(match i {
            0 => Some(Disclosed::Compliance(decoded(k, val)?)),
            1 => {
                let c: Cancellation = decoded(k, val)?;
                (year == 0 || dates::date_of(c.timestamp_ms) / 10_000 == year)
                    .then_some(Disclosed::Cancellation(c))
            }
            2 => {
                let is: Issuance = decoded(k, val)?;
                (year == 0 || is.monitoring_year == year).then_some(Disclosed::Issuance(is))
            }
            _ => {
                let p: Project = decoded(k, val)?;
                (p.status() == ProjectStatus::Approved).then_some(Disclosed::Project(p))
            }
        })
    })
}

pub fn disclosure(v: &dyn StateView, year: u32) -> R<Disclosure> {
    let (compliance, _) = compliance(v, year, None)?;
    let cancellations = read_all::<Cancellation>(v, keys::CANCELLATIONS)?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| year == 0 || dates::date_of(c.timestamp_ms) / 10_000 == year)
        .collect();
    let issuances = read_all::<Issuance>(v, keys::ISSUANCES)?
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| year == 0 || i.monitoring_year == year)
        .collect();
    let projects = read_all::<Project>(v, keys::PROJECTS)?
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.status() == ProjectStatus::Approved)
        .collect();
    Ok(Disclosure {
        compliance,
        cancellations,
        issuances,
        projects,
        financing: open_financing(v)?,
    })
}

/// Open repos and loans aggregated by unit class (what the public may see of them).
pub fn open_financing(v: &dyn StateView) -> R<Vec<OpenFinancing>> {
    fn slot<'a>(
        by_class: &'a mut BTreeMap<Vec<u8>, OpenFinancing>,
        c: Option<&UnitClass>,
    ) -> &'a mut OpenFinancing {
        let c = c.cloned().unwrap_or_default();
        by_class
            .entry(keys::class(&c))
            .or_insert_with(|| OpenFinancing {
                unit_class: Some(c),
                ..Default::default()
            })
    }
    let mut by_class: BTreeMap<Vec<u8>, OpenFinancing> = BTreeMap::new();
    for (_, r) in read_all::<RepoAgreement>(v, keys::REPOS)? {
        if r.status() == RepoStatus::Open {
            // Per class the repo holds (several after a substitution, rule 18).
            for (class, quantity) in super::collateral::legs(&r) {
                let f = slot(&mut by_class, Some(&class));
                f.open_repos = f.open_repos.saturating_add(1);
                f.repo_units = f.repo_units.saturating_add(quantity);
            }
        }
    }
    for (_, l) in read_all::<Loan>(v, keys::LOANS)? {
        if l.status() == LoanStatus::Open {
            let f = slot(&mut by_class, l.unit_class.as_ref());
            f.open_loans = f.open_loans.saturating_add(1);
            f.loan_units = f
                .loan_units
                .saturating_add(l.quantity.saturating_sub(l.returned));
        }
    }
    Ok(by_class.into_values().collect())
}

fn by_index<M: prost::Message + Default>(
    v: &dyn StateView,
    index: &[u8],
    record: impl Fn(u64) -> Vec<u8>,
) -> R<Vec<M>> {
    let mut out = Vec::new();
    for (k, _) in v.scan_prefix(index)? {
        if let Some(id) = keys::trailing_u64(&k) {
            if let Some(m) = read::<M>(v, &record(id))? {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Repos in which the account is seller or buyer, by id.
pub fn repos_of(v: &dyn StateView, party: &str) -> R<Vec<RepoAgreement>> {
    by_index(v, &keys::repos_of_party(party), keys::repo)
}

/// Loans in which the account is lender or borrower (every loan for `None`), by id, with
/// `overdue` set as of the CST date `today`.
pub fn loans(v: &dyn StateView, party: Option<&str>, today: u32) -> R<Vec<Loan>> {
    let mut loans: Vec<Loan> = match party {
        Some(p) => by_index(v, &keys::loans_of_party(p), keys::loan)?,
        None => read_all::<Loan>(v, keys::LOANS)?
            .into_iter()
            .map(|(_, l)| l)
            .collect(),
    };
    for l in &mut loans {
        l.overdue = l.status() == LoanStatus::Open && today > l.return_date;
    }
    Ok(loans)
}

/// Every vintage with what remains under its cap.
pub fn vintages(v: &dyn StateView) -> R<Vec<Vintage>> {
    Ok(read_all::<Vintage>(v, keys::VINTAGES)?
        .into_iter()
        .map(|(_, mut x)| {
            x.remaining = x.cap.saturating_sub(x.allocated);
            x
        })
        .collect())
}

/// Allocations of one vintage (0: all), optionally of one enterprise, with what was granted.
pub fn allocations(
    v: &dyn StateView,
    vintage: u32,
    enterprise: Option<&str>,
) -> R<Vec<Allocation>> {
    let prefix = if vintage == 0 {
        keys::ALLOCATIONS.to_vec()
    } else {
        keys::allocations_of(vintage)
    };
    Ok(read_all::<Allocation>(v, &prefix)?
        .into_iter()
        .map(|(_, mut a)| {
            a.granted = if a.trued_up {
                a.final_quantity
            } else {
                a.pre_allocated
            };
            a
        })
        .filter(|a| enterprise.is_none_or(|e| a.enterprise_id == e))
        .collect())
}

/// Which accounts a listing returns: unset fields match anything.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub role: Option<Role>,
    pub region: Option<String>,
    pub status: Option<AccountStatus>,
}

/// Accounts matching the filter, in id order, after `after` (exclusive), at most `limit`; and
/// whether more follow.
pub fn accounts(
    v: &dyn StateView,
    filter: &AccountFilter,
    after: &str,
    limit: usize,
) -> R<(Vec<Account>, bool)> {
    let mut out = Vec::new();
    for (_, a) in read_all::<Account>(v, keys::ACCOUNTS)? {
        if !after.is_empty() && a.account_id.as_str() <= after {
            continue;
        }
        let keep = filter.role.is_none_or(|r| a.role() == r)
            && filter.region.as_ref().is_none_or(|r| &a.region == r)
            && filter.status.is_none_or(|s| a.status() == s);
        if !keep {
            continue;
        }
        if out.len() == limit {
            return Ok((out, true));
        }
        out.push(a);
    }
    Ok((out, false))
}

/// One page of an account statement: lines whose CST date lies in `from..=to` (zero bounds are
/// open), after the page token, at most `limit`. Returns the lines and the next token (empty at
/// the end). The lines live in the records of the account's history ([`TxRecord`]); the token
/// is the chain sequence and the position of the next line in its record (8 + 4 bytes,
/// big-endian). Reads the history from the token on, a page at a time.
pub fn statement(
    v: &dyn StateView,
    account: &str,
    from: u32,
    to: u32,
    after: &[u8],
    limit: usize,
) -> R<(Vec<StatementLine>, Vec<u8>)> {
    let (mut seq, mut skip) = statement_token(after)?;
    let in_period = |date: u32| (from == 0 || date >= from) && (to == 0 || date <= to);
    let mut out = Vec::new();
    loop {
        let page = history_page(v, account, seq, limit.clamp(16, 256))?;
        let Some((last, _)) = page.last() else {
            return Ok((out, Vec::new()));
        };
        let next_seq = keys::trailing_u64(last)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        for (k, r) in page {
            let s = keys::trailing_u64(&k).unwrap_or(0);
            let lines = statement_lines(account, r);
            for (i, line) in lines.into_iter().enumerate().skip(skip) {
                if out.len() == limit {
                    let token = [s.to_be_bytes().as_slice(), &(i as u32).to_be_bytes()].concat();
                    return Ok((out, token));
                }
                if in_period(line.date) {
                    out.push(line);
                }
            }
            skip = 0;
        }
        seq = next_seq;
    }
}

/// The (sequence, line) a statement page starts at; an error for bytes no statement page gave
/// out.
pub fn statement_token(after: &[u8]) -> R<(u64, usize)> {
    match after.len() {
        0 => Ok((0, 0)),
        12 => {
            let seq = keys::trailing_u64(&after[..8]).unwrap_or(0);
            let line = u32::from_be_bytes([after[8], after[9], after[10], after[11]]);
            Ok((seq, line as usize))
        }
        _ => Err(ViewFault("not a statement page token".into())),
    }
}

/// The account's statement lines of one record, whole: what the record says of every line
/// (date, time, sequence, tx id, operation) filled in.
fn statement_lines(account: &str, r: TxRecord) -> Vec<StatementLine> {
    let o = r.outcome.unwrap_or_default();
    let operation =
        r.tx.as_ref()
            .and_then(|t| carbon_proto::v1::TxBody::decode(t.body.as_slice()).ok())
            .and_then(|b| b.operation)
            .map_or("", |op| carbon_proto::names::operation(&op))
            .to_string();
    r.lines
        .into_iter()
        .filter(|l| l.account_id == account)
        .map(|l| StatementLine {
            date: dates::date_of(o.timestamp_ms),
            timestamp_ms: o.timestamp_ms,
            sequence: o.sequence,
            tx_id: o.tx_id.clone(),
            operation: operation.clone(),
            ..l
        })
        .collect()
}

// ---- Rule 17: the public read of art. 6 records ----

/// The state prefixes of the three lists of `ListInternationalTransfers`, in page order:
/// authorisations (every year: filtered by the vintage of their class), exports and corresponding
/// adjustments (of the year; every year for 0).
pub fn international_lists(year: u32) -> [Vec<u8>; 3] {
    let of_year = |all: &[u8], one: Vec<u8>| if year == 0 { all.to_vec() } else { one };
    [
        keys::AUTHORISATIONS.to_vec(),
        of_year(keys::EXPORTS, keys::exports_of(year)),
        of_year(keys::ADJUSTMENTS, keys::adjustments_of(year)),
    ]
}

/// One record of the art. 6 read.
pub enum Art6Record {
    Authorisation(carbon_proto::v1::Authorisation),
    Export(carbon_proto::v1::Export),
    Adjustment(carbon_proto::v1::CorrespondingAdjustment),
}

impl Art6Record {
    pub fn encoded_len(&self) -> usize {
        use prost::Message;
        match self {
            Art6Record::Authorisation(r) => r.encoded_len(),
            Art6Record::Export(r) => r.encoded_len(),
            Art6Record::Adjustment(r) => r.encoded_len(),
        }
    }
}

/// A page of the art. 6 records of a vintage year (0: every year): the three lists one after
/// the other; a page key is the list's number (1 byte) then the state key, as in
/// [`disclosure_page`].
pub fn international_page(
    v: &dyn StateView,
    year: u32,
    after: &[u8],
    limit: usize,
) -> R<Page<Art6Record>> {
    lists_page(v, &international_lists(year), after, limit, |i, k, val| {
        Ok(match i {
            0 => {
                let a: carbon_proto::v1::Authorisation = decoded(k, val)?;
                let vintage = a
                    .range
                    .as_ref()
                    .and_then(|r| r.unit_class.as_ref())
                    .map_or(0, |c| c.vintage);
                (year == 0 || vintage == year).then_some(Art6Record::Authorisation(a))
            }
            1 => Some(Art6Record::Export(decoded(k, val)?)),
            _ => Some(Art6Record::Adjustment(decoded(k, val)?)),
        })
    })
}

/// Every art. 6 record of a vintage year (0: every year), unpaged: for the disclosure page and
/// tests.
pub fn international(
    v: &dyn StateView,
    year: u32,
) -> R<carbon_proto::v1::ListInternationalTransfersResponse> {
    let mut out = carbon_proto::v1::ListInternationalTransfersResponse::default();
    for (_, r) in international_page(v, year, &[], usize::MAX)? {
        match r {
            Art6Record::Authorisation(a) => out.authorisations.push(a),
            Art6Record::Export(e) => out.exports.push(e),
            Art6Record::Adjustment(c) => out.adjustments.push(c),
        }
    }
    Ok(out)
}
