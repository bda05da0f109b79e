//! `carbonctl allocate --plan plan.csv`: bulk allocation.
//!
//! The plan has columns `enterprise,vintage,kind,quantity` (`kind`: `pre` for pre-allocation,
//! `final` for the true-up). Each good row becomes one signed transaction, appended to a journal
//! (`<plan>.journal`, one `line<TAB>hex(SignedTx)` per row) BEFORE anything is submitted. A re-run
//! reuses the journalled bytes, so tx ids repeat and rows already committed are not applied
//! again: the registry returns their first outcome. Bad rows are reported with their line number
//! and do not stop good ones. Each row is dry-run before it is submitted: a row the ledger would
//! reject (a mistyped enterprise id) is reported and never committed as a rejection, and is
//! signed anew on the next run. A per-row report is written as CSV.
//!
//! However late a plan is re-run, a row already committed is reported as committed (the registry
//! looks a tx id up before it checks expiry). A row whose journalled transaction can never be
//! applied (e.g. it expired before it was committed: fate NOT_APPLIED) is dropped from the journal,
//! so the next run signs it anew; a row whose fate is unknown keeps its bytes for the next run.

use super::ctx::{Ctx, Res};
use carbon_client::keys::Key;
use carbon_client::{ops, ClientError};
use carbon_proto::v1::{tx_body::Operation, Allocate, ErrorCode, Fate, SignedTx, TrueUp};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const CHUNK: usize = 500;

pub struct Summary {
    pub committed_now: usize,
    pub committed_before: usize,
    pub rejected: usize,
    /// Rows without a definite answer (re-run to settle them).
    pub unknown: usize,
    pub bad_rows: usize,
}

fn row_op(rec: &csv::StringRecord) -> Result<Operation, String> {
    let field = |i: usize, name: &str| {
        rec.get(i)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("missing {name}"))
    };
    let enterprise = field(0, "enterprise")?.to_string();
    let vintage: u32 = field(1, "vintage")?
        .parse()
        .map_err(|_| "vintage is not a year".to_string())?;
    let quantity: u64 = field(3, "quantity")?
        .replace('_', "")
        .parse()
        .map_err(|_| "quantity is not a whole number".to_string())?;
    match field(2, "kind")?.to_ascii_lowercase().as_str() {
        "pre" | "pre-allocation" => Ok(Operation::Allocate(Allocate {
            enterprise_id: enterprise,
            vintage,
            quantity,
        })),
        "final" | "true-up" => Ok(Operation::TrueUp(TrueUp {
            enterprise_id: enterprise,
            vintage,
            final_quantity: quantity,
        })),
        k => Err(format!("kind {k:?} is neither pre nor final")),
    }
}

fn load_journal(path: &Path) -> Res<BTreeMap<u64, SignedTx>> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(out);
    };
    for l in text.lines() {
        let Some((line, hexed)) = l.split_once('\t') else {
            continue;
        };
        let (Ok(line), Ok(bytes)) = (line.parse::<u64>(), hex::decode(hexed)) else {
            continue;
        };
        if let Ok(tx) = SignedTx::decode(bytes.as_slice()) {
            out.insert(line, tx);
        }
    }
    Ok(out)
}

/// Replaces the journal with `journal` (written aside, synced, then renamed over it).
fn rewrite_journal(path: &Path, journal: &BTreeMap<u64, SignedTx>) -> Res<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let io = |e: std::io::Error| ClientError::local(format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    for (line, tx) in journal {
        writeln!(f, "{line}\t{}", hex::encode(tx.encode_to_vec())).map_err(io)?;
    }
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

pub async fn run(
    ctx: &mut Ctx,
    plan: &Path,
    report: Option<PathBuf>,
    stop_after: Option<usize>,
) -> Res<Summary> {
    if ctx.dry_run || ctx.unsigned_out.is_some() {
        // Each row is dry-run before it is submitted anyway; a whole-plan dry run is not built.
        return Err(ClientError::local(
            "--dry-run and --unsigned-out do not apply to allocate --plan, which signs and submits \
             one transaction per row itself, each dry-run first (nothing was sent; --stop-after N \
             submits the first N rows only)",
        ));
    }
    let journal_path = PathBuf::from(format!("{}.journal", plan.display()));
    let report_path =
        report.unwrap_or_else(|| PathBuf::from(format!("{}.report.csv", plan.display())));
    let mut journal = load_journal(&journal_path)?;
    let actor = ctx.actor()?;
    let keys: Vec<Key> = ctx.keys_for(&actor)?;
    if keys.is_empty() {
        return Err(ClientError::local(format!("no key for {actor}")));
    }
    let chain = ctx.client.chain_id().await?;
    let start_seq = ctx.client.chain_head().await?.sequence;

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(plan)
        .map_err(|e| ClientError::local(format!("{}: {e}", plan.display())))?;
    let mut rows: Vec<(u64, Vec<String>, Result<SignedTx, String>)> = Vec::new();
    let mut new_lines = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i as u64 + 2; // header is line 1
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                rows.push((line, vec![], Err(e.to_string())));
                continue;
            }
        };
        let fields: Vec<String> = rec.iter().map(|s| s.trim().to_string()).collect();
        let tx = match journal.get(&line) {
            Some(tx) => Ok(tx.clone()),
            None => row_op(&rec).map(|op| {
                let body = ops::body(&chain, vec![actor.clone()], ctx.valid_for, op);
                let refs: Vec<&Key> = keys.iter().collect();
                let tx = ops::sign(&body, &refs);
                new_lines.push((line, tx.clone()));
                tx
            }),
        };
        rows.push((line, fields, tx));
    }
    // Journal first: a crash after this point re-submits the same bytes.
    if !new_lines.is_empty() {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)
            .map_err(|e| ClientError::local(format!("{}: {e}", journal_path.display())))?;
        for (line, tx) in &new_lines {
            writeln!(f, "{line}\t{}", hex::encode(tx.encode_to_vec()))
                .map_err(|e| ClientError::local(e.to_string()))?;
            journal.insert(*line, tx.clone());
        }
        f.sync_all()
            .map_err(|e| ClientError::local(e.to_string()))?;
    }

    let good: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.2.is_ok())
        .map(|(i, _)| i)
        .collect();
    let limit = stop_after.unwrap_or(good.len()).min(good.len());
    let bar = indicatif::ProgressBar::new(limit as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if ctx.json || std::env::var_os("CI").is_some() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut results: BTreeMap<usize, (String, u64, String)> = BTreeMap::new();
    let mut summary = Summary {
        committed_now: 0,
        committed_before: 0,
        rejected: 0,
        unknown: 0,
        bad_rows: rows.iter().filter(|r| r.2.is_err()).count(),
    };
    let mut stale: Vec<u64> = Vec::new();
    for chunk in good[..limit].chunks(CHUNK) {
        // A dry run of each row first: a typo (an unknown enterprise, a vintage not declared) is
        // refused without becoming a permanent rejection, and its row is signed anew next time.
        let mut to_submit = Vec::with_capacity(chunk.len());
        let mut txs: Vec<SignedTx> = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let Ok(tx) = rows[i].2.as_ref() else { continue };
            let dry = ctx.client.simulate(tx.clone(), None).await?;
            match dry.outcome {
                Some(o) if !dry.already_committed && o.code() != ErrorCode::Ok => {
                    summary.rejected += 1;
                    stale.push(rows[i].0);
                    let message = format!(
                        "{} (found by a dry run; nothing was recorded or submitted)",
                        o.message
                    );
                    results.insert(i, (o.code().as_str_name().to_string(), 0, message));
                }
                _ => {
                    to_submit.push(i);
                    txs.push(tx.clone());
                }
            }
        }
        if txs.is_empty() {
            bar.inc(chunk.len() as u64);
            continue;
        }
        ctx.sent = super::ctx::Sent::Plan;
        let answers = ctx.client.submit_batch(txs).await?;
        for (&i, a) in to_submit.iter().zip(answers) {
            let r = match a {
                Ok(o) if o.code() == ErrorCode::Ok && o.sequence <= start_seq => {
                    summary.committed_before += 1;
                    (
                        "committed (earlier run)".to_string(),
                        o.sequence,
                        String::new(),
                    )
                }
                Ok(o) if o.code() == ErrorCode::Ok => {
                    summary.committed_now += 1;
                    ("committed".to_string(), o.sequence, String::new())
                }
                Ok(o) => {
                    summary.rejected += 1;
                    (
                        o.code().as_str_name().to_string(),
                        o.sequence,
                        o.message.clone(),
                    )
                }
                Err(e) if e.fate() == Fate::NotApplied => {
                    summary.rejected += 1;
                    stale.push(rows[i].0);
                    (e.code().as_str_name().to_string(), 0, e.to_string())
                }
                Err(e) => {
                    summary.unknown += 1;
                    (
                        "UNKNOWN".to_string(),
                        0,
                        format!("{e} (fate unknown: re-run the plan to settle it)"),
                    )
                }
            };
            results.insert(i, r);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if !stale.is_empty() {
        for line in &stale {
            journal.remove(line);
        }
        rewrite_journal(&journal_path, &journal)?;
    }

    let mut out = Vec::new();
    for (i, (line, fields, tx)) in rows.iter().enumerate() {
        let mut r = vec![line.to_string()];
        r.extend((0..4).map(|k| fields.get(k).cloned().unwrap_or_default()));
        match (tx, results.get(&i)) {
            (Err(e), _) => r.extend(["BAD_ROW".to_string(), String::new(), e.clone()]),
            (Ok(_), Some((res, seq, msg))) => r.extend([res.clone(), seq.to_string(), msg.clone()]),
            (Ok(_), None) => r.extend(["not submitted".to_string(), String::new(), String::new()]),
        }
        out.push(r);
    }
    super::show::csv_out(
        &report_path,
        &[
            "line",
            "enterprise",
            "vintage",
            "kind",
            "quantity",
            "result",
            "sequence",
            "message",
        ],
        &out,
    )?;
    for r in out.iter().filter(|r| r[5] == "BAD_ROW") {
        eprintln!("line {}: {}", r[0], r[7]);
    }
    eprintln!(
        "plan {}: {} committed now, {} already committed, {} rejected, {} of unknown fate, {} bad rows; report in {}",
        plan.display(),
        summary.committed_now,
        summary.committed_before,
        summary.rejected,
        summary.unknown,
        summary.bad_rows,
        report_path.display()
    );
    Ok(summary)
}
