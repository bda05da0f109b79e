//! What one view of the page shows, gathered from the public reads of `api::reads` (the same
//! functions the gRPC API serves) on this node's applied state.

use crate::api::reads;
use crate::errors::ApiError;
use crate::ledger::dates;
use crate::limits::DISCLOSURE_ROWS_READ_MAX;
use crate::node::Node;
use carbon_proto::v1::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const LOCAL: i32 = ReadConsistency::Local as i32;
/// The first year the picker looks for compliance records in.
const YEAR_FIRST: u32 = 2000;

/// An account's public name and region.
#[derive(Clone, Debug, Default)]
pub struct Named {
    pub name: String,
    pub region: String,
}

/// Everything one page view shows.
pub struct PageData {
    /// The year shown.
    pub year: u32,
    /// Every year with compliance records, cancellations or issuance, ascending (and `year`).
    pub years: BTreeSet<u32>,
    /// Today (CST, this node's clock).
    pub today: u32,
    /// The year's compliance records, cancellations, issuances, approved projects, and the
    /// open financing now.
    pub disclosure: GetDisclosureResponse,
    /// Some of the year's records were not read (more than `DISCLOSURE_ROWS_READ_MAX`).
    pub truncated: bool,
    pub closed: bool,
    /// The close's deadline, multiplier and reference price, once closed.
    pub close: Option<YearClose>,
    pub head: GetChainHeadResponse,
    /// The market days of the chart, from `market_first` to `today`.
    pub market: Vec<MarketDay>,
    pub market_first: u32,
    /// Names and regions of the enterprises, cancellation holders and platforms shown.
    pub names: BTreeMap<String, Named>,
    /// The year's art. 6 authorisations, exports and corresponding adjustments (rule 17).
    pub art6: ListInternationalTransfersResponse,
}

impl PageData {
    pub fn named(&self, account_id: &str) -> Named {
        self.names.get(account_id).cloned().unwrap_or_default()
    }
}

/// Reads a page's data: `year`, or by default the latest year with data.
pub fn load(node: &Arc<Node>, year: Option<u32>, today: u32) -> Result<PageData, ApiError> {
    let mut years = years_with_data(node, today)?;
    let year = year.unwrap_or_else(|| years.last().copied().unwrap_or(today / 10_000));
    years.insert(year);
    let (disclosure, truncated) = disclosure_of(node, year)?;
    let compliance = reads::compliance(
        node,
        GetComplianceRequest {
            year,
            consistency: LOCAL,
            page_size: 1,
            ..Default::default()
        },
    )?;
    let head = reads::chain_head(node, GetChainHeadRequest { consistency: LOCAL })?;
    let market_first = year_before(today);
    let market = market_days(node, market_first, today)?;
    let names = names_of(node, &disclosure);
    let art6 = super::art6::records(node, year)?;
    Ok(PageData {
        year,
        years,
        today,
        disclosure,
        truncated,
        closed: compliance.year_closed,
        close: compliance.close,
        head,
        market,
        market_first,
        names,
        art6,
    })
}

/// The same day a year earlier (28 February for 29 February).
fn year_before(today: u32) -> u32 {
    let d = today - 10_000;
    if dates::is_valid_date(d) {
        d
    } else {
        (today / 10_000 - 1) * 10_000 + 228
    }
}

/// A year's disclosure, every page of it up to `DISCLOSURE_ROWS_READ_MAX` records; whether
/// some were left unread. Year 0: the cancellations and issuances of every year.
fn disclosure_of(node: &Arc<Node>, year: u32) -> Result<(GetDisclosureResponse, bool), ApiError> {
    let mut all = GetDisclosureResponse::default();
    let mut token = Vec::new();
    let mut rows = 0usize;
    loop {
        let mut d = reads::disclosure(
            node,
            GetDisclosureRequest {
                year,
                consistency: LOCAL,
                page_size: 0,
                page_token: token,
            },
        )?;
        rows += d.compliance.len() + d.cancellations.len() + d.issuances.len() + d.projects.len();
        all.compliance.append(&mut d.compliance);
        all.cancellations.append(&mut d.cancellations);
        all.issuances.append(&mut d.issuances);
        all.projects.append(&mut d.projects);
        all.financing.append(&mut d.financing);
        all.inclusion.append(&mut d.inclusion);
        if d.next_page_token.is_empty() {
            return Ok((all, false));
        }
        if rows >= DISCLOSURE_ROWS_READ_MAX {
            return Ok((all, true));
        }
        token = d.next_page_token;
    }
}

/// The years that have compliance records (looked for from `YEAR_FIRST` to next year), or
/// cancellations or issuance (any year).
fn years_with_data(node: &Arc<Node>, today: u32) -> Result<BTreeSet<u32>, ApiError> {
    let mut years = BTreeSet::new();
    for year in YEAR_FIRST..=today / 10_000 + 1 {
        let r = reads::compliance(
            node,
            GetComplianceRequest {
                year,
                consistency: LOCAL,
                page_size: 1,
                ..Default::default()
            },
        )?;
        if !r.records.is_empty() {
            years.insert(year);
        }
    }
    let (every, _) = disclosure_of(node, 0)?;
    years.extend(
        every
            .cancellations
            .iter()
            .map(|c| dates::date_of(c.timestamp_ms) / 10_000),
    );
    years.extend(every.issuances.iter().map(|i| i.monitoring_year));
    Ok(years)
}

/// Every public market day between two dates (all pages).
fn market_days(node: &Arc<Node>, from: u32, to: u32) -> Result<Vec<MarketDay>, ApiError> {
    let mut days = Vec::new();
    let mut token = Vec::new();
    loop {
        let mut r = reads::market_stats(
            node,
            GetMarketStatsRequest {
                unit_class: None,
                from_date: from,
                to_date: to,
                consistency: LOCAL,
                page_token: token,
                ..Default::default()
            },
        )?;
        days.append(&mut r.days);
        if r.next_page_token.is_empty() || days.len() >= DISCLOSURE_ROWS_READ_MAX {
            return Ok(days);
        }
        token = r.next_page_token;
    }
}

/// The public names and regions of the enterprises and holders on the page.
fn names_of(node: &Arc<Node>, d: &GetDisclosureResponse) -> BTreeMap<String, Named> {
    let ids: BTreeSet<&str> = d
        .compliance
        .iter()
        .map(|r| r.enterprise_id.as_str())
        .chain(d.cancellations.iter().map(|c| c.holder.as_str()))
        .chain(d.inclusion.iter().map(|t| t.platform_id.as_str()))
        .collect();
    ids.into_iter()
        .map(|id| {
            let a = reads::account(
                node,
                GetAccountRequest {
                    account_id: id.into(),
                    consistency: LOCAL,
                },
            )
            .ok()
            .and_then(|r| r.account)
            .map_or_else(Named::default, |a| Named {
                name: a.name,
                region: a.region,
            });
            (id.to_string(), a)
        })
        .collect()
}
