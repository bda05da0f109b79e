//! What every `carbonctl` command shares: the client, where keys come from, the acting account,
//! and how a write is signed and submitted (or written unsigned for offline signing).

use carbon_client::keys::Key;
use carbon_client::ops;
use carbon_client::ops::ReadAs;
use carbon_client::txfile::TxFile;
use carbon_client::{Client, ClientError};
use carbon_proto::v1::{tx_body::Operation, Outcome};
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
    pub valid_for: Duration,
    pub unsigned_out: Option<PathBuf>,
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
    /// submits it — or, with --unsigned-out, writes it to a file for offline signing.
    pub async fn write(&mut self, op: Operation) -> Res<Option<Outcome>> {
        let signers = ops::signers(&op, self.actor.as_deref())?;
        let chain = self.client.chain_id().await?;
        let body = ops::body(&chain, signers.clone(), self.valid_for, op);
        if let Some(path) = &self.unsigned_out {
            TxFile::new(&body)?.save(path)?;
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
        self.client.submit(tx).await.map(Some)
    }
}
