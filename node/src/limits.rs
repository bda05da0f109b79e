//! Every resource limit of the node crate, in one place (TigerBeetle's rule: a limit on every
//! queue and input, named `THING_UNIT_MAX` with its unit). Exceeding one is answered with
//! RESOURCE_EXHAUSTED (or INVALID_ARGUMENT for an input) and a message naming the limit; nothing
//! is queued or read beyond it. How related limits relate is checked when the crate compiles
//! (the `const _: () = assert!(…)` lines).
//!
//! The ledger's own limits (lengths of ids and text, keys per account, crediting years) are
//! `carbon_ledger::limits`; the signatures one transaction may carry are
//! `carbon_proto::signing::SIGNATURES_MAX`. Timings (timeouts, pauses, ticks) stay next to what
//! they time.
//!
//! A leaf: it imports nothing of the node.

// --- One request, as it enters (write::checks, api, serve) ---

/// Largest accepted signed transaction, encoded. 512 KiB (64 KiB before rule 16): room for a
/// bulk opening or a RecordReductions of 10,000 rows with ids of up to
/// [`BULK_ROW_ID_BYTES`] bytes (see the relations below); carbonctl splits a CSV by bytes too.
pub const TX_BYTES_MAX: usize = 512 * 1024;
/// The account id length up to which 10,000 bulk rows fit in one transaction, in bytes (a
/// bulk opening's row: id and a name of as many bytes; a reduction row: id and grams).
pub const BULK_ROW_ID_BYTES: usize = 20;
/// Most transactions in one SubmitBatch.
pub const BATCH_TXS_MAX: usize = 10_000;
/// Most accounts one transaction may name as signers (a trade or a pledge needs two).
pub const SIGNERS_MAX: usize = 4;
/// Longest memo, in bytes.
pub const MEMO_BYTES_MAX: usize = 512;
/// Largest client message, either way (a SubmitBatch of many transactions, a page of records).
pub const CLIENT_MESSAGE_BYTES_MAX: usize = 32 << 20;
/// Requests one client connection may have in flight; more are shed (RESOURCE_EXHAUSTED).
pub const REQUESTS_PER_CONNECTION_MAX: usize = 256;
/// HTTP/2 streams one client connection may open at once (the client waits for more).
pub const STREAMS_PER_CONNECTION_MAX: u32 = 512;
/// Handshaken connections waiting for the gRPC server to take them (`tls::reload`).
pub const ACCEPTED_CONNECTIONS_QUEUED_MAX: usize = 64;

const _: () = assert!(TX_BYTES_MAX <= CLIENT_MESSAGE_BYTES_MAX);
// 10,000 rows of rule 16 fit: a bulk opening's row is an id and a name of BULK_ROW_ID_BYTES
// each, plus 6 bytes of protobuf framing; a reduction row an id, up to 10 bytes of grams and 6
// of framing; 4 KiB for the rest of the transaction (signatures, ids, memo).
const _: () = assert!(
    carbon_ledger::limits::PERSONAL_ACCOUNTS_PER_TX_MAX * (2 * BULK_ROW_ID_BYTES + 6) + 4096
        <= TX_BYTES_MAX
);
const _: () = assert!(
    carbon_ledger::limits::REDUCTION_ROWS_PER_TX_MAX * (BULK_ROW_ID_BYTES + 16) + 4096
        <= TX_BYTES_MAX
);
const _: () = assert!(MEMO_BYTES_MAX < TX_BYTES_MAX);

// --- The write path's queues (write::pool, write::proposer, write::deliver) ---

/// Signatures one worker of the ingress pool verifies in one batch at most.
pub const BATCH_SIGNATURES_MAX: usize = 1_024;
/// Transactions waiting for the ingress pool at most; more are refused (RESOURCE_EXHAUSTED,
/// fate NOT_APPLIED) before any work is spent on them: what the leader cannot check within
/// about a second is better refused than queued.
pub const QUEUE_TXS_MAX: usize = 32_768;
/// Requests waiting for the ingress pool at most.
pub const QUEUE_JOBS_MAX: usize = 4_096;
/// Bytes of signed transactions queued on the leader and not yet proposed: the largest request
/// a client may send (one SubmitBatch must always fit), ~100,000 transfers of ~300 bytes. More
/// is answered RESOURCE_EXHAUSTED, nothing proposed.
pub const PROPOSAL_QUEUE_BYTES_MAX: usize = 32 << 20;
const _: () = assert!(PROPOSAL_QUEUE_BYTES_MAX >= CLIENT_MESSAGE_BYTES_MAX);
/// Requests waiting for the proposer, at most (bytes bound them first).
pub const QUEUE_GROUPS_MAX: usize = 65_536;
/// Bytes of transactions in one log entry at most. One append carries up to
/// [`APPEND_ENTRIES_MAX`] entries, which must fit in a peer message with room to spare.
pub const ENTRY_BYTES_MAX: usize = 2 << 20;
/// Entries proposed and not yet applied, at most.
pub const ENTRIES_IN_FLIGHT_MAX: usize = 4;
/// Rounds in which a submission tries to reach a leader (`write::deliver`'s `DELIVERY_PAUSE`
/// between them: about three seconds in all, longer than an election, shorter than carbonctl's
/// 5 s attempt).
pub const DELIVERY_ROUNDS_MAX: u32 = 12;
/// Longest a bulk transaction waits on the leader for its turn (`write::bulk`) before it is
/// refused with RESOURCE_EXHAUSTED; below a follower's forwarding attempt (2 s, after which it
/// sends the same bytes again, which would take a second turn) and carbonctl's 5 s attempt.
pub const BULK_WAIT_MS_MAX: u64 = 1_500;

const _: () = assert!(TX_BYTES_MAX <= ENTRY_BYTES_MAX);
const _: () = assert!(ENTRY_BYTES_MAX <= PROPOSAL_QUEUE_BYTES_MAX);
const _: () = assert!(BATCH_TXS_MAX <= QUEUE_TXS_MAX);
const _: () = assert!(SIGNERS_MAX <= BATCH_SIGNATURES_MAX);

// --- Raft between members (serve::raft_config, raft::network, raft::peer_service) ---

/// Entries in one append message at most (openraft's `max_payload_entries`).
pub const APPEND_ENTRIES_MAX: u64 = 16;
/// Largest peer message (one append carries at most [`APPEND_ENTRIES_MAX`] entries).
pub const PEER_MESSAGE_BYTES_MAX: usize = 96 << 20;
/// Bytes of one snapshot chunk sent to a follower (openraft's `snapshot_max_chunk_size`).
pub const SNAPSHOT_CHUNK_BYTES_MAX: u64 = 1 << 20;
/// Largest snapshot a node accepts from its leader, in bytes (chunks past it are refused before
/// they are written).
pub const SNAPSHOT_BYTES_MAX: u64 = 16 << 30;
/// Committed entries a node may still have to apply and be SERVING (applies under load trail
/// commits by a few entries; a member catching up from far behind trails by many more). Also
/// openraft's `replication_lag_threshold`: a learner counts as caught up within it.
pub const CATCHING_UP_ENTRIES_MAX: u64 = 64;

// An append of APPEND_ENTRIES_MAX full entries fits in a peer message twice over.
const _: () = assert!(APPEND_ENTRIES_MAX as usize * ENTRY_BYTES_MAX * 2 <= PEER_MESSAGE_BYTES_MAX);
const _: () = assert!((SNAPSHOT_CHUNK_BYTES_MAX as usize) < PEER_MESSAGE_BYTES_MAX);

// --- Storage (storage::log, storage::state_db, storage::view, storage::state, snapshots) ---

/// Bytes of log entries kept in memory for replication and re-application.
pub const WAL_CACHE_BYTES_MAX: usize = 64 << 20;
/// Size at which the WAL starts a new chunk file (purged chunks are deleted whole).
pub const WAL_CHUNK_BYTES_MAX: usize = 64 << 20;
/// Bytes of appended records waiting for the flush worker before `append` blocks.
pub const WAL_QUEUE_BYTES_MAX: usize = 64 << 20;
/// Bytes of page cache the state database may use (sled's README warns it can use too much).
pub const STATE_CACHE_BYTES_MAX: u64 = 128 << 20;
/// Applied entries held in memory at most before they are written back to sled: bounds the
/// entries a restart applies again.
pub const WRITE_BACK_ENTRIES_MAX: usize = 64;
/// Bytes of cold changes held in memory at most before they are written back.
pub const WRITE_BACK_BYTES_MAX: usize = 32 << 20;
/// How many committed entries a slow Watch subscriber may fall behind before it re-reads.
pub const WATCH_BUFFER_ENTRIES_MAX: usize = 4096;
/// Records per sled batch while loading a snapshot into a fresh tree.
pub const INSTALL_BATCH_RECORDS_MAX: usize = 10_000;
/// Largest key or value a snapshot file may hold (bounds the receiver's memory per record).
pub const SNAPSHOT_RECORD_BYTES_MAX: u32 = 64 << 20;

const _: () = assert!(ENTRY_BYTES_MAX <= WAL_CHUNK_BYTES_MAX);
const _: () = assert!(ENTRY_BYTES_MAX <= WAL_QUEUE_BYTES_MAX);
const _: () = assert!(ENTRY_BYTES_MAX <= WRITE_BACK_BYTES_MAX);
const _: () = assert!(SNAPSHOT_RECORD_BYTES_MAX as u64 <= SNAPSHOT_BYTES_MAX);
// A chain bucket (ledger::keys::sequence_bucket) holds SEQUENCE_BUCKET_TXS records of at most
// a transaction and its outcome each (an outcome is far below 64 KiB): it fits in a snapshot
// record.
const _: () = assert!(
    carbon_ledger::keys::SEQUENCE_BUCKET_TXS as usize * (TX_BYTES_MAX + 64 * 1024)
        <= SNAPSHOT_RECORD_BYTES_MAX as usize
);

// --- Reads, Watch, admin, backup, the disclosure page (api, disclosure_page) ---

/// Records in one page of a list read.
pub const PAGE_RECORDS_MAX: usize = 1_000;
/// Encoded bytes of the records of one page of a list read (a page ends before the record that
/// would cross it; a single larger record is still returned alone).
pub const PAGE_BYTES_MAX: usize = 4 << 20;
/// Bytes of a page token (a state key: ids and numbers, far shorter); a longer one is refused.
pub const PAGE_TOKEN_BYTES_MAX: usize = 512;
/// Longest validity a read credential may claim, from this node's clock: a credential is a
/// one-request ticket, not a session.
pub const READ_AUTH_VALID_MS_MAX: u64 = 5 * 60 * 1000;
/// Watch streams open on one node at once.
pub const WATCH_STREAMS_MAX: usize = 256;
/// Of those, streams without a read credential (the public stream) at most: anonymous clients
/// cannot take the slots of the regulator and the parties.
pub const WATCH_PUBLIC_STREAMS_MAX: usize = 192;
/// Of those, streams reserved for regulator accounts: no other account can take them.
pub const WATCH_REGULATOR_STREAMS_MAX: usize = 16;
/// The rest, shared by the other accounts.
pub const WATCH_ACCOUNT_STREAMS_MAX: usize =
    WATCH_STREAMS_MAX - WATCH_PUBLIC_STREAMS_MAX - WATCH_REGULATOR_STREAMS_MAX;
/// Of those, streams one account may have open on a node at once.
pub const WATCH_STREAMS_PER_ACCOUNT_MAX: usize = 4;
/// Committed transactions buffered for one Watch stream before it waits for its client.
pub const WATCH_STREAM_BUFFER_TXS_MAX: usize = 256;
/// Longest validity an admin request (membership change, backup, cluster status) may claim,
/// from this node's clock: as a read credential, a one-request ticket.
pub const ADMIN_REQUEST_VALID_MS_MAX: u64 = 5 * 60 * 1000;
/// Admin requests a node remembers (to refuse their replay) within that validity; more are
/// refused (only the cluster admin key's holder can send them).
pub const ADMIN_REQUESTS_REMEMBERED_MAX: usize = 4_096;
/// Bytes of backup file per chunk streamed.
pub const BACKUP_CHUNK_BYTES_MAX: usize = 1 << 20;
/// Backup chunks read ahead of the client.
pub const BACKUP_CHUNKS_AHEAD_MAX: usize = 4;
/// Most rows one table of the disclosure page shows.
pub const DISCLOSURE_TABLE_ROWS_MAX: usize = 500;
/// Most disclosure records (and market days) one view of the disclosure page reads: its year's,
/// then every year's cancellations and issuance to find the years with data (the picker).
pub const DISCLOSURE_ROWS_READ_MAX: usize = 20_000;

const _: () = assert!(PAGE_BYTES_MAX < CLIENT_MESSAGE_BYTES_MAX);
const _: () = assert!(BACKUP_CHUNK_BYTES_MAX < CLIENT_MESSAGE_BYTES_MAX);
const _: () = assert!(WATCH_PUBLIC_STREAMS_MAX + WATCH_REGULATOR_STREAMS_MAX < WATCH_STREAMS_MAX);
const _: () = assert!(WATCH_STREAMS_PER_ACCOUNT_MAX <= WATCH_ACCOUNT_STREAMS_MAX);
