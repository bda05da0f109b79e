//! The nemesis's clients: each owns a few accounts and moves units between them in a ring, with
//! `Submit` and `SubmitBatch` to random nodes over raw gRPC, retrying the SAME signed bytes for
//! as long as an answer leaves the fate open. Each client keeps the record of every transaction
//! it signed; the checker compares the cluster with these records.

use super::answer::{self, Answer};
use crate::{body, demo_key, open_account_op, sign, test_key, REG};
use carbon_proto::signing::tx_id;
use carbon_proto::v1::registry_client::RegistryClient;
use carbon_proto::v1::{
    tx_body::Operation, Allocate, DeclareVintage, ErrorCode, Outcome, Role, SignedTx,
    SubmitBatchRequest, SubmitRequest, Transfer, UnitClass, UnitKind,
};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

/// The unit classes the clients move: CEA allowances of two vintages.
pub const VINTAGES: [u32; 2] = [2025, 2026];
pub const ACCOUNTS_PER_CLIENT: usize = 3;
/// Units of each vintage every account starts with; far more than a ring of transfers of at
/// most `MAX_QUANTITY` can drain in any run.
pub const INITIAL_UNITS: u64 = 1_000_000;
const MAX_QUANTITY: u64 = 9;
const MAX_BATCH_TXS: usize = 8;
/// How long one attempt may take before the client gives up on it (fate unknown).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client avoids a node that gave it an answer of unknown fate.
const AVOID: Duration = Duration::from_secs(5);
/// How long (ms) a client stays with a node that answers well.
const STAY_MS: std::ops::RangeInclusive<u64> = 2_000..=8_000;
/// After a transaction's validity ended, how long its client still retries it.
const RETRY_AFTER_EXPIRY: Duration = Duration::from_secs(5);

pub fn account(client: usize, k: usize) -> String {
    format!("NEM-{client}-{k}")
}

pub fn cea(vintage: u32) -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage,
        project_id: String::new(),
    }
}

/// A lazily connected client of one node, with a per-request timeout.
pub fn channel(addr: &str, timeout: Duration) -> RegistryClient<Channel> {
    let ch = Endpoint::from_shared(format!("https://{addr}"))
        .and_then(|e| e.tls_config(crate::pki().client_tls()))
        .expect("node address")
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .connect_lazy();
    RegistryClient::new(ch).max_decoding_message_size(64 << 20)
}

/// What became of one transaction, as its client knows it.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Fate {
    Committed(Outcome),
    NotApplied(ErrorCode, String),
    /// No answer settled it (the last reason).
    Unknown(String),
}

/// One signed transfer and what its client learned about it.
#[derive(Debug, Clone)]
pub struct TxRecord {
    pub id: Vec<u8>,
    pub signed: SignedTx,
    pub client: usize,
    pub from: String,
    pub to: String,
    pub vintage: u32,
    pub quantity: u64,
    pub valid_until_ms: u64,
    pub in_batch: bool,
    pub attempts: u32,
    pub fate: Fate,
    /// When the first attempt was sent (the wait of an acknowledged write counts from here).
    pub first_sent: Option<Instant>,
    pub answered_at: Option<Instant>,
}

/// What one client did.
#[derive(Debug)]
pub struct ClientLog {
    pub txs: Vec<TxRecord>,
    pub ok_without_outcome: u64,
    pub unknown_answers: u64,
    /// Per node: until when this client avoids it after an answer of unknown fate.
    avoid: Vec<Option<Instant>>,
    /// The node this client talks to now, and when it moves on.
    node: usize,
    move_at: Instant,
}

/// The node for the next attempt: the client stays with its node while it answers (as a
/// failover client does) and moves to another random node after an answer of unknown fate, or
/// after a few seconds anyway, so that every node serves every kind of request.
fn pick_node(log: &mut ClientLog, rng: &mut fastrand::Rng) -> usize {
    let now = Instant::now();
    let n = log.avoid.len();
    let usable = |i: usize| log.avoid[i].is_none_or(|t| t < now);
    if usable(log.node) && now < log.move_at {
        return log.node;
    }
    let good: Vec<usize> = (0..n).filter(|&i| usable(i)).collect();
    log.node = if good.is_empty() {
        rng.usize(..n)
    } else {
        good[rng.usize(..good.len())]
    };
    log.move_at = now + Duration::from_millis(rng.u64(STAY_MS));
    log.node
}

/// Opens every client's accounts and gives each `INITIAL_UNITS` of every vintage, through node
/// `addrs[0]` and the others in turn (before any fault).
pub async fn setup(addrs: &[String], clients: usize) {
    let reg = |op| sign(&body(&[REG], op), &[&demo_key(REG)]);
    let mut txs: Vec<SignedTx> = VINTAGES
        .iter()
        .map(|&vintage| {
            reg(Operation::DeclareVintage(DeclareVintage {
                vintage,
                cap: 1_000_000_000_000,
            }))
        })
        .collect();
    for c in 0..clients {
        for k in 0..ACCOUNTS_PER_CLIENT {
            let id = account(c, k);
            txs.push(reg(open_account_op(&id, Role::Enterprise)));
            for &vintage in &VINTAGES {
                txs.push(reg(Operation::Allocate(Allocate {
                    enterprise_id: id.clone(),
                    vintage,
                    quantity: INITIAL_UNITS,
                })));
            }
        }
    }
    let mut conns: Vec<_> = addrs.iter().map(|a| channel(a, ATTEMPT_TIMEOUT)).collect();
    for tx in txs {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut i = 0;
        loop {
            let c = &mut conns[i % addrs.len()];
            let a = answer::submit(
                c.submit(SubmitRequest {
                    tx: Some(tx.clone()),
                })
                .await,
            );
            match a {
                Answer::Committed(o) => {
                    assert_eq!(o.code(), ErrorCode::Ok, "setup: {}", o.message);
                    break;
                }
                Answer::NotApplied { code, message } => panic!("setup: {code:?}: {message}"),
                Answer::Unknown(_) | Answer::OkWithoutOutcome => {
                    assert!(Instant::now() < deadline, "setup found no leader for 60 s");
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// Signs the next transfer of client `c`'s ring.
fn next_transfer(c: usize, step: &mut usize, rng: &mut fastrand::Rng, valid: Duration) -> TxRecord {
    let k = *step % ACCOUNTS_PER_CLIENT;
    *step += 1;
    let (from, to) = (account(c, k), account(c, (k + 1) % ACCOUNTS_PER_CLIENT));
    let vintage = VINTAGES[rng.usize(..VINTAGES.len())];
    let quantity = rng.u64(1..=MAX_QUANTITY);
    let op = Operation::Transfer(Transfer {
        from_account: from.clone(),
        to_account: to.clone(),
        unit_class: Some(cea(vintage)),
        quantity,
    });
    let mut b = body(&[&from], op);
    b.valid_until_ms = crate::now_ms() + valid.as_millis() as u64;
    let signed = sign(&b, &[&test_key(&from)]);
    TxRecord {
        id: tx_id(&signed.body).to_vec(),
        signed,
        client: c,
        from,
        to,
        vintage,
        quantity,
        valid_until_ms: b.valid_until_ms,
        in_batch: false,
        attempts: 0,
        fate: Fate::Unknown("never sent".into()),
        first_sent: None,
        answered_at: None,
    }
}

/// Client `c`: until `until`, signs one transfer or a batch of them, and settles it before the
/// next (a closed loop).
pub async fn client(
    c: usize,
    addrs: Vec<String>,
    until: Instant,
    seed: u64,
    valid: Duration,
) -> ClientLog {
    let mut rng = fastrand::Rng::with_seed(seed ^ (c as u64).wrapping_mul(0x9e37_79b9));
    let mut conns: Vec<_> = addrs.iter().map(|a| channel(a, ATTEMPT_TIMEOUT)).collect();
    let mut log = ClientLog {
        txs: Vec::new(),
        ok_without_outcome: 0,
        unknown_answers: 0,
        avoid: vec![None; addrs.len()],
        node: rng.usize(..addrs.len()),
        move_at: Instant::now(),
    };
    let mut step = 0;
    while Instant::now() < until {
        let n = if rng.bool() {
            rng.usize(2..=MAX_BATCH_TXS)
        } else {
            1
        };
        let mut txs: Vec<TxRecord> = (0..n)
            .map(|_| next_transfer(c, &mut step, &mut rng, valid))
            .collect();
        for t in &mut txs {
            t.in_batch = n > 1;
        }
        settle(&mut txs, &mut conns, &mut rng, &mut log).await;
        log.txs.extend(txs);
    }
    log
}

/// Sends the unsettled transactions to random nodes until each has an outcome or is certainly
/// not applied, or until `RETRY_AFTER_EXPIRY` past its validity (then its fate stays unknown).
async fn settle(
    txs: &mut [TxRecord],
    conns: &mut [RegistryClient<Channel>],
    rng: &mut fastrand::Rng,
    log: &mut ClientLog,
) {
    loop {
        let open: Vec<usize> = (0..txs.len())
            .filter(|&i| matches!(txs[i].fate, Fate::Unknown(_)))
            .filter(|&i| {
                crate::now_ms() < txs[i].valid_until_ms + RETRY_AFTER_EXPIRY.as_millis() as u64
                    || txs[i].attempts == 0
            })
            .collect();
        if open.is_empty() {
            return;
        }
        let node = pick_node(log, rng);
        let conn = &mut conns[node];
        let now = Instant::now();
        for &i in &open {
            txs[i].first_sent.get_or_insert(now);
        }
        let answers = if txs[open[0]].in_batch {
            let req = SubmitBatchRequest {
                txs: open.iter().map(|&i| txs[i].signed.clone()).collect(),
            };
            answer::batch(conn.submit_batch(req).await, open.len())
        } else {
            let req = SubmitRequest {
                tx: Some(txs[open[0]].signed.clone()),
            };
            vec![answer::submit(conn.submit(req).await)]
        };
        let mut retry = false;
        let failed = answers.iter().any(Answer::is_unknown);
        log.avoid[node] = failed.then(|| Instant::now() + AVOID);
        for (&i, a) in open.iter().zip(answers) {
            let t = &mut txs[i];
            t.attempts += 1;
            match a {
                Answer::Committed(o) => {
                    t.fate = Fate::Committed(o);
                    t.answered_at = Some(Instant::now());
                }
                Answer::NotApplied { code, message } => {
                    t.fate = Fate::NotApplied(code, message);
                    t.answered_at = Some(Instant::now());
                }
                Answer::Unknown(why) => {
                    log.unknown_answers += 1;
                    t.fate = Fate::Unknown(why);
                    retry = true;
                }
                Answer::OkWithoutOutcome => {
                    log.ok_without_outcome += 1;
                    t.fate = Fate::Unknown("status OK without an outcome".into());
                    retry = true;
                }
            }
        }
        if retry {
            tokio::time::sleep(Duration::from_millis(rng.u64(50..=250))).await;
        }
    }
}
