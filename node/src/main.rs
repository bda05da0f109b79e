//! `carbon-node`: runs one registry node, and the offline tools that work on its data.
//!
//! * `carbon-node dev`: a single node on the built-in defaults (data in `./data`, genesis
//!   `seeds/genesis.toml`, client API on 127.0.0.1:50051, metrics on
//!   http://127.0.0.1:9464/metrics, public disclosure page on http://127.0.0.1:8080/),
//!   initialised on first start. Its peer port speaks mutual TLS with certificates it makes in
//!   `<data_dir>/certs` on first start; its client API is plaintext on loopback unless
//!   `--client-tls`.
//! * `carbon-node run --config node.toml`: a cluster member (see `deploy/local-cluster/`).
//! * `carbon-node certs`: a local CA and node/client certificates (see `tls::certs`).
//! * `carbon-node check PATH`: the offline check of a stopped node's data directory or of a
//!   backup file (every invariant, the whole chain).
//! * `carbon-node restore --backup FILE --config node.toml`: a member's data directory from a
//!   backup (`carbonctl cluster backup`), checked before it is put in place.
//!
//! Settings come in layers (defaults < file < `CARBON_*` environment < flags): docs/CONFIG.md.

use carbon_node::config::{Config, Flags, LogFormat};

/// The allocator of the node process (node/Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
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
    /// Run a single node on the built-in defaults (any setting can be changed).
    Dev {
        /// An optional TOML file over the defaults.
        #[arg(long, env = "CARBON_CONFIG")]
        config: Option<PathBuf>,
        /// Serve the client API with TLS (certificate in <data_dir>/certs; CA: ca.pem there).
        /// Without it the client API is plaintext and must listen on a loopback address.
        #[arg(long)]
        client_tls: bool,
        #[command(flatten)]
        flags: Flags,
    },
    /// Run a cluster member from a TOML config.
    Run {
        #[arg(long, env = "CARBON_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        flags: Flags,
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
    /// Check offline a stopped node's data directory, a backup file, or an exported history
    /// (`carbonctl chain export`, the regulator's): the whole hash chain, every invariant, and
    /// for an export every transaction replayed through the rules. Exits 0 and prints the chain
    /// head when it is clean.
    Check {
        /// A data directory, a backup file, or an export (JSON lines).
        path: PathBuf,
        /// The chain's genesis file.
        #[arg(long, default_value = "seeds/genesis.toml", env = "CARBON_GENESIS")]
        genesis: PathBuf,
    },
    /// Create a member's data directory from a backup (for a new cluster, or to replace a
    /// member). The backup is checked first; the directory must not exist or be empty.
    Restore {
        /// The backup file (`carbonctl cluster backup --out FILE`).
        #[arg(long)]
        backup: PathBuf,
        /// The member's config (its `data_dir`, `genesis` and, for a new cluster, `members`).
        #[arg(long, env = "CARBON_CONFIG")]
        config: PathBuf,
        /// Make the restored membership the config's `members` (a new cluster on other
        /// addresses or ids). Every member must be restored with the same `members`.
        #[arg(long)]
        new_membership: bool,
        #[command(flatten)]
        flags: Flags,
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

/// Logs to stdout: text (colours only on a terminal) or JSON lines; `RUST_LOG` overrides the
/// configured filter.
fn init_logs(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() {
    // Crash points (tests only: compiled in with the `failpoints` feature; see node/src/crash.rs).
    let _crash_points = fail::FailScenario::setup();
    if let Err(e) = start(Cli::parse()) {
        tracing::error!("carbon-node failed: {e:#}");
        eprintln!("carbon-node: {e:#}");
        std::process::exit(1);
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn start(cli: Cli) -> anyhow::Result<()> {
    let config = match cli.command {
        Command::Dev {
            config,
            client_tls,
            flags,
        } => {
            let mut c = Config::layered(true, config.as_deref(), &flags)?;
            c.client_plaintext = !client_tls;
            // Certificates of the dev node's own CA, made once in its data directory.
            let dir = c.data_dir.join("certs");
            if c.tls == carbon_node::tls::TlsConfig::in_dir(&dir, c.id) {
                let hosts = ["127.0.0.1".to_string(), "localhost".to_string()];
                carbon_node::tls::certs::write_dir(&dir, "carbon-dev", &[c.id], &hosts, &[])?;
            }
            c
        }
        Command::Run { config, flags } => Config::layered(false, Some(&config), &flags)?,
        Command::Certs {
            dir,
            nodes,
            hosts,
            clients,
            name,
        } => return certs(&dir, &name, &nodes, &hosts, &clients),
        Command::Check { path, genesis } => {
            init_logs(LogFormat::Text, "warn");
            return check(&path, &genesis);
        }
        Command::Restore {
            backup,
            config,
            new_membership,
            flags,
        } => {
            let config = Config::layered(false, Some(&config), &flags)?;
            init_logs(config.log_format, &config.log_filter);
            return restore(&backup, &config, new_membership);
        }
    };
    init_logs(config.log_format, &config.log_filter);
    let genesis = carbon_node::genesis::load(&config.genesis)?;
    runtime()?.block_on(carbon_node::serve::run(config, genesis, shutdown_signal()))
}

fn check(path: &std::path::Path, genesis: &std::path::Path) -> anyhow::Result<()> {
    let genesis = carbon_node::genesis::load(genesis)?;
    if let Some(history) = exported_history(path)? {
        let (sequence, head) = carbon_node::ledger::audit::check_export(&genesis, &history)?;
        println!(
            "ok: chain {} sequence {} head {} ({} transactions replayed through the rules; compare the head with the registry's)",
            genesis.chain_id,
            sequence,
            hex::encode(head),
            history.len()
        );
        return Ok(());
    }
    let report = if path.is_file() {
        carbon_node::backup::check_file(path, &genesis)?
    } else {
        carbon_node::storage::check::check_data_dir(path, &genesis)?
    };
    println!(
        "ok: chain {} sequence {} head {} applied index {} (every transaction replayed through the rules)",
        genesis.chain_id,
        report.sequence,
        hex::encode(&report.head),
        report.applied_index
    );
    Ok(())
}

/// An export of `carbonctl chain export` (JSON lines), told from a backup by its first byte.
fn exported_history(
    path: &std::path::Path,
) -> anyhow::Result<Option<Vec<carbon_proto::v1::CommittedTx>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(path)?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(None);
    }
    let text = String::from_utf8(bytes)?;
    Ok(Some(carbon_proto::hex_json::read_export(&text)?))
}

fn restore(backup: &std::path::Path, config: &Config, new_membership: bool) -> anyhow::Result<()> {
    let genesis = carbon_node::genesis::load(&config.genesis)?;
    let members = new_membership.then(|| config.initial_members());
    let (report, ids) =
        carbon_node::backup::restore_with_members(backup, &config.data_dir, &genesis, members)?;
    if !ids.contains(&config.id) {
        let listed: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        eprintln!(
            "warning: the backup's membership (nodes {}) does not name this node's id {}: started \
             like this, the member waits for a leader that never adds it. Restore under one of \
             those ids, add it afterwards as a new member (docs/OPERATIONS.md, Add a member), or \
             restore every member with --new-membership",
            listed.join(", "),
            config.id
        );
    }
    println!(
        "restored {} into {}: sequence {} head {} applied index {}",
        backup.display(),
        config.data_dir.display(),
        report.sequence,
        hex::encode(&report.head),
        report.applied_index
    );
    Ok(())
}
