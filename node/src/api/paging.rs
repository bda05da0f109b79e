//! Paging of list reads: at most [`PAGE_RECORDS_MAX`] records and [`PAGE_BYTES_MAX`] bytes a
//! page, and page tokens that must be keys of the list they page.

use crate::errors::ApiError;
use crate::limits::{PAGE_BYTES_MAX, PAGE_RECORDS_MAX, PAGE_TOKEN_BYTES_MAX};
use carbon_proto::v1::ErrorCode;

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
