//! The ledger's limits, in one place, named `THING_UNIT_MAX`. They are rules: every replica
//! refuses the same transactions by them, so changing one changes outcomes (bump
//! [`crate::VERSION`]).

/// Longest identifier (account, project, chain id), in bytes (ids are ASCII).
pub const ID_BYTES_MAX: usize = 64;
/// Longest free text (names, regions, references, purposes), in bytes.
pub const TEXT_BYTES_MAX: usize = 512;
/// Largest key set of an account.
pub const ACCOUNT_KEYS_MAX: usize = 16;
/// Longest crediting period, in years (domain rule 3).
pub const CREDITING_YEARS_MAX: u32 = 10;
/// Highest buffer share, in basis points.
pub const BUFFER_BP_MAX: u32 = 5_000;

// An id fits wherever free text does; a buffer share is at most half the credits.
const _: () = assert!(ID_BYTES_MAX <= TEXT_BYTES_MAX);
const _: () = assert!(BUFFER_BP_MAX <= 10_000);
const _: () = assert!(ACCOUNT_KEYS_MAX <= u8::MAX as usize);

// --- Rule 16: carbon inclusion (ledger version 4) ---

/// Most personal accounts one `OpenPersonalAccounts` opens (domain rule 16).
pub const PERSONAL_ACCOUNTS_PER_TX_MAX: usize = 10_000;
/// Most rows one `RecordReductions` carries (domain rule 16).
pub const REDUCTION_ROWS_PER_TX_MAX: usize = 10_000;
/// Longest display name of a personal account opened in bulk, in bytes (a pseudonym is
/// enough; it keeps a 10,000-row opening within the node's transaction size).
pub const PERSONAL_NAME_BYTES_MAX: usize = 64;
/// Most platforms one inclusion methodology names.
pub const METHODOLOGY_PLATFORMS_MAX: usize = 256;
/// Highest daily cap per person of an inclusion methodology, in grams CO2e (one tonne: no
/// person's behaviour on one day reduces more).
pub const DAILY_CAP_GRAMS_MAX: u64 = 1_000_000;

const _: () = assert!(PERSONAL_NAME_BYTES_MAX <= TEXT_BYTES_MAX);
const _: () = assert!(METHODOLOGY_PLATFORMS_MAX <= PERSONAL_ACCOUNTS_PER_TX_MAX);
