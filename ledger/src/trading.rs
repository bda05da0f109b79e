//! Transfers and trades between holding accounts. A trade settles as a transfer and is counted in
//! the market statistics per unit class and CST day; [`reference_price`] derives a compliance
//! year's penalty price from those days (domain rule 11).

use super::dates;
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_can_hold, check_quantity, check_text, mul, read_all, Exec};
use super::holdings::{Give, Take};
use super::keys;
use super::store::{StateView, ViewFault};
use carbon_proto::v1::{Effects, MarketDay, Trade, Transfer, UnitClass, UnitKind};

/// The checks a transfer and a trade share; returns the validated unit class.
fn check_move(x: &Exec, from: &str, to: &str, class: Option<&UnitClass>, q: u64) -> Res<UnitClass> {
    check_quantity(q, "the quantity")?;
    if from == to {
        return reject(
            ErrorCode::SameAccount,
            format!("{from:?} cannot transfer to itself"),
        );
    }
    let class = x.check_unit_class(class)?;
    x.open_account(from)?;
    let dest = x.open_account(to)?;
    check_can_hold(&dest, &class)?;
    Ok(class)
}

pub fn transfer(x: &mut Exec, op: &Transfer) -> Res<Effects> {
    x.require_signer(&op.from_account, "the sending account")?;
    let class = check_move(
        x,
        &op.from_account,
        &op.to_account,
        op.unit_class.as_ref(),
        op.quantity,
    )?;
    // Rule 15 (version 3, safeguards on): the daily limit, and a pending transfer unless the
    // recipient is trusted or a regulator is a party.
    if let Some(effects) = super::safeguards::route_transfer(x, op, &class)? {
        return Ok(effects);
    }
    let moved = x.move_units(
        &op.from_account,
        &op.to_account,
        &class,
        op.quantity,
        Take::Available,
        Give::Available,
    )?;
    Ok(Effects {
        moved,
        ..Default::default()
    })
}

pub fn trade(x: &mut Exec, op: &Trade) -> Res<Effects> {
    x.require_signer(&op.seller, "the seller")?;
    x.require_signer(&op.buyer, "the buyer")?;
    let class = check_move(
        x,
        &op.seller,
        &op.buyer,
        op.unit_class.as_ref(),
        op.quantity,
    )?;
    check_quantity(op.price_fen, "the price")?;
    check_text(&op.exchange_ref, "exchange reference", false)?;
    let turnover = mul(op.quantity, op.price_fen, "the trade's value")?;
    let moved = x.move_units(
        &op.seller,
        &op.buyer,
        &class,
        op.quantity,
        Take::Available,
        Give::Available,
    )?;
    let date = dates::date_of(x.ctx.timestamp_ms);
    record(
        x,
        keys::market_day(&class, date),
        &class,
        date,
        op.quantity,
        turnover,
    )?;
    Ok(Effects {
        moved,
        ..Default::default()
    })
}

fn record(
    x: &mut Exec,
    key: Vec<u8>,
    class: &UnitClass,
    date: u32,
    volume: u64,
    turnover: u64,
) -> Res<()> {
    let mut day = x.get::<MarketDay>(&key)?.unwrap_or_else(|| MarketDay {
        unit_class: Some(class.clone()),
        date,
        ..Default::default()
    });
    day.trades = add(day.trades, 1, "the trade count")?;
    day.volume = add(day.volume, volume, "the traded volume")?;
    day.turnover_fen = add(day.turnover_fen, turnover, "the turnover")?;
    day.average_price_fen = day.turnover_fen.checked_div(day.volume).unwrap_or(0);
    x.put(key, &day);
    Ok(())
}

/// The penalty reference price of a surrender deadline and the market days behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePrice {
    /// The window (inclusive CST dates): the one month ending on the deadline.
    pub first_date: u32,
    pub last_date: u32,
    /// CEA market days (every vintage) inside the window, by date then class.
    pub days: Vec<MarketDay>,
    pub volume: u128,
    pub turnover_fen: u128,
    /// Volume-weighted average price, rounded down; `None` when nothing traded in the window.
    pub price_fen: Option<u64>,
}

/// The volume-weighted average price of every CEA trade whose CST date lies in the one month
/// ending on `deadline` (a valid date): domain rule 11, Decree 775 art. 24. Pure: the ledger uses
/// it to close a year and the read side to preview the price.
pub fn reference_price(v: &dyn StateView, deadline: u32) -> Result<ReferencePrice, ViewFault> {
    let (first_date, last_date) = dates::penalty_window(deadline);
    let mut days: Vec<MarketDay> =
        read_all::<MarketDay>(v, &keys::market_days_of_kind(UnitKind::Cea as i32))?
            .into_iter()
            .map(|(_, d)| d)
            .filter(|d| (first_date..=last_date).contains(&d.date))
            .collect();
    days.sort_by_key(|d| (d.date, d.unit_class.as_ref().map_or(0, |c| c.vintage)));
    let volume: u128 = days.iter().map(|d| u128::from(d.volume)).sum();
    let turnover_fen: u128 = days.iter().map(|d| u128::from(d.turnover_fen)).sum();
    // The average of prices that each fit in u64 fits in u64.
    let price_fen = turnover_fen.checked_div(volume).map(|p| p as u64);
    Ok(ReferencePrice {
        first_date,
        last_date,
        days,
        volume,
        turnover_fen,
        price_fen,
    })
}
