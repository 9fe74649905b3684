//! poem-openapi support (feature `openapi`): extractors that are OpenAPI security schemes,
//! and a response wrapper that documents the `401` and keeps auth failures `401`s.
//!
//! `#[token_auth]` on an `#[OpenApi]` impl generates the use of these types; they are public
//! for hand-written operations too.

use std::marker::PhantomData;

use poem::error::IntoResult;
use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSecurityScheme, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions};

use crate::__private::{Split, is_bearer};
use crate::{AuthError, AuthUser, Keyword, Rejection, Token, TokenKeyword, User};

/// An authentication failure, in Django REST framework's format.
#[derive(poem_openapi::Object)]
#[oai(rename = "AuthenticationError")]
struct AuthErrorBody {
    /// Django REST framework's message, e.g. `Invalid token.`
    #[allow(dead_code)]
    detail: String,
}

/// The OpenAPI form of [`Auth`](crate::Auth): a security scheme parameter for `#[oai]`
/// operations. A `Bearer` keyword is documented as `{type: http, scheme: bearer}`, any other
/// as `{type: apiKey, in: header, name: Authorization}`.
///
/// ```
/// use poem_openapi::{OpenApi, payload::PlainText};
/// use tokenauth::ApiAuth;
///
/// struct Api;
///
/// #[OpenApi]
/// impl Api {
///     #[oai(path = "/me", method = "get")]
///     async fn me(&self, auth: ApiAuth) -> PlainText<String> {
///         PlainText(auth.user.username)
///     }
/// }
/// ```
pub struct ApiAuth<U = User, K = TokenKeyword> {
    /// The authenticated user.
    pub user: U,
    /// The token that authenticated the request.
    pub token: Token,
    keyword: PhantomData<K>,
}

impl<U, K> ApiAuth<U, K> {
    /// The user and the token.
    ///
    /// ```
    /// # use poem_openapi::{OpenApi, payload::PlainText};
    /// # struct Api;
    /// # #[OpenApi]
    /// # impl Api {
    /// #[oai(path = "/me", method = "get")]
    /// async fn me(&self, auth: tokenauth::ApiAuth) -> PlainText<String> {
    ///     let (user, token) = auth.into_parts();
    ///     PlainText(format!("{user} via {token}"))
    /// }
    /// # }
    /// ```
    pub fn into_parts(self) -> (U, Token) {
        (self.user, self.token)
    }
}

/// The OpenAPI form of [`MaybeAuth`](crate::MaybeAuth): optional authentication, documented
/// as the security requirements `[{}, {<scheme>: []}]`.
///
/// ```
/// use poem_openapi::{OpenApi, payload::PlainText};
/// use tokenauth::ApiMaybeAuth;
///
/// struct Api;
///
/// #[OpenApi]
/// impl Api {
///     #[oai(path = "/hello", method = "get")]
///     async fn hello(&self, ApiMaybeAuth(auth): ApiMaybeAuth) -> PlainText<String> {
///         PlainText(auth.map_or("hello, stranger".into(), |a| format!("hello, {}", a.user)))
///     }
/// }
/// ```
pub struct ApiMaybeAuth<U = User, K = TokenKeyword>(pub Option<ApiAuth<U, K>>);

impl<U, K> Split for ApiAuth<U, K> {
    type User = U;
    type Token = Token;
    fn split(self) -> (U, Token) {
        self.into_parts()
    }
}

impl<U, K> Split for ApiMaybeAuth<U, K> {
    type User = Option<U>;
    type Token = Option<Token>;
    fn split(self) -> (Option<U>, Option<Token>) {
        self.0.map(ApiAuth::into_parts).unzip()
    }
}

fn register_scheme<K: Keyword>(registry: &mut Registry) {
    let (ty, scheme, name, key_in) = if is_bearer(K::KEYWORD) {
        ("http", Some("bearer"), None, None)
    } else {
        ("apiKey", None, Some("Authorization"), Some("header"))
    };
    registry.create_security_scheme(
        K::SCHEME_NAME,
        MetaSecurityScheme {
            ty,
            description: Some(K::SCHEME_DESCRIPTION),
            name,
            key_in,
            scheme,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
}

impl<'a, U: AuthUser, K: Keyword> ApiExtractor<'a> for ApiAuth<U, K> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_scheme::<K>(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![K::SCHEME_NAME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match crate::extract::authenticate_as_keyword::<U, K>(request).await? {
            Some((user, token)) => Ok(ApiAuth {
                user,
                token,
                keyword: PhantomData,
            }),
            None => Err(Rejection::unauthorized(K::KEYWORD, AuthError::NotAuthenticated).into()),
        }
    }
}

impl<'a, U: AuthUser, K: Keyword> ApiExtractor<'a> for ApiMaybeAuth<U, K> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_scheme::<K>(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![K::SCHEME_NAME]
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let found = crate::extract::authenticate_as_keyword::<U, K>(request).await?;
        Ok(ApiMaybeAuth(found.map(|(user, token)| ApiAuth {
            user,
            token,
            keyword: PhantomData,
        })))
    }
}

/// What `#[token_auth]` generates for optional authentication: an [`ApiMaybeAuth`] that leaves
/// the anonymous alternative to a preceding [`Anonymous`] parameter, so that the operation's
/// requirements read `[{}, {<scheme>: []}]`.
#[doc(hidden)]
pub struct ApiOptionalAuth<U = User, K = TokenKeyword>(pub ApiMaybeAuth<U, K>);

impl<U, K> Split for ApiOptionalAuth<U, K> {
    type User = Option<U>;
    type Token = Option<Token>;
    fn split(self) -> (Option<U>, Option<Token>) {
        self.0.split()
    }
}

impl<'a, U: AuthUser, K: Keyword> ApiExtractor<'a> for ApiOptionalAuth<U, K> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_scheme::<K>(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![K::SCHEME_NAME]
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        ApiMaybeAuth::from_request(request, body, param_opts)
            .await
            .map(ApiOptionalAuth)
    }
}

/// The anonymous alternative of an optional security requirement (`{}`), as a parameter that
/// extracts nothing.
#[doc(hidden)]
pub struct Anonymous;

impl<'a> ApiExtractor<'a> for Anonymous {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        _request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Anonymous)
    }
}

/// The response of a secured operation: the operation's own response type `R`, plus the
/// documented `401` (JSON `detail` body and `WWW-Authenticate: <keyword>` header).
///
/// When `R` has a `bad_request_handler`, poem-openapi hands it every extractor error; `Secured`
/// passes authentication failures through untouched, so they stay DRF's `401`s, and hands
/// every other error to `R`'s handler.
///
/// ```
/// use poem_openapi::{OpenApi, payload::PlainText};
/// use tokenauth::{ApiAuth, Secured, TokenKeyword};
///
/// struct Api;
///
/// #[OpenApi]
/// impl Api {
///     #[oai(path = "/me", method = "get")]
///     async fn me(&self, auth: ApiAuth) -> Secured<PlainText<String>, TokenKeyword> {
///         Secured::from(PlainText(auth.user.username))
///     }
/// }
/// ```
pub struct Secured<R, K = TokenKeyword> {
    response: Result<R, poem::Error>,
    keyword: PhantomData<K>,
}

impl<R, K> From<R> for Secured<R, K> {
    fn from(response: R) -> Self {
        Secured {
            response: Ok(response),
            keyword: PhantomData,
        }
    }
}

impl<R: ApiResponse, K: Keyword> ApiResponse for Secured<R, K> {
    const BAD_REQUEST_HANDLER: bool = R::BAD_REQUEST_HANDLER;

    fn meta() -> MetaResponses {
        let mut meta = R::meta();
        if !meta.responses.iter().any(|r| r.status == Some(401)) {
            meta.responses.push(MetaResponse {
                description: "Not authenticated: the credentials are missing, malformed or \
                              invalid, or the user is inactive. The body's `detail` holds \
                              Django REST framework's message.",
                status: Some(401),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: <AuthErrorBody as Type>::schema_ref(),
                }],
                headers: vec![MetaHeader {
                    name: "WWW-Authenticate".to_owned(),
                    description: Some(format!("The authentication keyword: `{}`.", K::KEYWORD)),
                    required: true,
                    deprecated: false,
                    schema: <String as Type>::schema_ref(),
                }],
            });
        }
        if !K::SCOPES.is_empty() && !meta.responses.iter().any(|r| r.status == Some(403)) {
            meta.responses.push(MetaResponse {
                description: "Forbidden: the token lacks a required scope \
                              (`{\"detail\":\"You do not have permission to perform this action.\"}`).",
                status: Some(403),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: <AuthErrorBody as Type>::schema_ref(),
                }],
                headers: Vec::new(),
            });
        }
        meta
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
        <AuthErrorBody as Type>::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        if err.is::<Rejection>() {
            Secured {
                response: Err(err),
                keyword: PhantomData,
            }
        } else {
            Secured::from(R::from_parse_request_error(err))
        }
    }
}

impl<R, K, T> IntoResult<T> for Secured<R, K>
where
    R: IntoResult<T>,
    T: IntoResponse,
{
    fn into_result(self) -> poem::Result<T> {
        self.response?.into_result()
    }
}

/// The sentence `#[token_auth(scopes = [...])]` adds to an operation's description, up to the
/// scope list.
const SCOPES_SENTENCE: &str = "Requires the scope(s) ";

/// The OpenAPI document of `service` as JSON, with each operation that requires scopes also
/// carrying them in an `x-required-scopes` vendor extension (OpenAPI 3.0 reserves requirement
/// scopes for OAuth2, and poem-openapi has no operation extensions, so they are added here,
/// from the summary or description `#[token_auth]` wrote). Serve it instead of
/// `spec_endpoint()`.
///
/// ```
/// use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
/// use tokenauth::{token_auth, User};
///
/// struct Api;
///
/// #[token_auth(scopes = ["orders:read"])]
/// #[OpenApi]
/// impl Api {
///     #[oai(path = "/orders", method = "get")]
///     async fn orders(&self, user: User) -> PlainText<String> {
///         PlainText(user.username)
///     }
/// }
///
/// let service = OpenApiService::new(Api, "shop", "1.0");
/// let spec: serde_json::Value = serde_json::from_str(&tokenauth::spec_with_scopes(&service)).unwrap();
/// assert_eq!(spec["paths"]["/orders"]["get"]["x-required-scopes"], serde_json::json!(["orders:read"]));
/// ```
pub fn spec_with_scopes<T, W>(service: &poem_openapi::OpenApiService<T, W>) -> String
where
    T: poem_openapi::OpenApi,
    W: poem_openapi::Webhook,
{
    let spec = service.spec();
    let Ok(mut document) = serde_json::from_str::<serde_json::Value>(&spec) else {
        return spec;
    };
    if let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for operation in paths
            .values_mut()
            .filter_map(|p| p.as_object_mut())
            .flat_map(|p| p.values_mut())
        {
            let text = |field: &str| operation.get(field).and_then(|d| d.as_str());
            let scopes = [text("description"), text("summary")]
                .into_iter()
                .flatten()
                .find_map(|d| d.split_once(SCOPES_SENTENCE))
                .map(|(_, rest)| {
                    let list = rest.split(" (").next().unwrap_or("");
                    list.split(", ")
                        .filter_map(|s| s.strip_prefix('`')?.strip_suffix('`'))
                        .map(|s| serde_json::Value::String(s.to_owned()))
                        .collect::<Vec<_>>()
                });
            if let (Some(scopes), Some(operation)) = (scopes, operation.as_object_mut()) {
                operation.insert(
                    "x-required-scopes".to_owned(),
                    serde_json::Value::Array(scopes),
                );
            }
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or(spec)
}

/// An endpoint serving [`spec_with_scopes`] as `application/json`.
///
/// ```
/// # use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
/// # struct Api;
/// # #[OpenApi]
/// # impl Api {
/// #     #[oai(path = "/ping", method = "get")]
/// #     async fn ping(&self) -> PlainText<&'static str> { PlainText("pong") }
/// # }
/// let service = OpenApiService::new(Api, "shop", "1.0");
/// let app = poem::Route::new().at("/openapi.json", tokenauth::spec_endpoint(&service));
/// ```
pub fn spec_endpoint<T, W>(
    service: &poem_openapi::OpenApiService<T, W>,
) -> impl poem::Endpoint + 'static
where
    T: poem_openapi::OpenApi,
    W: poem_openapi::Webhook,
{
    let spec = spec_with_scopes(service);
    poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(spec.clone())
    })
}
