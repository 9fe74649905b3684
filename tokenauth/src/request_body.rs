//! Reading a request body within a bound, for every endpoint of tokenauth's that reads its
//! own body (the login, a roll, revocation, introspection, a leaked-key report): poem's and
//! poem-openapi's readers take a body without a limit.

use poem::Request;
use tokio::io::AsyncReadExt as _;

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotRead {
    /// It is over the limit: by its `Content-Length`, or by the bytes that came.
    TooLarge,
    /// The connection failed while it was read.
    Failed,
}

/// The message of a body that could not be read.
pub(crate) const UNREADABLE: &str = "The request body could not be read.";

/// Reads at most `limit` bytes of `body`: refused at once if its `Content-Length` says more,
/// and as soon as one byte more has come otherwise (whatever the length claimed), before
/// anything is parsed. Memory is bounded by `limit` (at most 64 KiB is reserved up front).
pub(crate) async fn read_bounded(
    body: poem::Body,
    request: &Request,
    limit: usize,
) -> Result<Vec<u8>, NotRead> {
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit_bytes = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit_bytes) {
        return Err(NotRead::TooLarge);
    }
    let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(0));
    let mut bytes = Vec::with_capacity(limit.min(capacity).min(64 * 1024));
    body.into_async_read()
        .take(limit_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(|_| NotRead::Failed)?;
    if bytes.len() > limit {
        return Err(NotRead::TooLarge);
    }
    Ok(bytes)
}
