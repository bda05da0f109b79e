//! `carbonctl watch ACCOUNT`: an account's committed transactions as they commit, printed, or
//! with `--webhook URL --state FILE` delivered to an HTTP endpoint as JSON, one POST per
//! transaction, at least once (docs/OPERATIONS.md, "Notifications").
//!
//! Two halves joined by a bounded queue (`--queue-txs-max`):
//! * the reader pages the account's history (`GetHistory`, linearizable, signed as the account
//!   or `--as`) from the first sequence not yet delivered, then waits on a `Watch` stream for
//!   the next commit and reads the history again from where it stopped; on any error it waits
//!   (exponential backoff) and starts again from the last sequence it queued. It blocks while
//!   the queue is full.
//! * the deliverer posts each transaction in sequence order until the endpoint answers 2xx,
//!   retrying every failure (connection refused or dropped, no answer within
//!   `--webhook-timeout-ms`, any other status) after an exponential backoff capped at
//!   `--retry-max-ms`; only then it records the transaction's sequence in the state file
//!   (written to a temporary file, fsynced, renamed over the old one, directory fsynced) and
//!   takes the next one. After a restart it resumes after the recorded sequence: a transaction
//!   is delivered again only when its delivery was not recorded (in flight when the relay
//!   stopped, or answered after the timeout).

use super::ctx::{Ctx, Res};
use carbon_client::client::Client;
use carbon_client::ops::ReadAs;
use carbon_client::ClientError;
use carbon_proto::v1::{self as pb, CommittedTx};
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

mod http;

/// Transactions asked for per history page.
const HISTORY_PAGE_TXS: u32 = 500;

/// The relay's options (`carbonctl watch ACCOUNT --webhook URL ...`).
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Deliver each transaction as a JSON POST to this http:// or https:// URL (needs --state).
    #[arg(long, requires = "state")]
    pub webhook: Option<String>,
    /// The relay's state file: the last delivered sequence (created if missing).
    #[arg(long, requires = "webhook")]
    pub state: Option<PathBuf>,
    /// Transactions read ahead of the deliverer (the in-memory queue's bound).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub queue_txs_max: u32,
    /// How long one POST may take before it counts as failed (and is retried).
    #[arg(long, default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// The wait after a first failure; doubled after each further one.
    #[arg(long, default_value_t = 250)]
    pub retry_first_ms: u64,
    /// The longest wait between two attempts.
    #[arg(long, default_value_t = 30_000)]
    pub retry_max_ms: u64,
    /// CA certificates (PEM) an https:// endpoint's certificate must chain to (default: the
    /// system's bundle, /etc/ssl/certs/ca-certificates.crt).
    #[arg(long)]
    pub webhook_ca: Option<PathBuf>,
}

/// Exponential backoff: `first`, doubled per failure, at most `max`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failures in a row (1: `first`).
    pub fn wait(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Runs `carbonctl watch ACCOUNT [--webhook URL --state FILE]` until `count` transactions were
/// printed or delivered (forever without it).
pub async fn run(
    ctx: &mut Ctx,
    account: &str,
    from: u64,
    count: Option<u64>,
    a: WebhookArgs,
) -> Res<()> {
    let who = match &ctx.actor {
        Some(_) => ctx.read_as()?,
        None => ReadAs {
            account: account.to_string(),
            key: ctx.keys_for(account)?.into_iter().next().ok_or_else(|| {
                ClientError::local(format!(
                    "no key for {account}: give --key or --keys-dir (or --as)"
                ))
            })?,
        },
    };
    let backoff = Backoff {
        first: Duration::from_millis(a.retry_first_ms.max(1)),
        max: Duration::from_millis(a.retry_max_ms.max(a.retry_first_ms.max(1))),
    };
    let mut client = ctx.client.clone();
    client.consistency = pb::ReadConsistency::Linearizable;
    let chain_id = client.chain_head().await?.chain_id;
    let (Some(url), Some(state)) = (&a.webhook, &a.state) else {
        let (tx, rx) = mpsc::channel(usize::try_from(a.queue_txs_max).unwrap_or(256));
        let read = read_loop(&mut client, &who, account, from.max(1), tx, backoff);
        // The reader runs until the printer has printed `count` (forever without it).
        tokio::select! {
            () = read => {}
            () = print_loop(rx, count, ctx.json) => {}
        }
        return Ok(());
    };
    let state = StateFile::open(state, account, &chain_id)?;
    let endpoint = http::Endpoint::new(
        url,
        a.webhook_ca.as_deref(),
        Duration::from_millis(a.webhook_timeout_ms.max(1)),
    )?;
    let start = state.last_delivered.saturating_add(1).max(from.max(1));
    eprintln!(
        "relaying {account}'s transactions from sequence {start} to {url} (state {})",
        state.path.display()
    );
    let (tx, rx) = mpsc::channel(usize::try_from(a.queue_txs_max).unwrap_or(256));
    let read = read_loop(&mut client, &who, account, start, tx, backoff);
    let deliver = deliver_loop(rx, &endpoint, state, &chain_id, account, count, backoff);
    tokio::select! {
        () = read => Ok(()),
        delivered = deliver => delivered,
    }
}

fn seq(t: &CommittedTx) -> u64 {
    t.outcome.as_ref().map_or(0, |o| o.sequence)
}

/// Reads the account's transactions from `next` on into `queue`, forever (until the queue's
/// other end is gone), starting again after every error.
async fn read_loop(
    client: &mut Client,
    who: &ReadAs,
    account: &str,
    mut next: u64,
    queue: mpsc::Sender<CommittedTx>,
    backoff: Backoff,
) {
    let mut failures = 0u32;
    loop {
        match follow(client, who, account, &mut next, &queue, &mut failures).await {
            Ok(()) => return,
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = backoff.wait(failures);
                eprintln!(
                    "reading {account}'s transactions from sequence {next}: {e}; again in {} ms",
                    wait.as_millis()
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Opens a Watch stream after the chain's head, catches up on the history, then catches up
/// again after each commit the stream shows. `Ok` when the queue is closed.
async fn follow(
    client: &mut Client,
    who: &ReadAs,
    account: &str,
    next: &mut u64,
    queue: &mpsc::Sender<CommittedTx>,
    failures: &mut u32,
) -> Res<()> {
    // Whatever commits after this head shows on the stream, so nothing is missed between the
    // catch-up and the wait.
    let head = client.chain_head().await?.sequence;
    let mut stream = client.watch(head.saturating_add(1), Some(who)).await?;
    loop {
        if !catch_up(client, who, account, next, queue).await? {
            return Ok(());
        }
        *failures = 0;
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ClientError::local("the Watch stream ended")),
            Err(s) => return Err(ClientError::from_status(&s)),
        }
    }
}

/// Queues every transaction of the account from `next` on; false when the queue is closed.
async fn catch_up(
    client: &mut Client,
    who: &ReadAs,
    account: &str,
    next: &mut u64,
    queue: &mpsc::Sender<CommittedTx>,
) -> Res<bool> {
    loop {
        let page = client
            .history_page(account, *next, HISTORY_PAGE_TXS, who)
            .await?;
        for t in page.transactions {
            let s = seq(&t);
            if s < *next {
                continue;
            }
            if queue.send(t).await.is_err() {
                return Ok(false);
            }
            *next = s.saturating_add(1);
        }
        if page.next_sequence == 0 {
            return Ok(true);
        }
        *next = (*next).max(page.next_sequence);
    }
}

/// Prints each transaction (`carbonctl watch ACCOUNT` without --webhook).
async fn print_loop(mut queue: mpsc::Receiver<CommittedTx>, count: Option<u64>, json: bool) {
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        let Some(t) = queue.recv().await else { return };
        n += 1;
        if json {
            println!("{}", payload_value(&t));
        } else {
            let o = t.outcome.clone().unwrap_or_default();
            println!(
                "{:>8} {} {:<22} {:<24} {}",
                o.sequence,
                carbon_proto::dates::format_date(carbon_proto::dates::date_of(o.timestamp_ms)),
                operation(&t),
                o.code().as_str_name(),
                hex::encode(&o.tx_id)
            );
        }
    }
}

/// Posts each queued transaction until it is acknowledged, then records it; stops after
/// `count` deliveries (never without it) or when the state file cannot be written.
async fn deliver_loop(
    mut queue: mpsc::Receiver<CommittedTx>,
    endpoint: &http::Endpoint,
    mut state: StateFile,
    chain_id: &str,
    account: &str,
    count: Option<u64>,
    backoff: Backoff,
) -> Res<()> {
    let mut n = 0u64;
    while count.is_none_or(|c| n < c) {
        let Some(t) = queue.recv().await else {
            return Ok(());
        };
        let s = seq(&t);
        if s <= state.last_delivered {
            continue;
        }
        let body = serde_json::to_vec(&payload(&t, account, chain_id)).unwrap_or_default();
        let body = bytes::Bytes::from(body);
        let tx_id = hex::encode(t.outcome.as_ref().map_or(&[][..], |o| &o.tx_id));
        let mut failures = 0u32;
        while let Err(e) = endpoint.post(body.clone(), &tx_id, s).await {
            failures = failures.saturating_add(1);
            let wait = backoff.wait(failures);
            eprintln!(
                "delivering sequence {s} (attempt {failures}): {e}; again in {} ms",
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
        }
        state.record(s)?;
        n += 1;
        println!("delivered {s} {tx_id}");
    }
    Ok(())
}

fn operation(t: &CommittedTx) -> String {
    t.tx.as_ref()
        .and_then(|tx| pb::TxBody::decode(tx.body.as_slice()).ok())
        .and_then(|b| b.operation)
        .map_or("(private)".into(), |o| {
            carbon_proto::names::operation(&o).to_string()
        })
}

/// The transaction as carbonctl's JSON prints it (bytes in hex), with its body decoded.
fn payload_value(t: &CommittedTx) -> serde_json::Value {
    let mut v = serde_json::to_value(t)
        .map(carbon_proto::hex_json::hexify)
        .unwrap_or_default();
    let body =
        t.tx.as_ref()
            .and_then(|tx| pb::TxBody::decode(tx.body.as_slice()).ok());
    if let (Some(obj), Some(body)) = (v.as_object_mut(), body) {
        let decoded = serde_json::to_value(&body)
            .map(carbon_proto::hex_json::hexify)
            .unwrap_or_default();
        obj.insert("decodedBody".into(), decoded);
    }
    v
}

/// One delivery's JSON (the shape docs/OPERATIONS.md documents).
pub fn payload(t: &CommittedTx, account: &str, chain_id: &str) -> serde_json::Value {
    let o = t.outcome.clone().unwrap_or_default();
    serde_json::json!({
        "account_id": account,
        "chain_id": chain_id,
        "sequence": o.sequence,
        "tx_id": hex::encode(&o.tx_id),
        "timestamp_ms": o.timestamp_ms,
        "date_cst": carbon_proto::dates::format_date(carbon_proto::dates::date_of(o.timestamp_ms)),
        "operation": operation(t),
        "code": o.code().as_str_name(),
        "message": o.message,
        "transaction": payload_value(t),
    })
}

/// The relay's state file: `{"account_id", "chain_id", "last_delivered_sequence"}`.
pub struct StateFile {
    path: PathBuf,
    account: String,
    chain_id: String,
    pub last_delivered: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StateRecord {
    account_id: String,
    chain_id: String,
    last_delivered_sequence: u64,
}

impl StateFile {
    /// Reads the state (a missing file: nothing delivered yet); refuses one written for another
    /// account or chain.
    pub fn open(path: &Path, account: &str, chain_id: &str) -> Res<StateFile> {
        let local = |m: String| ClientError::local(format!("state file {}: {m}", path.display()));
        let last_delivered = match std::fs::read(path) {
            Ok(bytes) => {
                let r: StateRecord =
                    serde_json::from_slice(&bytes).map_err(|e| local(e.to_string()))?;
                if r.account_id != account || r.chain_id != chain_id {
                    return Err(local(format!(
                        "it is the relay state of {} on chain {}, not of {account} on {chain_id}",
                        r.account_id, r.chain_id
                    )));
                }
                r.last_delivered_sequence
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(local(e.to_string())),
        };
        Ok(StateFile {
            path: path.to_path_buf(),
            account: account.to_string(),
            chain_id: chain_id.to_string(),
            last_delivered,
        })
    }

    /// Records a delivered sequence durably: a temporary file written and fsynced, renamed over
    /// the state file, and the directory fsynced (a crash leaves the old or the new state).
    pub fn record(&mut self, sequence: u64) -> Res<()> {
        use std::io::Write;
        let r = StateRecord {
            account_id: self.account.clone(),
            chain_id: self.chain_id.clone(),
            last_delivered_sequence: sequence,
        };
        let local = |e: std::io::Error| {
            ClientError::local(format!("state file {}: {e}", self.path.display()))
        };
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(local)?;
        f.write_all(&serde_json::to_vec(&r).unwrap_or_default())
            .map_err(local)?;
        f.sync_all().map_err(local)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(local)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(local)?;
        self.last_delivered = sequence;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_millis(2_000),
        };
        let waits: Vec<u128> = (1..=6).map(|n| b.wait(n).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1_000, 2_000, 2_000, 2_000]);
        assert_eq!(b.wait(200).as_millis(), 2_000);
    }

    #[test]
    fn the_state_file_survives_reopening_and_refuses_another_account() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("relay.json");
        let mut s = StateFile::open(&path, "ZJ-ENT-01", "chain").expect("new");
        assert_eq!(s.last_delivered, 0);
        s.record(41).expect("record");
        s.record(42).expect("record");
        let s = StateFile::open(&path, "ZJ-ENT-01", "chain").expect("reopen");
        assert_eq!(s.last_delivered, 42);
        assert!(!path.with_extension("tmp").exists());
        assert!(StateFile::open(&path, "ZJ-ENT-02", "chain").is_err());
        assert!(StateFile::open(&path, "ZJ-ENT-01", "other").is_err());
    }
}
