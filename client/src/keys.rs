//! Key files: one ed25519 key per file, as JSON
//! `{"kind":"carbon-registry-key/v1","public_key":"<hex>","secret_seed":"<hex>","label":"..."}`.
//!
//! The secret never appears in `Debug` output or error messages; files are created with mode
//! 0600 on Unix and never overwritten.

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const KIND: &str = "carbon-registry-key/v1";

#[derive(Serialize, Deserialize)]
struct KeyFile {
    kind: String,
    public_key: String,
    secret_seed: String,
    #[serde(default)]
    label: String,
}

/// An ed25519 signing key and its label.
pub struct Key {
    pub signing: SigningKey,
    pub label: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, {})", self.label, self.public_hex())
    }
}

impl Key {
    pub fn generate(label: &str) -> Self {
        Key {
            signing: SigningKey::generate(&mut rand_core::OsRng),
            label: label.to_string(),
        }
    }

    pub fn public_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.public_bytes())
    }

    /// Writes the key to a new file (refuses to overwrite an existing one).
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = KeyFile {
            kind: KIND.into(),
            public_key: self.public_hex(),
            secret_seed: hex::encode(self.signing.to_bytes()),
            label: self.label.clone(),
        };
        let text = serde_json::to_string_pretty(&file)? + "\n";
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .with_context(|| format!("cannot create key file {}", path.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        let file: KeyFile = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a key file", path.display()))?;
        if file.kind != KIND {
            bail!("{} is a {:?} file, not {KIND}", path.display(), file.kind);
        }
        let seed: [u8; 32] = hex::decode(&file.secret_seed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{} holds a malformed secret", path.display()))?;
        let signing = SigningKey::from_bytes(&seed);
        if hex::encode(signing.verifying_key().to_bytes()) != file.public_key {
            bail!(
                "{}: the public key does not match the secret",
                path.display()
            );
        }
        Ok(Key {
            signing,
            label: file.label,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.json");
        let k = Key::generate("企业A");
        k.save(&path).expect("saves");
        let back = Key::load(&path).expect("loads");
        assert_eq!(back.public_bytes(), k.public_bytes());
        assert_eq!(back.label, "企业A");
        assert!(k.save(&path).is_err());
        assert!(!format!("{back:?}").contains(&hex::encode(k.signing.to_bytes())));
    }
}
