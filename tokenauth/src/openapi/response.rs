//! What a secured operation answers: its own responses, plus the documented `401` (and `403`
//! for scopes), in Django REST framework's format.

use std::marker::PhantomData;

use poem::IntoResponse;
use poem::error::IntoResult;
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;

use crate::keyword::{Requirement, TokenKeyword, challenge};
use crate::rejection::Rejection;

/// A refusal in Django REST framework's format: `{"detail": "<message>"}`.
#[derive(poem_openapi::Object)]
#[oai(rename = "ErrorDetail")]
pub(crate) struct ErrorDetail {
    /// Django REST framework's message, e.g. `Invalid token.`
    pub(crate) detail: String,
}

/// The response of a secured operation: the operation's own response type `R`, plus the
/// documented `401` (JSON `detail` body and `WWW-Authenticate: <keyword>` header).
///
/// When `R` has a `bad_request_handler`, poem-openapi hands it every extractor error; `WithAuthErrors`
/// passes authentication failures through untouched, so they stay DRF's `401`s, and hands
/// every other error to `R`'s handler.
///
/// ```
/// use poem_openapi::{OpenApi, payload::PlainText};
/// use tokenauth::ApiAuth;
/// use tokenauth::openapi::WithAuthErrors;
/// use tokenauth::keyword::TokenKeyword;
///
/// struct Api;
///
/// #[OpenApi]
/// impl Api {
///     #[oai(path = "/me", method = "get")]
///     async fn me(&self, auth: ApiAuth) -> WithAuthErrors<PlainText<String>, TokenKeyword> {
///         WithAuthErrors::from(PlainText(auth.user.username.clone()))
///     }
/// }
/// ```
pub struct WithAuthErrors<T, R = TokenKeyword> {
    response: Result<T, poem::Error>,
    requirement: PhantomData<R>,
}

impl<T, R> From<T> for WithAuthErrors<T, R> {
    fn from(response: T) -> Self {
        WithAuthErrors {
            response: Ok(response),
            requirement: PhantomData,
        }
    }
}

impl<T: ApiResponse, R: Requirement> ApiResponse for WithAuthErrors<T, R> {
    const BAD_REQUEST_HANDLER: bool = T::BAD_REQUEST_HANDLER;

    fn meta() -> MetaResponses {
        let mut meta = T::meta();
        if !meta.responses.iter().any(|r| r.status == Some(401)) {
            meta.responses.push(MetaResponse {
                description: "Not authenticated: the credentials are missing, malformed or \
                              invalid, or the user is inactive. The body's `detail` holds \
                              Django REST framework's message.",
                status: Some(401),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: <ErrorDetail as Type>::schema_ref(),
                }],
                headers: vec![MetaHeader {
                    name: "WWW-Authenticate".to_owned(),
                    description: Some(format!(
                        "The authentication keyword: `{}`.",
                        challenge::<R>()
                    )),
                    required: true,
                    deprecated: false,
                    schema: <String as Type>::schema_ref(),
                }],
            });
        }
        if !R::SCOPES.is_empty() && !meta.responses.iter().any(|r| r.status == Some(403)) {
            meta.responses.push(MetaResponse {
                description: "Forbidden: the token lacks a required scope \
                              (`{\"detail\":\"You do not have permission to perform this action.\"}`).",
                status: Some(403),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: <ErrorDetail as Type>::schema_ref(),
                }],
                headers: Vec::new(),
            });
        }
        meta
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
        <ErrorDetail as Type>::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        if err.is::<Rejection>() {
            WithAuthErrors {
                response: Err(err),
                requirement: PhantomData,
            }
        } else {
            WithAuthErrors::from(T::from_parse_request_error(err))
        }
    }
}

impl<T, R, O> IntoResult<O> for WithAuthErrors<T, R>
where
    T: IntoResult<O>,
    O: IntoResponse,
{
    fn into_result(self) -> poem::Result<O> {
        self.response?.into_result()
    }
}

/// Fixes an `async` block's output type, so that `?` and `return` inside an operation's
/// original body convert to the operation's declared return type. For the code
/// `#[token_auth]` generates (through `__private`), which wraps the body's response in
/// [`WithAuthErrors`].
pub fn output<R, F: Future<Output = R>>(body: F) -> F {
    body
}
