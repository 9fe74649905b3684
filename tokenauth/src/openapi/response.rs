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

use crate::keyword::{Requirement, Scheme, TokenKeyword, challenger};
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

/// The description of the `401` of an operation whose first keyword has RFC 6750's challenge
/// (see [`UNAUTHORIZED`]): the malformed headers are its `400`.
pub(crate) const UNAUTHORIZED_RFC6750: &str = "Not authenticated: the credentials are missing \
    or invalid, or the user is inactive. `WWW-Authenticate` is RFC 6750's challenge, with \
    `error=\"invalid_token\"` when a key was sent. The body's `detail` is Django REST \
    framework's message: `Authentication credentials were not provided.`, `Invalid token.` or \
    `User inactive or deleted.`";

/// The description of the `400` of an operation whose first keyword has RFC 6750's challenge
/// (see [`UNAUTHORIZED`]).
pub(crate) const BAD_REQUEST_RFC6750: &str = "A malformed `Authorization` header (RFC 6750's \
    `invalid_request`): the keyword alone, a key with spaces, or a key that is not UTF-8. The \
    body's `detail` is one of Django REST framework's `Invalid token header. …` messages.";

/// The description of the `403` every secured operation documents (see [`UNAUTHORIZED`]): a
/// token may lack a scope, and any token may carry limits.
pub(crate) const FORBIDDEN: &str = "Forbidden: the token lacks a required scope, or the request \
    is outside the token's limits (sent from an address not in its `allowed_ips`, or other \
    than `GET`, `HEAD` or `OPTIONS` with a read-only token). The body is \
    `{\"detail\": \"You do not have permission to perform this action.\"}`.";

/// The examples the document gives of a response with one of tokenauth's descriptions
/// ([`UNAUTHORIZED`], [`UNAUTHORIZED_RFC6750`], [`BAD_REQUEST_RFC6750`], [`FORBIDDEN`]):
/// `(name, summary, body)`, each body the one the [`Rejection`] of that reason sends.
pub(crate) fn examples(description: &str) -> Vec<(&'static str, &'static str, String)> {
    let body = |rejection: Rejection| serde_json::json!({ "detail": rejection.to_string() });
    let reasons: fn(&Reason) -> bool = match description {
        UNAUTHORIZED => |_| true,
        UNAUTHORIZED_RFC6750 => |reason| !reason.is_malformed_header(),
        BAD_REQUEST_RFC6750 => |reason| reason.is_malformed_header(),
        _ => |_| false,
    };
    if description != FORBIDDEN {
        Reason::ALL
            .iter()
            .filter(|reason| reasons(reason))
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
    } else {
        let rejection = Rejection::forbidden();
        let summary = "The token lacks a required scope";
        vec![("insufficient_scope", summary, body(rejection).to_string())]
    }
}

/// The documented `WWW-Authenticate` of a refusal by `scheme` for `reason` (a `403` for
/// `None`), with the challenge it sends as its example; `None` if it sends none (DRF's
/// `403`).
fn challenge_header(
    scheme: Scheme,
    reason: Option<Reason>,
    scopes: &'static [&'static str],
) -> Option<MetaHeader> {
    let rejection = match reason {
        Some(reason) => Rejection::unauthorized_for(scheme, reason),
        None => Rejection::forbidden_for(scheme, scopes),
    };
    let example = rejection.challenge()?;
    let keyword = scheme.keyword;
    let description = match (scheme.challenge.realm(), reason) {
        (None, _) => format!("The authentication keyword: `{keyword}`."),
        (Some(realm), Some(Reason::NotAuthenticated | Reason::InvalidToken)) => format!(
            "RFC 6750's challenge: `{keyword} realm=\"{realm}\"` without credentials, with \
             `error=\"invalid_token\"` and `error_description` for a key that was refused."
        ),
        (Some(_), Some(_)) => {
            "RFC 6750's challenge, with `error=\"invalid_request\"` and `error_description`."
                .to_owned()
        }
        (Some(_), None) => "RFC 6750's challenge, with `error=\"insufficient_scope\"`, \
             `error_description` and the required scopes in `scope` (if any)."
            .to_owned(),
    };
    Some(MetaHeader {
        name: "WWW-Authenticate".to_owned(),
        description: Some(description),
        required: true,
        deprecated: false,
        schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some(example.into()),
            ..MetaSchema::new("string")
        })),
    })
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
        let scheme = challenger::<R>();
        let rfc6750 = scheme.challenge.is_rfc6750();
        let refusals = [
            (
                400,
                rfc6750.then_some(BAD_REQUEST_RFC6750),
                Some(Reason::SpacesInToken),
            ),
            (
                401,
                Some(if rfc6750 {
                    UNAUTHORIZED_RFC6750
                } else {
                    UNAUTHORIZED
                }),
                Some(Reason::InvalidToken),
            ),
            (403, Some(FORBIDDEN), None),
        ];
        for (status, description, reason) in refusals {
            let Some(description) = description else {
                continue;
            };
            if let Some(own) = meta.responses.iter_mut().find(|r| r.status == Some(status)) {
                // The operation documents this status itself (e.g. a `400` for its body):
                // with RFC 6750's challenge, the refusal may be tokenauth's too, so the
                // challenge it then sends is documented beside the operation's own.
                let documented = own
                    .headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("WWW-Authenticate"));
                if rfc6750 && !documented {
                    let header = challenge_header(scheme, reason, R::SCOPES);
                    own.headers.extend(header.map(|header| MetaHeader {
                        required: false,
                        ..header
                    }));
                }
                continue;
            }
            meta.responses.push(MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: JSON,
                    schema: <ErrorDetail as Type>::schema_ref(),
                }],
                headers: challenge_header(scheme, reason, R::SCOPES)
                    .into_iter()
                    .collect(),
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
