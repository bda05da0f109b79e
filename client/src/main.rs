//! `carbonctl`: the registry's command line. One subcommand family per concept of the glossary;
//! tables by default, `--json` on every read; a rejection exits with status 3 and prints the
//! stable error code and its message; no definite answer for a transaction it sent exits with 4
//! (the transaction is saved for resending); any other failure exits with status 1.

mod cli;

use carbon_client::client::TlsOptions;
use carbon_client::keys::Key;
use carbon_client::ops::parse_class;
use carbon_client::{Client, ClientError};
use carbon_proto::v1::{self as pb, tx_body::Operation as Op, Role, UnitKind};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cli::ctx::{Ctx, Res};
use cli::show;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "carbonctl", version, about = "Carbon registry command line")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Registry endpoints (host:port), comma-separated; the client fails over between them.
    /// Default: the config file's endpoints, else 127.0.0.1:50051.
    #[arg(
        long,
        short,
        global = true,
        env = "CARBON_ENDPOINTS",
        value_delimiter = ','
    )]
    endpoint: Vec<String>,
    /// Directory of key files named <ACCOUNT>.json (e.g. seeds/keys for the demo).
    #[arg(long, global = true, env = "CARBON_KEYS_DIR")]
    keys_dir: Option<PathBuf>,
    /// Key file(s) to sign with, in addition to --keys-dir.
    #[arg(long, short, global = true, env = "CARBON_KEY", value_delimiter = ',')]
    key: Vec<PathBuf>,
    /// The acting account (regulator, verifier, bank) for operations that name none, and reads.
    #[arg(long = "as", global = true, env = "CARBON_ACCOUNT")]
    actor: Option<String>,
    /// How to print results: tables, JSON (protobuf JSON field names; ids, keys and hashes in
    /// hex) or CSV (the tables' rows).
    #[arg(long, short, global = true, value_enum, default_value_t = show::Output::Table)]
    output: show::Output,
    /// The same as `--output json`.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds one attempt on one endpoint may take (connecting included); the client then
    /// tries the next endpoint, and gives up when none can be reached.
    #[arg(long, global = true, default_value_t = 5.0, value_parser = seconds)]
    timeout: f64,
    /// Seconds a transaction stays valid.
    #[arg(long, global = true, default_value_t = 600)]
    valid_for: u64,
    /// Write the transaction unsigned to this file instead of submitting (offline signing).
    #[arg(long, global = true)]
    unsigned_out: Option<PathBuf>,
    /// Read from this node's state (possibly stale) instead of through the leader.
    #[arg(long, global = true)]
    local: bool,
    /// The registry's CA certificate (PEM). With it, `host:port` endpoints use TLS;
    /// `https://` endpoints always need it, `http://` ones are always plaintext.
    #[arg(long, global = true, env = "CARBON_CA")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM) for registries that ask for one (with --tls-key).
    #[arg(long, global = true, env = "CARBON_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "CARBON_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Run the transaction through the ledger on the leader's state and print the outcome;
    /// commit nothing.
    #[arg(long, global = true)]
    dry_run: bool,
}

/// A positive number of seconds.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 3600"
        )),
    }
}

/// A calendar date: `2026-12-31` or `20261231`.
fn date(s: &str) -> Result<u32, String> {
    carbon_proto::dates::parse_date(s)
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Enterprise,
    Verifier,
    ProjectOwner,
    Bank,
    Individual,
    /// A non-emitting organisation: zero-carbon pilot, event organiser.
    Organisation,
    /// A carbon-inclusion platform (rule 16): opens personal accounts, records reductions.
    Platform,
}

#[derive(Clone, Copy, ValueEnum)]
enum CreditKind {
    Ccer,
    Forestry,
    BlueCarbon,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key file (never overwrites) and print its public key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Print the public key of a key file.
    Pubkey { key: PathBuf },
    #[command(subcommand)]
    Account(AccountCmd),
    #[command(subcommand)]
    Vintage(VintageCmd),
    /// Pre-allocate allowances (one), or run an allocation plan (--plan plan.csv).
    Allocate {
        enterprise: Option<String>,
        vintage: Option<u32>,
        quantity: Option<u64>,
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Per-row report (default <plan>.report.csv).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Submit only the first N good rows (to test resumption).
        #[arg(long, hide = true)]
        stop_after: Option<usize>,
    },
    /// Final allocation for a vintage: tops up or withdraws the difference.
    TrueUp {
        enterprise: String,
        vintage: u32,
        final_quantity: u64,
    },
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Issue credits for an approved project and monitoring year.
    Issue {
        project: String,
        year: u32,
        quantity: u64,
    },
    /// Transfer units (CLASS: CEA:2025, CCER:2025:PROJECT, FORESTRY:..., BLUE_CARBON:...).
    /// With safeguards on, a transfer to an account not on the sender's trusted list is pending
    /// until its delay ends; `transfer cancel ID` (the sender, --as) stops it meanwhile.
    #[command(args_conflicts_with_subcommands = true)]
    Transfer {
        #[command(subcommand)]
        sub: Option<TransferCmd>,
        from: Option<String>,
        to: Option<String>,
        class: Option<String>,
        quantity: Option<u64>,
    },
    /// Rule 15: the trusted account list (additions take effect after the genesis delay).
    #[command(subcommand)]
    Trusted(TrustedCmd),
    /// Rule 16: a platform's bulk opening of personal accounts and recording of reductions.
    #[command(subcommand)]
    Platform(cli::inclusion::PlatformCmd),
    /// Rule 16: a person's carbon points (signed as --as: the person, its platform, the
    /// regulator), or with --statement their points statement.
    Points {
        account: String,
        /// One year (default: every year).
        #[arg(long, default_value_t = 0)]
        year: u32,
        #[arg(long)]
        statement: bool,
        #[arg(long, value_parser = date)]
        from: Option<u32>,
        #[arg(long, value_parser = date)]
        to: Option<u32>,
    },
    /// Rule 16: inclusion methodologies, conversion into PHCER, the public totals.
    #[command(subcommand)]
    Inclusion(cli::inclusion::InclusionCmd),
    /// Rule 15: the most units of a kind an account sends by transfer per CST day (lowering at
    /// once, raising after the trusted-list delay).
    Limit {
        account: String,
        /// CEA, CCER, FORESTRY, BLUE_CARBON
        kind: String,
        /// The daily limit (omit with --unlimited).
        limit: Option<u64>,
        #[arg(long)]
        unlimited: bool,
    },
    /// A trade signed by seller and buyer; price per unit in fen.
    Trade {
        seller: String,
        buyer: String,
        class: String,
        quantity: u64,
        #[arg(long)]
        price_fen: u64,
        #[arg(long, default_value = "")]
        exchange_ref: String,
    },
    #[command(subcommand)]
    Pledge(PledgeCmd),
    /// Freeze available units on a court order (regulator).
    Freeze {
        account: String,
        class: String,
        quantity: u64,
        #[arg(long)]
        court_order: String,
    },
    /// Release frozen units (regulator).
    Unfreeze {
        freeze_id: u64,
        quantity: u64,
        #[arg(long)]
        court_order: String,
    },
    #[command(subcommand)]
    Emissions(EmissionsCmd),
    /// Surrender units against a compliance year.
    Surrender {
        enterprise: String,
        year: u32,
        class: String,
        quantity: u64,
    },
    #[command(subcommand)]
    Compliance(ComplianceCmd),
    /// Cancel units voluntarily, for a beneficiary and purpose. With --mitigation-purpose
    /// ndc|oimp (rule 17) only units authorised for it are cancelled; OIMP records a
    /// corresponding adjustment.
    Cancel {
        holder: String,
        class: String,
        quantity: u64,
        #[arg(long)]
        beneficiary: String,
        #[arg(long)]
        purpose: String,
        /// Paris Agreement art. 6 use: ndc or oimp.
        #[arg(long, value_name = "ndc|oimp")]
        mitigation_purpose: Option<String>,
    },
    /// Rule 17: art. 6 authorisation of an issuance's units (the regulator, --as).
    #[command(subcommand)]
    Units(UnitsCmd),
    /// Rule 17: export authorised units to another registry for good (the holder and the
    /// regulator, --as, sign); a corresponding adjustment is recorded for the vintage's year.
    Export {
        holder: String,
        class: String,
        quantity: u64,
        #[arg(long)]
        to_registry: String,
        #[arg(long)]
        to_account: String,
    },
    /// Rule 17, public: art. 6 authorisations, exports and corresponding adjustments of a
    /// vintage year (every year without --year).
    Art6 {
        #[arg(long, default_value_t = 0)]
        year: u32,
        #[arg(long, default_value_t = 0)]
        page_size: u32,
    },
    /// Balances and serial blocks of an account (signed read as --as).
    Holdings {
        account: String,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Transactions that concerned an account (signed read as --as).
    History {
        account: String,
        /// From this chain sequence, or from this transaction (full 64-character tx id).
        #[arg(long, default_value = "0")]
        from: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Account statement (交易流水): every movement of the account's units in a period, with
    /// counterparty and balance after (signed read as --as).
    Statement {
        account: String,
        /// First CST date (2026-01-01 or 20260101); default: the beginning.
        #[arg(long, value_parser = date)]
        from: Option<u32>,
        /// Last CST date; default: today and after.
        #[arg(long, value_parser = date)]
        to: Option<u32>,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Repo (回购): sell units to a bank or enterprise and buy them back.
    #[command(subcommand)]
    Repo(RepoCmd),
    /// Lending (借碳): lend units to be returned in kind.
    #[command(subcommand)]
    Loan(LoanCmd),
    /// Allocations (granted, withdrawn, shortfall deducted, obligation added): the regulator, or
    /// an enterprise for its own.
    Allocations {
        #[arg(long, default_value_t = 0)]
        vintage: u32,
        #[arg(long, default_value = "")]
        enterprise: String,
    },
    #[command(subcommand)]
    Tx(TxCmd),
    #[command(subcommand)]
    Market(MarketCmd),
    /// Public disclosure of a year: compliance results, cancellations, issuances, projects.
    Disclosure {
        year: u32,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Trace a serial to the allocation or issuance that created it (and its retirement).
    Trace { class: String, serial: u64 },
    /// Follow committed transactions from a chain sequence: the public stream (private ones redacted), or
    /// with --as the stream that account may see (the regulator's is whole). With ACCOUNT, that
    /// account's transactions (signed read as --as, by default as ACCOUNT itself); with --webhook
    /// URL --state FILE, each delivered as a JSON POST at least once (docs/OPERATIONS.md).
    Watch {
        /// Only this account's transactions.
        account: Option<String>,
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Stop after this many (printed or delivered).
        #[arg(long)]
        count: Option<u64>,
        #[command(flatten)]
        webhook: cli::webhook::WebhookArgs,
    },
    #[command(subcommand)]
    Chain(ChainCmd),
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Run the Zhejiang compliance year end to end against a fresh registry.
    Demo {
        /// Demo data (accounts, plan) directory.
        #[arg(long, default_value = "seeds/demo")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Open an account (regulator).
    Open {
        id: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        region: String,
        /// Public keys (hex), comma-separated, or key files with --pubkey-file.
        #[arg(long, value_delimiter = ',')]
        pubkey: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        pubkey_file: Vec<PathBuf>,
        #[arg(long, default_value_t = 1)]
        threshold: u32,
    },
    Show {
        id: String,
    },
    /// Replace an account's key set (signed by its current keys).
    Keys {
        id: String,
        #[arg(long, value_delimiter = ',')]
        pubkey: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        pubkey_file: Vec<PathBuf>,
        #[arg(long, default_value_t = 1)]
        threshold: u32,
    },
    Suspend {
        id: String,
        #[arg(long)]
        reason: String,
    },
    Reinstate {
        id: String,
        #[arg(long)]
        reason: String,
    },
    Close {
        id: String,
    },
    /// Accounts by role, region and status (regulator, --as).
    List {
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        #[arg(long, default_value = "")]
        region: String,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Open,
    Suspended,
    Closed,
}

#[derive(Subcommand)]
enum VintageCmd {
    Declare {
        vintage: u32,
        #[arg(long)]
        cap: u64,
    },
    /// Vintages with cap, allocated and remaining (regulator, --as).
    List,
}

#[derive(Subcommand)]
enum RepoCmd {
    /// Sell units under a repurchase agreement (seller and buyer both sign).
    Create {
        seller: String,
        buyer: String,
        class: String,
        quantity: u64,
        /// Sale price per unit, fen.
        #[arg(long)]
        sale_price_fen: u64,
        /// Repurchase price per unit, fen.
        #[arg(long)]
        repurchase_price_fen: u64,
        #[arg(long, value_parser = date)]
        repurchase_date: u32,
        #[arg(long, default_value = "")]
        contract: String,
    },
    /// Confirm the repurchase was paid: the units go back to the seller (the buyer, --as).
    Repurchase { id: u64 },
    /// After the repurchase date: the units become the buyer's (the buyer, --as).
    Default { id: u64 },
    /// Replace some of a repo's units with units of another class (seller and buyer sign).
    Substitute {
        id: u64,
        replaced_class: String,
        replaced_quantity: u64,
        new_class: String,
        new_quantity: u64,
        #[arg(long)]
        seller: String,
        #[arg(long)]
        buyer: String,
    },
    /// Repos in which an account is seller or buyer (signed read as --as).
    List { party: String },
}

#[derive(Subcommand)]
enum LoanCmd {
    /// Lend units (lender and borrower both sign).
    Create {
        lender: String,
        borrower: String,
        class: String,
        quantity: u64,
        /// The whole fee, fen.
        #[arg(long, default_value_t = 0)]
        fee_fen: u64,
        #[arg(long, value_parser = date)]
        return_date: u32,
        #[arg(long, default_value = "")]
        contract: String,
    },
    /// Return units of a loan, lowest serials first (the borrower, --as).
    Return { id: u64, quantity: u64 },
    /// Loans of an account; without one, every loan (regulator). --overdue: only overdue ones.
    List {
        party: Option<String>,
        #[arg(long)]
        overdue: bool,
    },
}

#[derive(Subcommand)]
enum ProjectCmd {
    Propose {
        id: String,
        #[arg(long)]
        owner: String,
        #[arg(long, value_enum)]
        kind: CreditKind,
        #[arg(long)]
        name: String,
        #[arg(long)]
        methodology: String,
        #[arg(long, default_value = "")]
        region: String,
        #[arg(long)]
        start: u32,
        #[arg(long)]
        end: u32,
    },
    Approve {
        id: String,
        #[arg(long, default_value_t = 0)]
        buffer_bp: u32,
    },
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    Show {
        id: String,
    },
}

#[derive(Subcommand)]
enum UnitsCmd {
    /// Authorise an issuance's units for NDC use or OIMP, citing the authorisation.
    Authorise {
        project: String,
        /// The monitoring year of the project's one issuance of that year.
        #[arg(long)]
        year: Option<u32>,
        /// The issuance's chain sequence (`project show`), when a year has several.
        #[arg(long)]
        issuance: Option<u64>,
        #[arg(long, value_name = "ndc|oimp")]
        purpose: String,
        #[arg(long)]
        reference: String,
    },
}

#[derive(Subcommand)]
pub enum TransferCmd {
    /// Cancel a pending transfer before it executes (the sender, --as).
    Cancel { id: u64 },
}

#[derive(Subcommand)]
pub enum TrustedCmd {
    /// Add TRUSTED to ACCOUNT's trusted list (signed by ACCOUNT).
    Add { account: String, trusted: String },
    /// Remove TRUSTED from ACCOUNT's trusted list, at once (signed by ACCOUNT).
    Remove { account: String, trusted: String },
    /// ACCOUNT's trusted list, limits and pending transfers (signed read as --as).
    List { account: String },
}

#[derive(Subcommand)]
enum PledgeCmd {
    /// Pledge units to a bank (pledgor and pledgee both sign).
    Create {
        pledgor: String,
        pledgee: String,
        class: String,
        quantity: u64,
        #[arg(long)]
        secured_fen: u64,
        #[arg(long, value_parser = date)]
        maturity: u32,
        #[arg(long, default_value = "")]
        contract: String,
    },
    /// Release pledged units (the bank, --as).
    Release { id: u64, quantity: u64 },
    /// Enforce a pledge on default (the bank, --as).
    Enforce { id: u64 },
    /// Add units of the pledge's class to it (pledgor and pledgee both sign).
    TopUp {
        id: u64,
        quantity: u64,
        #[arg(long)]
        pledgor: String,
        #[arg(long)]
        pledgee: String,
    },
    /// Pledges on a holder's units or held by a bank (signed read as --as).
    List {
        #[arg(long, default_value = "")]
        holder: String,
        #[arg(long, default_value = "")]
        pledgee: String,
    },
}

#[derive(Subcommand)]
enum EmissionsCmd {
    /// Report verified emissions (verifier or regulator, --as).
    Report {
        enterprise: String,
        year: u32,
        tonnes: u64,
    },
}

#[derive(Subcommand)]
enum ComplianceCmd {
    Show {
        year: u32,
        #[arg(long, default_value = "")]
        enterprise: String,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// The penalty reference price a close with this deadline would use, and the CEA trades
    /// (per day and vintage) behind it: the one month ending on the deadline.
    ReferencePrice {
        #[arg(value_parser = date)]
        deadline: u32,
    },
    /// Close a compliance year (regulator).
    Close {
        year: u32,
        #[arg(long, value_parser = date)]
        deadline: u32,
        #[arg(long, default_value_t = 5)]
        multiplier: u32,
        #[arg(long, default_value_t = 0)]
        fallback_price_fen: u64,
    },
}

#[derive(Subcommand)]
enum TxCmd {
    /// Show what a transaction file does (decoded from its body), then add a signature
    /// (--key / --keys-dir with --as).
    Sign { file: PathBuf },
    /// Submit a signed transaction file (checked by a dry run first; --dry-run only checks).
    Submit { file: PathBuf },
    /// Show a transaction file (decoded from its body) or a committed transaction (full hex id).
    Show { tx: String },
}

#[derive(Subcommand)]
enum MarketCmd {
    Stats {
        #[arg(long)]
        class: Option<String>,
        #[arg(long, value_parser = date)]
        from: Option<u32>,
        #[arg(long, value_parser = date)]
        to: Option<u32>,
    },
}

#[derive(Subcommand)]
enum ChainCmd {
    /// The chain's sequence and head.
    Head,
    /// Export the whole history (JSON lines of CommittedTx) for offline verification
    /// (signed read as --as: the regulator's stream is whole).
    Export {
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an exported history offline against a genesis file.
    Verify {
        file: PathBuf,
        #[arg(long, default_value = "seeds/genesis.toml")]
        genesis: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// The members as the leader sees them: role, health (grpc.health.v1, asked of each
    /// member), matched log index and lag behind the leader.
    Status,
    /// Like `etcdctl endpoint health`: asks each endpoint (or with --cluster, each member)
    /// whether it is SERVING; exits with status 1 when one is not.
    Health {
        /// Every member of the cluster, from the leader's membership.
        #[arg(long)]
        cluster: bool,
    },
    /// Add a learner (signed with the cluster admin key, --key).
    AddLearner {
        node_id: u64,
        peer_addr: String,
        client_addr: String,
    },
    /// Make the voters exactly these node ids (cluster admin key).
    Voters {
        #[arg(value_delimiter = ',')]
        ids: Vec<u64>,
    },
    /// Replace the cluster admin key (signed with the current one, --key): a transaction,
    /// committed through the log. Keep the new key file safe before running this.
    RotateAdminKey {
        /// The new key's file (`carbonctl keygen`).
        #[arg(long)]
        new_key: PathBuf,
    },
    /// Save a consistent backup of one node's state to a file (cluster admin key). The file is
    /// written under a temporary name, checked against the node's hash, synced, then renamed;
    /// verify it fully with `carbon-node check FILE`.
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
}

fn class(s: &str) -> Res<pb::UnitClass> {
    parse_class(s)
}

fn pubkeys(hexes: &[String], files: &[PathBuf]) -> Res<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for h in hexes {
        out.push(hex::decode(h).map_err(|e| ClientError::local(format!("public key {h:?}: {e}")))?);
    }
    for f in files {
        out.push(
            Key::load(f)
                .map_err(|e| ClientError::local(e.to_string()))?
                .public_bytes()
                .to_vec(),
        );
    }
    Ok(out)
}

async fn write(ctx: &mut Ctx, op: Op) -> Res<()> {
    if let Some(o) = ctx.write(op).await? {
        show::outcome(&o, ctx.json);
    }
    Ok(())
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Enterprise => Role::Enterprise,
        RoleArg::Verifier => Role::Verifier,
        RoleArg::ProjectOwner => Role::ProjectOwner,
        RoleArg::Bank => Role::Bank,
        RoleArg::Individual => Role::Individual,
        RoleArg::Organisation => Role::Organisation,
        RoleArg::Platform => Role::Platform,
    }
}

async fn run(cmd: Command, ctx: &mut Ctx) -> Res<()> {
    match cmd {
        Command::Keygen { out, label } => {
            let k = Key::generate(&label);
            k.save(&out)
                .map_err(|e| ClientError::local(e.to_string()))?;
            println!("{}", k.public_hex());
        }
        Command::Pubkey { key } => {
            println!(
                "{}",
                Key::load(&key)
                    .map_err(|e| ClientError::local(e.to_string()))?
                    .public_hex()
            )
        }
        Command::Account(a) => cli::commands::account(ctx, a).await?,
        Command::Vintage(VintageCmd::Declare { vintage, cap }) => {
            write(ctx, Op::DeclareVintage(pb::DeclareVintage { vintage, cap })).await?
        }
        Command::Vintage(VintageCmd::List) => cli::reads::vintages(ctx).await?,
        Command::Allocations {
            vintage,
            enterprise,
        } => cli::reads::allocations(ctx, vintage, &enterprise).await?,
        Command::Statement {
            account,
            from,
            to,
            csv,
        } => cli::reads::statement(ctx, &account, from, to, csv).await?,
        Command::Repo(r) => cli::finance::repo(ctx, r).await?,
        Command::Loan(l) => cli::finance::loan(ctx, l).await?,
        Command::Allocate {
            enterprise,
            vintage,
            quantity,
            plan,
            report,
            stop_after,
        } => match (plan, enterprise, vintage, quantity) {
            (Some(p), None, None, None) => {
                let s = cli::plan::run(ctx, &p, report, stop_after).await?;
                if s.unknown > 0 {
                    return Err(ClientError::Unavailable(format!(
                        "{} rows without a definite answer (see the report); re-run the plan",
                        s.unknown
                    )));
                }
                if s.bad_rows + s.rejected > 0 {
                    return Err(ClientError::rejected(
                        pb::ErrorCode::InvalidArgument,
                        format!(
                            "{} bad rows, {} rejected rows (see the report)",
                            s.bad_rows, s.rejected
                        ),
                    ));
                }
            }
            (None, Some(enterprise_id), Some(vintage), Some(quantity)) => {
                write(
                    ctx,
                    Op::Allocate(pb::Allocate {
                        enterprise_id,
                        vintage,
                        quantity,
                    }),
                )
                .await?
            }
            _ => {
                return Err(ClientError::local(
                    "give ENTERPRISE VINTAGE QUANTITY, or --plan FILE",
                ))
            }
        },
        Command::TrueUp {
            enterprise,
            vintage,
            final_quantity,
        } => {
            write(
                ctx,
                Op::TrueUp(pb::TrueUp {
                    enterprise_id: enterprise,
                    vintage,
                    final_quantity,
                }),
            )
            .await?
        }
        Command::Project(p) => cli::commands::project(ctx, p).await?,
        Command::Issue {
            project,
            year,
            quantity,
        } => {
            write(
                ctx,
                Op::IssueCredits(pb::IssueCredits {
                    project_id: project,
                    monitoring_year: year,
                    quantity,
                }),
            )
            .await?
        }
        Command::Transfer {
            sub,
            from,
            to,
            class,
            quantity,
        } => cli::safeguards::transfer(ctx, sub, from, to, class, quantity).await?,
        Command::Trusted(t) => cli::safeguards::trusted(ctx, t).await?,
        Command::Platform(p) => cli::inclusion::platform(ctx, p).await?,
        Command::Points {
            account,
            year,
            statement,
            from,
            to,
        } => {
            let (from, to) = (from.unwrap_or(0), to.unwrap_or(0));
            cli::inclusion::points(ctx, &account, year, statement, from, to).await?
        }
        Command::Inclusion(i) => cli::inclusion::inclusion(ctx, i).await?,
        Command::Limit {
            account,
            kind,
            limit,
            unlimited,
        } => cli::safeguards::limit(ctx, account, &kind, limit, unlimited).await?,
        Command::Trade {
            seller,
            buyer,
            class: c,
            quantity,
            price_fen,
            exchange_ref,
        } => {
            let op = Op::Trade(pb::Trade {
                seller,
                buyer,
                unit_class: Some(class(&c)?),
                quantity,
                price_fen,
                exchange_ref,
            });
            write(ctx, op).await?
        }
        Command::Pledge(p) => cli::commands::pledge(ctx, p).await?,
        Command::Freeze {
            account,
            class: c,
            quantity,
            court_order,
        } => {
            let op = Op::Freeze(pb::Freeze {
                account_id: account,
                unit_class: Some(class(&c)?),
                quantity,
                court_order_ref: court_order,
            });
            write(ctx, op).await?
        }
        Command::Unfreeze {
            freeze_id,
            quantity,
            court_order,
        } => {
            write(
                ctx,
                Op::Unfreeze(pb::Unfreeze {
                    freeze_id,
                    quantity,
                    court_order_ref: court_order,
                }),
            )
            .await?
        }
        Command::Emissions(EmissionsCmd::Report {
            enterprise,
            year,
            tonnes,
        }) => {
            write(
                ctx,
                Op::ReportEmissions(pb::ReportEmissions {
                    enterprise_id: enterprise,
                    year,
                    tonnes,
                }),
            )
            .await?
        }
        Command::Surrender {
            enterprise,
            year,
            class: c,
            quantity,
        } => {
            let op = Op::Surrender(pb::Surrender {
                enterprise_id: enterprise,
                year,
                unit_class: Some(class(&c)?),
                quantity,
            });
            write(ctx, op).await?
        }
        Command::Compliance(c) => cli::commands::compliance(ctx, c).await?,
        Command::Cancel {
            holder,
            class: c,
            quantity,
            beneficiary,
            purpose,
            mitigation_purpose,
        } => {
            let mitigation = match mitigation_purpose.as_deref() {
                Some(p) => cli::international::purpose(p)? as i32,
                None => 0,
            };
            let op = Op::Cancel(pb::Cancel {
                holder,
                unit_class: Some(class(&c)?),
                quantity,
                beneficiary,
                purpose,
                mitigation_purpose: mitigation,
            });
            write(ctx, op).await?
        }
        Command::Units(UnitsCmd::Authorise {
            project,
            year,
            issuance,
            purpose,
            reference,
        }) => {
            cli::international::authorise(ctx, project, year, issuance, &purpose, reference).await?
        }
        Command::Export {
            holder,
            class: c,
            quantity,
            to_registry,
            to_account,
        } => cli::international::export(ctx, holder, &c, quantity, to_registry, to_account).await?,
        Command::Art6 { year, page_size } => cli::international::list(ctx, year, page_size).await?,
        Command::Holdings { account, csv } => cli::commands::holdings(ctx, &account, csv).await?,
        Command::History {
            account,
            from,
            limit,
        } => cli::commands::history(ctx, &account, &from, limit).await?,
        Command::Tx(t) => cli::commands::tx(ctx, t).await?,
        Command::Market(MarketCmd::Stats { class: c, from, to }) => {
            let filter = c.as_deref().map(class).transpose()?;
            let who = ctx.read_as_if_given()?;
            let days = ctx
                .client
                .market_stats(filter, from.unwrap_or(0), to.unwrap_or(0), who.as_ref())
                .await?;
            if ctx.json {
                show::json(&days);
            } else {
                println!(
                    "{}",
                    show::table(&show::MARKET_HEADER, show::market_rows(&days))
                );
            }
        }
        Command::Disclosure { year, csv } => cli::commands::disclosure(ctx, year, csv).await?,
        Command::Trace { class: c, serial } => {
            cli::commands::trace(ctx, class(&c)?, serial).await?
        }
        Command::Watch {
            account: Some(account),
            from,
            count,
            webhook,
        } => cli::webhook::run(ctx, &account, from, count, webhook).await?,
        Command::Watch {
            account: None,
            from,
            count,
            webhook,
        } => {
            if webhook.webhook.is_some() {
                return Err(ClientError::local(
                    "--webhook delivers one account's transactions: give the ACCOUNT",
                ));
            }
            cli::commands::watch(ctx, from, count).await?
        }
        Command::Chain(c) => cli::commands::chain(ctx, c).await?,
        Command::Cluster(c) => cli::commands::cluster(ctx, c).await?,
        Command::Demo { data } => cli::demo::run(ctx, &data).await?,
    }
    Ok(())
}

/// Exit status of a command whose reader went away (`carbonctl ... | head`), as a shell reports
/// a process ended by SIGPIPE.
const EXIT_BROKEN_PIPE: i32 = 141;

/// Rust ignores SIGPIPE, so printing into a closed pipe panics ("failed printing to stdout:
/// Broken pipe"); the reader having gone is no error of ours: end quietly, as Unix tools do.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        default(info);
    }));
}

fn main() {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let mut g = cli.global;
    let file = match cli::config::load() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    // `CARBON_ENDPOINTS=""` or a trailing comma leaves empty entries: they name nothing.
    g.endpoint.retain(|e| !e.trim().is_empty());
    if g.endpoint.is_empty() {
        g.endpoint = if file.endpoints.is_empty() {
            vec!["127.0.0.1:50051".to_string()]
        } else {
            file.endpoints
        };
    }
    g.keys_dir = g.keys_dir.or(file.keys_dir);
    if g.key.is_empty() {
        g.key = file.keys;
    }
    g.actor = g.actor.or(file.account);
    g.ca = g.ca.or(file.ca);
    g.tls_cert = g.tls_cert.or(file.tls_cert);
    g.tls_key = g.tls_key.or(file.tls_key);
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
        Ok(rt) => rt.block_on(async move {
            if g.json {
                g.output = show::Output::Json;
            }
            show::set_output(g.output);
            let attempt = Duration::from_secs_f64(g.timeout);
            let tls = match TlsOptions::from_files(
                g.ca.as_deref(),
                g.tls_cert.as_deref(),
                g.tls_key.as_deref(),
            ) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            let mut client = match Client::with_options(&g.endpoint, &tls, attempt) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            if g.local {
                client.consistency = pb::ReadConsistency::Local;
            }
            let mut ctx = Ctx {
                client,
                keys_dir: g.keys_dir,
                keys: g.key,
                actor: g.actor,
                json: g.output == show::Output::Json,
                timeout: attempt,
                tls,
                valid_for: Duration::from_secs(g.valid_for),
                unsigned_out: g.unsigned_out,
                dry_run: g.dry_run,
                sent: cli::ctx::Sent::Nothing,
            };
            match run(cli.command, &mut ctx).await {
                Ok(()) => 0,
                Err(ClientError::Rejected {
                    code,
                    message,
                    outcome,
                    fate,
                }) => {
                    eprintln!("rejected: {} — {message}", code.as_str_name());
                    match (outcome, fate) {
                        (Some(o), _) => eprintln!(
                            "  (committed as a rejection at sequence {}, tx {})",
                            o.sequence,
                            hex::encode(&o.tx_id)
                        ),
                        (None, pb::Fate::NotApplied) => {
                            eprintln!("  (not recorded, and it never will be)")
                        }
                        (None, pb::Fate::Unknown) => eprintln!(
                            "  (not recorded by this request, but the same transaction may still be: \
                             submit the same signed bytes again to learn its fate{})",
                            match &ctx.sent {
                                cli::ctx::Sent::Tx(tx) => save_pending(tx)
                                    .map(|p| format!("; they are in {}", p.display()))
                                    .unwrap_or_default(),
                                _ => String::new(),
                            }
                        ),
                        _ => {}
                    }
                    3
                }
                Err(ClientError::Unavailable(m)) => {
                    eprintln!("error: registry unavailable: {m}");
                    no_answer(&ctx.sent)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }),
    };
    std::process::exit(code);
}

/// Saves a sent transaction whose fate is unknown as `pending-<id>.tx.json` in the current
/// directory, for `carbonctl tx submit` to resend its exact bytes.
fn save_pending(tx: &pb::SignedTx) -> Result<PathBuf, ClientError> {
    let f = carbon_client::txfile::TxFile::from_signed(tx)?;
    let path = PathBuf::from(format!("pending-{}.tx.json", &f.tx_id[..16]));
    f.save(&path)?;
    Ok(path)
}

/// After "registry unavailable": exit status 4 when something was sent for the log (its fate is
/// unknown; a single transaction is saved so its exact bytes can be resent), else 1.
fn no_answer(sent: &cli::ctx::Sent) -> i32 {
    use cli::ctx::Sent;
    match sent {
        Sent::Nothing => {
            eprintln!("  (nothing was sent for the log)");
            1
        }
        Sent::Plan => {
            eprintln!(
                "  (no definite answer for the rows sent: run the same plan again; it resends the \
                 same signed bytes and reports each row's first outcome)"
            );
            4
        }
        Sent::Tx(tx) => {
            match save_pending(tx) {
                Ok(path) => eprintln!(
                    "  (no definite answer: the transaction may or may not be committed. Its signed \
                     bytes are in {p}; `carbonctl tx submit {p}` sends the same bytes and answers \
                     its first outcome, committed or not)",
                    p = path.display()
                ),
                Err(e) => eprintln!(
                    "  (no definite answer: the transaction may or may not be committed, and it \
                     could not be saved for resending: {e})"
                ),
            }
            4
        }
    }
}

// Keep the kind names used by `project propose` in one place.
fn credit_kind(k: CreditKind) -> UnitKind {
    match k {
        CreditKind::Ccer => UnitKind::Ccer,
        CreditKind::Forestry => UnitKind::Forestry,
        CreditKind::BlueCarbon => UnitKind::BlueCarbon,
    }
}
