//! Holdings as serial blocks: creating serial numbers, taking units lowest serial first (splitting
//! blocks as needed), giving them to an account in a given state (merging with adjacent blocks of
//! the same state), and retiring them for good.
//!
//! A block is stored under `H account class first` with its range and state. Every serial ever
//! created is either in exactly one holding block or in exactly one retired block.
//!
//! Every movement is also written to the account's statement (`W account sequence class`): the
//! ranges, the units in or out, the counterparty and the balance after ([`StatementLine`]).

use super::error::{reject, ErrorCode, Res};
use super::exec::{add, read_all, sub, Exec};
use super::keys;
use carbon_proto::v1::{
    BlockState, RetireReason, RetiredBlock, SerialBlock, SerialOrigin, SerialRange, StatementLine,
    UnitClass,
};
use std::collections::BTreeMap;

/// Which blocks a take may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Available,
    /// Units encumbered by this pledge, freeze or repo (one id sequence for all three).
    Encumbrance(u64),
}

/// State given to units put into an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Give {
    Available,
    Pledged(u64),
    Frozen(u64),
    /// Held by a repo buyer.
    Repo(u64),
}

impl Give {
    fn state(self) -> (BlockState, u64) {
        match self {
            Give::Available => (BlockState::Available, 0),
            Give::Pledged(id) => (BlockState::Pledged, id),
            Give::Frozen(id) => (BlockState::Frozen, id),
            Give::Repo(id) => (BlockState::Repo, id),
        }
    }
}

/// Serial ranges as (first, last), inclusive, ascending.
pub type Ranges = Vec<(u64, u64)>;

pub fn to_ranges(class: &UnitClass, ranges: &Ranges) -> Vec<SerialRange> {
    ranges
        .iter()
        .map(|&(first, last)| SerialRange {
            unit_class: Some(class.clone()),
            first,
            last,
        })
        .collect()
}

/// Units in the serial range `[first, last]`.
fn len(first: u64, last: u64) -> Res<u64> {
    add(sub(last, first, "a serial block")?, 1, "a serial block")
}

impl Exec<'_, '_> {
    /// The account's blocks of one class, keyed by first serial.
    fn blocks(&self, account: &str, class: &UnitClass) -> Res<BTreeMap<u64, SerialBlock>> {
        let rows: Vec<(Vec<u8>, SerialBlock)> =
            read_all(&*self.st, &keys::holdings_of_class(account, class))?;
        Ok(rows
            .into_iter()
            .map(|(_, b)| {
                let first = b.range.as_ref().map_or(0, |r| r.first);
                (first, b)
            })
            .collect())
    }

    /// Creates `quantity` new serial numbers of `class`, returning their range.
    pub fn create_serials(&mut self, class: &UnitClass, quantity: u64) -> Res<(u64, u64)> {
        let key = keys::serial_counter(class);
        let next = match self.st.get(&key)? {
            Some(b) => match <[u8; 8]>::try_from(b.as_slice()) {
                Ok(a) => u64::from_be_bytes(a),
                Err(_) => {
                    return Err(
                        super::store::ViewFault("serial counter is not 8 bytes".into()).into(),
                    )
                }
            },
            None => 1,
        };
        let after = add(next, quantity, "the serial numbers of this unit class")?;
        self.st.put(key, after.to_be_bytes().to_vec());
        let origin = SerialOrigin {
            range: Some(SerialRange {
                unit_class: Some(class.clone()),
                first: next,
                last: sub(after, 1, "the serial numbers")?,
            }),
            sequence: self.sequence,
            tx_id: self.tx.tx_id.to_vec(),
        };
        self.put(keys::origin(class, next), &origin);
        Ok((next, sub(after, 1, "the serial numbers")?))
    }

    /// Removes `quantity` units from the account's blocks selected by `from`, lowest serial first,
    /// splitting the last block used. Rejects (changing nothing) if there are not enough.
    pub fn take(
        &mut self,
        account: &str,
        class: &UnitClass,
        quantity: u64,
        from: Take,
    ) -> Res<Ranges> {
        let blocks = self.blocks(account, class)?;
        let matches = |b: &SerialBlock| match from {
            Take::Available => b.state() == BlockState::Available,
            Take::Encumbrance(id) => b.state() != BlockState::Available && b.encumbrance_id == id,
        };
        let mut have: u64 = 0;
        let mut encumbered: u64 = 0;
        for b in blocks.values() {
            let r = match &b.range {
                Some(r) => len(r.first, r.last)?,
                None => 0,
            };
            if matches(b) {
                have = have.saturating_add(r);
            } else {
                encumbered = encumbered.saturating_add(r);
            }
        }
        if have < quantity {
            let what = match from {
                Take::Available => "available",
                Take::Encumbrance(_) => "under this encumbrance",
            };
            let code = if from == Take::Available && have.saturating_add(encumbered) >= quantity {
                ErrorCode::UnitsEncumbered
            } else {
                ErrorCode::InsufficientUnits
            };
            let extra = if code == ErrorCode::UnitsEncumbered {
                format!(" ({encumbered} more are pledged, frozen or in repo)")
            } else {
                String::new()
            };
            return reject(
                code,
                format!(
                    "{account:?} has {have} units of {} {what}, {quantity} are needed{extra}",
                    class_label(class)
                ),
            );
        }
        let mut need = quantity;
        let mut taken = Vec::new();
        for (first, b) in blocks {
            if need == 0 {
                break;
            }
            if !matches(&b) {
                continue;
            }
            let last = b.range.as_ref().map_or(first, |r| r.last);
            self.st.delete(keys::holding(account, class, first));
            let n = len(first, last)?;
            if n <= need {
                taken.push((first, last));
                need = sub(need, n, "the units to take")?;
            } else {
                let split = add(first, need, "the serial numbers")?;
                taken.push((first, sub(split, 1, "the serial numbers")?));
                let rest = SerialBlock {
                    range: Some(SerialRange {
                        unit_class: Some(class.clone()),
                        first: split,
                        last,
                    }),
                    ..b
                };
                self.put(keys::holding(account, class, split), &rest);
                need = 0;
            }
        }
        self.touch(account);
        Ok(taken)
    }

    /// Gives the ranges to the account in the given state, merging with adjacent blocks of the
    /// same state so that holdings stay compact.
    pub fn give(
        &mut self,
        account: &str,
        class: &UnitClass,
        ranges: &Ranges,
        into: Give,
    ) -> Res<()> {
        let (state, enc) = into.state();
        let mut blocks = self.blocks(account, class)?;
        for &(f, l) in ranges {
            let (mut first, mut last) = (f, l);
            let same = |b: &SerialBlock| b.state() == state && b.encumbrance_id == enc;
            // A block ending right before `first`.
            if let Some((&pf, pb)) = blocks.range(..first).next_back() {
                if pb
                    .range
                    .as_ref()
                    .is_some_and(|r| r.last.checked_add(1) == Some(first))
                    && same(pb)
                {
                    first = pf;
                    blocks.remove(&pf);
                    self.st.delete(keys::holding(account, class, pf));
                }
            }
            // A block starting right after `last`.
            if let Some(next) = last.checked_add(1) {
                if let Some(nb) = blocks.get(&next) {
                    if same(nb) {
                        last = nb.range.as_ref().map_or(last, |r| r.last);
                        blocks.remove(&next);
                        self.st.delete(keys::holding(account, class, next));
                    }
                }
            }
            let block = SerialBlock {
                range: Some(SerialRange {
                    unit_class: Some(class.clone()),
                    first,
                    last,
                }),
                state: state as i32,
                encumbrance_id: enc,
            };
            self.put(keys::holding(account, class, first), &block);
            blocks.insert(first, block);
        }
        self.touch(account);
        Ok(())
    }

    /// Takes and gives in one step and writes both statements; returns the moved ranges.
    pub fn move_units(
        &mut self,
        from_account: &str,
        to_account: &str,
        class: &UnitClass,
        quantity: u64,
        from: Take,
        into: Give,
    ) -> Res<Vec<SerialRange>> {
        let ranges = self.take(from_account, class, quantity, from)?;
        self.give(to_account, class, &ranges, into)?;
        if from_account == to_account {
            self.note(from_account, class, &ranges, Flow::Within, "")?;
        } else {
            self.note(from_account, class, &ranges, Flow::Out, to_account)?;
            self.note(to_account, class, &ranges, Flow::In, from_account)?;
        }
        Ok(to_ranges(class, &ranges))
    }

    /// Gives newly created serials to an account, available, and writes its statement.
    pub fn give_created(&mut self, account: &str, class: &UnitClass, ranges: &Ranges) -> Res<()> {
        self.give(account, class, ranges, Give::Available)?;
        self.note(account, class, ranges, Flow::In, "")
    }

    /// Retires available units of the account for good.
    pub fn retire(
        &mut self,
        account: &str,
        class: &UnitClass,
        quantity: u64,
        reason: RetireReason,
        year: u32,
    ) -> Res<Vec<SerialRange>> {
        let ranges = self.take(account, class, quantity, Take::Available)?;
        self.note(account, class, &ranges, Flow::Out, "")?;
        let out = to_ranges(class, &ranges);
        for r in &out {
            let record = RetiredBlock {
                range: Some(r.clone()),
                account_id: account.to_string(),
                reason: reason as i32,
                sequence: self.sequence,
                year,
            };
            self.put(keys::retired(class, r.first), &record);
        }
        Ok(out)
    }

    /// How many available units of `class` the account holds.
    pub fn available(&self, account: &str, class: &UnitClass) -> Res<u64> {
        let mut n: u64 = 0;
        for b in self.blocks(account, class)?.values() {
            if b.state() == BlockState::Available {
                if let Some(r) = &b.range {
                    n = n.saturating_add(len(r.first, r.last)?);
                }
            }
        }
        Ok(n)
    }
}

/// How a movement touches an account, for its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    In,
    Out,
    /// A change of state within the account (pledge, release, freeze, repo default...).
    Within,
}

impl Exec<'_, '_> {
    /// Adds a movement to the account's statement line for this transaction and unit class,
    /// with its balance after. `counterparty` empty: the other signers stand in (the regulator
    /// for an allocation, the bank for a pledge).
    pub fn note(
        &mut self,
        account: &str,
        class: &UnitClass,
        ranges: &Ranges,
        flow: Flow,
        counterparty: &str,
    ) -> Res<()> {
        let key = keys::statement(account, self.sequence, class);
        let mut line = match self.get::<StatementLine>(&key)? {
            Some(l) => l,
            None => StatementLine {
                date: super::dates::date_of(self.ctx.timestamp_ms),
                timestamp_ms: self.ctx.timestamp_ms,
                sequence: self.sequence,
                tx_id: self.tx.tx_id.to_vec(),
                operation: self
                    .tx
                    .body
                    .operation
                    .as_ref()
                    .map_or("", carbon_proto::names::operation)
                    .to_string(),
                unit_class: Some(class.clone()),
                ..Default::default()
            },
        };
        let n = ranges
            .iter()
            .try_fold(0u64, |n, &(f, l)| add(n, len(f, l)?, "the moved quantity"))?;
        match flow {
            Flow::In => line.quantity_in = add(line.quantity_in, n, "the statement")?,
            Flow::Out => line.quantity_out = add(line.quantity_out, n, "the statement")?,
            Flow::Within => {}
        }
        line.ranges.extend(to_ranges(class, ranges));
        let mut parties: std::collections::BTreeSet<String> = line
            .counterparty
            .split(", ")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if counterparty.is_empty() {
            let others = self.tx.body.signers.iter().filter(|s| *s != account);
            parties.extend(others.cloned());
        } else {
            parties.insert(counterparty.to_string());
        }
        line.counterparty = parties.into_iter().collect::<Vec<_>>().join(", ");
        let (mut held, mut available) = (0u64, 0u64);
        for b in self.blocks(account, class)?.values() {
            let Some(r) = &b.range else { continue };
            held = add(held, len(r.first, r.last)?, "the balance")?;
            if b.state() == BlockState::Available {
                available = add(available, len(r.first, r.last)?, "the balance")?;
            }
        }
        line.balance_after = held;
        line.available_after = available;
        self.put(key, &line);
        Ok(())
    }
}

/// "CEA 2025" or "FORESTRY 2025 ZJ-LS-FOR-01".
pub fn class_label(c: &UnitClass) -> String {
    let kind = c.kind().as_str_name().trim_start_matches("UNIT_KIND_");
    if c.project_id.is_empty() {
        format!("{kind} {}", c.vintage)
    } else {
        format!("{kind} {} {}", c.vintage, c.project_id)
    }
}
