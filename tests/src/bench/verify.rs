//! The ed25519 bound of this machine: signatures verified per second on ONE core (a thread of
//! its own), over signing hashes of real transfer bodies from distinct keys — `verify_strict`
//! one at a time (the registry's rule), `verify_batch` in batches of 64 and 512, and the whole
//! ingress check of `carbon_proto::signing::verify` (decode, id, strict verify).

use super::accounts::{body, cea, key};
use carbon_proto::signing::{sign_body, signing_hash, verify};
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::{SignedTx, Transfer};
use ed25519_dalek::{Signature, VerifyingKey};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyBound {
    pub strict_per_s: f64,
    pub batch64_per_s: f64,
    pub batch512_per_s: f64,
    pub ingress_per_s: f64,
}

struct Sample {
    txs: Vec<SignedTx>,
    hashes: Vec<[u8; 32]>,
    sigs: Vec<Signature>,
    keys: Vec<VerifyingKey>,
}

fn sample(n: usize) -> Sample {
    let txs: Vec<SignedTx> = (0..n)
        .map(|i| {
            let (from, to) = (format!("VB-{i:07}"), format!("VB-{:07}", i + 1));
            let op = Operation::Transfer(Transfer {
                from_account: from.clone(),
                to_account: to,
                unit_class: Some(cea()),
                quantity: 1,
            });
            sign_body(&body(&from, op), &[&key(0, &from)])
        })
        .collect();
    let hashes = txs
        .iter()
        .map(|t| signing_hash(crate::CHAIN, &t.body))
        .collect();
    let sigs = txs
        .iter()
        .map(|t| Signature::from_slice(&t.signatures[0].signature))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default();
    let keys = txs
        .iter()
        .filter_map(|t| VerifyingKey::try_from(t.signatures[0].public_key.as_slice()).ok())
        .collect();
    Sample {
        txs,
        hashes,
        sigs,
        keys,
    }
}

/// Measures for about `each` per method, on a thread of its own.
pub fn measure(each: Duration) -> VerifyBound {
    std::thread::spawn(move || {
        let s = sample(2_048);
        VerifyBound {
            strict_per_s: rate(each, s.txs.len(), |i| {
                s.keys[i].verify_strict(&s.hashes[i], &s.sigs[i]).is_ok()
            }),
            batch64_per_s: batched(&s, 64, each),
            batch512_per_s: batched(&s, 512, each),
            ingress_per_s: rate(each, s.txs.len(), |i| {
                verify(crate::CHAIN, s.txs[i].clone()).is_ok()
            }),
        }
    })
    .join()
    .unwrap_or_default()
}

/// Calls `f(i)` round the sample for `each`; returns calls per second (0 if one failed).
fn rate(each: Duration, n: usize, f: impl Fn(usize) -> bool) -> f64 {
    let (t0, mut done) = (Instant::now(), 0usize);
    while t0.elapsed() < each {
        for i in 0..n.min(256) {
            if !f((done + i) % n) {
                return 0.0;
            }
        }
        done += n.min(256);
    }
    done as f64 / t0.elapsed().as_secs_f64()
}

fn batched(s: &Sample, size: usize, each: Duration) -> f64 {
    let chunks = s.hashes.len() / size;
    let calls = rate(each, chunks.max(1), |c| {
        let r = c * size..(c + 1) * size;
        let msgs: Vec<&[u8]> = s.hashes[r.clone()].iter().map(|h| h.as_slice()).collect();
        ed25519_dalek::verify_batch(&msgs, &s.sigs[r.clone()], &s.keys[r]).is_ok()
    });
    calls * size as f64
}
