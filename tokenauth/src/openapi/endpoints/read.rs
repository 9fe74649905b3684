//! Reading a request body within a bound, for every operation of [`AuthApi`](super::AuthApi)
//! that parses its own body (the login, a roll, revocation and introspection): none of them
//! hands poem-openapi a body to read, because poem-openapi's payloads read without a limit.

use std::marker::PhantomData;

use poem::Request;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

pub(super) use crate::request_body::{NotRead, UNREADABLE, read_bounded};

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

/// The request's `Content-Type`, if it is text.
pub(super) fn content_type(request: &Request) -> Option<&str> {
    request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
}
