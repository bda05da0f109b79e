//! The registry's rules as a pure, deterministic state machine.
//!
//! [`apply_entry`] takes a read view of committed state, the entry's [`Ctx`] (log index and the
//! leader's timestamp) and the entry's verified transactions, and returns the writes to apply in
//! one atomic batch plus one [`Outcome`] per transaction. Nothing here does I/O, reads a clock,
//! draws randomness or iterates a hash map: the same entries applied to the same state give the
//! same writes and the same chain head on every replica.
//!
//! One file per family of operations: [`accounts`], [`allocation`], [`projects`], [`trading`],
//! [`encumbrances`], [`compliance`], [`cancellation`], [`repo`], [`lending`], [`cluster`] (the
//! cluster admin key), [`safeguards`] and [`collateral`] (rules 15, 18), [`inclusion`] (rule 16,
//! carbon inclusion), [`international`] (rule 17, art. 6). [`holdings`] keeps
//! serial blocks (and writes statements), [`exec`] is the per-transaction context, [`store`] the
//! state view, [`keys`] the key layout, [`queries`] the read side, [`audit`] the invariants and
//! offline chain verification.

#![deny(clippy::arithmetic_side_effects)]

pub mod accounts;
pub mod allocation;
pub mod audit;
pub mod cancellation;
pub mod cluster;
pub mod collateral;
pub mod compliance;
pub use carbon_proto::dates;
pub mod encumbrances;
pub mod error;
pub mod exec;
pub mod holdings;
pub mod inclusion;
pub mod index;
pub mod international;
pub mod keys;
pub mod lending;
pub mod limits;
pub mod projects;
pub mod queries;
pub mod repo;
pub mod safeguards;
pub mod store;
pub mod trading;

pub use error::{ErrorCode, LedgerError};
pub use exec::Ctx;
pub use store::{MemState, StateView, ViewFault, Write};

use carbon_proto::v1::{
    tx_body::Operation, ChainState, CommittedTx, Effects, Genesis, Outcome, Role, TxRecord,
};
use carbon_proto::VerifiedTx;
use error::{reject, Abort, Res};
use exec::{read, Exec};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use store::Overlay;

/// The version of the ledger rules this build applies and proposes. An entry records the version
/// it was proposed with, and every outcome the version that applied it (it is in the chain).
///
/// A release that changes any outcome, effect or write of an existing operation must bump it and
/// keep applying older versions exactly as before (see docs/OPERATIONS.md, "Rolling upgrade").
///
/// Version 2: an action on a pledge, repo or loan by id (release, enforce, repurchase, repo
/// default, return) that none of the record's parties signs is rejected as if the id did not
/// exist (`Exec::private_record`); version 1 told such a signer the record's parties.
///
/// Version 3: rule 15 (trusted account lists, pending transfers executed by ledger time, daily
/// transfer limits; only with a genesis that enables safeguards) and rule 18 (pledge top-up,
/// repo substitution). Their operations in an entry of version 1 or 2 are rejected with
/// VERSION_NOT_ACTIVE, and a transfer there is immediate as before.
///
/// Version 4: rule 17 (art. 6 authorisation, export, cancellation naming NDC or OIMP:
/// `international`). Its operations, and a cancellation naming a purpose, in an entry of an
/// older version are rejected with VERSION_NOT_ACTIVE. Also rule 16 (carbon inclusion: platforms, personal accounts in bulk, inclusion
/// methodologies, reductions, carbon points, PHCER), and the genesis's eligible offset kinds
/// checked in a surrender. Their operations in an older entry are rejected with
/// VERSION_NOT_ACTIVE.
pub const VERSION: u32 = 4;
/// The oldest version this build still applies.
pub const MIN_VERSION: u32 = 1;

/// Why an entry could not be applied at all. The replica must stop: applying it differently
/// from the other replicas would fork the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error(transparent)]
    Fault(#[from] ViewFault),
    #[error(
        "log entry {log_index} needs ledger version {version}; this build applies versions \
         {MIN_VERSION}..={VERSION}: upgrade this node's binary (docs/OPERATIONS.md, rolling upgrade)"
    )]
    UnknownVersion { log_index: u64, version: u32 },
}

/// What applying one log entry produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// To be written atomically, together with the entry's log id.
    pub writes: Vec<Write>,
    /// One per input transaction, in order. A transaction whose id was already committed gets
    /// its first outcome back and changes nothing.
    pub outcomes: Vec<Outcome>,
    /// The chain position and head after the entry.
    pub chain: ChainState,
    /// The records of the transactions the entry committed (not those it found committed
    /// before), in chain order: what Watch streams.
    pub records: Vec<TxRecord>,
}

pub use carbon_proto::chain::{genesis_head, next_head};

/// Validates a genesis and returns the writes that create the registry's first state.
pub fn genesis_writes(g: &Genesis) -> Result<Vec<Write>, LedgerError> {
    let bad = |m: String| LedgerError::new(ErrorCode::InvalidArgument, m);
    let unwrap = |r: Res<()>| match r {
        Ok(()) => Ok(()),
        Err(Abort::Rejected(e)) => Err(e),
        Err(Abort::Fault(f)) => Err(bad(f.0)),
    };
    if g.chain_id.is_empty() || g.chain_id.len() > limits::ID_BYTES_MAX {
        return Err(bad("genesis needs a chain id of 1 to 64 bytes".into()));
    }
    if g.cluster_admin_key.len() != 32 {
        return Err(bad("the cluster admin key must be 32 bytes".into()));
    }
    for k in &g.eligible_offset_kinds {
        use carbon_proto::v1::UnitKind;
        let credit = matches!(
            UnitKind::try_from(*k),
            Ok(UnitKind::Ccer | UnitKind::Forestry | UnitKind::BlueCarbon | UnitKind::Phcer)
        );
        if !credit {
            return Err(bad(format!(
                "eligible offset kind {k} is not a credit kind (CCER, FORESTRY, BLUE_CARBON, PHCER)"
            )));
        }
    }
    let mut writes = Vec::new();
    let mut ids = BTreeSet::new();
    for a in &g.accounts {
        unwrap(exec::check_id(&a.account_id, "account id"))?;
        unwrap(exec::check_key_set(&a.public_keys, a.threshold))?;
        if a.role() != Role::Regulator {
            return Err(bad(format!(
                "genesis account {:?} must be a regulator account",
                a.account_id
            )));
        }
        if !ids.insert(a.account_id.clone()) {
            return Err(bad(format!("account {:?} appears twice", a.account_id)));
        }
        let mut a = a.clone();
        a.status = carbon_proto::v1::AccountStatus::Open as i32;
        a.outstanding_shortfall = 0;
        writes.push(Write::Put(keys::account(&a.account_id), a.encode_to_vec()));
    }
    if !ids.contains(&g.buffer_account_id) {
        return Err(bad(
            "the buffer account must be one of the genesis accounts".into(),
        ));
    }
    let chain = ChainState {
        sequence: 0,
        head: genesis_head(g).to_vec(),
        next_encumbrance_id: 1,
        next_cancellation_id: 1,
        next_loan_id: 1,
    };
    writes.push(Write::Put(keys::GENESIS.to_vec(), g.encode_to_vec()));
    writes.push(Write::Put(keys::CHAIN.to_vec(), chain.encode_to_vec()));
    Ok(writes)
}

/// The committed outcome of a transaction id, if any.
pub fn committed(view: &dyn StateView, tx_id: &[u8; 32]) -> Result<Option<CommittedTx>, ViewFault> {
    let Some(seq) = index::sequence_of(view, tx_id)? else {
        return Ok(None);
    };
    let record = index::record_at(view, seq)?
        .ok_or_else(|| ViewFault(format!("tx id maps to sequence {seq}, not in the chain")))?;
    CommittedTx::decode(record.as_slice())
        .map(Some)
        .map_err(|e| ViewFault(format!("the record of sequence {seq} does not decode: {e}")))
}

/// Applies one log entry's transactions. Errors only on a storage fault or a ledger version this
/// build does not know, in which case nothing may be written and the replica must stop.
pub fn apply_entry(
    view: &dyn StateView,
    ctx: Ctx,
    txs: &[VerifiedTx],
) -> Result<Applied, EntryError> {
    if !(MIN_VERSION..=VERSION).contains(&ctx.ledger_version) {
        return Err(EntryError::UnknownVersion {
            log_index: ctx.log_index,
            version: ctx.ledger_version,
        });
    }
    let genesis: Genesis = read(view, keys::GENESIS)?
        .ok_or_else(|| ViewFault("the registry has no genesis".into()))?;
    let mut chain: ChainState = read(view, keys::CHAIN)?
        .ok_or_else(|| ViewFault("the registry has no chain state".into()))?;
    let first_sequence = chain.sequence.saturating_add(1);
    let mut st = Overlay::new(view);
    let mut outcomes = Vec::with_capacity(txs.len());
    let mut records: Vec<TxRecord> = Vec::with_capacity(txs.len());
    // This entry's transactions so far, by tx id: their records are written at its end.
    let mut in_entry: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    // Rule 15: pending transfers whose due time the entry's time passed execute first, in
    // (due time, id) order, each as a record the ledger writes itself.
    if ctx.ledger_version >= safeguards::SAFEGUARDS_VERSION
        && safeguards::settings(&genesis).is_some()
    {
        for (due_key, id, due_ms) in safeguards::due(&st, ctx.timestamp_ms)? {
            let body = carbon_proto::signing::ledger_made_body(&genesis.chain_id, id, due_ms);
            let signed = carbon_proto::v1::SignedTx {
                body: body.encode_to_vec(),
                signatures: Vec::new(),
            };
            let Some(tx) = carbon_proto::signing::ledger_made(&genesis.chain_id, &signed) else {
                return Err(
                    ViewFault("a pending transfer's execution does not decode".into()).into(),
                );
            };
            let system = System {
                run: safeguards::execute,
                due_key: Some(due_key),
            };
            let record = apply_tx(&mut st, ctx, &genesis, &mut chain, &tx, system)?;
            in_entry.insert(tx.tx_id, records.len());
            records.push(record);
        }
    }
    for tx in txs {
        if let Some(&i) = in_entry.get(&tx.tx_id) {
            outcomes.push(records[i].outcome.clone().unwrap_or_default());
            continue;
        }
        if let Some(done) = committed(&st, &tx.tx_id)? {
            outcomes.push(done.outcome.unwrap_or_default());
            continue;
        }
        let record = apply_tx(&mut st, ctx, &genesis, &mut chain, tx, System::SIGNED)?;
        in_entry.insert(tx.tx_id, records.len());
        outcomes.push(record.outcome.clone().unwrap_or_default());
        records.push(record);
    }
    let encoded: Vec<Vec<u8>> = records.iter().map(Message::encode_to_vec).collect();
    index::put_records(&mut st, first_sequence, &encoded)?;
    st.put(keys::CHAIN.to_vec(), chain.encode_to_vec());
    st.commit_tx();
    Ok(Applied {
        writes: st.into_writes(),
        outcomes,
        chain,
        records,
    })
}

/// How a transaction runs: a signed one through [`run`]; a record the ledger makes itself
/// (rule 15's executions) through its own function, with the due-index key to drop even if it
/// were rejected (so that it is never tried again in every entry).
#[derive(Clone)]
struct System {
    run: fn(&mut Exec) -> Res<Effects>,
    due_key: Option<Vec<u8>>,
}

impl System {
    const SIGNED: System = System { run, due_key: None };
}

/// Executes one transaction not committed before: runs it (a rejection drops its writes),
/// extends the chain, indexes it under its id and in its parties' histories; returns its
/// record (written by the caller with the entry's others).
fn apply_tx<'v>(
    st: &mut Overlay<'v, dyn StateView + 'v>,
    ctx: Ctx,
    genesis: &Genesis,
    chain: &mut ChainState,
    tx: &VerifiedTx,
    how: System,
) -> Result<TxRecord, EntryError> {
    let Some(sequence) = chain.sequence.checked_add(1) else {
        return Err(ViewFault("the chain sequence is exhausted".into()).into());
    };
    let before = chain.clone();
    let mut x = Exec {
        st: &mut *st,
        ctx,
        tx,
        genesis,
        chain: &mut *chain,
        sequence,
        parties: BTreeSet::new(),
        lines: Vec::new(),
    };
    let result = (how.run)(&mut x);
    let mut parties = std::mem::take(&mut x.parties);
    let mut lines = std::mem::take(&mut x.lines);
    let (code, message, effects) = match result {
        Ok(effects) => {
            // Every signer was authorised (run checks them all first).
            parties.extend(tx.body.signers.iter().cloned());
            (ErrorCode::Ok, String::new(), effects)
        }
        Err(Abort::Rejected(e)) => {
            st.abort_tx();
            *chain = before;
            lines.clear();
            // A rejection is history only for the accounts that really signed it: naming
            // an account as signer must not write into its history.
            parties = authorised_signers(&*st, tx)?;
            if let Some(k) = how.due_key {
                st.delete(k);
            }
            (e.code, e.message, Effects::default())
        }
        Err(Abort::Fault(f)) => return Err(f.into()),
    };
    let mut outcome = Outcome {
        tx_id: tx.tx_id.to_vec(),
        log_index: ctx.log_index,
        sequence,
        timestamp_ms: ctx.timestamp_ms,
        code: code as i32,
        message,
        effects: Some(effects),
        chain_head: Vec::new(),
        ledger_version: ctx.ledger_version,
    };
    let head = next_head(&chain.head, &outcome);
    outcome.chain_head = head.to_vec();
    chain.sequence = sequence;
    chain.head = head.to_vec();
    for p in &parties {
        index::put_history(st, p, sequence)?;
    }
    index::put_tx_id(st, &tx.tx_id, sequence);
    st.commit_tx();
    Ok(TxRecord {
        tx: Some(tx.signed.clone()),
        outcome: Some(outcome),
        parties: parties.into_iter().collect(),
        lines,
    })
}

/// The named signers that exist, are not closed, and whose threshold the transaction's verified
/// keys reach: the accounts that really authorised it.
fn authorised_signers(st: &dyn StateView, tx: &VerifiedTx) -> Result<BTreeSet<String>, ViewFault> {
    let mut out = BTreeSet::new();
    for s in &tx.body.signers {
        if s != carbon_proto::signing::CLUSTER_ADMIN_SIGNER
            && exec::signer_refusal(st, tx, s)?.is_none()
        {
            out.insert(s.clone());
        }
    }
    Ok(out)
}

/// Checks common to every transaction, then the operation itself.
fn run(x: &mut Exec) -> Res<Effects> {
    let tx = x.tx;
    let body = &tx.body;
    if body.chain_id != x.genesis.chain_id {
        return reject(
            ErrorCode::WrongChain,
            format!("the transaction is for chain {:?}", body.chain_id),
        );
    }
    if x.ctx.timestamp_ms > body.valid_until_ms {
        return reject(
            ErrorCode::Expired,
            format!(
                "valid until {} ms, the leader's time was {} ms",
                body.valid_until_ms, x.ctx.timestamp_ms
            ),
        );
    }
    if body.signers.is_empty() {
        return reject(ErrorCode::Malformed, "the transaction names no signer");
    }
    x.authorise_signers()?;
    let Some(op) = &body.operation else {
        return reject(ErrorCode::Malformed, "the transaction carries no operation");
    };
    match op {
        Operation::OpenAccount(o) => accounts::open(x, o),
        Operation::UpdateKeys(o) => accounts::update_keys(x, o),
        Operation::SuspendAccount(o) => accounts::suspend(x, o),
        Operation::ReinstateAccount(o) => accounts::reinstate(x, o),
        Operation::CloseAccount(o) => accounts::close(x, o),
        Operation::DeclareVintage(o) => allocation::declare_vintage(x, o),
        Operation::Allocate(o) => allocation::allocate(x, o),
        Operation::TrueUp(o) => allocation::true_up(x, o),
        Operation::ProposeProject(o) => projects::propose(x, o),
        Operation::ApproveProject(o) => projects::approve(x, o),
        Operation::RejectProject(o) => projects::reject_project(x, o),
        Operation::IssueCredits(o) => projects::issue(x, o),
        Operation::Transfer(o) => trading::transfer(x, o),
        Operation::Trade(o) => trading::trade(x, o),
        Operation::Pledge(o) => encumbrances::pledge(x, o),
        Operation::ReleasePledge(o) => encumbrances::release(x, o),
        Operation::EnforcePledge(o) => encumbrances::enforce(x, o),
        Operation::Freeze(o) => encumbrances::freeze(x, o),
        Operation::Unfreeze(o) => encumbrances::unfreeze(x, o),
        Operation::ReportEmissions(o) => compliance::report(x, o),
        Operation::Surrender(o) => compliance::surrender(x, o),
        Operation::CloseComplianceYear(o) => compliance::close_year(x, o),
        Operation::Cancel(o) => cancellation::cancel(x, o),
        Operation::Repo(o) => repo::repo(x, o),
        Operation::Repurchase(o) => repo::repurchase(x, o),
        Operation::RepoDefault(o) => repo::default(x, o),
        Operation::Lend(o) => lending::lend(x, o),
        Operation::ReturnLoan(o) => lending::return_loan(x, o),
        Operation::RotateClusterAdminKey(o) => cluster::rotate_admin_key(x, o),
        Operation::TrustAccount(o) => safeguards::trust(x, o),
        Operation::UntrustAccount(o) => safeguards::untrust(x, o),
        Operation::SetTransferLimit(o) => safeguards::set_limit(x, o),
        Operation::CancelPendingTransfer(o) => safeguards::cancel(x, o),
        Operation::ExecutePendingTransfer(_) => safeguards::refuse_system(x),
        Operation::TopUpPledge(o) => collateral::top_up(x, o),
        Operation::SubstituteRepo(o) => collateral::substitute(x, o),
        Operation::AuthoriseUnits(o) => international::authorise(x, o),
        Operation::ExportUnits(o) => international::export(x, o),
        Operation::AllowPersonalAccounts(o) => inclusion::allow(x, o),
        Operation::OpenPersonalAccounts(o) => inclusion::open_personal(x, o),
        Operation::ApproveMethodology(o) => inclusion::approve(x, o),
        Operation::RecordReductions(o) => inclusion::record(x, o),
        Operation::ConvertReductions(o) => inclusion::convert(x, o),
    }
}
