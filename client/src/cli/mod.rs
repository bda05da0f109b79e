//! The command line's parts: shared context, printing, command handlers, bulk plans, the demo.

pub mod backup;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod ctx;
pub mod demo;
pub mod finance;
pub mod inclusion;
pub mod international;
pub mod plan;
pub mod reads;
pub mod safeguards;
pub mod show;
pub mod webhook;
