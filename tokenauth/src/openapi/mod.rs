//! poem-openapi support (feature `openapi`): the extractors that are OpenAPI security schemes
//! ([`ApiAuth`], [`ApiMaybeAuth`]), the response wrapper that documents the `401`
//! ([`WithAuthErrors`]) with its body ([`ErrorDetail`]), DRF's obtain-token view and what DRF
//! lacks ([`AuthApi`]), DRF's answers to wrong methods ([`drf_methods`]), and the document
//! completed with what poem-openapi cannot say — scopes, open operations, examples
//! ([`spec`], [`spec_endpoint`], [`swagger_ui`]).
//!
//! `#[token_auth]` on an `#[OpenApi]` impl generates the use of the extractors and of
//! [`WithAuthErrors`]; they are public for hand-written operations too.
//!
//! ```
//! use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
//! use tokenauth::{AuthApi, Store, token_auth, User};
//!
//! struct Api;
//!
//! #[token_auth]
//! #[OpenApi]
//! impl Api {
//!     #[oai(path = "/me", method = "get")]
//!     async fn me(&self, user: User) -> PlainText<String> {
//!         PlainText(user.username)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tokenauth::Error> {
//! let store = Store::connect("sqlite::memory:").await?;
//! let service = OpenApiService::new((Api, AuthApi::new()), "shop", "1.0");
//! let spec = tokenauth::openapi::spec_endpoint(&service);
//! let app = poem::Route::new()
//!     .nest("/api", tokenauth::openapi::drf_methods(service))
//!     .at("/openapi.json", spec);
//! # let _ = (app, store);
//! # Ok(()) }
//! ```

// Public, hidden, for its test hooks (`endpoints::testing`).
#[doc(hidden)]
pub mod endpoints;
mod extract;
pub(crate) mod guard;
mod methods;
pub(crate) mod response;
mod spec;
#[cfg(feature = "swagger-ui")]
mod swagger_ui;

pub use endpoints::{AuthApi, Limit};
pub use extract::{ApiAuth, ApiMaybeAuth};
pub use methods::drf_methods;
pub use response::{ErrorDetail, WithAuthErrors};
pub use spec::{spec, spec_endpoint};
#[cfg(feature = "swagger-ui")]
pub use swagger_ui::swagger_ui;
