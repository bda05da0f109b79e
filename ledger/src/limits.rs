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
