//! `carbon-node`: runs one registry node.
//!
//! * `carbon-node dev`: a single node on the embedded default (data in `./data`, genesis
//!   `seeds/genesis.toml`, client API on 127.0.0.1:50051, public disclosure page on
//!   http://127.0.0.1:8080/), initialised on first start.
//! * `carbon-node run --config node.toml`: a cluster member (see `deploy/local-cluster/`).

use carbon_node::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "carbon-node",
    version,
    about = "Raft-replicated carbon registry node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a single node on the embedded default.
    Dev {
        #[arg(long, default_value = "data", env = "CARBON_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long, default_value = "seeds/genesis.toml", env = "CARBON_GENESIS")]
        genesis: PathBuf,
        #[arg(long, default_value = "127.0.0.1:50051", env = "CARBON_CLIENT_ADDR")]
        client_addr: String,
        #[arg(long, default_value = "127.0.0.1:50061", env = "CARBON_PEER_ADDR")]
        peer_addr: String,
        /// The public disclosure page (HTTP); `off` for none.
        #[arg(long, default_value = "127.0.0.1:8080", env = "CARBON_DISCLOSURE_ADDR")]
        disclosure_addr: String,
    },
    /// Run a cluster member from a TOML config.
    Run {
        #[arg(long, env = "CARBON_CONFIG")]
        config: PathBuf,
    },
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn,sled=warn".into()),
        )
        .init();
    // Crash points (tests only: compiled in with the `failpoints` feature; see node/src/crash.rs).
    let _crash_points = fail::FailScenario::setup();
    if let Err(e) = start(Cli::parse()) {
        tracing::error!("carbon-node failed: {e:#}");
        eprintln!("carbon-node: {e:#}");
        std::process::exit(1);
    }
}

fn start(cli: Cli) -> anyhow::Result<()> {
    let config = match cli.command {
        Command::Dev {
            data_dir,
            genesis,
            client_addr,
            peer_addr,
            disclosure_addr,
        } => Config::dev(
            data_dir,
            genesis,
            client_addr,
            peer_addr,
            (disclosure_addr != "off").then_some(disclosure_addr),
        ),
        Command::Run { config } => Config::load(&config)?,
    };
    let genesis = carbon_node::genesis::load(&config.genesis)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(carbon_node::node::run(config, genesis, shutdown_signal()))
}
