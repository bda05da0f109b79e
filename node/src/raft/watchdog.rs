//! Liveness whenever a majority can talk, and ledger time bounded by a majority of clocks.
//!
//! openraft 0.9 has neither pre-vote nor a leader that steps down when it loses its quorum
//! (docs/DECISIONS.md has the evidence). Two partitions follow from that: a member cut off from
//! the leader inflates its term and deposes the healthy leader at the heal; and a leader that
//! still reaches one follower keeps that follower loyal (its leader lease) while it cannot
//! commit anything, so nobody can win an election. The watchdog closes both, on openraft's
//! public API only, and never touches what makes Raft safe (votes and logs stay openraft's):
//!
//! * **Pre-vote.** openraft's own election timer is off (`Config::enable_elect = false`). A
//!   voter that heard from no leader for a randomized election timeout first probes the other
//!   voters ([`Probe`]); it calls `raft.trigger().elect()` only when a majority (itself
//!   included) would vote for it now: they too heard from no leader (and granted no vote) for
//!   the leader lease, and its log is at least as up to date as theirs. A member cut off from a working leader gets no
//!   majority, so its term stays put.
//! * **Quorum-loss step-down.** A leader with no acknowledgement from a majority for longer than
//!   the lease refuses writes (UNAVAILABLE: nothing proposed) and goes quiet: the peer network
//!   sends no AppendEntries for its vote ([`Liveness::is_muted`]), so the followers it still
//!   reaches stop hearing from it, their lease runs out, and the side with a majority elects a
//!   leader. If a majority turns out to still follow it (probes show its vote), it resumes.
//! * **Clock check.** A leader proposes only while its clock agrees with a majority of the
//!   voters' clocks within `clock_tolerance_ms` (`clock::check`, from the probes' samples). A
//!   leader whose clock disagrees with a measured majority also goes quiet, so that a member
//!   with a good clock leads; a member whose clock disagrees never starts an election.
//!
//! The watchdog is one tokio task per node ticking every `TICK`; probes run concurrently with a
//! timeout, so no call here blocks a worker.

use super::clock::{self, ClockError, Sample};
use super::network::Prober;
use super::{LogId, NodeId, Raft, Vote};
use openraft::ServerState;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(50);
/// How long after a majority acknowledged a heartbeat its leader may answer linearizable reads
/// from its own state (`raft::read_index`). Half the shortest election timeout: no member that
/// acknowledged helps elect another leader sooner than `election_timeout_min` after (openraft's
/// leader lease, the watchdog's election timer, [`Liveness::refuses_votes`]), and the other
/// half is margin for clocks that run at different rates.
pub const LEASE_READ_WINDOW: Duration = Duration::from_millis(200);

/// How often a leader sends heartbeats (openraft's own `heartbeat_interval` is also the timeout
/// of every AppendEntries, heartbeat and read-index confirmation, so it is set larger and the
/// watchdog triggers the heartbeats: see `serve::raft_config`).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);
/// How often a leader probes every voter (clock samples, who still follows it).
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// How long a probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// Timing of the watchdog, derived from openraft's config, and the clock tolerance.
#[derive(Debug, Clone)]
pub struct Settings {
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// A follower that heard from a leader this recently refuses to vote (openraft's leader
    /// lease, `election_timeout_max`); a leader without a majority's acknowledgement for this
    /// long steps down.
    pub lease: Duration,
    pub clock_tolerance_ms: u64,
    /// The newest ledger version this build applies (probe answers say it; a leader proposes
    /// the newest version every voter applies, [`Liveness::ledger_version`]).
    pub ledger_version_max: u32,
}

impl Settings {
    pub fn new(raft: &openraft::Config, clock_tolerance_ms: u64) -> Settings {
        assert!(raft.election_timeout_min < raft.election_timeout_max);
        assert!(
            LEASE_READ_WINDOW.as_millis() as u64 * 2 <= raft.election_timeout_min,
            "the read lease is at most half the shortest election timeout"
        );
        assert!(
            !raft.enable_elect,
            "the watchdog starts elections, not openraft's timer"
        );
        Settings {
            election_timeout_min: Duration::from_millis(raft.election_timeout_min),
            election_timeout_max: Duration::from_millis(raft.election_timeout_max),
            lease: Duration::from_millis(raft.election_timeout_max),
            clock_tolerance_ms,
            ledger_version_max: 1,
        }
    }

    /// The same, for a build that applies ledger versions up to `max`.
    pub fn with_ledger_version_max(mut self, max: u32) -> Settings {
        self.ledger_version_max = max;
        self
    }
}

/// Why a leader refuses to propose. The refused request proposed nothing; an earlier attempt
/// with the same bytes may still be in flight, so its fate stays unknown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this node is not the leader")]
    NotLeader,
    #[error(
        "this leader has had no acknowledgement from a majority of voters for {silent_ms} ms \
         (lease {lease_ms} ms): it stopped acting as leader so that a majority can elect one; \
         this request proposed nothing"
    )]
    QuorumLost { silent_ms: u64, lease_ms: u64 },
    #[error(
        "this node restarted as leader and has not yet heard from a majority of voters in its \
         term: it is recovering; this request proposed nothing"
    )]
    Recovering,
    #[error(
        "ledger time comes from the leader's clock, which is not confirmed: {0}; this request \
         proposed nothing"
    )]
    Clock(ClockError),
}

/// A probe, as the sender states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub from: NodeId,
    /// `Some(last log id)` when the sender considers starting an election.
    pub campaign: Option<Option<LogId>>,
}

/// A member's answer to a [`Probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub node: NodeId,
    pub clock_ms: u64,
    pub leader_contact_age_ms: Option<u64>,
    pub vote: Vote,
    pub last_log: Option<LogId>,
    pub leader: Option<NodeId>,
    pub would_vote: bool,
    /// The newest ledger version the member applies (1 from a build that does not say).
    pub ledger_version_max: u32,
}

/// What the peer service, the peer network, the batcher and the watchdog share.
pub struct Liveness {
    pub me: NodeId,
    pub settings: Settings,
    started: Instant,
    /// The vote this node's log held when it started (`Liveness::restored`).
    vote_at_start: std::sync::OnceLock<Vote>,
    shared: Mutex<Shared>,
    /// True while this node is a leader gone quiet (for waiters, see [`Liveness::until_quiet`]).
    quiet: tokio::sync::watch::Sender<bool>,
    /// The newest ledger version of a committed transaction this node has applied: a floor of
    /// [`Liveness::ledger_version`] (`Liveness::note_committed_version`).
    committed_version: std::sync::atomic::AtomicU32,
}

/// What a leader knows of its read lease: when it last sent AppendEntries, and per follower
/// the send time of the newest one acknowledged.
#[derive(Debug)]
struct Lease {
    vote: Vote,
    last_sent: Instant,
    acks: BTreeMap<NodeId, Instant>,
}

#[derive(Debug)]
struct Shared {
    /// When this node last accepted AppendEntries or a snapshot from a leader, or granted a vote.
    leader_contact: Option<Instant>,
    /// The largest commit index a leader's AppendEntries announced (health: catching up).
    leader_commit: u64,
    /// The leader vote whose AppendEntries the network does not send (a leader gone quiet).
    muted: Option<Vote>,
    admission: Result<(), Refusal>,
    clocks: BTreeMap<NodeId, Sample>,
    /// The latest answer of every peer, with when it came.
    answers: BTreeMap<NodeId, (Instant, ProbeAnswer)>,
    /// The ledger version this leader proposes: the newest every voter applies.
    ledger_version: u32,
    /// Whether `ledger_version` was computed from the voters at least once (on a leader's
    /// first watchdog tick); before, it is the default, version 1.
    ledger_version_settled: bool,
    /// Leader lease for reads (`raft::read_index`), for the vote this node leads with.
    lease: Option<Lease>,
    /// AppendEntries being processed ([`Liveness::append_arrived`]).
    appends_in_progress: u32,
}

/// An AppendEntries being processed; see [`Liveness::append_arrived`].
pub struct AppendInProgress(Arc<Liveness>);

impl Drop for AppendInProgress {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        debug_assert!(s.appends_in_progress > 0);
        s.appends_in_progress = s.appends_in_progress.saturating_sub(1);
    }
}

impl Liveness {
    pub fn new(me: NodeId, settings: Settings) -> Arc<Liveness> {
        Arc::new(Liveness {
            me,
            settings,
            started: Instant::now(),
            vote_at_start: std::sync::OnceLock::new(),
            shared: Mutex::new(Shared {
                leader_contact: None,
                leader_commit: 0,
                muted: None,
                admission: Err(Refusal::NotLeader),
                clocks: BTreeMap::new(),
                answers: BTreeMap::new(),
                ledger_version: 1,
                ledger_version_settled: false,
                lease: None,
                appends_in_progress: 0,
            }),
            quiet: tokio::sync::watch::channel(false).0,
            committed_version: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// Records the vote this node's log held at startup (set once, before Raft starts).
    pub fn restored(&self, vote: Vote) {
        let _ = self.vote_at_start.set(vote);
    }

    /// Whether `vote` is the one this node started with: a leadership in it was restored by
    /// openraft from the log, not won by an election in this process.
    pub fn is_restored_leadership(&self, vote: &Vote) -> bool {
        self.vote_at_start.get() == Some(vote)
    }

    /// Resolves when this leader goes quiet (at once if it is quiet now).
    pub async fn until_quiet(&self) {
        let mut rx = self.quiet.subscribe();
        // The sender lives as long as `self`: the wait ends only by going quiet.
        let _ = rx.wait_for(|q| *q).await;
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        match self.shared.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Called by the peer service when it accepted traffic from the leader.
    pub fn leader_contact(&self) {
        self.lock().leader_contact = Some(Instant::now());
    }

    /// Called by the peer service with the commit index an accepted AppendEntries announced.
    pub fn leader_commit(&self, index: u64) {
        let mut s = self.lock();
        s.leader_commit = s.leader_commit.max(index);
    }

    /// The largest commit index a leader announced to this node (0 before any).
    pub fn leader_commit_seen(&self) -> u64 {
        self.lock().leader_commit
    }

    /// How long ago this node last accepted a leader's traffic (`None`: never since it started).
    pub fn leader_contact_age(&self) -> Option<Duration> {
        self.contact_age(Instant::now())
    }

    /// Called by the peer service when this node granted a vote: as in Raft (§5.2) that resets
    /// its election timer, and for a lease it also denies other pre-votes, so that a second
    /// candidate does not start an election while the first one's leadership is on its way.
    pub fn vote_granted(&self) {
        self.leader_contact();
    }

    /// Called by the peer network before it sends AppendEntries in this leader's `vote`.
    pub fn sending(&self, vote: &Vote, now: Instant) {
        let mut s = self.lock();
        match s.lease.as_mut() {
            Some(l) if l.vote == *vote => l.last_sent = l.last_sent.max(now),
            _ => {
                s.lease = Some(Lease {
                    vote: *vote,
                    last_sent: now,
                    acks: BTreeMap::new(),
                })
            }
        }
    }

    /// Called by the peer network when `target` acknowledged an AppendEntries sent at `sent`
    /// in this leader's `vote` (it accepted the vote: success or a log conflict).
    pub fn acknowledged(&self, target: NodeId, vote: &Vote, sent: Instant) {
        let mut s = self.lock();
        if let Some(l) = s.lease.as_mut().filter(|l| l.vote == *vote) {
            let t = l.acks.entry(target).or_insert(sent);
            *t = (*t).max(sent);
        }
    }

    /// Until when this node, leading with `vote` among `voters`, may answer linearizable reads
    /// from its own state (`raft::read_index` gives the argument): [`LEASE_READ_WINDOW`] after
    /// the newest send time a majority (this node included) acknowledged. `None`: no lease.
    pub fn read_lease_until(
        &self,
        vote: &Vote,
        voters: &[NodeId],
        now: Instant,
    ) -> Option<Instant> {
        let s = self.lock();
        let l = s.lease.as_ref().filter(|l| l.vote == *vote)?;
        if !voters.contains(&self.me) {
            return None;
        }
        let mut sent: Vec<Instant> = voters
            .iter()
            .filter(|id| **id != self.me)
            .filter_map(|id| l.acks.get(id).copied())
            .collect();
        sent.sort_unstable_by(|a, b| b.cmp(a));
        let acked = match voters.len() / 2 {
            0 => now,
            others => *sent.get(others - 1)?,
        };
        Some(acked + LEASE_READ_WINDOW)
    }

    /// Whether this node must refuse to vote now: for [`LEASE_READ_WINDOW`] after it started
    /// with a leader's vote in its log (before a crash it may have acknowledged a leader that
    /// holds a read lease; a new member acknowledged nobody), and, leading
    /// with `vote`, within [`LEASE_READ_WINDOW`] of its last AppendEntries (an acknowledgement
    /// of it, even one still on its way, gives this node a read lease). A leader gone quiet
    /// sends nothing, so it votes again after the window. openraft's own check refuses while a
    /// follower heard from its leader within `election_timeout_max`.
    pub fn refuses_votes(&self, leading: Option<&Vote>) -> bool {
        let now = Instant::now();
        // Only a member whose log held a leader's vote can have acknowledged one.
        let followed = self.vote_at_start.get().is_some_and(|v| v.is_committed());
        if followed && now.duration_since(self.started) < LEASE_READ_WINDOW {
            return true;
        }
        let s = self.lock();
        leading.is_some_and(|vote| {
            s.lease.as_ref().is_some_and(|l| {
                l.vote == *vote && now.duration_since(l.last_sent) < LEASE_READ_WINDOW
            })
        })
    }

    /// Whether the peer network must not send AppendEntries (or a snapshot) for `vote`.
    pub fn is_muted(&self, vote: &Vote) -> bool {
        self.lock().muted.as_ref() == Some(vote)
    }

    /// The ledger version to propose (and to run dry runs with): the newest one that every
    /// voter's build applies, as their latest probe answers say; 1 while one has not answered.
    /// A rolling upgrade thus switches to a new version only once every voter runs a build that
    /// knows it, and no member meets an entry it cannot apply (docs/OPERATIONS.md).
    ///
    /// Never older than the newest version already committed (up to this build's own): every
    /// voter must apply that entry anyway (one that cannot has stopped), and a voter that is
    /// down when a leader is elected, counted as version 1, must not take the cluster's rules
    /// back to version 1 (issue 17, docs/DECISIONS.md).
    pub fn ledger_version(&self) -> u32 {
        let floor = self
            .committed_version
            .load(std::sync::atomic::Ordering::Relaxed)
            .min(self.settings.ledger_version_max);
        self.lock().ledger_version.max(floor)
    }

    /// Records that a transaction of ledger version `v` is committed and applied here.
    pub fn note_committed_version(&self, v: u32) {
        self.committed_version
            .fetch_max(v, std::sync::atomic::Ordering::Relaxed);
    }

    /// Recomputes [`Self::ledger_version`] from the voters' latest answers.
    fn settle_ledger_version(&self, voters: &[NodeId]) {
        let mut s = self.lock();
        let mut v = self.settings.ledger_version_max;
        for id in voters.iter().filter(|id| **id != self.me) {
            let theirs = s.answers.get(id).map_or(1, |(_, a)| a.ledger_version_max);
            v = v.min(theirs.max(1));
        }
        s.ledger_version = v;
        s.ledger_version_settled = true;
    }

    /// Whether [`Self::ledger_version`] was computed from the voters yet (a leader's first
    /// watchdog tick does it): a dry run before that would apply the default, version 1.
    pub fn ledger_version_settled(&self) -> bool {
        self.lock().ledger_version_settled
    }

    /// Whether the leader may propose now (checked by the batcher before every entry).
    pub fn admit(&self) -> Result<(), Refusal> {
        self.lock().admission.clone()
    }

    fn contact_age(&self, now: Instant) -> Option<Duration> {
        let s = self.lock();
        if s.appends_in_progress > 0 {
            return Some(Duration::ZERO);
        }
        s.leader_contact.map(|t| now.saturating_duration_since(t))
    }

    /// Called by the peer service when an AppendEntries arrives: until the guard drops, this
    /// node counts as hearing from a leader (a follower whose own disk is slow must not think
    /// its leader gone while it is still writing what the leader sent). Safe for the read
    /// lease: it only delays this node's elections and votes.
    pub fn append_arrived(self: &Arc<Self>) -> AppendInProgress {
        self.lock().appends_in_progress += 1;
        AppendInProgress(self.clone())
    }

    /// Records a probe's answer and the clock sample it gives.
    pub fn record(&self, answer: ProbeAnswer, sample: Sample) {
        let mut s = self.lock();
        s.clocks.insert(answer.node, sample);
        s.answers.insert(answer.node, (sample.taken, answer));
    }

    fn clock_check(&self, voters: &[NodeId], now: Instant) -> Result<(), ClockError> {
        let s = self.lock();
        clock::check(
            self.me,
            voters,
            &s.clocks,
            self.settings.clock_tolerance_ms,
            now,
        )
    }

    /// Answers a probe from this node's state.
    pub fn answer(&self, raft: &Raft, probe: &Probe) -> ProbeAnswer {
        let now = Instant::now();
        // Read through a borrow: the metrics (membership, replication) are not copied.
        let (vote, state, current_leader) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.vote, m.state, m.current_leader)
        };
        let last_log = raft.data_metrics().borrow().last_log;
        let quiet = self.is_muted(&vote);
        let age = if state == ServerState::Leader && !quiet {
            Some(Duration::ZERO)
        } else {
            self.contact_age(now)
        };
        let would_vote = match &probe.campaign {
            None => false,
            Some(candidate_log) => would_vote(
                age,
                self.settings.lease,
                candidate_log.as_ref(),
                last_log.as_ref(),
            ),
        };
        ProbeAnswer {
            node: self.me,
            clock_ms: clock::now_ms(),
            leader_contact_age_ms: age.map(|a| a.as_millis() as u64),
            vote,
            last_log,
            leader: current_leader,
            would_vote,
            ledger_version_max: self.settings.ledger_version_max,
        }
    }
}

/// Pre-vote: whether a member whose last leader contact is `contact_age` ago (`None`: none since
/// it started) and whose last log id is `mine` would grant a vote to a candidate with last log id
/// `candidate` now. The same two conditions openraft's real vote checks (leader lease, log at
/// least as up to date), so a granted pre-vote predicts a granted vote.
fn would_vote(
    contact_age: Option<Duration>,
    lease: Duration,
    candidate: Option<&LogId>,
    mine: Option<&LogId>,
) -> bool {
    contact_age.is_none_or(|a| a >= lease) && candidate >= mine
}

/// The watchdog's own memory between ticks.
struct Watch {
    /// The leader vote this node holds and since when (leader duties).
    leading: Option<(Vote, Instant)>,
    /// When the network was last allowed to speak for this leader again.
    resumed_at: Option<Instant>,
    last_probe_round: Option<Instant>,
    last_heartbeat: Option<Instant>,
    probing: Option<tokio::task::JoinHandle<()>>,
    /// Follower duties: the next election timeout and when it was last considered.
    timeout: Duration,
    considered_at: Instant,
    /// The voters and the other voters' peer addresses, as of the membership log id they were
    /// read at (read again only when the membership changes).
    members: Members,
}

/// The voters of one membership, and the peer addresses of the others.
#[derive(Default)]
struct Members {
    log_id: Option<LogId>,
    voters: Vec<NodeId>,
    peers: Vec<(NodeId, String)>,
}

/// What one tick needs of openraft's metrics, read through a borrow: an idle node copies
/// neither the membership nor the replication map every tick.
struct Tick {
    stopped: bool,
    leader: bool,
    vote: Vote,
    millis_since_quorum_ack: Option<u64>,
}

/// Reads this tick's figures, and the members when the membership changed since the last read.
fn read_tick(raft: &Raft, me: NodeId, members: &mut Members) -> Tick {
    let m = raft.metrics();
    let m = m.borrow();
    let log_id = *m.membership_config.log_id();
    if members.log_id != log_id || (log_id.is_none() && members.voters.is_empty()) {
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        members.peers = membership
            .nodes()
            .filter(|(id, _)| **id != me && voters.contains(id))
            .map(|(id, n)| (*id, n.peer_addr.clone()))
            .collect();
        members.voters = voters;
        members.log_id = log_id;
    }
    Tick {
        stopped: m.running_state.is_err(),
        leader: m.state == ServerState::Leader,
        vote: m.vote,
        millis_since_quorum_ack: m.millis_since_quorum_ack,
    }
}

/// Runs until openraft stops.
pub async fn run(raft: Raft, live: Arc<Liveness>, prober: Prober) {
    let mut rng = fastrand::Rng::new();
    let mut w = Watch {
        leading: None,
        resumed_at: None,
        last_probe_round: None,
        last_heartbeat: None,
        probing: None,
        timeout: random_timeout(&live.settings, &mut rng),
        considered_at: Instant::now(),
        members: Members::default(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let t = read_tick(&raft, live.me, &mut w.members);
        if t.stopped {
            return;
        }
        if t.leader {
            heartbeat(&raft, &mut w).await;
            lead(&live, &prober, &mut w, &t);
        } else {
            if w.leading.take().is_some() {
                tracing::info!(vote = %t.vote, "no longer the leader");
            }
            set_quiet(&live, None);
            set_admission(&live, Err(Refusal::NotLeader));
            if w.members.voters.contains(&live.me) {
                follow(&raft, &live, &prober, &mut w, &mut rng).await;
            }
        }
    }
}

/// Leader duties: a heartbeat every [`HEARTBEAT_INTERVAL`] (only sends a message to openraft's
/// core; a replication stream with an append in flight sends it after that append).
async fn heartbeat(raft: &Raft, w: &mut Watch) {
    let now = Instant::now();
    if w.last_heartbeat
        .is_some_and(|t| now.duration_since(t) < HEARTBEAT_INTERVAL)
    {
        return;
    }
    w.last_heartbeat = Some(now);
    if let Err(e) = raft.trigger().heartbeat().await {
        tracing::debug!("heartbeat not sent: {e}");
    }
}

fn random_timeout(s: &Settings, rng: &mut fastrand::Rng) -> Duration {
    let (lo, hi) = (
        s.election_timeout_min.as_millis() as u64,
        s.election_timeout_max.as_millis() as u64,
    );
    Duration::from_millis(rng.u64(lo..=hi))
}

/// Leader duties: probe the voters now and then; go quiet and refuse writes without a majority's
/// acknowledgement or with a clock a measured majority disagrees with; resume when probes show a
/// majority still follows.
fn lead(live: &Arc<Liveness>, prober: &Prober, w: &mut Watch, m: &Tick) {
    let now = Instant::now();
    let (voters, peers) = (&w.members.voters[..], &w.members.peers);
    if w.leading.as_ref().map(|l| &l.0) != Some(&m.vote) {
        tracing::info!(vote = %m.vote, "leading");
        crate::metrics::get().leadership_terms.inc();
        w.leading = Some((m.vote, now));
        w.resumed_at = Some(now);
    }
    let round_due = w
        .last_probe_round
        .is_none_or(|t| now.duration_since(t) >= PROBE_INTERVAL);
    if round_due && w.probing.as_ref().is_none_or(|h| h.is_finished()) {
        w.last_probe_round = Some(now);
        let (prober, live, peers) = (prober.clone(), live.clone(), peers.clone());
        w.probing = Some(tokio::spawn(async move {
            prober.round(&live, &peers, None, usize::MAX).await;
        }));
    }

    let lease = live.settings.lease;
    let since_resumed = w.resumed_at.map_or(lease, |t| now.duration_since(t));
    let silent = Duration::from_millis(m.millis_since_quorum_ack.unwrap_or(u64::MAX));
    // No acknowledgement within the lease, and no fresh probe answers of a majority in this
    // vote either: probes are answered at once, so a majority whose appends are only slow (a
    // busy disk) still shows it follows, and its leader stays.
    let quorum_lost = silent > lease
        && since_resumed > lease
        && !followed_by_majority(live, &m.vote, voters, now);
    live.settle_ledger_version(voters);
    let clock = live.clock_check(voters, now);
    // A measured clock disagreement comes first: a leader quiet because of its clock also
    // loses its acknowledgements, and the client must learn the cause.
    let refusal = match &clock {
        Err(e @ ClockError::Disagrees { .. }) => Some(Refusal::Clock(e.clone())),
        _ if quorum_lost => Some(Refusal::QuorumLost {
            silent_ms: silent.min(since_resumed).as_millis() as u64,
            lease_ms: lease.as_millis() as u64,
        }),
        // openraft 0.9 restores a restarted leader from its committed vote: until a majority
        // acknowledges it in this term it leads nobody (it reports "recovering").
        _ if live.is_restored_leadership(&m.vote) && m.millis_since_quorum_ack.is_none() => {
            Some(Refusal::Recovering)
        }
        Err(e) => Some(Refusal::Clock(e.clone())),
        Ok(()) => None,
    };

    if live.is_muted(&m.vote) {
        if clock.is_ok() && followed_by_majority(live, &m.vote, voters, now) {
            tracing::info!("a majority still follows this leader: resuming");
            w.resumed_at = Some(now);
            set_quiet(live, None);
            set_admission(live, Ok(()));
        } else if let Some(r) = refusal {
            set_admission(live, Err(r));
        }
        return;
    }
    match refusal {
        None => set_admission(live, Ok(())),
        Some(r) => {
            // Go quiet without a quorum, or when a measured majority disagrees with this clock;
            // a leader still gathering its first clock samples only waits.
            if matches!(
                r,
                Refusal::QuorumLost { .. } | Refusal::Clock(ClockError::Disagrees { .. })
            ) {
                set_quiet(live, Some(m.vote));
            }
            set_admission(live, Err(r));
        }
    }
}

/// Whether fresh probe answers of a majority (this leader included) show this leader's vote.
fn followed_by_majority(live: &Liveness, vote: &Vote, voters: &[NodeId], now: Instant) -> bool {
    let s = live.lock();
    let following = s
        .answers
        .iter()
        .filter(|(id, (at, a))| {
            voters.contains(id) && now.duration_since(*at) <= PROBE_INTERVAL * 2 && &a.vote == vote
        })
        .count();
    1 + following > voters.len() / 2
}

/// Follower duties: after a randomized election timeout without a leader, ask the voters
/// whether they would vote for this node, and start an election only if a majority would.
async fn follow(
    raft: &Raft,
    live: &Arc<Liveness>,
    prober: &Prober,
    w: &mut Watch,
    rng: &mut fastrand::Rng,
) {
    let now = Instant::now();
    let since_leader = live
        .contact_age(now)
        .unwrap_or_else(|| now.duration_since(live.started));
    if since_leader < w.timeout || now.duration_since(w.considered_at) < w.timeout {
        return;
    }
    w.considered_at = now;
    w.timeout = random_timeout(&live.settings, rng);
    let (voters, peers) = (w.members.voters.clone(), w.members.peers.clone());
    let last_log = raft.data_metrics().borrow().last_log;
    let quorum = voters.len() / 2 + 1;
    // Enough grants to make a majority with this node's own: no need to wait for the others
    // (an unreachable one would cost the whole probe timeout).
    let granted = prober
        .round(live, &peers, Some(last_log), quorum.saturating_sub(1))
        .await;
    let clock = live.clock_check(&voters, Instant::now());
    if 1 + granted.len() < quorum {
        tracing::debug!(
            ?granted,
            quorum,
            "pre-vote: no majority would vote for this node"
        );
        return;
    }
    if let Err(e) = clock {
        tracing::warn!("not starting an election: {e}");
        return;
    }
    tracing::info!(
        since_leader_ms = since_leader.as_millis() as u64,
        ?granted,
        "no leader heard; a majority would vote for this node: starting an election"
    );
    if let Err(e) = raft.trigger().elect().await {
        tracing::warn!("starting an election: {e}");
    }
}

fn set_quiet(live: &Liveness, vote: Option<Vote>) {
    let mut s = live.lock();
    if s.muted != vote {
        match &vote {
            Some(v) => {
                crate::metrics::get().quiet_spells.inc();
                tracing::warn!(vote = %v, "leader going quiet: no AppendEntries until a majority follows again or another leader takes over")
            }
            None if s.muted.is_some() => tracing::info!("leader speaking again"),
            None => {}
        }
        s.muted = vote;
        live.quiet.send_replace(s.muted.is_some());
    }
}

fn set_admission(live: &Liveness, admission: Result<(), Refusal>) {
    let mut s = live.lock();
    let kind = |a: &Result<(), Refusal>| match a {
        Ok(()) => 0,
        Err(Refusal::NotLeader) => 1,
        Err(Refusal::QuorumLost { .. }) => 2,
        Err(Refusal::Clock(ClockError::Unconfirmed { .. })) => 3,
        Err(Refusal::Clock(ClockError::Disagrees { .. })) => 4,
        Err(Refusal::Recovering) => 5,
    };
    // Logged when the kind of answer changes, not at every tick.
    if kind(&s.admission) != kind(&admission) {
        match &admission {
            Ok(()) => tracing::info!("accepting writes"),
            Err(Refusal::NotLeader) => {}
            Err(e) => tracing::warn!("refusing writes: {e}"),
        }
    }
    s.admission = admission;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(term: u64, node: NodeId, index: u64) -> LogId {
        LogId::new(openraft::CommittedLeaderId::new(term, node), index)
    }

    fn settings() -> Settings {
        let raft = openraft::Config {
            enable_elect: false,
            election_timeout_min: 400,
            election_timeout_max: 800,
            ..Default::default()
        };
        Settings::new(&raft, 3_000)
    }

    #[test]
    fn a_member_that_heard_a_leader_within_the_lease_does_not_pre_vote() {
        let lease = Duration::from_millis(800);
        let l = log(2, 1, 10);
        let ms = Duration::from_millis;
        assert!(!would_vote(Some(ms(100)), lease, Some(&l), Some(&l)));
        assert!(!would_vote(Some(ms(799)), lease, Some(&l), Some(&l)));
        assert!(would_vote(Some(ms(800)), lease, Some(&l), Some(&l)));
        assert!(would_vote(None, lease, Some(&l), Some(&l)));
    }

    #[test]
    fn a_candidate_with_a_shorter_or_older_log_gets_no_pre_vote() {
        let lease = Duration::from_millis(800);
        let ms = Duration::from_millis;
        let mine = log(2, 1, 10);
        assert!(!would_vote(
            Some(ms(900)),
            lease,
            Some(&log(2, 1, 9)),
            Some(&mine)
        ));
        assert!(!would_vote(
            Some(ms(900)),
            lease,
            Some(&log(1, 3, 50)),
            Some(&mine)
        ));
        assert!(!would_vote(Some(ms(900)), lease, None, Some(&mine)));
        assert!(would_vote(
            Some(ms(900)),
            lease,
            Some(&log(3, 2, 1)),
            Some(&mine)
        ));
        assert!(would_vote(Some(ms(900)), lease, None, None));
    }

    fn answer(node: NodeId, vote: Vote) -> ProbeAnswer {
        ProbeAnswer {
            node,
            clock_ms: 0,
            leader_contact_age_ms: Some(0),
            vote,
            last_log: None,
            leader: Some(1),
            would_vote: false,
            ledger_version_max: 1,
        }
    }

    #[test]
    fn a_leader_proposes_the_newest_ledger_version_every_voter_applies() {
        let live = Liveness::new(1, settings().with_ledger_version_max(3));
        let now = Instant::now();
        let vote = Vote::new(1, 1);
        live.settle_ledger_version(&[1]);
        assert_eq!(live.ledger_version(), 3, "alone, its own newest version");
        live.settle_ledger_version(&[1, 2, 3]);
        assert_eq!(
            live.ledger_version(),
            1,
            "voters that never answered: version 1"
        );
        live.record(
            ProbeAnswer {
                ledger_version_max: 2,
                ..answer(2, vote)
            },
            sample(now),
        );
        live.record(
            ProbeAnswer {
                ledger_version_max: 5,
                ..answer(3, vote)
            },
            sample(now),
        );
        live.settle_ledger_version(&[1, 2, 3]);
        assert_eq!(live.ledger_version(), 2);
        live.settle_ledger_version(&[1, 3]);
        assert_eq!(live.ledger_version(), 3, "never above its own");
    }

    #[test]
    fn a_leader_never_proposes_a_version_older_than_the_newest_committed() {
        let live = Liveness::new(1, settings().with_ledger_version_max(3));
        live.settle_ledger_version(&[1, 2, 3]);
        assert_eq!(live.ledger_version(), 1, "voters that never answered");
        live.note_committed_version(3);
        assert_eq!(live.ledger_version(), 3, "version 3 is committed");
        live.note_committed_version(2);
        assert_eq!(live.ledger_version(), 3, "the floor only rises");
        let older = Liveness::new(1, settings().with_ledger_version_max(2));
        older.note_committed_version(3);
        assert_eq!(older.ledger_version(), 2, "never above its own build's");
    }

    fn sample(now: Instant) -> Sample {
        Sample {
            offset_ms: 0,
            rtt_ms: 1,
            taken: now,
        }
    }

    #[test]
    fn a_quiet_leader_resumes_only_when_fresh_answers_of_a_majority_show_its_vote() {
        let live = Liveness::new(1, settings());
        let now = Instant::now();
        let mut mine = Vote::new(3, 1);
        mine.commit();
        let voters = [1, 2, 3, 4, 5];
        live.record(answer(2, mine), sample(now));
        assert!(!followed_by_majority(&live, &mine, &voters, now), "2 of 5");
        // A member that moved on to another vote does not count.
        live.record(answer(3, Vote::new(4, 3)), sample(now));
        assert!(!followed_by_majority(&live, &mine, &voters, now));
        live.record(answer(4, mine), sample(now));
        assert!(followed_by_majority(&live, &mine, &voters, now), "3 of 5");
        // Old answers do not count.
        let later = now + PROBE_INTERVAL * 3;
        assert!(!followed_by_majority(&live, &mine, &voters, later));
    }

    #[tokio::test]
    async fn waiters_learn_when_the_leader_goes_quiet() {
        let live = Liveness::new(1, settings());
        let waiting = {
            let live = live.clone();
            tokio::spawn(async move { live.until_quiet().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        let mut mine = Vote::new(3, 1);
        mine.commit();
        set_quiet(&live, Some(mine));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("task");
        // Already quiet: resolves at once.
        tokio::time::timeout(Duration::from_secs(5), live.until_quiet())
            .await
            .expect("at once");
    }

    #[test]
    fn only_the_muted_vote_is_silenced() {
        let live = Liveness::new(1, settings());
        let mut mine = Vote::new(3, 1);
        mine.commit();
        set_quiet(&live, Some(mine));
        assert!(live.is_muted(&mine));
        let mut newer = Vote::new(4, 1);
        newer.commit();
        assert!(!live.is_muted(&newer));
        set_quiet(&live, None);
        assert!(!live.is_muted(&mine));
    }

    #[test]
    fn a_read_lease_lasts_the_window_after_the_send_a_majority_acknowledged() {
        let ms = Duration::from_millis;
        let live = Liveness::new(1, settings());
        let mut vote = Vote::new(3, 1);
        vote.commit();
        let voters = [1, 2, 3];
        let t0 = Instant::now();
        assert_eq!(
            live.read_lease_until(&vote, &voters, t0),
            None,
            "no send yet"
        );
        live.sending(&vote, t0);
        assert_eq!(
            live.read_lease_until(&vote, &voters, t0),
            None,
            "nobody acknowledged"
        );
        live.acknowledged(2, &vote, t0);
        assert_eq!(
            live.read_lease_until(&vote, &voters, t0),
            Some(t0 + LEASE_READ_WINDOW),
            "this node and node 2 are a majority of three"
        );
        // Five voters need two others; the older of the two newest counts.
        let five = [1, 2, 3, 4, 5];
        assert_eq!(live.read_lease_until(&vote, &five, t0), None);
        let t1 = t0 + ms(50);
        live.sending(&vote, t1);
        live.acknowledged(4, &vote, t1);
        assert_eq!(
            live.read_lease_until(&vote, &five, t1),
            Some(t0 + LEASE_READ_WINDOW)
        );
        // An older acknowledgement never shortens the lease; another vote has none.
        live.acknowledged(2, &vote, t0 - ms(10));
        assert_eq!(
            live.read_lease_until(&vote, &voters, t1),
            Some(t0 + LEASE_READ_WINDOW)
        );
        live.acknowledged(2, &vote, t1);
        assert_eq!(
            live.read_lease_until(&vote, &voters, t1),
            Some(t1 + LEASE_READ_WINDOW)
        );
        let mut newer = Vote::new(4, 1);
        newer.commit();
        assert_eq!(live.read_lease_until(&newer, &voters, t1), None);
        // A vote that begins to send starts a lease of its own, without the old acks.
        live.sending(&newer, t1);
        assert_eq!(live.read_lease_until(&newer, &voters, t1), None);
        // A single voter is its own majority.
        assert!(live.read_lease_until(&newer, &[1], t1).is_some());
    }

    #[test]
    fn a_member_refuses_votes_just_after_it_starts_and_while_it_leads_with_a_lease() {
        let ms = Duration::from_millis;
        let live = Liveness::new(1, settings());
        assert!(
            !live.refuses_votes(None),
            "a new member acknowledged nobody"
        );
        let mut followed = Vote::new(2, 2);
        followed.commit();
        live.restored(followed);
        assert!(
            live.refuses_votes(None),
            "just restarted after following a leader"
        );
        std::thread::sleep(LEASE_READ_WINDOW + ms(20));
        assert!(
            !live.refuses_votes(None),
            "a follower: openraft's own check decides"
        );
        let mut vote = Vote::new(3, 1);
        vote.commit();
        assert!(!live.refuses_votes(Some(&vote)), "a leader that never sent");
        live.sending(&vote, Instant::now());
        assert!(live.refuses_votes(Some(&vote)), "a leader that just sent");
        live.sending(&vote, Instant::now() - LEASE_READ_WINDOW - ms(1));
        assert!(live.refuses_votes(Some(&vote)), "the newest send counts");
    }
}
