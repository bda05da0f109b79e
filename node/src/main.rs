//! `carbon-node`: runs one registry node.
//!
//! * `carbon-node dev`: a single node on the embedded default (data in `./data`, genesis
//!   `seeds/genesis.toml`, client API on 127.0.0.1:50051, public disclosure page on
//!   http://127.0.0.1:8080/), initialised on first start. Its peer port speaks mutual TLS with
//!   certificates it makes in `<data_dir>/certs` on first start; its client API is plaintext on
//!   loopback unless `--client-tls`.
//! * `carbon-node run --config node.toml`: a cluster member (see `deploy/local-cluster/`).
//! * `carbon-node certs`: a local CA and node/client certificates (see `tls::certs`).

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
        /// Serve the client API with TLS (certificate in <data_dir>/certs; CA: ca.pem there).
        /// Without it the client API is plaintext and must listen on a loopback address.
        #[arg(long)]
        client_tls: bool,
        /// The public disclosure page (HTTP); `off` for none.
        #[arg(long, default_value = "127.0.0.1:8080", env = "CARBON_DISCLOSURE_ADDR")]
        disclosure_addr: String,
    },
    /// Run a cluster member from a TOML config.
    Run {
        #[arg(long, env = "CARBON_CONFIG")]
        config: PathBuf,
    },
    /// Make a local CA (or reuse the one in --dir) and certificates for nodes and clients.
    /// Existing files are never overwritten.
    Certs {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Node ids to certify, e.g. 1,2,3.
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<u64>,
        /// Hosts (IP or DNS) clients and peers reach the nodes by; in every node certificate.
        #[arg(
            long = "host",
            value_delimiter = ',',
            default_value = "127.0.0.1,localhost"
        )]
        hosts: Vec<String>,
        /// Client certificate names, e.g. ops,auditor.
        #[arg(long = "client", value_delimiter = ',')]
        clients: Vec<String>,
        /// The CA's name (when one is made).
        #[arg(long, default_value = "carbon-registry")]
        name: String,
    },
}

fn certs(
    dir: &std::path::Path,
    name: &str,
    nodes: &[u64],
    hosts: &[String],
    clients: &[String],
) -> anyhow::Result<()> {
    let written = carbon_node::tls::certs::write_dir(dir, name, nodes, hosts, clients)?;
    for p in &written {
        println!("wrote {}", p.display());
    }
    if written.is_empty() {
        println!(
            "nothing to do: every certificate asked for exists in {}",
            dir.display()
        );
    }
    Ok(())
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
            client_tls,
            disclosure_addr,
        } => {
            let dir = data_dir.join("certs");
            let hosts = ["127.0.0.1".to_string(), "localhost".to_string()];
            carbon_node::tls::certs::write_dir(&dir, "carbon-dev", &[1], &hosts, &[])?;
            let tls = carbon_node::tls::TlsConfig::in_dir(&dir, 1);
            Config::dev(
                data_dir,
                genesis,
                client_addr,
                peer_addr,
                (disclosure_addr != "off").then_some(disclosure_addr),
                tls,
                !client_tls,
            )
        }
        Command::Run { config } => Config::load(&config)?,
        Command::Certs {
            dir,
            nodes,
            hosts,
            clients,
            name,
        } => return certs(&dir, &name, &nodes, &hosts, &clients),
    };
    let genesis = carbon_node::genesis::load(&config.genesis)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(carbon_node::node::run(config, genesis, shutdown_signal()))
}
