//! Every resource limit of the client API, in one place (TigerBeetle's rule: a limit on every
//! queue and input, named with its unit). Exceeding one is answered with RESOURCE_EXHAUSTED and a
//! message naming the limit; nothing is queued or read beyond it.
//!
//! Limits defined elsewhere, next to what they bound: `ingress::MAX_TX_BYTES` (one signed
//! transaction), `ingress::MAX_BATCH_TXS` (one SubmitBatch), `ingress::SIGNERS_MAX`,
//! `ingress::MEMO_BYTES_MAX`, `forward::MAX_CLIENT_MESSAGE` (one client message),
//! `raft::network::MAX_PEER_MESSAGE` (one peer message), `raft::peer_service::SNAPSHOT_BYTES_MAX`
//! (a snapshot received), `batcher::MAX_BATCH_BYTES` (one log entry),
//! `auth::READ_AUTH_VALID_MS_MAX` (a read credential's life).

use crate::errors::ApiError;
use carbon_proto::v1::ErrorCode;

/// Requests one client connection may have in flight; more are shed (RESOURCE_EXHAUSTED).
pub const REQUESTS_PER_CONNECTION_MAX: usize = 256;
/// HTTP/2 streams one client connection may open at once (the client waits for more).
pub const STREAMS_PER_CONNECTION_MAX: u32 = 512;
/// Watch streams open on one node at once.
pub const WATCH_STREAMS_MAX: usize = 256;
/// Of those, streams without a read credential (the public stream) at most: anonymous clients
/// cannot take the slots of the regulator and the parties.
pub const WATCH_PUBLIC_STREAMS_MAX: usize = 192;
/// Of those, streams reserved for regulator accounts: no other account can take them.
pub const WATCH_REGULATOR_STREAMS_MAX: usize = 16;
/// The rest (`WATCH_STREAMS_MAX` - public - regulator) is shared by the other accounts, each
/// with at most this many streams open on a node at once.
pub const WATCH_STREAMS_PER_ACCOUNT_MAX: usize = 4;
/// Longest validity an admin request (membership change, backup, cluster status) may claim,
/// from this node's clock: as a read credential, a one-request ticket.
pub const ADMIN_REQUEST_VALID_MS_MAX: u64 = 5 * 60 * 1000;
/// Admin requests a node remembers (to refuse their replay) within that validity; more are
/// refused (only the cluster admin key's holder can send them).
pub const ADMIN_REQUESTS_REMEMBERED_MAX: usize = 4_096;
/// Bytes of signed transactions queued on the leader and not yet proposed: the largest request
/// a client may send (one SubmitBatch must always fit), ~100,000 transfers of ~300 bytes. More
/// is answered RESOURCE_EXHAUSTED, nothing proposed.
pub const PROPOSAL_QUEUE_BYTES_MAX: usize = 32 << 20;
const _: () = assert!(PROPOSAL_QUEUE_BYTES_MAX >= super::forward::MAX_CLIENT_MESSAGE);
/// Records in one page of a list read.
pub const PAGE_RECORDS_MAX: usize = 1_000;
/// Encoded bytes of the records of one page of a list read (a page ends before the record that
/// would cross it; a single larger record is still returned alone).
pub const PAGE_BYTES_MAX: usize = 4 << 20;

pub fn exhausted(m: impl Into<String>) -> ApiError {
    ApiError::not_applied(ErrorCode::ResourceExhausted, m)
}

/// The records of one page: at most `limit` (0 = [`PAGE_RECORDS_MAX`], never more) and at most
/// [`PAGE_BYTES_MAX`] bytes.
pub struct Pager {
    limit: usize,
}

impl Pager {
    pub fn new(requested: u32) -> Self {
        let limit = match usize::try_from(requested).unwrap_or(PAGE_RECORDS_MAX) {
            0 => PAGE_RECORDS_MAX,
            n => n.min(PAGE_RECORDS_MAX),
        };
        Pager { limit }
    }

    /// How many records to read for a page: one more than fit, to learn whether more exist.
    pub fn read_limit(&self) -> usize {
        self.limit.saturating_add(1)
    }

    /// The records that fit, in order, and the key of the last one when records were left out
    /// (the next page's token; empty on the last page).
    pub fn take<T>(
        &self,
        rows: Vec<(Vec<u8>, T)>,
        size: impl Fn(&T) -> usize,
    ) -> (Vec<T>, Vec<u8>) {
        let mut out = Vec::with_capacity(rows.len().min(self.limit));
        let mut bytes = 0usize;
        let mut last = Vec::new();
        let mut more = false;
        for (k, r) in rows {
            let n = size(&r);
            let fits = out.len() < self.limit
                && (out.is_empty() || bytes.saturating_add(n) <= PAGE_BYTES_MAX);
            if !fits {
                more = true;
                break;
            }
            bytes = bytes.saturating_add(n);
            last = k;
            out.push(r);
        }
        (out, if more { last } else { Vec::new() })
    }
}

/// Bytes of a page token (a state key: ids and numbers, far shorter); a longer one is refused.
pub const PAGE_TOKEN_BYTES_MAX: usize = 512;

/// A page token must be a key of the list it pages (`prefix`); anything else is refused.
pub fn check_token(token: &[u8], prefix: &[u8]) -> Result<(), ApiError> {
    if token.is_empty() || (token.starts_with(prefix) && token.len() <= PAGE_TOKEN_BYTES_MAX) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidArgument,
            "page_token does not belong to this read: pass next_page_token of the same request",
        ))
    }
}
