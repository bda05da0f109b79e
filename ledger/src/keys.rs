//! Key layout of the registry's state. One leading tag byte per record family; identifiers end
//! with a 0x00 byte (identifiers are validated never to contain one), numbers are big-endian so
//! that key order is numeric order. Common reads are prefix scans: holdings of an account,
//! compliance of a year, allocations of a vintage, history of an account, issuances of a project.
//!
//! Records kept forever (transactions, the chain index, history pages) are the *cold* families;
//! the rest is *hot*: small, bounded by the registry's accounts and contracts, and read by
//! every transaction ([`is_hot`]). The storage keeps hot records in memory too.

use carbon_proto::v1::UnitClass;

pub const GENESIS: &[u8] = b"0";
/// The current cluster admin key (absent: the genesis key).
pub const CLUSTER_ADMIN_KEY: &[u8] = b"1";
pub const CHAIN: &[u8] = b"Z";

fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().fold(1usize, |n, p| n.saturating_add(p.len()));
    let mut k = Vec::with_capacity(len);
    k.push(tag);
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn id(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len().saturating_add(1));
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// kind (1 byte) + vintage (4 bytes) + project id + 0x00.
pub fn class(c: &UnitClass) -> Vec<u8> {
    let mut v = Vec::with_capacity(c.project_id.len().saturating_add(6));
    v.push(c.kind as u8);
    v.extend_from_slice(&c.vintage.to_be_bytes());
    v.extend_from_slice(&id(&c.project_id));
    v
}

pub const ACCOUNTS: &[u8] = b"A";

pub fn account(account_id: &str) -> Vec<u8> {
    key(b'A', &[&id(account_id)])
}

/// Every serial block an account holds.
pub fn holdings_of(account_id: &str) -> Vec<u8> {
    key(b'H', &[&id(account_id)])
}

/// The account's blocks of one unit class, in serial order.
pub fn holdings_of_class(account_id: &str, c: &UnitClass) -> Vec<u8> {
    key(b'H', &[&id(account_id), &class(c)])
}

/// One serial block, keyed by its LAST serial: taking the lowest serials of a block (what a
/// transfer does) rewrites its value under the same key instead of making a new key.
pub fn holding(account_id: &str, c: &UnitClass, last: u64) -> Vec<u8> {
    key(b'H', &[&id(account_id), &class(c), &last.to_be_bytes()])
}

/// Prefix of every holding key; the account id follows it.
pub const HOLDINGS: &[u8] = b"H";

/// For a holding's key, the prefix of its account's holdings ([`holdings_of`]); `None` for any
/// other key, and for that prefix itself. The storage keeps an account's blocks together under
/// that prefix (node `storage::view`, "pack").
pub fn holdings_owner(key: &[u8]) -> Option<&[u8]> {
    let end = account_end(key)?;
    (end < key.len()).then(|| &key[..end])
}

/// Whether `key` is exactly some account's holdings prefix ([`holdings_of`]).
pub fn is_holdings_of(key: &[u8]) -> bool {
    account_end(key) == Some(key.len())
}

/// Length of `H<account>\0` at the start of a holdings key.
fn account_end(key: &[u8]) -> Option<usize> {
    let rest = key.strip_prefix(HOLDINGS)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    HOLDINGS.len().checked_add(nul)?.checked_add(1)
}

/// Next serial number of a unit class.
pub fn serial_counter(c: &UnitClass) -> Vec<u8> {
    key(b'S', &[&class(c)])
}

pub const SERIAL_COUNTERS: &[u8] = b"S";

pub fn retired(c: &UnitClass, first: u64) -> Vec<u8> {
    key(b'R', &[&class(c), &first.to_be_bytes()])
}

pub const RETIRED: &[u8] = b"R";

/// Where the serials starting at `first` were created.
pub fn origin(c: &UnitClass, first: u64) -> Vec<u8> {
    key(b'O', &[&class(c), &first.to_be_bytes()])
}

pub fn origins_of(c: &UnitClass) -> Vec<u8> {
    key(b'O', &[&class(c)])
}

pub fn retired_of(c: &UnitClass) -> Vec<u8> {
    key(b'R', &[&class(c)])
}

pub const ORIGINS: &[u8] = b"O";

pub fn vintage(year: u32) -> Vec<u8> {
    key(b'V', &[&year.to_be_bytes()])
}

pub const VINTAGES: &[u8] = b"V";

pub fn allocation(vintage: u32, enterprise: &str) -> Vec<u8> {
    key(b'L', &[&vintage.to_be_bytes(), &id(enterprise)])
}

pub const ALLOCATIONS: &[u8] = b"L";

pub fn allocations_of(vintage: u32) -> Vec<u8> {
    key(b'L', &[&vintage.to_be_bytes()])
}

pub fn project(project_id: &str) -> Vec<u8> {
    key(b'P', &[&id(project_id)])
}

pub const PROJECTS: &[u8] = b"P";

pub fn issuance(project_id: &str, sequence: u64) -> Vec<u8> {
    key(b'I', &[&id(project_id), &sequence.to_be_bytes()])
}

pub fn issuances_of(project_id: &str) -> Vec<u8> {
    key(b'I', &[&id(project_id)])
}

pub const ISSUANCES: &[u8] = b"I";

pub fn encumbrance(enc_id: u64) -> Vec<u8> {
    key(b'E', &[&enc_id.to_be_bytes()])
}

pub const ENCUMBRANCES: &[u8] = b"E";

/// Index: encumbrances on an account's units (value empty).
pub fn encumbrance_by_holder(holder: &str, enc_id: u64) -> Vec<u8> {
    key(b'F', &[&id(holder), &enc_id.to_be_bytes()])
}

pub fn encumbrances_by_holder(holder: &str) -> Vec<u8> {
    key(b'F', &[&id(holder)])
}

/// Index: pledges held by a bank (value empty).
pub fn encumbrance_by_pledgee(pledgee: &str, enc_id: u64) -> Vec<u8> {
    key(b'G', &[&id(pledgee), &enc_id.to_be_bytes()])
}

pub fn encumbrances_by_pledgee(pledgee: &str) -> Vec<u8> {
    key(b'G', &[&id(pledgee)])
}

pub fn compliance(year: u32, enterprise: &str) -> Vec<u8> {
    key(b'C', &[&year.to_be_bytes(), &id(enterprise)])
}

pub fn compliance_of(year: u32) -> Vec<u8> {
    key(b'C', &[&year.to_be_bytes()])
}

pub fn year_close(year: u32) -> Vec<u8> {
    key(b'Y', &[&year.to_be_bytes()])
}

pub fn market_day(c: &UnitClass, date: u32) -> Vec<u8> {
    key(b'M', &[&class(c), &date.to_be_bytes()])
}

pub const MARKET_DAYS: &[u8] = b"M";

/// Market days of every unit class of one kind (the class key starts with the kind byte).
pub fn market_days_of_kind(kind: i32) -> Vec<u8> {
    key(b'M', &[&[kind as u8]])
}

/// A committed transaction's chain sequence (8 bytes, big-endian), by tx id.
pub fn tx(tx_id: &[u8; 32]) -> Vec<u8> {
    key(b'T', &[tx_id])
}

/// Transactions per chain bucket: sequences `[64k, 64k + 64)` share one value.
pub const SEQUENCE_BUCKET_TXS: u64 = 64;

/// The chain: the bucket holding the records of chain positions `[64k, 64k + 64)` (value: each
/// `TxRecord` as a 4-byte little-endian length and its bytes, in sequence order). Records go
/// to the right edge of the key space a bucket at a time, not one new key each under a random
/// tx id: sled pays far more for a new key, and rewrites whole pages of big values
/// (docs/DECISIONS.md, "State layout").
pub fn sequence_bucket(seq: u64) -> Vec<u8> {
    let first = seq.saturating_sub(seq % SEQUENCE_BUCKET_TXS);
    key(b'Q', &[&first.to_be_bytes()])
}

pub const SEQUENCES: &[u8] = b"Q";

/// Sequences per sealed page of an account's history.
pub const HISTORY_PAGE_TXS: usize = 32;

/// A sealed page of an account's history: [`HISTORY_PAGE_TXS`] chain sequences, keyed by the
/// last of them (so pages holding sequences from `s` on are the keys from `s` on).
pub fn history_page(account_id: &str, last_seq: u64) -> Vec<u8> {
    key(b'X', &[&id(account_id), &last_seq.to_be_bytes()])
}

/// Every sealed history page of an account, in order.
pub fn history_of(account_id: &str) -> Vec<u8> {
    key(b'X', &[&id(account_id)])
}

/// The account's open history page: the sequences after its last sealed page (fewer than
/// [`HISTORY_PAGE_TXS`]). Rewritten in place, sealed into a page when full.
pub fn history_open(account_id: &str) -> Vec<u8> {
    key(b'x', &[&id(account_id)])
}

pub const HISTORY_OPEN: &[u8] = b"x";

pub fn repo(repo_id: u64) -> Vec<u8> {
    key(b'J', &[&repo_id.to_be_bytes()])
}

pub const REPOS: &[u8] = b"J";

/// Index: repos in which the account is seller or buyer (value empty).
pub fn repo_by_party(party: &str, repo_id: u64) -> Vec<u8> {
    key(b'j', &[&id(party), &repo_id.to_be_bytes()])
}

pub fn repos_of_party(party: &str) -> Vec<u8> {
    key(b'j', &[&id(party)])
}

pub fn loan(loan_id: u64) -> Vec<u8> {
    key(b'B', &[&loan_id.to_be_bytes()])
}

pub const LOANS: &[u8] = b"B";

/// Index: loans in which the account is lender or borrower (value empty).
pub fn loan_by_party(party: &str, loan_id: u64) -> Vec<u8> {
    key(b'b', &[&id(party), &loan_id.to_be_bytes()])
}

pub fn loans_of_party(party: &str) -> Vec<u8> {
    key(b'b', &[&id(party)])
}

pub fn cancellation(cancel_id: u64) -> Vec<u8> {
    key(b'K', &[&cancel_id.to_be_bytes()])
}

pub const CANCELLATIONS: &[u8] = b"K";

/// Whether a key belongs to a hot family (see the module docs): everything but transactions
/// (`T`), the chain index (`Q`), sealed history pages (`X`), retired blocks (`R`), serial
/// origins (`O`), cancellations (`K`), issuances (`I`) and points lines (`g`).
pub fn is_hot(key: &[u8]) -> bool {
    !matches!(
        key.first(),
        Some(b'T' | b'Q' | b'X' | b'R' | b'O' | b'K' | b'I' | b'g')
    )
}

/// Reads the big-endian u64 that ends a key.
pub fn trailing_u64(k: &[u8]) -> Option<u64> {
    let start = k.len().checked_sub(8)?;
    Some(u64::from_be_bytes(k[start..].try_into().ok()?))
}

// ---- Rule 15: trusted account lists, transfer limits, pending transfers (hot families) ----

/// An entry of `account`'s trusted account list (value `TrustedAccount`).
pub fn trusted(account_id: &str, trusted_id: &str) -> Vec<u8> {
    key(b'W', &[&id(account_id), &id(trusted_id)])
}

pub fn trusted_of(account_id: &str) -> Vec<u8> {
    key(b'W', &[&id(account_id)])
}

pub const TRUSTED: &[u8] = b"W";

/// An account's transfer limit for one unit kind (value `TransferLimit`).
pub fn transfer_limit(account_id: &str, kind: i32) -> Vec<u8> {
    key(b'N', &[&id(account_id), &[kind as u8]])
}

pub fn transfer_limits_of(account_id: &str) -> Vec<u8> {
    key(b'N', &[&id(account_id)])
}

/// Units of one kind the account sent by transfer on one CST date (value: 8 bytes, big-endian).
pub fn sent_on(account_id: &str, kind: i32, date: u32) -> Vec<u8> {
    key(b'U', &[&id(account_id), &[kind as u8], &date.to_be_bytes()])
}

/// A pending transfer (value `PendingTransfer`); its id comes from the encumbrance sequence.
pub fn pending_transfer(pending_id: u64) -> Vec<u8> {
    key(b'D', &[&pending_id.to_be_bytes()])
}

pub const PENDING_TRANSFERS: &[u8] = b"D";

/// Index: pending transfers still waiting, in due-time order (value empty).
pub fn pending_due(due_ms: u64, pending_id: u64) -> Vec<u8> {
    key(b'd', &[&due_ms.to_be_bytes(), &pending_id.to_be_bytes()])
}

pub const PENDING_DUE: &[u8] = b"d";

/// Index: pending transfers an account sent or receives (value empty).
pub fn pending_by_party(party: &str, pending_id: u64) -> Vec<u8> {
    key(b'p', &[&id(party), &pending_id.to_be_bytes()])
}

pub fn pending_of_party(party: &str) -> Vec<u8> {
    key(b'p', &[&id(party)])
}

// ---- Rule 17: art. 6 authorisations, exports, corresponding adjustments (hot families) ----

/// An issuance's authorisation, by its unit class and first serial (value `Authorisation`).
pub fn authorisation(c: &UnitClass, first: u64) -> Vec<u8> {
    key(b'a', &[&class(c), &first.to_be_bytes()])
}

/// Every authorisation of a unit class, in serial order.
pub fn authorisations_of(c: &UnitClass) -> Vec<u8> {
    key(b'a', &[&class(c)])
}

pub const AUTHORISATIONS: &[u8] = b"a";

/// An export, by its vintage year and chain sequence (value `Export`).
pub fn export(year: u32, sequence: u64) -> Vec<u8> {
    key(b'e', &[&year.to_be_bytes(), &sequence.to_be_bytes()])
}

/// Exports of one vintage year (0: no such year, use [`EXPORTS`] for all).
pub fn exports_of(year: u32) -> Vec<u8> {
    key(b'e', &[&year.to_be_bytes()])
}

pub const EXPORTS: &[u8] = b"e";

/// A corresponding adjustment, by its year and the chain sequence of the transaction that
/// required it (value `CorrespondingAdjustment`).
pub fn adjustment(year: u32, sequence: u64) -> Vec<u8> {
    key(b'c', &[&year.to_be_bytes(), &sequence.to_be_bytes()])
}

pub fn adjustments_of(year: u32) -> Vec<u8> {
    key(b'c', &[&year.to_be_bytes()])
}

pub const ADJUSTMENTS: &[u8] = b"c";
// ---- Rule 16: carbon inclusion ----
// Hot: `i` + a sub-tag (platform records, methodologies, totals), a few per platform and
// methodology. Cold: `g`, one points line per person, day, methodology and recording
// transaction, only ever added (its sequence ends the key), never held in memory.

/// A platform's record (value `PlatformRecord`).
pub fn platform(platform_id: &str) -> Vec<u8> {
    key(b'i', &[b"p", &id(platform_id)])
}

pub const PLATFORMS: &[u8] = b"ip";

/// An inclusion methodology (value `InclusionMethodology`).
pub fn methodology(code: &str) -> Vec<u8> {
    key(b'i', &[b"m", &id(code)])
}

pub const METHODOLOGIES: &[u8] = b"im";

/// Recorded and converted grams of one platform, methodology and year (value
/// `InclusionTotal`, city left empty): year first, so that a year's disclosure is one scan.
pub fn inclusion_total(year: u32, methodology: &str, platform_id: &str) -> Vec<u8> {
    key(
        b'i',
        &[
            b"t",
            &year.to_be_bytes(),
            &id(methodology),
            &id(platform_id),
        ],
    )
}

pub fn inclusion_totals_of(year: u32) -> Vec<u8> {
    key(b'i', &[b"t", &year.to_be_bytes()])
}

pub const INCLUSION_TOTALS: &[u8] = b"it";

/// A points line (value `PointsLine` with only `grams`: date, methodology and sequence are
/// the key's): person, CST date, methodology, the recording transaction's sequence.
pub fn points_line(person: &str, date: u32, methodology: &str, sequence: u64) -> Vec<u8> {
    key(
        b'g',
        &[
            &id(person),
            &date.to_be_bytes(),
            &id(methodology),
            &sequence.to_be_bytes(),
        ],
    )
}

/// The points lines of one person, day and methodology (what the daily cap counts).
pub fn points_of_day(person: &str, date: u32, methodology: &str) -> Vec<u8> {
    key(b'g', &[&id(person), &date.to_be_bytes(), &id(methodology)])
}

/// Every points line of a person, in date order.
pub fn points_of(person: &str) -> Vec<u8> {
    key(b'g', &[&id(person)])
}

/// The points lines of a person from a CST date on.
pub fn points_from(person: &str, date: u32) -> Vec<u8> {
    key(b'g', &[&id(person), &date.to_be_bytes()])
}

pub const POINTS: &[u8] = b"g";

/// (person, date, methodology, sequence) of a points line key.
pub fn parse_points_line(k: &[u8]) -> Option<(String, u32, String, u64)> {
    let rest = k.strip_prefix(b"g")?;
    let end = rest.iter().position(|&b| b == 0)?;
    let person = std::str::from_utf8(&rest[..end]).ok()?.to_string();
    let rest = rest.get(end.checked_add(1)?..)?;
    let date = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let rest = rest.get(4..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    let methodology = std::str::from_utf8(&rest[..end]).ok()?.to_string();
    let rest = rest.get(end.checked_add(1)?..)?;
    let sequence = u64::from_be_bytes(rest.try_into().ok()?);
    Some((person, date, methodology, sequence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holding_names_its_accounts_holdings_prefix() {
        let c = UnitClass {
            kind: 1,
            vintage: 2025,
            project_id: String::new(),
        };
        let prefix = holdings_of("E-1");
        assert_eq!(
            holdings_owner(&holding("E-1", &c, 7)),
            Some(prefix.as_slice())
        );
        assert_eq!(holdings_owner(&prefix), None);
        assert!(is_holdings_of(&prefix));
        assert!(!is_holdings_of(&holding("E-1", &c, 7)));
        assert_eq!(holdings_owner(&account("E-1")), None);
        assert!(!is_holdings_of(&account("E-1")));
    }
}
