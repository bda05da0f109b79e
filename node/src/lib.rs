//! The carbon registry node.
//!
//! * [`ledger`]: the registry's rules as a pure, deterministic state machine (no I/O).
//!
//! See `docs/ARCHITECTURE.md` for the map of the whole node.

pub mod ledger;
