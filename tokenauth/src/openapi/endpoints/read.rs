//! Reading a request body within a bound, for every operation of [`AuthApi`](super::AuthApi)
//! that parses its own body (the login, a roll, revocation and introspection): none of them
//! hands poem-openapi a body to read, because poem-openapi's payloads read without a limit.

use std::marker::PhantomData;

use poem::Request;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tokio::io::AsyncReadExt as _;

/// How the document states a body that its operation reads itself ([`Unread`]).
pub(super) trait Documented: Type {
    /// Its one media type (a body offered in two makes openapi-python-client 0.29 generate a
    /// module that does not import: its issue #1451).
    const CONTENT_TYPE: &'static str;
    /// What the document says of it.
    const DESCRIPTION: &'static str;
    /// Whether the operation needs one.
    const REQUIRED: bool;
}

/// A request body left unread for its operation, which reads it within a bound
/// ([`read_bounded`]) and parses it itself, so that each refusal gets its own status and
/// body; documented as `D` says. poem-openapi's payloads would read it without a limit.
pub(super) struct Unread<D>(pub(super) poem::Body, PhantomData<fn() -> D>);

impl<'a, D: Documented> ApiExtractor<'a> for Unread<D> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        D::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(D::DESCRIPTION),
            content: vec![MetaMediaType {
                content_type: D::CONTENT_TYPE,
                schema: D::schema_ref(),
            }],
            required: D::REQUIRED,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Unread(body.take()?, PhantomData))
    }
}

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotRead {
    /// It is over the limit: by its `Content-Length`, or by the bytes that came.
    TooLarge,
    /// The connection failed while it was read.
    Failed,
}

/// The message of a body that could not be read.
pub(super) const UNREADABLE: &str = "The request body could not be read.";

/// Reads at most `limit` bytes of `body`: refused at once if its `Content-Length` says more,
/// and as soon as one byte more has come otherwise (whatever the length claimed), before
/// anything is parsed. Memory is bounded by `limit` (at most 64 KiB is reserved up front).
pub(super) async fn read_bounded(
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

/// The request's `Content-Type`, if it is text.
pub(super) fn content_type(request: &Request) -> Option<&str> {
    request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
}
