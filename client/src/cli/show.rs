//! Printing: tables for people, protobuf JSON with --json, CSV exports.

use carbon_client::ops::class_label;
use carbon_proto::v1::{ComplianceRecord, MarketDay, Outcome};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

pub fn json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("cannot print JSON: {e}"),
    }
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    t
}

pub fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

pub fn outcome(o: &Outcome, as_json: bool) {
    if as_json {
        return json(o);
    }
    println!(
        "committed: sequence {} at log index {}, tx {}",
        o.sequence,
        o.log_index,
        hex::encode(&o.tx_id)
    );
    if let Some(fx) = &o.effects {
        for (what, ranges) in [
            ("created", &fx.created),
            ("moved", &fx.moved),
            ("retired", &fx.retired),
        ] {
            for r in ranges {
                let c = r.unit_class.clone().unwrap_or_default();
                println!(
                    "  {what} {} serials {}..={} ({} units)",
                    class_label(&c),
                    r.first,
                    r.last,
                    r.last - r.first + 1
                );
            }
        }
        if fx.encumbrance_id != 0 {
            println!("  encumbrance id {}", fx.encumbrance_id);
        }
        if fx.shortfall_deducted != 0 {
            println!(
                "  withheld against earlier shortfall: {}",
                fx.shortfall_deducted
            );
        }
        if fx.obligation_added != 0 {
            println!("  added to the year's obligation: {}", fx.obligation_added);
        }
        if fx.cancellation_id != 0 {
            println!("  cancellation id {}", fx.cancellation_id);
        }
    }
    println!("  chain head {}", hex::encode(&o.chain_head));
}

pub fn status_word(r: &ComplianceRecord) -> &'static str {
    match r.status() {
        carbon_proto::v1::ComplianceStatus::Compliant => "compliant",
        carbon_proto::v1::ComplianceStatus::NonCompliant => "NON-COMPLIANT",
        _ => "pending",
    }
}

pub fn compliance_rows(records: &[ComplianceRecord]) -> Vec<Vec<String>> {
    records
        .iter()
        .map(|r| {
            vec![
                r.enterprise_id.clone(),
                r.verified_emissions.to_string(),
                r.obligation.to_string(),
                r.surrendered_allowances.to_string(),
                r.surrendered_credits.to_string(),
                status_word(r).into(),
                r.shortfall.to_string(),
                yuan(r.penalty_fen),
            ]
        })
        .collect()
}

pub const COMPLIANCE_HEADER: [&str; 8] = [
    "enterprise",
    "verified t",
    "obligation",
    "allowances",
    "credits",
    "status",
    "shortfall",
    "penalty CNY",
];

pub fn market_rows(days: &[MarketDay]) -> Vec<Vec<String>> {
    days.iter()
        .map(|d| {
            vec![
                d.date.to_string(),
                class_label(&d.unit_class.clone().unwrap_or_default()),
                d.trades.to_string(),
                d.volume.to_string(),
                yuan(d.turnover_fen),
                yuan(d.average_price_fen),
            ]
        })
        .collect()
}

pub const MARKET_HEADER: [&str; 6] = [
    "date",
    "unit class",
    "trades",
    "volume",
    "turnover CNY",
    "VWAP CNY",
];

/// Writes rows to a CSV file.
pub fn csv_out(
    path: &std::path::Path,
    header: &[&str],
    rows: &[Vec<String>],
) -> Result<(), carbon_client::ClientError> {
    let err = |e: csv::Error| carbon_client::ClientError::local(format!("{}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r).map_err(err)?;
    }
    w.flush()
        .map_err(|e| carbon_client::ClientError::local(e.to_string()))
}
