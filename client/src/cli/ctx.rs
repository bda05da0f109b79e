//! What every `carbonctl` command shares: the client, where keys come from, the acting account,
//! and how a write is signed and submitted (or written unsigned for offline signing).

use carbon_client::keys::Key;
use carbon_client::ops;
use carbon_client::ops::ReadAs;
use carbon_client::txfile::TxFile;
use carbon_client::{Client, ClientError};
use carbon_proto::v1::{tx_body::Operation, ErrorCode, Outcome, SignedTx};
use std::path::PathBuf;
use std::time::Duration;

pub struct Ctx {
    pub client: Client,
    /// Key files named `<ACCOUNT>.json` here sign for that account.
    pub keys_dir: Option<PathBuf>,
    /// Extra key files given with --key.
    pub keys: Vec<PathBuf>,
    pub actor: Option<String>,
    pub json: bool,
    /// How long one attempt on one endpoint may take (`--timeout`).
    pub timeout: Duration,
    /// How to reach endpoints over TLS (`--ca`, `--tls-cert`, `--tls-key`).
    pub tls: carbon_client::client::TlsOptions,
    pub valid_for: Duration,
    pub unsigned_out: Option<PathBuf>,
    /// Simulate writes instead of submitting them.
    pub dry_run: bool,
    /// What this command sent to the registry for the log (a failure after it leaves its fate
    /// unknown; before it, nothing was sent).
    pub sent: Sent,
}

/// What a command sent for the log, for its exit status and advice when no answer came.
#[derive(Debug, Clone, Default)]
pub enum Sent {
    /// Nothing (reads, dry runs, or a failure before submitting).
    #[default]
    Nothing,
    /// One signed transaction: on no answer it is saved so that its exact bytes can be resent.
    Tx(Box<SignedTx>),
    /// A bulk plan's transactions: its journal resends them when the plan is run again.
    Plan,
}

pub type Res<T> = Result<T, ClientError>;

impl Ctx {
    /// The keys that can sign for `account`: `<keys_dir>/<account>.json` and every --key file.
    pub fn keys_for(&self, account: &str) -> Res<Vec<Key>> {
        let mut out = Vec::new();
        if let Some(dir) = &self.keys_dir {
            let p = dir.join(format!("{account}.json"));
            if p.exists() {
                out.push(Key::load(&p).map_err(|e| ClientError::local(e.to_string()))?);
            }
        }
        for p in &self.keys {
            out.push(Key::load(p).map_err(|e| ClientError::local(e.to_string()))?);
        }
        Ok(out)
    }

    pub fn actor(&self) -> Res<String> {
        self.actor
            .clone()
            .ok_or_else(|| ClientError::local("give --as ACCOUNT (or CARBON_ACCOUNT)"))
    }

    /// Private reads signed as the acting account (each request gets its own credential).
    pub fn read_as(&self) -> Res<ReadAs> {
        let actor = self.actor()?;
        let key = self.keys_for(&actor)?.into_iter().next().ok_or_else(|| {
            ClientError::local(format!("no key for {actor}: give --key or --keys-dir"))
        })?;
        Ok(ReadAs {
            account: actor,
            key,
        })
    }

    /// As [`Ctx::read_as`] when an acting account is given, else `None` (the public view).
    pub fn read_as_if_given(&self) -> Res<Option<ReadAs>> {
        match &self.actor {
            Some(_) => self.read_as().map(Some),
            None => Ok(None),
        }
    }

    /// Builds the transaction for `op`; signs it with every key available for its signers and
    /// submits it after a dry run (so that a typo is refused without being committed as a
    /// rejection) — or, with --unsigned-out, writes it to a file for offline signing, or, with
    /// --dry-run, only prints what it would do.
    pub async fn write(&mut self, op: Operation) -> Res<Option<Outcome>> {
        let signers = ops::signers(&op, self.actor.as_deref())?;
        self.write_signed_by(op, signers).await
    }

    /// [`Ctx::write`] with the signing accounts given (an operation on a record by id that both
    /// parties sign: a pledge top-up, a repo substitution).
    pub async fn write_signed_by(
        &mut self,
        op: Operation,
        signers: Vec<String>,
    ) -> Res<Option<Outcome>> {
        let chain = self.client.chain_id().await?;
        let body = ops::body(&chain, signers.clone(), self.valid_for, op);
        if let Some(path) = &self.unsigned_out {
            let file = TxFile::new(&body)?;
            // Assumes every signer signs: warns of what would be refused anyway. The registry
            // shows that only to a signer or the regulator (--as, with its key).
            // Preparing a file needs no key, so without one the dry run is skipped, not fatal.
            let dry_run = match self.read_as_if_given().ok().flatten() {
                Some(who) => Some(self.client.simulate(file.signed()?, Some(&who)).await),
                None => None,
            };
            match dry_run {
                Some(Ok(r)) => {
                    if let Some(o) = r.outcome.filter(|o| o.code() != ErrorCode::Ok) {
                        eprintln!(
                            "warning: as things stand it would be rejected: {} — {}",
                            o.code().as_str_name(),
                            o.message
                        );
                    }
                }
                Some(Err(e)) => eprintln!("note: not dry-run: {e}"),
                None => eprintln!(
                    "note: not dry-run (an unsigned dry run needs --as, a signing account or the regulator, with its key)"
                ),
            }
            file.save(path)?;
            eprintln!(
                "unsigned transaction written to {} (sign with `carbonctl tx sign`)",
                path.display()
            );
            return Ok(None);
        }
        let mut keys = Vec::new();
        for s in &signers {
            keys.extend(self.keys_for(s)?);
        }
        if keys.is_empty() {
            return Err(ClientError::local(format!(
                "no key to sign for {signers:?}: give --key or --keys-dir"
            )));
        }
        let refs: Vec<&Key> = keys.iter().collect();
        let tx = ops::sign(&body, &refs);
        self.checked_submit(tx).await
    }

    /// A dry run first; submits only what would succeed (unless --dry-run, which prints the
    /// dry run's outcome and submits nothing). Returns `None` after a dry run.
    pub async fn checked_submit(&mut self, tx: SignedTx) -> Res<Option<Outcome>> {
        let r = self.client.simulate(tx.clone(), None).await?;
        if r.already_committed {
            return Ok(r.outcome);
        }
        let o = r
            .outcome
            .ok_or_else(|| ClientError::Unavailable("the dry run gave no outcome".into()))?;
        if o.code() != ErrorCode::Ok {
            return Err(ClientError::Rejected {
                code: o.code(),
                message: format!(
                    "{} (found by a dry run; nothing was recorded or submitted)",
                    o.message
                ),
                outcome: None,
                fate: carbon_proto::v1::Fate::Unspecified,
            });
        }
        if self.dry_run {
            super::show::dry_run(&o, self.json);
            return Ok(None);
        }
        self.sent = Sent::Tx(Box::new(tx.clone()));
        self.client.submit(tx).await.map(Some)
    }
}
