//! Printing: tables for people, JSON with `--output json` (`--json`; protobuf JSON field names,
//! with ids, keys, hashes and signatures in hex, as everywhere in carbonctl), the same rows as
//! CSV with `--output csv`, and CSV exports to files.

use carbon_client::ops::class_label;
use carbon_proto::v1::{ComplianceRecord, MarketDay, Outcome};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::sync::atomic::{AtomicU8, Ordering};

/// How results are printed (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Csv,
}

static OUTPUT: AtomicU8 = AtomicU8::new(0);

/// Set once, from `--output`, before anything is printed.
pub fn set_output(o: Output) {
    OUTPUT.store(o as u8, Ordering::Relaxed);
}

pub fn output() -> Output {
    match OUTPUT.load(Ordering::Relaxed) {
        1 => Output::Json,
        2 => Output::Csv,
        _ => Output::Table,
    }
}

/// A table as the output mode wants it: drawn, or as CSV rows (header first).
pub enum Rendered {
    Table(Table),
    Csv(String),
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rendered::Table(t) => t.fmt(f),
            Rendered::Csv(s) => f.write_str(s.trim_end()),
        }
    }
}

pub fn json<T: serde::Serialize>(v: &T) {
    match serde_json::to_value(v).map(hexify) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => eprintln!("cannot print JSON: {e}"),
    }
}

pub use carbon_proto::hex_json::hexify;

/// What a dry run found: the transaction would succeed, with these effects.
pub fn dry_run(o: &Outcome, as_json: bool) {
    if as_json {
        return json(&serde_json::json!({ "dryRun": true, "outcome": o }));
    }
    println!("dry run: would succeed (nothing was recorded)");
    effects(o);
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Rendered {
    if output() == Output::Csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(header);
        for r in &rows {
            let _ = w.write_record(r);
        }
        let bytes = w.into_inner().unwrap_or_default();
        return Rendered::Csv(String::from_utf8_lossy(&bytes).into_owned());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    Rendered::Table(t)
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
    effects(o);
    println!("  chain head {}", hex::encode(&o.chain_head));
}

fn effects(o: &Outcome) {
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
            println!(
                "  encumbrance (pledge, freeze or repo) id {}",
                fx.encumbrance_id
            );
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
        if fx.loan_id != 0 {
            println!("  loan id {}", fx.loan_id);
        }
    }
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
