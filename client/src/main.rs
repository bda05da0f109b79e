//! `carbonctl`: the registry's command line.

use anyhow::Result;
use carbon_client::keys::Key;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "carbonctl", version, about = "Carbon registry command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate an ed25519 key file (never overwrites) and print its public key.
    Keygen {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// A label kept in the file (e.g. the account id).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Print the public key of a key file.
    Pubkey {
        #[arg(long)]
        key: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Keygen { out, label } => {
            let k = Key::generate(&label);
            k.save(&out)?;
            println!("{}", k.public_hex());
        }
        Command::Pubkey { key } => println!("{}", Key::load(&key)?.public_hex()),
    }
    Ok(())
}
