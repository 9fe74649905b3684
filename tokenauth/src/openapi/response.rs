//! What a secured operation answers: its own responses, plus the documented `401` (and `403`
//! for scopes), in Django REST framework's format.

use std::marker::PhantomData;

use poem::IntoResponse;
use poem::error::IntoResult;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;

use crate::keyword::{Requirement, TokenKeyword, challenge};
use crate::rejection::{Reason, Rejection};

/// A refusal in Django REST framework's format: `{"detail": "<message>"}`, the body of every
/// `401` and `403` that tokenauth documents (schema `ErrorDetail`).
///
/// Public so that an application can document its own errors with the same schema: client
/// generators that take one error type per operation (progenitor) then accept an operation
/// that has errors of its own besides tokenauth's `401`.
///
/// ```
/// use poem_openapi::{ApiResponse, OpenApi, payload::Json};
/// use tokenauth::openapi::ErrorDetail;
/// use tokenauth::{token_auth, User};
///
/// #[derive(ApiResponse)]
/// enum Order {
///     /// The order.
///     #[oai(status = 200)]
///     Found(Json<String>),
///     /// No such order.
///     #[oai(status = 404)]
///     NotFound(Json<ErrorDetail>),
/// }
///
/// struct Api;
///
/// #[token_auth]
/// #[OpenApi]
/// impl Api {
///     /// One order.
///     #[oai(path = "/orders/:id", method = "get")]
///     async fn order(&self, user: User, id: poem_openapi::param::Path<i64>) -> Order {
///         match id.0 {
///             1 => Order::Found(Json(format!("order #1 of {}", user.username))),
///             _ => Order::NotFound(Json(ErrorDetail::new("Not found."))),
///         }
///     }
/// }
/// ```
#[derive(poem_openapi::Object, Debug, Clone, PartialEq, Eq)]
#[oai(rename = "ErrorDetail")]
pub struct ErrorDetail {
    /// Django REST framework's message: each response lists those it can be.
    pub detail: String,
}

impl ErrorDetail {
    /// `{"detail": <detail>}`.
    ///
    /// ```
    /// let body = tokenauth::openapi::ErrorDetail::new("Not found.");
    /// assert_eq!(body.detail, "Not found.");
    /// ```
    pub fn new(detail: impl Into<String>) -> Self {
        ErrorDetail {
            detail: detail.into(),
        }
    }
}

/// The media type of every JSON body tokenauth documents: poem-openapi's, as the
/// application's own `Json` bodies are documented, so that each response of an operation has
/// the same key (`application/json; charset=utf-8`).
pub(crate) const JSON: &str = <poem_openapi::payload::Json<ErrorDetail> as Payload>::CONTENT_TYPE;

/// The description of the `401` a secured operation documents. [`super::examples`] knows it:
/// the response gets an example of each message.
pub(crate) const UNAUTHORIZED: &str = "Not authenticated: the credentials are missing, \
    malformed or invalid, or the user is inactive. The body's `detail` is Django REST \
    framework's message: `Authentication credentials were not provided.`, `Invalid token.`, \
    `User inactive or deleted.`, or one of the `Invalid token header. …` messages for a \
    malformed `Authorization` header.";

/// The description of the `403` every secured operation documents (see [`UNAUTHORIZED`]): a
/// token may lack a scope, and any token may carry limits.
pub(crate) const FORBIDDEN: &str = "Forbidden: the token lacks a required scope, or the request \
    is outside the token's limits (sent from an address not in its `allowed_ips`, or other \
    than `GET`, `HEAD` or `OPTIONS` with a read-only token). The body is \
    `{\"detail\": \"You do not have permission to perform this action.\"}`.";

/// The examples the document gives of a response with one of tokenauth's descriptions
/// ([`UNAUTHORIZED`], [`FORBIDDEN`]): `(name, summary, body)`, each body the one the
/// [`Rejection`] of that reason sends.
pub(crate) fn examples(description: &str) -> Vec<(&'static str, &'static str, String)> {
    let body = |rejection: Rejection| serde_json::json!({ "detail": rejection.to_string() });
    if description == UNAUTHORIZED {
        Reason::ALL
            .iter()
            .map(|&reason| {
                let (name, summary) = match reason {
                    Reason::NotAuthenticated => ("not_provided", "No credentials"),
                    Reason::InvalidToken => ("invalid_token", "An unknown, revoked or expired key"),
                    Reason::UserInactive => ("user_inactive", "The user is inactive or deleted"),
                    Reason::NoCredentialsInHeader => ("no_credentials", "The keyword alone"),
                    Reason::SpacesInToken => ("spaces", "A key with spaces in it"),
                    Reason::InvalidCharacters => ("invalid_characters", "A key that is not UTF-8"),
                };
                let rejection = Rejection::unauthorized("Token", reason);
                (name, summary, body(rejection).to_string())
            })
            .collect()
    } else if description == FORBIDDEN {
        let rejection = Rejection::forbidden();
        let summary = "The token lacks a required scope";
        vec![("insufficient_scope", summary, body(rejection).to_string())]
    } else {
        Vec::new()
    }
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
            let keyword = challenge::<R>();
            meta.responses.push(MetaResponse {
                description: UNAUTHORIZED,
                status: Some(401),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: JSON,
                    schema: <ErrorDetail as Type>::schema_ref(),
                }],
                headers: vec![MetaHeader {
                    name: "WWW-Authenticate".to_owned(),
                    description: Some(format!("The authentication keyword: `{keyword}`.")),
                    required: true,
                    deprecated: false,
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
                        example: Some(keyword.into()),
                        ..MetaSchema::new("string")
                    })),
                }],
            });
        }
        if !meta.responses.iter().any(|r| r.status == Some(403)) {
            meta.responses.push(MetaResponse {
                description: FORBIDDEN,
                status: Some(403),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: JSON,
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
