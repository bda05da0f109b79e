//! Rule 16's commands (carbon inclusion): `platform allow|open-accounts|record`, `points`,
//! `inclusion methodology approve`, `inclusion convert`, `inclusion list`.
//!
//! `platform open-accounts --csv people.csv` (columns `account_id,name`) and `platform record
//! --csv rides.csv --methodology M --date D` (columns `account_id,grams`) are bulk runs, with
//! the mechanism of `allocate --plan` (`super::plan`): the good rows are cut into transactions
//! of at most `--rows-per-tx` rows (10,000) and [`ROW_BYTES_PER_TX_MAX`] bytes, each signed and
//! appended to a journal (`<csv>.open.journal`, `<csv>.<METHODOLOGY>.<DATE>.journal`: one
//! `first-line<TAB>hex(SignedTx)` per transaction) BEFORE anything is submitted. A re-run
//! reuses the journalled bytes, so a transaction already committed is answered with its first
//! outcome and never applied twice. Each is dry-run first: one the ledger would refuse (a row
//! over the daily cap, an account that exists) is reported at the CSV line of the row named by
//! the ledger and never committed; it is signed anew on the next run (after the CSV is fixed).
//! The transactions go one at a time (each waits for its commit): the bulk path takes one log
//! entry at a time and other users' transactions interleave. A per-row report is written as CSV.

use super::ctx::{Ctx, Res};
use super::show;
use carbon_client::keys::Key;
use carbon_client::ops::{self, ReadAs};
use carbon_client::ClientError;
use carbon_proto::v1::{self as pb, tx_body::Operation as Op, ErrorCode, Fate, SignedTx, TxBody};
use clap::Subcommand;
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most bytes of rows one bulk transaction carries: below the node's 512 KiB transaction limit
/// with room for signatures and framing.
pub const ROW_BYTES_PER_TX_MAX: usize = 400 * 1024;
/// Most rows one bulk transaction carries (the ledger's limit).
pub const ROWS_PER_TX_MAX: usize = 10_000;

#[derive(Subcommand)]
pub enum PlatformCmd {
    /// Let PLATFORM open personal accounts in bulk (the regulator, --as), or stop it (--revoke).
    Allow {
        platform: String,
        #[arg(long)]
        revoke: bool,
    },
    /// Open the personal accounts of a CSV (columns account_id,name), signed by the platform
    /// (--as). Resumable and safe to re-run.
    OpenAccounts {
        #[arg(long)]
        csv: PathBuf,
        /// The accounts' region (default: the platform's).
        #[arg(long, default_value = "")]
        region: String,
        #[command(flatten)]
        bulk: BulkArgs,
    },
    /// Record the reductions of a CSV (columns account_id,grams) under a methodology for a CST
    /// date, signed by the platform (--as). Resumable and safe to re-run.
    Record {
        #[arg(long)]
        csv: PathBuf,
        #[arg(long)]
        methodology: String,
        #[arg(long, value_parser = carbon_proto::dates::parse_date)]
        date: u32,
        #[command(flatten)]
        bulk: BulkArgs,
    },
}

#[derive(clap::Args, Default)]
pub struct BulkArgs {
    /// Per-row report (default <csv>.report.csv).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Rows per transaction, 1 to 10,000 (0 also means 10,000).
    #[arg(long, default_value_t = ROWS_PER_TX_MAX)]
    rows_per_tx: usize,
    /// Submit only the first N transactions (to test resumption).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

#[derive(Subcommand)]
pub enum InclusionCmd {
    #[command(subcommand)]
    Methodology(MethodologyCmd),
    /// Issue PHCER to PLATFORM for the whole tonnes of its recorded, not yet converted
    /// reductions under METHODOLOGY in YEAR (the regulator, --as).
    Convert {
        #[arg(long)]
        platform: String,
        #[arg(long)]
        methodology: String,
        #[arg(long)]
        year: u32,
    },
    /// Public: recorded and converted reductions per platform, methodology, city and year;
    /// the methodologies; the platforms.
    List {
        #[arg(long, default_value = "")]
        platform: String,
        #[arg(long, default_value_t = 0)]
        year: u32,
    },
}

#[derive(Subcommand)]
pub enum MethodologyCmd {
    /// Approve (or amend) an inclusion methodology (the regulator, --as).
    Approve {
        code: String,
        #[arg(long)]
        behaviour: String,
        /// The platforms that may record under it, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        platforms: Vec<String>,
        #[arg(long)]
        daily_cap_grams: u64,
    },
}

pub async fn platform(ctx: &mut Ctx, cmd: PlatformCmd) -> Res<()> {
    let (csv, bulk, args) = match cmd {
        PlatformCmd::Allow { platform, revoke } => {
            let op = Op::AllowPersonalAccounts(pb::AllowPersonalAccounts {
                platform_id: platform,
                allowed: !revoke,
            });
            if let Some(o) = ctx.write(op).await? {
                show::outcome(&o, ctx.json);
            }
            return Ok(());
        }
        PlatformCmd::OpenAccounts { csv, region, bulk } => (csv, Bulk::Open { region }, bulk),
        PlatformCmd::Record {
            csv,
            methodology,
            date,
            bulk,
        } => (csv, Bulk::Record { methodology, date }, bulk),
    };
    let s = run(ctx, &csv, &bulk, &args).await?;
    if s.unknown > 0 {
        return Err(ClientError::Unavailable(format!(
            "{} transactions without a definite answer (see the report); run the same command again",
            s.unknown
        )));
    }
    if s.bad_rows + s.refused_rows > 0 {
        // The code of the first refused transaction (bad rows alone: INVALID_ARGUMENT).
        let (code, first) = match &s.first_refusal {
            Some((code, message)) => (*code, format!("; first: {message}")),
            None => (ErrorCode::InvalidArgument, String::new()),
        };
        return Err(ClientError::rejected(
            code,
            format!(
                "{} bad rows, {} rows in refused transactions{first} (see the report)",
                s.bad_rows, s.refused_rows
            ),
        ));
    }
    Ok(())
}

/// What a bulk run does with its rows.
pub enum Bulk {
    Open { region: String },
    Record { methodology: String, date: u32 },
}

/// One good CSV row: its line, account id and second column (name, or grams).
#[derive(Clone)]
struct Row {
    line: u64,
    account: String,
    value: String,
    grams: u64,
}

pub struct Summary {
    /// The code and message of the first refused row (its transaction's reason).
    pub first_refusal: Option<(ErrorCode, String)>,
    /// `--dry-run`: rows whose transactions the dry run found valid (each against the state
    /// before the run: a batch does not see the batches before it).
    pub rows_would_commit: usize,
    pub rows_committed: usize,
    pub rows_committed_before: usize,
    pub refused_rows: usize,
    pub unknown: usize,
    pub bad_rows: usize,
}

impl Bulk {
    fn journal(&self, csv: &Path) -> PathBuf {
        match self {
            Bulk::Open { .. } => PathBuf::from(format!("{}.open.journal", csv.display())),
            Bulk::Record { methodology, date } => {
                PathBuf::from(format!("{}.{methodology}.{date}.journal", csv.display()))
            }
        }
    }

    fn row(&self, line: u64, rec: &csv::StringRecord) -> Result<Row, String> {
        let account = rec
            .get(0)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or("missing account_id")?
            .to_string();
        let value = rec.get(1).map(str::trim).unwrap_or_default().to_string();
        if rec.len() > 2 {
            return Err(format!(
                "{} columns; a row has 2 (account_id and {})",
                rec.len(),
                match self {
                    Bulk::Open { .. } => "name",
                    Bulk::Record { .. } => "grams",
                }
            ));
        }
        let grams = match self {
            Bulk::Open { .. } => 0,
            Bulk::Record { .. } => value.replace('_', "").parse().map_err(|_| {
                format!(
                    "grams {value:?} is not a whole number of grams from 1 to {}",
                    u64::MAX
                )
            })?,
        };
        Ok(Row {
            line,
            account,
            value,
            grams,
        })
    }

    /// Bytes a row adds to a transaction (id, value and protobuf framing).
    fn row_bytes(r: &Row) -> usize {
        r.account.len() + r.value.len() + 16
    }

    fn op(&self, platform: &str, rows: &[Row]) -> Op {
        match self {
            Bulk::Open { region } => Op::OpenPersonalAccounts(pb::OpenPersonalAccounts {
                platform_id: platform.into(),
                region: region.clone(),
                accounts: rows
                    .iter()
                    .map(|r| pb::PersonalAccount {
                        account_id: r.account.clone(),
                        name: r.value.clone(),
                    })
                    .collect(),
            }),
            Bulk::Record { methodology, date } => Op::RecordReductions(pb::RecordReductions {
                platform_id: platform.into(),
                methodology: methodology.clone(),
                date: *date,
                rows: rows
                    .iter()
                    .map(|r| pb::ReductionRow {
                        account_id: r.account.clone(),
                        grams: r.grams,
                    })
                    .collect(),
            }),
        }
    }
}

/// Rows the CSV could not give: line and why.
type BadRows = Vec<(u64, String)>;

/// The CSV's rows: good ones, and bad ones with their line and why.
fn read_rows(csv_path: &Path, bulk: &Bulk) -> Res<(Vec<Row>, BadRows)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(csv_path)
        .map_err(|e| ClientError::local(format!("{}: {e}", csv_path.display())))?;
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    // An account opened twice in one file is a mistake of the file, not of the ledger.
    let mut opened: BTreeMap<String, u64> = BTreeMap::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i as u64 + 2; // the header is line 1
        let row = rec
            .map_err(|e| e.to_string())
            .and_then(|r| bulk.row(line, &r))
            .and_then(|r| match (bulk, opened.get(&r.account)) {
                (Bulk::Open { .. }, Some(first)) => Err(format!(
                    "account {:?} is also on line {first} of this file",
                    r.account
                )),
                _ => Ok(r),
            });
        match row {
            Ok(r) => {
                if matches!(bulk, Bulk::Open { .. }) {
                    opened.insert(r.account.clone(), line);
                }
                good.push(r)
            }
            Err(e) => bad.push((line, e)),
        }
    }
    Ok((good, bad))
}

/// Consecutive good rows, at most `rows_per_tx` and [`ROW_BYTES_PER_TX_MAX`] bytes each: the
/// same CSV always gives the same batches (their first lines key the journal).
fn batches(rows: &[Row], rows_per_tx: usize) -> Vec<&[Row]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, r) in rows.iter().enumerate() {
        let n = Bulk::row_bytes(r);
        if i > start && (i - start >= rows_per_tx || bytes + n > ROW_BYTES_PER_TX_MAX) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

fn load_journal(path: &Path) -> BTreeMap<u64, SignedTx> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
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
    out
}

fn write_journal(path: &Path, entries: &BTreeMap<u64, SignedTx>, append: bool) -> Res<()> {
    let io = |e: std::io::Error| ClientError::local(format!("{}: {e}", path.display()));
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut f = if append {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?
    } else {
        std::fs::File::create(&tmp).map_err(io)?
    };
    for (line, tx) in entries {
        writeln!(f, "{line}\t{}", hex::encode(tx.encode_to_vec())).map_err(io)?;
    }
    f.sync_all().map_err(io)?;
    if !append {
        std::fs::rename(&tmp, path).map_err(io)?;
    }
    Ok(())
}

/// The journalled transaction of a batch must carry exactly the batch's operation (the same
/// CSV, methodology and date); anything else means the CSV changed under its journal.
fn check_journalled(tx: &SignedTx, op: &Op, first_line: u64, journal: &Path) -> Res<()> {
    let body = TxBody::decode(tx.body.as_slice()).ok();
    if body.and_then(|b| b.operation).as_ref() == Some(op) {
        return Ok(());
    }
    Err(ClientError::local(format!(
        "the transaction journalled for line {first_line} does not match the CSV's rows: the CSV \
         changed since {} was written (restore it, or remove the journal to start over)",
        journal.display()
    )))
}

/// Signs (or takes from the journal) one transaction per batch; journals the new ones first
/// (not in a dry run, which sends nothing).
fn sign_batches(
    ctx: &Ctx,
    chain: &str,
    bulk: &Bulk,
    batches: &[&[Row]],
    journal_path: &Path,
) -> Res<Vec<SignedTx>> {
    let actor = ctx.actor()?;
    let keys: Vec<Key> = ctx.keys_for(&actor)?;
    if keys.is_empty() {
        return Err(ClientError::local(format!("no key for {actor}")));
    }
    let journal = load_journal(journal_path);
    let mut new = BTreeMap::new();
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let op = bulk.op(&actor, b);
        let first = b[0].line;
        let tx = match journal.get(&first) {
            Some(tx) => {
                check_journalled(tx, &op, first, journal_path)?;
                tx.clone()
            }
            None => {
                let body = ops::body(chain, vec![actor.clone()], ctx.valid_for, op);
                let refs: Vec<&Key> = keys.iter().collect();
                let tx = ops::sign(&body, &refs);
                new.insert(first, tx.clone());
                tx
            }
        };
        out.push(tx);
    }
    if !new.is_empty() && !ctx.dry_run {
        // Journal first: a crash after this point re-submits the same bytes.
        write_journal(journal_path, &new, true)?;
    }
    Ok(out)
}

/// (result, sequence, message) of each row of one batch.
type RowResults = Vec<(String, u64, String)>;

/// The row of a refused batch that carries the refusal's code (the others say NOT_APPLIED).
fn first_refusal(rows: &RowResults) -> Option<(ErrorCode, String)> {
    rows.iter().find_map(|(result, _, message)| {
        ErrorCode::from_str_name(result).map(|code| (code, message.clone()))
    })
}

/// The row a ledger message names ("row N: ..."), 1-based within its transaction.
fn named_row(message: &str) -> Option<usize> {
    let rest = message.strip_prefix("row ")?;
    let n: usize = rest.split(':').next()?.trim().parse().ok()?;
    n.checked_sub(1)
}

/// Every row of a refused batch: the named row gets the code and message, the others say why
/// they were not applied.
fn refused(rows: &[Row], code: ErrorCode, message: &str, note: &str) -> RowResults {
    let named = named_row(message);
    rows.iter()
        .enumerate()
        .map(|(i, _)| match named {
            Some(n) if n == i => (code.as_str_name().into(), 0, format!("{message}{note}")),
            Some(n) => (
                "NOT_APPLIED".into(),
                0,
                format!(
                    "its transaction was refused at line {}",
                    rows.get(n).map_or(0, |r| r.line)
                ),
            ),
            None => (code.as_str_name().into(), 0, format!("{message}{note}")),
        })
        .collect()
}

enum BatchFate {
    /// `--dry-run`: the dry run found nothing wrong; nothing was sent.
    DryRun,
    Committed {
        before: bool,
    },
    Refused {
        stale: bool,
    },
    Unknown,
}

/// Dry-runs, then submits one batch; returns its fate and its rows' results.
async fn submit_one(
    ctx: &mut Ctx,
    tx: SignedTx,
    rows: &[Row],
    start_seq: u64,
) -> Res<(BatchFate, RowResults)> {
    let dry = ctx.client.simulate(tx.clone(), None).await?;
    if let Some(o) = dry
        .outcome
        .as_ref()
        .filter(|o| !dry.already_committed && o.code() != ErrorCode::Ok)
    {
        let note = " (found by a dry run; nothing was recorded or submitted)";
        let r = refused(rows, o.code(), &o.message, note);
        return Ok((BatchFate::Refused { stale: true }, r));
    }
    if ctx.dry_run {
        let result = match &dry.outcome {
            Some(o) if dry.already_committed => ("committed (earlier run)", o.sequence),
            _ => ("would commit (dry run)", 0),
        };
        let r = vec![(result.0.to_string(), result.1, String::new()); rows.len()];
        return Ok((BatchFate::DryRun, r));
    }
    ctx.sent = super::ctx::Sent::Plan;
    let answer = submit_paced(ctx, tx).await?;
    let all = |res: &str, seq: u64| vec![(res.to_string(), seq, String::new()); rows.len()];
    Ok(match answer {
        Some(Ok(o)) if o.code() == ErrorCode::Ok && o.sequence <= start_seq => (
            BatchFate::Committed { before: true },
            all("committed (earlier run)", o.sequence),
        ),
        Some(Ok(o)) if o.code() == ErrorCode::Ok => (
            BatchFate::Committed { before: false },
            all("committed", o.sequence),
        ),
        Some(Ok(o)) => (
            BatchFate::Refused { stale: false },
            refused(rows, o.code(), &o.message, ""),
        ),
        Some(Err(e)) if e.fate() == Fate::NotApplied => (
            BatchFate::Refused { stale: true },
            refused(rows, e.code(), &e.to_string(), ""),
        ),
        Some(Err(e)) => (
            BatchFate::Unknown,
            vec![
                (
                    "UNKNOWN".into(),
                    0,
                    format!("{e} (fate unknown: run the same command again to settle it)")
                );
                rows.len()
            ],
        ),
        None => (
            BatchFate::Unknown,
            vec![("UNKNOWN".into(), 0, "no answer".into()); rows.len()],
        ),
    })
}

/// Times a bulk transaction is sent again to a leader that paces bulk rows.
const PACED_ATTEMPTS_MAX: usize = 12;

/// Submits one bulk transaction. A leader pacing bulk rows (`bulk_rows_per_second`) refuses
/// what would wait too long with RESOURCE_EXHAUSTED, not applied: the same bytes go again after
/// a pause (1 s, doubling up to 8 s), at most `PACED_ATTEMPTS_MAX` times in all.
async fn submit_paced(
    ctx: &mut Ctx,
    tx: SignedTx,
) -> Res<Option<Result<pb::Outcome, ClientError>>> {
    let mut pause = std::time::Duration::from_secs(1);
    for attempt in 1..=PACED_ATTEMPTS_MAX {
        let answer = ctx
            .client
            .submit_batch(vec![tx.clone()])
            .await?
            .into_iter()
            .next();
        let paced = matches!(&answer, Some(Err(e))
            if e.fate() == Fate::NotApplied && e.code() == ErrorCode::ResourceExhausted);
        if !paced || attempt == PACED_ATTEMPTS_MAX {
            return Ok(answer);
        }
        eprintln!(
            "the leader paces bulk rows (bulk_rows_per_second): sending the same transaction \
             again in {} s (attempt {attempt} of {PACED_ATTEMPTS_MAX})",
            pause.as_secs()
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(8));
    }
    Ok(None)
}

fn progress_bar(ctx: &Ctx, rows: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(rows as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if ctx.json || std::env::var_os("CI").is_some() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

pub async fn run(ctx: &mut Ctx, csv_path: &Path, bulk: &Bulk, args: &BulkArgs) -> Res<Summary> {
    if ctx.unsigned_out.is_some() {
        return Err(ClientError::local(
            "--unsigned-out does not apply to platform open-accounts and platform record: they \
             sign one transaction per batch of rows themselves (nothing was sent; use --dry-run \
             to check a file first)",
        ));
    }
    let rows_per_tx = if args.rows_per_tx == 0 {
        ROWS_PER_TX_MAX
    } else {
        args.rows_per_tx
    };
    if rows_per_tx > ROWS_PER_TX_MAX {
        return Err(ClientError::local(format!(
            "--rows-per-tx is 1 to {ROWS_PER_TX_MAX}"
        )));
    }
    let journal_path = bulk.journal(csv_path);
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.report.csv", csv_path.display())));
    let (good, bad) = read_rows(csv_path, bulk)?;
    let chain = ctx.client.chain_id().await?;
    let start_seq = ctx.client.chain_head().await?.sequence;
    let batches = batches(&good, rows_per_tx);
    let txs = sign_batches(ctx, &chain, bulk, &batches, &journal_path)?;
    let limit = args.stop_after.unwrap_or(batches.len()).min(batches.len());
    let bar = progress_bar(ctx, batches[..limit].iter().map(|b| b.len()).sum());
    let mut summary = Summary {
        first_refusal: None,
        rows_would_commit: 0,
        rows_committed: 0,
        rows_committed_before: 0,
        refused_rows: 0,
        unknown: 0,
        bad_rows: bad.len(),
    };
    let mut results: BTreeMap<u64, (String, u64, String)> = BTreeMap::new();
    let mut stale = Vec::new();
    for (b, tx) in batches.iter().zip(txs).take(limit) {
        let (fate, rows) = submit_one(ctx, tx, b, start_seq).await?;
        match fate {
            BatchFate::Committed { before: true } => summary.rows_committed_before += b.len(),
            BatchFate::Committed { before: false } => summary.rows_committed += b.len(),
            BatchFate::Refused { stale: s } => {
                summary.refused_rows += b.len();
                if summary.first_refusal.is_none() {
                    summary.first_refusal = first_refusal(&rows);
                }
                if s {
                    stale.push(b[0].line);
                }
            }
            BatchFate::Unknown => summary.unknown += 1,
            BatchFate::DryRun => summary.rows_would_commit += b.len(),
        }
        for (r, res) in b.iter().zip(rows) {
            results.insert(r.line, res);
        }
        bar.inc(b.len() as u64);
        bar.set_message(format!("line {}", b[b.len() - 1].line));
    }
    bar.finish_and_clear();
    if ctx.dry_run {
        write_report(&report_path, bulk, &good, &bad, &results)?;
        eprintln!(
            "{}: dry run, nothing was sent: {} rows would be committed (each transaction checked \
             against the state now, without the ones before it), {} committed before, {} rows in \
             refused transactions, {} bad rows; report in {}",
            csv_path.display(),
            summary.rows_would_commit,
            summary.rows_committed_before,
            summary.refused_rows,
            summary.bad_rows,
            report_path.display()
        );
        return Ok(summary);
    }
    if !stale.is_empty() {
        let mut journal = load_journal(&journal_path);
        for line in &stale {
            journal.remove(line);
        }
        write_journal(&journal_path, &journal, false)?;
    }
    write_report(&report_path, bulk, &good, &bad, &results)?;
    eprintln!(
        "{}: {} rows committed now, {} committed before, {} rows in refused transactions, {} transactions of unknown fate, {} bad rows; report in {}",
        csv_path.display(),
        summary.rows_committed,
        summary.rows_committed_before,
        summary.refused_rows,
        summary.unknown,
        summary.bad_rows,
        report_path.display()
    );
    Ok(summary)
}

fn write_report(
    path: &Path,
    bulk: &Bulk,
    good: &[Row],
    bad: &[(u64, String)],
    results: &BTreeMap<u64, (String, u64, String)>,
) -> Res<()> {
    let mut out: Vec<(u64, Vec<String>)> = Vec::with_capacity(good.len() + bad.len());
    for r in good {
        let (res, seq, msg) = results
            .get(&r.line)
            .cloned()
            .unwrap_or_else(|| ("not submitted".into(), 0, String::new()));
        let seq = if seq == 0 {
            String::new()
        } else {
            seq.to_string()
        };
        out.push((
            r.line,
            vec![
                r.line.to_string(),
                r.account.clone(),
                r.value.clone(),
                res,
                seq,
                msg,
            ],
        ));
    }
    for (line, e) in bad {
        eprintln!("line {line}: {e}");
        let row = vec![
            line.to_string(),
            String::new(),
            String::new(),
            "BAD_ROW".into(),
            String::new(),
            e.clone(),
        ];
        out.push((*line, row));
    }
    out.sort_by_key(|(l, _)| *l);
    let second = match bulk {
        Bulk::Open { .. } => "name",
        Bulk::Record { .. } => "grams",
    };
    let rows: Vec<Vec<String>> = out.into_iter().map(|(_, r)| r).collect();
    show::csv_out(
        path,
        &[
            "line",
            "account_id",
            second,
            "result",
            "sequence",
            "message",
        ],
        &rows,
    )
}

/// `carbonctl points ACCOUNT [--year Y] [--statement]`: signed as --as (the person, its
/// platform, or the regulator).
pub async fn points(
    ctx: &mut Ctx,
    account: &str,
    year: u32,
    statement: bool,
    from: u32,
    to: u32,
) -> Res<()> {
    let who: ReadAs = ctx.read_as()?;
    if !statement {
        let p = ctx.client.points(account, year, &who).await?;
        if ctx.json {
            show::json(&p);
            return Ok(());
        }
        let rows = p
            .points
            .iter()
            .map(|c| {
                vec![
                    c.methodology.clone(),
                    c.year.to_string(),
                    c.grams.to_string(),
                ]
            })
            .collect();
        println!("{}", show::table(&["methodology", "year", "grams"], rows));
        println!(
            "platform {}; keys {}",
            if p.platform_id.is_empty() {
                "-"
            } else {
                &p.platform_id
            },
            if p.custodial {
                "custodial (the platform's)"
            } else {
                "the owner's"
            }
        );
        return Ok(());
    }
    let mut lines = Vec::new();
    let mut token = Vec::new();
    loop {
        let req = pb::GetPointsStatementRequest {
            account_id: account.into(),
            from_date: from,
            to_date: to,
            page_token: token,
            ..Default::default()
        };
        let page = ctx.client.points_statement_page(req, &who).await?;
        lines.extend(page.lines);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if ctx.json {
        show::json(&lines);
        return Ok(());
    }
    let rows = lines
        .iter()
        .map(|l| {
            vec![
                carbon_proto::dates::format_date(l.date),
                l.methodology.clone(),
                l.grams.to_string(),
                l.sequence.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        show::table(&["date", "methodology", "grams", "sequence"], rows)
    );
    Ok(())
}

pub async fn inclusion(ctx: &mut Ctx, cmd: InclusionCmd) -> Res<()> {
    let op = match cmd {
        InclusionCmd::Methodology(MethodologyCmd::Approve {
            code,
            behaviour,
            platforms,
            daily_cap_grams,
        }) => Op::ApproveMethodology(pb::ApproveMethodology {
            methodology: Some(pb::InclusionMethodology {
                code,
                behaviour,
                platform_ids: platforms,
                daily_cap_grams,
                approved_sequence: 0,
            }),
        }),
        InclusionCmd::Convert {
            platform,
            methodology,
            year,
        } => Op::ConvertReductions(pb::ConvertReductions {
            platform_id: platform,
            methodology,
            year,
        }),
        InclusionCmd::List { platform, year } => return list(ctx, &platform, year).await,
    };
    if let Some(o) = ctx.write(op).await? {
        show::outcome(&o, ctx.json);
        let fx = o.effects.unwrap_or_default();
        if fx.grams_converted > 0 && !ctx.json {
            println!(
                "{} g converted into {} PHCER",
                fx.grams_converted,
                fx.grams_converted / 1_000_000
            );
        }
    }
    Ok(())
}

async fn list(ctx: &mut Ctx, platform: &str, year: u32) -> Res<()> {
    let r = ctx.client.inclusion(platform, year).await?;
    if ctx.json {
        show::json(&r);
        return Ok(());
    }
    let rows = r
        .totals
        .iter()
        .map(|t| {
            vec![
                t.year.to_string(),
                t.methodology.clone(),
                t.platform_id.clone(),
                t.city.clone(),
                t.recorded_grams.to_string(),
                t.converted_grams.to_string(),
            ]
        })
        .collect();
    let header = [
        "year",
        "methodology",
        "platform",
        "city",
        "recorded g",
        "converted g",
    ];
    println!("{}", show::table(&header, rows));
    let rows = r
        .methodologies
        .iter()
        .map(|m| {
            vec![
                m.code.clone(),
                m.behaviour.clone(),
                m.platform_ids.join(","),
                m.daily_cap_grams.to_string(),
            ]
        })
        .collect();
    let header = ["methodology", "behaviour", "platforms", "daily cap g"];
    println!("{}", show::table(&header, rows));
    Ok(())
}
