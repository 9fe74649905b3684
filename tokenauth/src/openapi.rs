//! poem-openapi support (feature `openapi`): extractors that are OpenAPI security schemes,
//! and a response wrapper that documents the `401` and keeps auth failures `401`s.
//!
//! `#[token_auth]` on an `#[OpenApi]` impl generates the use of these types; they are public
//! for hand-written operations too.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::thread::LocalKey;

use poem::error::IntoResult;
use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::registry::{
    MetaApi, MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSecurityScheme, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions};

use crate::authentication::authenticate_required;
use crate::extract::{Auth, Split};
use crate::keyword::{Authenticates, Requirement, Scheme, TokenKeyword, challenge};
use crate::models::{Token, User};
use crate::rejection::Rejection;

/// A refusal in Django REST framework's format: `{"detail": "<message>"}`.
#[derive(poem_openapi::Object)]
#[oai(rename = "ErrorDetail")]
pub(crate) struct ErrorDetail {
    /// Django REST framework's message, e.g. `Invalid token.`
    pub(crate) detail: String,
}

/// The OpenAPI form of [`Auth`]: a security scheme parameter for `#[oai]` operations, which
/// derefs to the [`Auth`] (`auth.user`, `auth.token`). Each of `R`'s keywords is a security
/// scheme (`Bearer`: `{type: http, scheme: bearer}`; any other:
/// `{type: apiKey, in: header, name: Authorization}`) and a requirement of its own.
///
/// ```
/// use poem_openapi::{OpenApi, payload::PlainText};
/// use tokenauth::{ApiAuth, BearerKeyword, TokenKeyword, User};
///
/// struct Api;
///
/// #[OpenApi]
/// impl Api {
///     #[oai(path = "/me", method = "get")]
///     async fn me(&self, auth: ApiAuth) -> PlainText<String> {
///         PlainText(auth.user.username.clone())
///     }
///
///     /// `Token <key>` or `Bearer <key>`.
///     #[oai(path = "/either/me", method = "get")]
///     async fn either(&self, auth: ApiAuth<User, (TokenKeyword, BearerKeyword)>) -> PlainText<String> {
///         let (user, _token) = auth.0.into_parts();
///         PlainText(user.username)
///     }
/// }
/// ```
pub struct ApiAuth<U = User, R = TokenKeyword>(pub Auth<U, R>);

impl<U, R> Deref for ApiAuth<U, R> {
    type Target = Auth<U, R>;
    fn deref(&self) -> &Auth<U, R> {
        &self.0
    }
}

impl<U, R> DerefMut for ApiAuth<U, R> {
    fn deref_mut(&mut self) -> &mut Auth<U, R> {
        &mut self.0
    }
}

/// The OpenAPI form of [`MaybeAuth`](crate::extract::MaybeAuth): optional authentication,
/// documented as the security requirements `[{<scheme>: []}, …, {}]` — `#[token_auth]`
/// generates the same for `Option<User>` / `Option<Token>`.
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
pub struct ApiMaybeAuth<U = User, R = TokenKeyword>(pub Option<Auth<U, R>>);

impl<U, R> Split for ApiAuth<U, R> {
    type User = U;
    type Token = Token;
    fn split(self) -> (U, Token) {
        self.0.into_parts()
    }
}

impl<U, R> Split for ApiMaybeAuth<U, R> {
    type User = Option<U>;
    type Token = Option<Token>;
    fn split(self) -> (Option<U>, Option<Token>) {
        self.0.map(Auth::into_parts).unzip()
    }
}

/// Registers `R`'s security schemes, and records its scopes for [`spec_with_scopes`].
fn register<R: Requirement>(registry: &mut Registry) {
    for scheme in R::SCHEMES {
        let (ty, http_scheme, name, key_in) = if tokenauth_rules::is_bearer(scheme.keyword) {
            ("http", Some("bearer"), None, None)
        } else {
            ("apiKey", None, Some("Authorization"), Some("header"))
        };
        registry.create_security_scheme(
            scheme.name,
            MetaSecurityScheme {
                ty,
                description: Some(scheme.description),
                name,
                key_in,
                scheme: http_scheme,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }
    if let Some(operation_id) = R::OPERATION_ID
        && !R::SCOPES.is_empty()
    {
        SCOPED.with_borrow_mut(|scoped| {
            if let Some(scoped) = scoped {
                scoped.push((operation_id, R::SCOPES));
            }
        });
    }
}

/// An operation's `operationId` and the scopes it requires.
type ScopedOperation = (&'static str, &'static [&'static str]);

thread_local! {
    /// The scoped operations registered while [`scoped_operations`] runs on this thread.
    static SCOPED: RefCell<Option<Vec<ScopedOperation>>> = const { RefCell::new(None) };
}

/// The `(operationId, scopes)` of every operation of `T` whose requirement has scopes, as
/// `#[token_auth]` generated them: collected while `T` registers its types, which calls each
/// operation's authentication parameter.
fn scoped_operations<T: poem_openapi::OpenApi>() -> Vec<ScopedOperation> {
    collect(&SCOPED, || T::register(&mut Registry::new())).1
}

/// Runs `run` with `collector` collecting on this thread, and returns what it collected.
fn collect<C: 'static, O>(
    collector: &'static LocalKey<RefCell<Option<Vec<C>>>>,
    run: impl FnOnce() -> O,
) -> (O, Vec<C>) {
    /// Restores the collector of an enclosing call, also if `run` panics.
    struct Restore<C: 'static>(&'static LocalKey<RefCell<Option<Vec<C>>>>, Option<Vec<C>>);
    impl<C> Drop for Restore<C> {
        fn drop(&mut self) {
            self.0.set(self.1.take());
        }
    }
    let _restore = Restore(collector, collector.replace(Some(Vec::new())));
    let output = run();
    (output, collector.replace(None).unwrap_or_default())
}

/// An operation's authentication, run on a request that the operation will not get (see
/// [`drf_methods`](crate::methods::drf_methods)): `Ok(())` when the operation's extractor
/// would let it through, else the extractor's own [`Rejection`].
pub(crate) type Check =
    for<'r> fn(&'r Request) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'r>>;

/// A tokenauth security parameter ([`ApiAuth`], [`ApiMaybeAuth`]) met while an API built its
/// metadata: the security requirements it gave its operation, and its authentication.
pub(crate) struct Guard {
    /// Its keywords' schemes, one requirement each, in order.
    pub(crate) schemes: &'static [Scheme],
    /// Whether the empty requirement `{}` follows them (optional authentication).
    pub(crate) optional: bool,
    /// What its extractor runs: the user type, keywords and scopes of the operation.
    pub(crate) check: Check,
}

thread_local! {
    /// The guards met while [`meta_with_guards`] runs on this thread.
    static GUARDS: RefCell<Option<Vec<Guard>>> = const { RefCell::new(None) };
}

/// `T::meta()`, and the guard of each tokenauth security parameter of its operations, in the
/// order their requirements are in the metadata: poem-openapi builds each operation's
/// `security` by asking each of its security parameters for its schemes, operation after
/// operation, and ours record themselves when asked. The metadata alone names schemes; the
/// guards add what authenticating needs — the user type, the keywords, the scopes.
pub(crate) fn meta_with_guards<T: poem_openapi::OpenApi>() -> (Vec<MetaApi>, Vec<Guard>) {
    collect(&GUARDS, T::meta)
}

/// Records a guard, when [`meta_with_guards`] is collecting.
fn guard(schemes: &'static [Scheme], optional: bool, check: Check) {
    GUARDS.with_borrow_mut(|guards| {
        if let Some(guards) = guards {
            guards.push(Guard {
                schemes,
                optional,
                check,
            });
        }
    });
}

/// The [`Check`] of an [`ApiAuth`]: its extractor's authentication.
fn check_required<U: Send + 'static, R: Authenticates<U>>(
    req: &Request,
) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + '_>> {
    Box::pin(async move { authenticate_required::<U, R>(req).await.map(drop) })
}

/// The [`Check`] of an [`ApiMaybeAuth`]: its extractor's authentication.
fn check_optional<U: Send + 'static, R: Authenticates<U>>(
    req: &Request,
) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + '_>> {
    Box::pin(async move { R::authenticate(req).await.map(drop) })
}

fn scheme_names<R: Requirement>() -> Vec<&'static str> {
    R::SCHEMES.iter().map(|scheme| scheme.name).collect()
}

impl<'a, U: Send + 'static, R: Authenticates<U>> ApiExtractor<'a> for ApiAuth<U, R> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register::<R>(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        guard(R::SCHEMES, false, check_required::<U, R>);
        scheme_names::<R>()
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let parts = authenticate_required::<U, R>(request).await?;
        Ok(ApiAuth(Auth::from_parts(parts)))
    }
}

impl<'a, U: Send + 'static, R: Authenticates<U>> ApiExtractor<'a> for ApiMaybeAuth<U, R> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register::<R>(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        guard(R::SCHEMES, true, check_optional::<U, R>);
        scheme_names::<R>()
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(ApiMaybeAuth(
            R::authenticate(request).await?.map(Auth::from_parts),
        ))
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
///         Secured::from(PlainText(auth.user.username.clone()))
///     }
/// }
/// ```
pub struct Secured<T, R = TokenKeyword> {
    response: Result<T, poem::Error>,
    requirement: PhantomData<R>,
}

impl<T, R> From<T> for Secured<T, R> {
    fn from(response: T) -> Self {
        Secured {
            response: Ok(response),
            requirement: PhantomData,
        }
    }
}

impl<T: ApiResponse, R: Requirement> ApiResponse for Secured<T, R> {
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
            Secured {
                response: Err(err),
                requirement: PhantomData,
            }
        } else {
            Secured::from(T::from_parse_request_error(err))
        }
    }
}

impl<T, R, O> IntoResult<O> for Secured<T, R>
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
/// [`Secured`].
pub fn output<R, F: Future<Output = R>>(body: F) -> F {
    body
}

/// The OpenAPI document of `service` as JSON, with each operation that `#[token_auth]` gave
/// scopes also carrying them in an `x-required-scopes` vendor extension. OpenAPI 3.0 reserves
/// requirement scopes for OAuth2 and poem-openapi has no operation extensions, so they are
/// added here: each scoped operation's requirement type names its `operationId` and scopes,
/// and is found while the service registers its types. Serve it with [`spec_endpoint`], and
/// Swagger UI with `swagger_ui` (feature `swagger-ui`), instead of poem-openapi's.
///
/// A hand-written operation (`ApiAuth<U, K>` with a [`keyword!`](crate::keyword!) type that
/// has scopes) documents its `403`, but its scopes are not in `x-required-scopes`: a
/// keyword type may serve many operations and names none of them.
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
/// assert_eq!(spec["paths"]["/orders"]["get"]["operationId"], "get_orders");
/// assert_eq!(spec["paths"]["/orders"]["get"]["x-required-scopes"], serde_json::json!(["orders:read"]));
/// ```
pub fn spec_with_scopes<T, W>(service: &poem_openapi::OpenApiService<T, W>) -> String
where
    T: poem_openapi::OpenApi,
    W: poem_openapi::Webhook,
{
    with_scopes::<T>(service.spec())
}

/// `spec` (the JSON document of an `OpenApiService<T, _>`) with `x-required-scopes` added.
fn with_scopes<T: poem_openapi::OpenApi>(spec: String) -> String {
    let scoped = scoped_operations::<T>();
    if scoped.is_empty() {
        return spec;
    }
    let Ok(mut document) = serde_json::from_str::<serde_json::Value>(&spec) else {
        return spec;
    };
    let operations = document
        .get_mut("paths")
        .and_then(|paths| paths.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|path| path.as_object_mut())
        .flat_map(|path| path.values_mut())
        .filter_map(|operation| operation.as_object_mut());
    for operation in operations {
        let id = operation.get("operationId").and_then(|id| id.as_str());
        if let Some((_, scopes)) = scoped.iter().find(|(scoped, _)| Some(*scoped) == id) {
            operation.insert("x-required-scopes".to_owned(), serde_json::json!(scopes));
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

/// poem-openapi's Swagger UI (`service.swagger_ui()`) showing [`spec_with_scopes`], so that
/// each scoped operation's `x-required-scopes` is in the document it loads. Nest it where
/// you serve the docs.
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
/// let app = poem::Route::new().nest("/docs", tokenauth::swagger_ui(&service));
/// ```
#[cfg(feature = "swagger-ui")]
pub fn swagger_ui<T, W>(
    service: &poem_openapi::OpenApiService<T, W>,
) -> impl poem::Endpoint + 'static
where
    T: poem_openapi::OpenApi,
    W: poem_openapi::Webhook,
{
    // poem-openapi embeds `service.spec()` verbatim in its page; put ours in its place.
    let spec = service.spec();
    let page = service.swagger_ui_html();
    debug_assert!(
        page.contains(&spec),
        "poem-openapi's page embeds the spec as it is"
    );
    let html = page.replacen(&spec, &with_scopes::<T>(spec.clone()), 1);
    poem::Route::new().at(
        "/",
        poem::endpoint::make_sync(move |_| poem::web::Html(html.clone())),
    )
}
