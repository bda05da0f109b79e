//! `carbonctl`'s optional config file, used where flags and environment say nothing:
//! `$CARBONCTL_CONFIG`, else `$XDG_CONFIG_HOME/carbonctl/config.toml`, else
//! `~/.config/carbonctl/config.toml`.
//!
//! ```toml
//! endpoints = ["127.0.0.1:50051", "127.0.0.1:50052"]
//! keys_dir = "/home/me/.carbon/keys"
//! keys = ["/home/me/.carbon/me.json"]
//! account = "ZJ-ENT-01"
//! ca = "/home/me/.carbon/ca.pem"            # the registry's CA: endpoints use TLS
//! tls_cert = "/home/me/.carbon/client.pem"  # optional client certificate
//! tls_key = "/home/me/.carbon/client.key"
//! ```

use carbon_client::ClientError;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub keys_dir: Option<PathBuf>,
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    pub account: Option<String>,
    pub ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CARBONCTL_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("carbonctl/config.toml"))
}

/// The config file, if there is one; a file that exists but does not parse is an error.
pub fn load() -> Result<FileConfig, ClientError> {
    let Some(p) = path() else {
        return Ok(FileConfig::default());
    };
    match std::fs::read_to_string(&p) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| ClientError::local(format!("config {}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(ClientError::local(format!("config {}: {e}", p.display()))),
    }
}
