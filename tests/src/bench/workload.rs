//! The transfers of a phase, signed before it starts (signing is the client's cost, not the
//! registry's, and is kept out of every timed figure): uniform random transfers between the
//! bench's accounts, each signed by its sender, or the one-hot case (one sender, one sink).
//!
//! Every transfer is valid: each moves one unit, and a sender is never given more transfers
//! over the whole run than the units it was funded with (received units are not counted, so
//! this holds in whatever order the registry commits them).

use super::accounts::{body, cea, Keyring};
use carbon_proto::signing::sign_body;
use carbon_proto::v1::tx_body::Operation;
use carbon_proto::v1::{SignedTx, Transfer};

/// Chooses uniform (sender, receiver) pairs within every sender's budget.
pub struct Spender {
    sent: Vec<u64>,
    budget: u64,
    rng: fastrand::Rng,
}

impl Spender {
    pub fn new(accounts: usize, budget: u64, seed: u64) -> Spender {
        Spender {
            sent: vec![0; accounts],
            budget,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// `n` (sender, receiver) index pairs, fewer if the budgets run out.
    pub fn pairs(&mut self, n: usize) -> Vec<(usize, usize)> {
        let accounts = self.sent.len();
        if accounts < 2 {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(n);
        // Bounded: a sender out of budget is skipped, at most `accounts` draws per transfer.
        'next: for _ in 0..n {
            for _ in 0..accounts {
                let from = self.rng.usize(..accounts);
                if self.sent[from] >= self.budget {
                    continue;
                }
                let to = (from + 1 + self.rng.usize(..accounts - 1)) % accounts;
                self.sent[from] += 1;
                out.push((from, to));
                continue 'next;
            }
            break;
        }
        out
    }
}

/// `n` uniform random transfers of one unit, each signed by its sender.
pub fn uniform(ring: &Keyring, spender: &mut Spender, n: usize) -> Vec<SignedTx> {
    let pairs = spender.pairs(n);
    sign_parallel(&pairs, |&(from, to)| {
        transfer(&ring.ids[from], &ring.ids[to], &ring.keys[from])
    })
}

/// `n` transfers of one unit from the one hot sender to its sink.
pub fn hot(ring: &Keyring, n: usize) -> Vec<SignedTx> {
    let items = vec![(); n];
    sign_parallel(&items, |_| transfer(&ring.hot.0, &ring.sink.0, &ring.hot.1))
}

fn transfer(from: &str, to: &str, key: &ed25519_dalek::SigningKey) -> SignedTx {
    let op = Operation::Transfer(Transfer {
        from_account: from.to_string(),
        to_account: to.to_string(),
        unit_class: Some(cea()),
        quantity: 1,
    });
    sign_body(&body(from, op), &[key])
}

/// `f` over every item on every core, results in order.
pub fn sign_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::Spender;

    #[test]
    fn never_exceeds_a_budget_nor_sends_to_itself() {
        let mut s = Spender::new(5, 3, 7);
        let pairs = s.pairs(100);
        assert_eq!(pairs.len(), 15);
        assert!(pairs.iter().all(|(f, t)| f != t && *t < 5));
        for a in 0..5 {
            assert_eq!(pairs.iter().filter(|(f, _)| *f == a).count(), 3);
        }
    }
}
