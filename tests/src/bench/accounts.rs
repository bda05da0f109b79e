//! The bench's accounts: enterprises (they may hold CEA), each with its own ed25519 key derived
//! from a seed and its index, so a run's signatures are reproducible. The regulator (ZJ-REG,
//! demo key) opens them and allocates each its CEA through `SubmitBatch`.

use super::drive::{self, Tally};
use super::target::Target;
use crate::nemesis::answer::Answer;
use crate::{demo_key, REG};
use anyhow::{bail, Result};
use carbon_proto::signing::sign_body;
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::{
    Allocate, DeclareVintage, ErrorCode, OpenAccount, Role, SignedTx, TxBody, UnitClass, UnitKind,
};
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The vintage the bench allocates (far from the demo's years, so an existing cluster's
/// allocations do not collide with it).
pub const VINTAGE: u32 = 2099;
/// Units the one-hot sender is allocated.
const HOT_UNITS: u64 = 1_000_000_000;

/// Every account of a run, with its key: `accounts` for the uniform load, plus the one-hot
/// sender and its sink.
pub struct Keyring {
    pub ids: Vec<String>,
    pub keys: Vec<SigningKey>,
    pub hot: (String, SigningKey),
    pub sink: (String, SigningKey),
}

impl Keyring {
    /// Derives `n` accounts (on every core: a key's public half costs a scalar multiplication).
    pub fn derive(n: usize, seed: u64, tag: &str) -> Keyring {
        let ids: Vec<String> = (0..n).map(|i| format!("BN{tag}-{i:07}")).collect();
        let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
        let chunk = n.div_ceil(threads).max(1);
        let keys = std::thread::scope(|s| {
            let parts: Vec<_> = ids
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().map(|id| key(seed, id)).collect::<Vec<_>>()))
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect::<Vec<_>>()
        });
        let named = |suffix: &str| {
            let id = format!("BN{tag}-{suffix}");
            let k = key(seed, &id);
            (id, k)
        };
        Keyring {
            ids,
            keys,
            hot: named("HOT"),
            sink: named("SINK"),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The key of account `id` in a run with `seed`.
pub fn key(seed: u64, id: &str) -> SigningKey {
    let material = format!("carbon-bench/v1/{seed}/{id}");
    SigningKey::from_bytes(blake3::hash(material.as_bytes()).as_bytes())
}

pub fn cea() -> UnitClass {
    UnitClass {
        kind: UnitKind::Cea as i32,
        vintage: VINTAGE,
        project_id: String::new(),
    }
}

static NONCE: AtomicU64 = AtomicU64::new(0);

/// A body valid for two hours (a long setup of a million accounts included), with a nonce no
/// other body of this process has, and unlikely to repeat one of an earlier run.
pub fn body(signer: &str, op: Operation) -> TxBody {
    let n = NONCE.fetch_add(1, Ordering::Relaxed);
    TxBody {
        chain_id: crate::CHAIN.into(),
        signers: vec![signer.to_string()],
        valid_until_ms: crate::now_ms() + 2 * 3_600_000,
        nonce: (crate::now_ms() << 24) ^ n,
        memo: String::new(),
        operation: Some(op),
    }
}

/// How long a setup step took and how fast it went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Step {
    pub txs: usize,
    pub secs: f64,
}

impl Step {
    pub fn tps(&self) -> f64 {
        self.txs as f64 / self.secs.max(1e-9)
    }
}

/// Opens every account of `ring` (and declares the bench's vintage): the time to open them.
pub async fn open(target: &Target, ring: &Keyring) -> Result<Step> {
    let reg = demo_key(REG);
    let declare = Operation::DeclareVintage(DeclareVintage {
        vintage: VINTAGE,
        cap: u64::MAX / 4,
    });
    let t = sign_body(&body(REG, declare), &[&reg]);
    let leader = target.connect(target.leader_index().await?).await?;
    match drive::submit_one(&leader, t).await {
        Answer::Committed(o) if matches!(o.code(), ErrorCode::Ok | ErrorCode::VintageExists) => {}
        other => bail!("declaring vintage {VINTAGE}: {other:?}"),
    }
    let mut all: Vec<(&str, &SigningKey)> = ring
        .ids
        .iter()
        .map(String::as_str)
        .zip(&ring.keys)
        .collect();
    all.push((&ring.hot.0, &ring.hot.1));
    all.push((&ring.sink.0, &ring.sink.1));
    let txs = signed_by_regulator(&all, &reg, |(id, k)| open_op(id, k));
    run_setup(target, txs, "opening accounts").await
}

/// Allocates `units` CEA to every uniform account and a large allocation to the hot sender.
pub async fn fund(target: &Target, ring: &Keyring, units: u64) -> Result<Step> {
    let reg = demo_key(REG);
    let mut all: Vec<(&str, u64)> = ring.ids.iter().map(|id| (id.as_str(), units)).collect();
    all.push((&ring.hot.0, HOT_UNITS));
    let txs = signed_by_regulator(&all, &reg, |(id, q)| {
        Operation::Allocate(Allocate {
            enterprise_id: id.to_string(),
            vintage: VINTAGE,
            quantity: *q,
        })
    });
    run_setup(target, txs, "funding accounts").await
}

fn open_op(id: &str, k: &SigningKey) -> Operation {
    Operation::OpenAccount(OpenAccount {
        account_id: id.to_string(),
        role: Role::Enterprise as i32,
        name: format!("bench enterprise {id}"),
        region: "杭州市".into(),
        public_keys: vec![k.verifying_key().to_bytes().to_vec()],
        threshold: 1,
    })
}

/// Signs one regulator transaction per item, on every core.
fn signed_by_regulator<T: Sync>(
    items: &[T],
    reg: &SigningKey,
    op: impl Fn(&T) -> Operation + Sync,
) -> Vec<SignedTx> {
    super::workload::sign_parallel(items, |item| sign_body(&body(REG, op(item)), &[reg]))
}

/// Submits setup transactions in batches of 500 from 8 clients; every one must succeed.
async fn run_setup(target: &Target, txs: Vec<SignedTx>, what: &str) -> Result<Step> {
    let n = txs.len();
    let t0 = Instant::now();
    let tally: Tally =
        drive::batches_until_decided(target, txs, 500, 8, Duration::from_secs(7_200)).await?;
    let step = Step {
        txs: n,
        secs: t0.elapsed().as_secs_f64(),
    };
    if tally.ok as usize != n {
        bail!("{what}: {} of {n} succeeded: {}", tally.ok, tally.summary());
    }
    Ok(step)
}
