//! The OpenAPI forms of the extractors: security scheme parameters for `#[oai]` operations.

use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use poem::{Request, RequestBody};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use super::guard::{guard, register};
use crate::authentication::authenticate_required;
use crate::extract::{Auth, Split};
use crate::keyword::{Authenticates, Requirement, TokenKeyword};
use crate::models::{Token, User};
use crate::rejection::Rejection;

/// The OpenAPI form of [`Auth`]: a security scheme parameter for `#[oai]` operations, which
/// derefs to the [`Auth`] (`auth.user`, `auth.token`). Each of `R`'s keywords is a security
/// scheme (`Bearer`: `{type: http, scheme: bearer}`; any other:
/// `{type: apiKey, in: header, name: Authorization}`) and a requirement of its own.
///
/// ```
/// use poem_openapi::{OpenApi, payload::PlainText};
/// use tokenauth::{ApiAuth, User};
/// use tokenauth::keyword::{BearerKeyword, TokenKeyword};
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
