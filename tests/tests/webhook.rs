//! The webhook relay (`carbonctl watch ACCOUNT --webhook URL --state FILE`) against a real node
//! and a local HTTP endpoint that fails some deliveries: a 500, a connection dropped without an
//! answer, an answer slower than the relay's timeout, and a delivery held until the relay is
//! killed. The relay restarts from its state file and the account's later transactions arrive
//! through the Watch stream, across a restart of the node. Every transaction of the account's history must reach the
//! endpoint at least once, first deliveries in sequence order, none missing, and repeated only
//! where the relay could not know that a delivery had arrived (the slow answer, the one in
//! flight when it was killed).

use carbon_tests::*;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "ZJ-ENT-01";
/// The relay's timeout for one POST (the slow answer takes longer).
const TIMEOUT_MS: u64 = 700;
const SLOW_MS: u64 = 1_500;

/// What the endpoint does with its n-th connection (1-based; one POST per connection).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Ok,
    Status500,
    /// Reads the request, then closes the connection without an answer.
    Drop,
    /// Takes the delivery and answers 200 after the relay gave up waiting.
    Slow,
    /// Takes the delivery and answers nothing until the relay is killed.
    Hold,
}

fn mode(n: usize) -> Mode {
    match n {
        2 => Mode::Status500,
        4 => Mode::Drop,
        6 => Mode::Slow,
        9 => Mode::Hold,
        _ => Mode::Ok,
    }
}

/// A delivery the endpoint took (answered 200, or would have: slow and held ones count).
#[derive(Clone, Debug)]
struct Delivery {
    sequence: u64,
    idempotency_key: String,
    body: serde_json::Value,
}

#[derive(Default)]
struct Endpoint {
    connections: AtomicUsize,
    taken: Mutex<Vec<Delivery>>,
    held: AtomicBool,
}

impl Endpoint {
    fn taken(&self) -> Vec<Delivery> {
        self.taken.lock().expect("lock").clone()
    }
}

async fn take(req: Request<Incoming>) -> Delivery {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .expect("the body arrives")
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
    Delivery {
        sequence: body["sequence"].as_u64().expect("a sequence"),
        idempotency_key: key,
        body,
    }
}

async fn answer(
    ep: Arc<Endpoint>,
    m: Mode,
    req: Request<Incoming>,
) -> Result<Response<String>, std::convert::Infallible> {
    let d = take(req).await;
    let status = if m == Mode::Status500 { 500 } else { 200 };
    if status == 200 {
        ep.taken.lock().expect("lock").push(d);
    }
    match m {
        Mode::Slow => tokio::time::sleep(Duration::from_millis(SLOW_MS)).await,
        Mode::Hold => {
            ep.held.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        _ => {}
    }
    let mut r = Response::new(String::from("thanks"));
    *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    Ok(r)
}

/// Serves the endpoint on a loopback port; returns its URL.
async fn serve(ep: Arc<Endpoint>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/carbon/hook",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let n = ep.connections.fetch_add(1, Ordering::SeqCst) + 1;
            let m = mode(n);
            let ep = ep.clone();
            tokio::spawn(async move {
                if m == Mode::Drop {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 4096];
                    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf))
                        .await;
                    return; // closed without an answer
                }
                let svc = hyper::service::service_fn(move |req| answer(ep.clone(), m, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    url
}

fn relay(endpoints: &[String], url: &str, state: &Path, log: &Path, run: u32) -> Child {
    let out = std::fs::File::create(log.join(format!("relay-{run}.out"))).expect("log");
    let err = std::fs::File::create(log.join(format!("relay-{run}.err"))).expect("log");
    Command::new(ctl_binary())
        .args(["watch", ACCOUNT, "--webhook", url, "--state"])
        .arg(state)
        .args([
            "--webhook-timeout-ms",
            &TIMEOUT_MS.to_string(),
            "--retry-first-ms",
            "50",
            "--retry-max-ms",
            "400",
            "--queue-txs-max",
            "4",
        ])
        .env("CARBON_ENDPOINTS", endpoints.join(","))
        .env("CARBON_KEYS_DIR", repo_root().join("seeds/keys"))
        .env("CARBON_CA", pki::ca_file())
        .env_remove("CARBON_ACCOUNT")
        .env_remove("CARBON_KEY")
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the relay starts")
}

/// The account's history as the registry has it: (sequence, tx id), in sequence order.
fn history(endpoints: &[String]) -> Vec<(u64, String)> {
    let (code, out, err) = ctl(
        endpoints,
        &[
            "--json", "--as", ACCOUNT, "history", ACCOUNT, "--limit", "1000",
        ],
    );
    assert_eq!(code, 0, "history: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("history JSON");
    v.as_array()
        .expect("an array")
        .iter()
        .map(|t| {
            let o = &t["outcome"];
            let s = o["sequence"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| o["sequence"].as_u64())
                .expect("a sequence");
            (s, o["txId"].as_str().expect("a tx id").to_string())
        })
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool, log: &Path) {
    let deadline = Instant::now() + limit;
    while !f() {
        if Instant::now() > deadline {
            let logs: String = ["relay-1.err", "relay-2.err", "relay-2.out"]
                .iter()
                .map(|n| std::fs::read_to_string(log.join(n)).unwrap_or_default())
                .collect();
            panic!("{what} within {limit:?}; relay logs:\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn last_delivered(state: &Path) -> u64 {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state).expect("the state file")).expect("JSON");
    assert_eq!(v["account_id"], ACCOUNT);
    v["last_delivered_sequence"].as_u64().expect("a sequence")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_delivers_every_transaction_at_least_once_across_failures_and_a_restart() {
    let mut cluster = Cluster::start(1, 10_000);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    let nodes = cluster.endpoints();
    let (code, _, err) = ctl(&nodes, &["demo"]);
    assert_eq!(code, 0, "the demo runs: {err}");
    let before = history(&nodes);
    assert!(
        before.len() >= 6,
        "the demo gives {ACCOUNT} a history: {before:?}"
    );

    let ep = Arc::new(Endpoint::default());
    let url = serve(ep.clone()).await;
    let dir = cluster.dir.path().to_path_buf();
    let state = dir.join("relay-state.json");

    // First run: a 500, a dropped connection and a slow answer are retried; the sixth
    // transaction is held by the endpoint, and the relay is killed while it waits.
    let mut first = relay(&nodes, &url, &state, &dir, 1);
    let held = ep.clone();
    wait_until(
        "the endpoint holds a delivery",
        Duration::from_secs(60),
        || held.held.load(Ordering::SeqCst),
        &dir,
    );
    first.kill().expect("kill the relay");
    let _ = first.wait();
    let in_flight = before[5].0;
    assert_eq!(
        last_delivered(&state),
        before[4].0,
        "the state holds the last acknowledged delivery, not the one in flight"
    );

    // Second run: resumes after the recorded sequence (the held one again), then follows the
    // account's new transactions through the Watch stream.
    let mut second = relay(&nodes, &url, &state, &dir, 2);
    wait_until(
        "the second run catches up",
        Duration::from_secs(60),
        || last_delivered(&state) == before.last().expect("a transaction").0,
        &dir,
    );
    // The node restarts under the relay: its Watch stream ends, it reconnects with backoff.
    cluster.stop(0);
    std::thread::sleep(Duration::from_millis(500));
    cluster.spawn(0);
    cluster.wait_for_leader(&[0], Duration::from_secs(20)).await;
    for _ in 0..3 {
        let (code, _, err) = ctl(
            &nodes,
            &[
                "--as",
                ACCOUNT,
                "transfer",
                ACCOUNT,
                "ZJ-ENT-02",
                "CEA:2025",
                "1",
            ],
        );
        assert_eq!(code, 0, "a transfer: {err}");
    }
    let all = history(&nodes);
    assert_eq!(all.len(), before.len() + 3, "{all:?}");
    let last = all.last().expect("a transaction").0;
    let taken = ep.clone();
    wait_until(
        "every transaction is delivered",
        Duration::from_secs(60),
        || taken.taken().iter().any(|d| d.sequence == last),
        &dir,
    );
    wait_until(
        "the last delivery is recorded",
        Duration::from_secs(10),
        || last_delivered(&state) == last,
        &dir,
    );
    second.kill().expect("kill the relay");
    let _ = second.wait();

    let taken = ep.taken();
    let order: Vec<u64> = taken.iter().map(|d| d.sequence).collect();
    // First deliveries: exactly the history, in sequence order.
    let mut first_seen: Vec<u64> = Vec::new();
    for s in &order {
        if !first_seen.contains(s) {
            first_seen.push(*s);
        }
    }
    let expected: Vec<u64> = all.iter().map(|(s, _)| *s).collect();
    assert_eq!(first_seen, expected, "deliveries {order:?}");
    // Repeats only of the latest delivery (never going back), and only the slow one and the
    // one in flight at the kill.
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    let repeated: Vec<u64> = order
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert_eq!(
        repeated,
        vec![before[3].0, in_flight],
        "deliveries {order:?}"
    );
    // Failures were retried: 500, drop, slow, hold, plus one connection per delivery.
    assert_eq!(
        ep.connections.load(Ordering::SeqCst),
        order.len() + 2,
        "one connection per attempt"
    );
    // The JSON shape (docs/OPERATIONS.md): the outcome's fields, the transaction whole.
    for d in &taken {
        let (_, tx_id) = all
            .iter()
            .find(|(s, _)| *s == d.sequence)
            .expect("a transaction of the history");
        let b = &d.body;
        assert_eq!(b["account_id"], ACCOUNT);
        assert_eq!(b["chain_id"], "zj-carbon-demo");
        assert_eq!(b["tx_id"].as_str(), Some(tx_id.as_str()));
        assert_eq!(d.idempotency_key, *tx_id);
        assert!(b["timestamp_ms"].as_u64().is_some_and(|t| t > 0), "{b}");
        assert_eq!(b["date_cst"].as_str().map(str::len), Some(10), "{b}");
        assert_eq!(b["code"], "OK", "{b}");
        assert_eq!(
            b["transaction"]["outcome"]["txId"].as_str(),
            Some(tx_id.as_str())
        );
        assert!(b["transaction"]["decodedBody"].is_object(), "{b}");
    }
    let ops: Vec<&str> = taken
        .iter()
        .filter_map(|d| d.body["operation"].as_str())
        .collect();
    assert_eq!(ops.first(), Some(&"open_account"), "{ops:?}");
    assert_eq!(
        ops.iter().filter(|o| **o == "transfer").count(),
        3,
        "{ops:?}"
    );
}
