//! Network partitions for cluster tests: one loopback TCP proxy in front of each member's peer
//! address, able to cut any directed link between two members.
//!
//! Members listen for peer traffic on their own loopback IP (`127.0.0.{10 + id}`), send their
//! peer traffic from that IP (see `node/src/raft/network.rs`), and the membership advertises the
//! proxies' addresses. A proxy therefore knows who sends each connection by its source IP. When
//! the link `from -> to` is cut, every byte travelling from member `from` to member `to` is held:
//! the proxy stops reading that direction of the connections between them (the kernel's socket
//! buffers then fill and the sender stalls), as a link that drops every packet would make TCP
//! stall. Nothing is delivered out of order or lost: at the heal the held bytes flow again, as
//! TCP retransmission would deliver them. New connections across a cut link are accepted but
//! carry nothing until the heal.
//!
//! Only peer (Raft) traffic goes through the proxies. Clients, and a follower forwarding a write
//! to the leader's client API, connect directly: a partition here is a partition of the peer
//! network.
//!
//! The proxies run on their own small tokio runtime, so that they keep moving bytes however busy
//! the test's runtime is; dropping [`Partitions`] stops them and closes every connection.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes moved per read; one held chunk per direction and connection at most.
const CHUNK_BYTES: usize = 64 * 1024;
/// How long the proxy waits to reach a member.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The loopback IP a member listens and sends peer traffic on.
pub fn member_ip(id: u64) -> IpAddr {
    assert!(
        (1..=200).contains(&id),
        "member ids 1..=200 have a loopback IP"
    );
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + id as u8))
}

/// A free port on `ip`.
pub fn free_port_on(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The set of cut links, shared by every proxy of a cluster.
struct Links {
    cut: watch::Sender<BTreeSet<(u64, u64)>>,
}

impl Links {
    fn is_cut(set: &BTreeSet<(u64, u64)>, from: Option<u64>, to: Option<u64>) -> bool {
        match (from, to) {
            (Some(f), Some(t)) => set.contains(&(f, t)),
            _ => false,
        }
    }
}

/// The proxies of one cluster.
pub struct Partitions {
    links: Arc<Links>,
    /// Member id -> the proxy address the membership advertises for it.
    pub advertised: BTreeMap<u64, String>,
    /// Member id -> the member's own peer listen address.
    pub listen: BTreeMap<u64, String>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Partitions {
    /// Starts one proxy per member id.
    pub fn start(ids: &[u64]) -> Partitions {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("partition-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let (cut, _) = watch::channel(BTreeSet::new());
        let links = Arc::new(Links { cut });
        let sources: Arc<BTreeMap<IpAddr, u64>> =
            Arc::new(ids.iter().map(|&id| (member_ip(id), id)).collect());
        let mut advertised = BTreeMap::new();
        let mut listen = BTreeMap::new();
        for &id in ids {
            let upstream = SocketAddr::new(member_ip(id), free_port_on(member_ip(id)));
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy listens");
            let addr = listener.local_addr().expect("proxy address");
            listener
                .set_nonblocking(true)
                .expect("non-blocking listener");
            let listener = {
                let _in_runtime = runtime.enter();
                TcpListener::from_std(listener).expect("proxy listener")
            };
            runtime.spawn(accept_loop(
                listener,
                id,
                upstream,
                sources.clone(),
                links.clone(),
            ));
            advertised.insert(id, addr.to_string());
            listen.insert(id, upstream.to_string());
        }
        Partitions {
            links,
            advertised,
            listen,
            runtime: Some(runtime),
        }
    }

    /// Cuts the directed link: nothing from member `from` reaches member `to`.
    pub fn cut(&self, from: u64, to: u64) {
        self.links.cut.send_modify(|s| {
            s.insert((from, to));
        });
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut_both(&self, a: u64, b: u64) {
        self.cut(a, b);
        self.cut(b, a);
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.links.cut.send_modify(|s| s.clear());
    }

    /// The directed links cut now.
    pub fn cut_links(&self) -> BTreeSet<(u64, u64)> {
        self.links.cut.borrow().clone()
    }
}

impl Drop for Partitions {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Allowed inside another runtime, unlike dropping it.
            rt.shutdown_background();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    to: u64,
    upstream: SocketAddr,
    sources: Arc<BTreeMap<IpAddr, u64>>,
    links: Arc<Links>,
) {
    loop {
        let Ok((inbound, peer)) = listener.accept().await else {
            continue;
        };
        let from = sources.get(&peer.ip()).copied();
        let links = links.clone();
        tokio::spawn(async move {
            let connect = TcpStream::connect(upstream);
            let Ok(Ok(outbound)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await else {
                return; // the member is down: the caller sees the connection close
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            let up = pump(in_read, out_write, from, Some(to), links.clone());
            let down = pump(out_read, in_write, Some(to), from, links);
            // When one direction ends, the whole connection ends.
            tokio::select! {
                _ = up => {}
                _ = down => {}
            }
        });
    }
}

/// Copies bytes travelling from member `from` to member `to`, holding them while that link is
/// cut.
async fn pump(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut write: tokio::net::tcp::OwnedWriteHalf,
    from: Option<u64>,
    to: Option<u64>,
    links: Arc<Links>,
) {
    let mut cut = links.cut.subscribe();
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        if wait_open(&mut cut, from, to).await.is_err() {
            return;
        }
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if wait_open(&mut cut, from, to).await.is_err() {
            return;
        }
        if write.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn wait_open(
    cut: &mut watch::Receiver<BTreeSet<(u64, u64)>>,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<(), watch::error::RecvError> {
    cut.wait_for(|s| !Links::is_cut(s, from, to))
        .await
        .map(|_| ())
}
