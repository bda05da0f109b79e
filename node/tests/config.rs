//! docs/CONFIG.md and the code agree (every setting, its environment variable, its flag, its
//! `dev` default), and the layers override each other in order: defaults < file < environment
//! < flags. (nextest runs each test in its own process, so setting variables here is contained.)

use carbon_node::config::{dev_defaults, env_var, Config, Flags, SETTINGS};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;

struct Row {
    env: String,
    flag: String,
    dev: String,
}

/// The settings table of docs/CONFIG.md: key -> row.
fn documented() -> BTreeMap<String, Row> {
    let doc = include_str!("../../docs/CONFIG.md");
    let mut rows = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 6, "a settings row has six cells: {line}");
        let key = cells[0].trim_matches('`').to_string();
        let row = Row {
            env: cells[1].trim_matches('`').to_string(),
            flag: cells[2].trim_matches('`').to_string(),
            dev: cells[3].to_string(),
        };
        assert!(rows.insert(key.clone(), row).is_none(), "{key} twice");
    }
    rows
}

/// A `dev` default as the table writes it.
fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(_) => "this node".into(),
        toml::Value::Table(_) => "<data_dir>/certs".into(),
        other => other.to_string(),
    }
}

#[test]
fn the_documentation_lists_every_setting_as_the_code_has_it() {
    let docs = documented();
    let settings: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        docs.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut s = settings.clone();
            s.sort_unstable();
            s
        },
        "docs/CONFIG.md rows vs config::SETTINGS"
    );

    // Every field of Config is a setting (and nothing else is).
    let toml::Value::Table(dev) = toml::Value::try_from(dev_defaults()).expect("to toml") else {
        panic!("a table");
    };
    let mut fields: Vec<&str> = dev.keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut sorted = settings.clone();
    sorted.sort_unstable();
    assert_eq!(fields, sorted, "Config's fields vs config::SETTINGS");

    // Flags exist exactly for the settings that say so.
    let cmd = Flags::augment_args(clap::Command::new("carbon-node"));
    let mut flags: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    flags.sort_unstable();
    let mut want: Vec<String> = SETTINGS
        .iter()
        .filter(|(_, has_flag)| *has_flag)
        .map(|(k, _)| k.replace('_', "-"))
        .collect();
    want.sort_unstable();
    assert_eq!(flags, want, "Flags vs config::SETTINGS");

    for (key, has_flag) in SETTINGS {
        let row = &docs[key];
        let dev_value = dev.get(key).map(shown).unwrap_or_else(|| "none".into());
        assert_eq!(row.dev, dev_value, "the dev default of {key}");
        match (key, has_flag) {
            ("tls", _) => {
                assert_eq!(row.env, "CARBON_TLS__<KEY>");
                assert_eq!(row.flag, "—");
                for k in carbon_node::config::TLS_KEYS {
                    assert_eq!(
                        env_var(&format!("tls.{k}")),
                        format!("CARBON_TLS__{}", k.to_uppercase())
                    );
                }
            }
            (_, true) => {
                assert_eq!(row.env, env_var(key), "the variable of {key}");
                assert_eq!(row.flag, format!("--{}", key.replace('_', "-")), "{key}");
            }
            (_, false) => {
                assert_eq!((row.env.as_str(), row.flag.as_str()), ("—", "—"), "{key}")
            }
        }
    }
}

fn member_file(dir: &std::path::Path, extra: &str) -> PathBuf {
    let path = dir.join("node.toml");
    std::fs::write(
        &path,
        format!(
            "id = 2\ndata_dir = \"d\"\nclient_addr = \"127.0.0.1:1\"\npeer_addr = \"127.0.0.1:2\"\ngenesis = \"g.toml\"\n{extra}\n[tls]\nca = \"c/ca.pem\"\ncert = \"c/n.pem\"\nkey = \"c/n.key\"\n"
        ),
    )
    .expect("write");
    path
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().expect("dir");
    let file = member_file(
        dir.path(),
        "max_batch = 7\nmetrics_addr = \"127.0.0.1:3\"\n",
    );

    let c = Config::layered(false, Some(&file), &Flags::default()).expect("file only");
    assert_eq!((c.id, c.max_batch), (2, 7));
    // Relative paths in a file are relative to the file.
    assert_eq!(c.data_dir, dir.path().join("d"));
    assert_eq!(c.genesis, dir.path().join("g.toml"));
    assert_eq!(c.metrics_addr.as_deref(), Some("127.0.0.1:3"));
    assert_eq!(
        c.snapshot_logs, 10_000,
        "an unset optional setting has its default"
    );

    std::env::set_var("CARBON_MAX_BATCH", "9");
    std::env::set_var("CARBON_METRICS_ADDR", "off");
    std::env::set_var("CARBON_CLOCK_OFFSET_MS", "5"); // a test knob, not a setting: ignored
    let c = Config::layered(false, Some(&file), &Flags::default()).expect("with env");
    assert_eq!(c.max_batch, 9, "the environment beats the file");
    assert_eq!(c.metrics_addr, None, "off turns a listener off");

    let flags = Flags {
        max_batch: Some(11),
        data_dir: Some("elsewhere".into()),
        ..Flags::default()
    };
    let c = Config::layered(false, Some(&file), &flags).expect("with flags");
    assert_eq!(c.max_batch, 11, "flags beat the environment");
    assert_eq!(
        c.data_dir,
        PathBuf::from("elsewhere"),
        "a flag's path is as given"
    );
}

#[test]
fn dev_defaults_and_refusals() {
    let c = Config::layered(true, None, &Flags::default()).expect("dev");
    assert_eq!(c.client_addr, "127.0.0.1:50051");
    assert_eq!(c.metrics_addr.as_deref(), Some("127.0.0.1:9464"));
    let flags = Flags {
        peer_addr: Some("127.0.0.1:7".into()),
        ..Flags::default()
    };
    let c = Config::layered(true, None, &flags).expect("dev");
    assert_eq!(c.members.len(), 1);
    assert_eq!(
        c.members[0].peer_addr, "127.0.0.1:7",
        "dev is its own member"
    );

    let dir = tempfile::tempdir().expect("dir");
    let typo = member_file(dir.path(), "snapshot_log = 5\n");
    let e = Config::layered(false, Some(&typo), &Flags::default()).expect_err("a typo");
    assert!(e.to_string().contains("snapshot_log"), "{e}");
    let e = Config::layered(
        false,
        Some(&dir.path().join("none.toml")),
        &Flags::default(),
    )
    .expect_err("no file");
    assert!(e.to_string().contains("none.toml"), "{e}");
    let missing = dir.path().join("partial.toml");
    std::fs::write(&missing, "id = 3\n").expect("write");
    let e = Config::layered(false, Some(&missing), &Flags::default()).expect_err("required");
    assert!(e.to_string().contains("data_dir"), "{e}");
}
