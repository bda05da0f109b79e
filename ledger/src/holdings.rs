//! Holdings as serial blocks: creating serial numbers, taking units lowest serial first (splitting
//! blocks as needed), giving them to an account in a given state (merging with adjacent blocks of
//! the same state), and retiring them for good.
//!
//! A block is stored under `H account class last` with its range and state. Every serial ever
//! created is either in exactly one holding block or in exactly one retired block. A movement
//! reads the account's blocks of the class once ([`Holding`]).
//!
//! Every movement is also noted for the account's statement: the ranges, the units in or out,
//! the counterparty and the balance after ([`StatementLine`]), kept in the transaction's record.

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
    /// Sent by a pending transfer, waiting out its delay (rule 15).
    PendingTransfer(u64),
}

impl Give {
    fn state(self) -> (BlockState, u64) {
        match self {
            Give::Available => (BlockState::Available, 0),
            Give::Pledged(id) => (BlockState::Pledged, id),
            Give::Frozen(id) => (BlockState::Frozen, id),
            Give::Repo(id) => (BlockState::Repo, id),
            Give::PendingTransfer(id) => (BlockState::PendingTransfer, id),
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

fn block_len(b: &SerialBlock) -> Res<u64> {
    match &b.range {
        Some(r) => len(r.first, r.last),
        None => Ok(0),
    }
}

/// An account's blocks of one unit class, read once per movement and kept in step with the
/// writes made to them (keyed here by first serial; stored under their last, `keys::holding`).
pub struct Holding {
    account: String,
    class: UnitClass,
    blocks: BTreeMap<u64, SerialBlock>,
}

impl Holding {
    fn last_of(&self, first: u64) -> u64 {
        self.blocks
            .get(&first)
            .and_then(|b| b.range.as_ref())
            .map_or(first, |r| r.last)
    }

    /// Units held in every state, and of those available.
    fn balance(&self) -> Res<(u64, u64)> {
        let (mut held, mut available) = (0u64, 0u64);
        for b in self.blocks.values() {
            let n = block_len(b)?;
            held = add(held, n, "the balance")?;
            if b.state() == BlockState::Available {
                available = add(available, n, "the balance")?;
            }
        }
        Ok((held, available))
    }
}

impl Exec<'_, '_> {
    /// The account's blocks of one class.
    fn holding(&self, account: &str, class: &UnitClass) -> Res<Holding> {
        let rows: Vec<(Vec<u8>, SerialBlock)> =
            read_all(&*self.st, &keys::holdings_of_class(account, class))?;
        let blocks = rows
            .into_iter()
            .map(|(_, b)| (b.range.as_ref().map_or(0, |r| r.first), b))
            .collect();
        Ok(Holding {
            account: account.to_string(),
            class: class.clone(),
            blocks,
        })
    }

    fn put_block(&mut self, h: &mut Holding, block: SerialBlock) {
        let (first, last) = block.range.as_ref().map_or((0, 0), |r| (r.first, r.last));
        self.put(keys::holding(&h.account, &h.class, last), &block);
        h.blocks.insert(first, block);
    }

    fn remove_block(&mut self, h: &mut Holding, first: u64) {
        let last = h.last_of(first);
        self.st.delete(keys::holding(&h.account, &h.class, last));
        h.blocks.remove(&first);
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

    /// Refuses a take of `quantity` from `h` when not enough units match `from`.
    fn check_enough(&self, h: &Holding, quantity: u64, from: Take) -> Res<()> {
        let (mut have, mut encumbered) = (0u64, 0u64);
        for b in h.blocks.values() {
            if from.matches(b) {
                have = have.saturating_add(block_len(b)?);
            } else {
                encumbered = encumbered.saturating_add(block_len(b)?);
            }
        }
        if have >= quantity {
            return Ok(());
        }
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
            format!(" ({encumbered} more are pledged, frozen, in repo or pending transfer)")
        } else {
            String::new()
        };
        reject(
            code,
            format!(
                "{:?} has {have} units of {} {what}, {quantity} are needed{extra}",
                h.account,
                class_label(&h.class)
            ),
        )
    }

    /// Removes `quantity` units from the blocks of `h` selected by `from`, lowest serial first,
    /// splitting the last block used (its rest keeps its last serial, hence its key). Rejects,
    /// changing nothing, if there are not enough.
    fn take_from(&mut self, h: &mut Holding, quantity: u64, from: Take) -> Res<Ranges> {
        self.check_enough(h, quantity, from)?;
        let mut need = quantity;
        let mut taken = Vec::new();
        while need > 0 {
            let Some((first, b)) = h.blocks.iter().find(|(_, b)| from.matches(b)) else {
                break;
            };
            let (first, b) = (*first, b.clone());
            let last = b.range.as_ref().map_or(first, |r| r.last);
            let n = len(first, last)?;
            if n <= need {
                self.remove_block(h, first);
                taken.push((first, last));
                need = sub(need, n, "the units to take")?;
            } else {
                let split = add(first, need, "the serial numbers")?;
                taken.push((first, sub(split, 1, "the serial numbers")?));
                h.blocks.remove(&first);
                let rest = SerialBlock {
                    range: Some(SerialRange {
                        unit_class: Some(h.class.clone()),
                        first: split,
                        last,
                    }),
                    ..b
                };
                self.put_block(h, rest);
                need = 0;
            }
        }
        let account = h.account.clone();
        self.touch(&account);
        Ok(taken)
    }

    /// Gives the ranges to `h` in the given state, merging with adjacent blocks of the same
    /// state so that holdings stay compact.
    fn give_to(&mut self, h: &mut Holding, ranges: &Ranges, into: Give) -> Res<()> {
        let (state, enc) = into.state();
        let same = |b: &SerialBlock| b.state() == state && b.encumbrance_id == enc;
        for &(f, l) in ranges {
            let (mut first, mut last) = (f, l);
            // A block ending right before `first`.
            let before = h
                .blocks
                .range(..first)
                .next_back()
                .map(|(&pf, pb)| (pf, pb.clone()));
            if let Some((pf, pb)) = before {
                let adjacent = pb
                    .range
                    .as_ref()
                    .is_some_and(|r| r.last.checked_add(1) == Some(f));
                if adjacent && same(&pb) {
                    first = pf;
                    self.remove_block(h, pf);
                }
            }
            // A block starting right after `last`: the merged block takes its key (its last).
            if let Some(next) = l.checked_add(1) {
                if let Some(nb) = h.blocks.get(&next).cloned() {
                    if same(&nb) {
                        last = nb.range.as_ref().map_or(last, |r| r.last);
                        h.blocks.remove(&next);
                    }
                }
            }
            let block = SerialBlock {
                range: Some(SerialRange {
                    unit_class: Some(h.class.clone()),
                    first,
                    last,
                }),
                state: state as i32,
                encumbrance_id: enc,
            };
            self.put_block(h, block);
        }
        let account = h.account.clone();
        self.touch(&account);
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
        let mut source = self.holding(from_account, class)?;
        let ranges = self.take_from(&mut source, quantity, from)?;
        if from_account == to_account {
            self.give_to(&mut source, &ranges, into)?;
            self.note_in(&source, &ranges, Flow::Within, "")?;
        } else {
            let mut dest = self.holding(to_account, class)?;
            self.give_to(&mut dest, &ranges, into)?;
            self.note_in(&source, &ranges, Flow::Out, to_account)?;
            self.note_in(&dest, &ranges, Flow::In, from_account)?;
        }
        Ok(to_ranges(class, &ranges))
    }

    /// Gives newly created serials to an account, available, and writes its statement.
    pub fn give_created(&mut self, account: &str, class: &UnitClass, ranges: &Ranges) -> Res<()> {
        let mut h = self.holding(account, class)?;
        self.give_to(&mut h, ranges, Give::Available)?;
        self.note_in(&h, ranges, Flow::In, "")
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
        let mut h = self.holding(account, class)?;
        let ranges = self.take_from(&mut h, quantity, Take::Available)?;
        self.note_in(&h, &ranges, Flow::Out, "")?;
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

    /// Retires `quantity` available units of the account that lie within `allowed` (ascending,
    /// non-overlapping serial ranges: e.g. the authorised ones), lowest serial first. Rejects,
    /// changing nothing, when fewer are there: UNITS_ENCUMBERED when enough are held but some
    /// encumbered, UNITS_NOT_AUTHORISED when the account holds enough units but not within
    /// `allowed`, INSUFFICIENT_UNITS otherwise.
    pub fn retire_within(
        &mut self,
        account: &str,
        class: &UnitClass,
        quantity: u64,
        allowed: &Ranges,
        reason: RetireReason,
        year: u32,
    ) -> Res<Vec<SerialRange>> {
        let mut h = self.holding(account, class)?;
        check_within(&h, quantity, allowed)?;
        let ranges = self.take_within(&mut h, quantity, allowed)?;
        self.note_in(&h, &ranges, Flow::Out, "")?;
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

    /// Removes `quantity` available units within `allowed` from `h`, lowest serial first: a
    /// block used is replaced by the pieces of it left (up to one before and one after each
    /// range taken). The caller checked there are enough.
    fn take_within(&mut self, h: &mut Holding, quantity: u64, allowed: &Ranges) -> Res<Ranges> {
        let mut need = quantity;
        // (first of the block, ranges taken from it)
        let mut plan: Vec<(u64, Ranges)> = Vec::new();
        for (&first, b) in &h.blocks {
            if need == 0 {
                break;
            }
            if b.state() != BlockState::Available {
                continue;
            }
            let last = b.range.as_ref().map_or(first, |r| r.last);
            let mut from_block = Vec::new();
            for (s, e) in overlaps(first, last, allowed) {
                if need == 0 {
                    break;
                }
                let n = len(s, e)?.min(need);
                let end = sub(add(s, n, "the serial numbers")?, 1, "the serial numbers")?;
                from_block.push((s, end));
                need = sub(need, n, "the units to take")?;
            }
            if !from_block.is_empty() {
                plan.push((first, from_block));
            }
        }
        let mut taken: Ranges = Vec::new();
        for (first, from_block) in plan {
            let last = h.last_of(first);
            let Some(b) = h.blocks.get(&first).cloned() else {
                continue;
            };
            self.remove_block(h, first);
            let mut cur = first;
            for &(s, e) in &from_block {
                if s > cur {
                    self.put_block(h, piece(&b, &h.class, cur, sub(s, 1, "serials")?));
                }
                cur = add(e, 1, "the serial numbers")?;
                match taken.last_mut() {
                    Some(t) if t.1.checked_add(1) == Some(s) => t.1 = e,
                    _ => taken.push((s, e)),
                }
            }
            if cur <= last {
                self.put_block(h, piece(&b, &h.class, cur, last));
            }
        }
        let account = h.account.clone();
        self.touch(&account);
        Ok(taken)
    }

    /// How many available units of `class` the account holds.
    pub fn available(&self, account: &str, class: &UnitClass) -> Res<u64> {
        Ok(self.holding(account, class)?.balance()?.1)
    }
}

/// The parts of `[first, last]` inside `allowed`, ascending.
fn overlaps(first: u64, last: u64, allowed: &Ranges) -> Ranges {
    allowed
        .iter()
        .filter(|&&(af, al)| af <= last && al >= first)
        .map(|&(af, al)| (af.max(first), al.min(last)))
        .collect()
}

fn piece(b: &SerialBlock, class: &UnitClass, first: u64, last: u64) -> SerialBlock {
    SerialBlock {
        range: Some(SerialRange {
            unit_class: Some(class.clone()),
            first,
            last,
        }),
        ..b.clone()
    }
}

/// Units of `h` within `allowed`: (available, held in any state); and all units held.
fn within_counts(h: &Holding, allowed: &Ranges) -> Res<(u64, u64, u64)> {
    let (mut avail, mut held, mut all) = (0u64, 0u64, 0u64);
    for (&first, b) in &h.blocks {
        let last = b.range.as_ref().map_or(first, |r| r.last);
        all = add(all, len(first, last)?, "the balance")?;
        for (s, e) in overlaps(first, last, allowed) {
            let n = len(s, e)?;
            held = add(held, n, "the balance")?;
            if b.state() == BlockState::Available {
                avail = add(avail, n, "the balance")?;
            }
        }
    }
    Ok((avail, held, all))
}

fn check_within(h: &Holding, quantity: u64, allowed: &Ranges) -> Res<()> {
    let (avail, held, all) = within_counts(h, allowed)?;
    if avail >= quantity {
        return Ok(());
    }
    let label = class_label(&h.class);
    let (code, why) = if held >= quantity {
        (
            ErrorCode::UnitsEncumbered,
            format!(
                "{} more are pledged, frozen, in repo or pending transfer",
                held.saturating_sub(avail)
            ),
        )
    } else if all >= quantity {
        (
            ErrorCode::UnitsNotAuthorised,
            format!("it holds {all} units of that class in all, but only {held} are authorised for this"),
        )
    } else {
        (
            ErrorCode::InsufficientUnits,
            format!("it holds {all} units of that class in all"),
        )
    };
    reject(
        code,
        format!(
            "{:?} has {avail} authorised units of {label} available, {quantity} are needed ({why})",
            h.account
        ),
    )
}

impl Take {
    fn matches(self, b: &SerialBlock) -> bool {
        match self {
            Take::Available => b.state() == BlockState::Available,
            Take::Encumbrance(id) => b.state() != BlockState::Available && b.encumbrance_id == id,
        }
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
        let h = self.holding(account, class)?;
        self.note_in(&h, ranges, flow, counterparty)
    }

    /// [`Exec::note`] with the account's blocks at hand (their state after the movement).
    fn note_in(&mut self, h: &Holding, ranges: &Ranges, flow: Flow, counterparty: &str) -> Res<()> {
        let n = ranges
            .iter()
            .try_fold(0u64, |n, &(f, l)| add(n, len(f, l)?, "the moved quantity"))?;
        let (held, available) = h.balance()?;
        let others: Vec<String> = if counterparty.is_empty() {
            let me = h.account.as_str();
            self.tx
                .body
                .signers
                .iter()
                .filter(|s| *s != me)
                .cloned()
                .collect()
        } else {
            vec![counterparty.to_string()]
        };
        let line = self.statement_line(&h.account, &h.class);
        match flow {
            Flow::In => line.quantity_in = add(line.quantity_in, n, "the statement")?,
            Flow::Out => line.quantity_out = add(line.quantity_out, n, "the statement")?,
            Flow::Within => {}
        }
        line.ranges.extend(to_ranges(&h.class, ranges));
        let mut parties: std::collections::BTreeSet<String> = line
            .counterparty
            .split(", ")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        parties.extend(others);
        line.counterparty = parties.into_iter().collect::<Vec<_>>().join(", ");
        line.balance_after = held;
        line.available_after = available;
        Ok(())
    }

    /// This transaction's statement line of the account and class (created empty). Stored in
    /// the transaction's record; what the record already says (date, sequence, tx id,
    /// operation) is filled in when a statement is read (`queries::statement`).
    fn statement_line(&mut self, account: &str, class: &UnitClass) -> &mut StatementLine {
        let found = self
            .lines
            .iter()
            .position(|l| l.account_id == account && l.unit_class.as_ref() == Some(class));
        let i = match found {
            Some(i) => i,
            None => {
                self.lines.push(StatementLine {
                    account_id: account.to_string(),
                    unit_class: Some(class.clone()),
                    ..Default::default()
                });
                self.lines.len().saturating_sub(1)
            }
        };
        &mut self.lines[i]
    }
}

/// "CEA 2025" or "FORESTRY 2025 ZJ-LS-FOR-01" (the one label: `carbon_proto::names`).
pub use carbon_proto::names::class_label;
