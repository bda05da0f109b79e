//! Transfers and trades between holding accounts. A trade settles as a transfer and is counted in
//! the market statistics: per unit class and day, and per unit kind and month (the month figure
//! prices a compliance year's penalty).

use super::dates;
use super::error::{reject, ErrorCode, Res};
use super::exec::{add, check_can_hold, check_quantity, check_text, mul, Exec};
use super::holdings::{Give, Take};
use super::keys;
use carbon_proto::v1::{Effects, MarketDay, Trade, Transfer, UnitClass};

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
    let month = date / 100;
    let kind_only = UnitClass {
        kind: class.kind,
        ..Default::default()
    };
    record(
        x,
        keys::market_month(class.kind, month),
        &kind_only,
        month,
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

/// The volume-weighted average CEA price (fen) of a month, if anything traded.
pub fn month_average(x: &Exec, kind: i32, month: u32) -> Res<Option<u64>> {
    Ok(x.get::<MarketDay>(&keys::market_month(kind, month))?
        .filter(|m| m.volume > 0)
        .map(|m| m.average_price_fen))
}
