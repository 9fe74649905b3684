//! The paths of the code that `#[token_auth]`, `keyword!` and `#[derive(AuthUser)]` generate,
//! re-exported from the modules that define them. Not public API: it may change in any
//! release, in step with `tokenauth-macros` (whose version `tokenauth` pins).

pub use poem;
#[cfg(feature = "openapi")]
pub use poem_openapi;

pub use crate::authentication::authenticate;
pub use crate::extract::{Auth, MaybeAuth, Split};
pub use crate::keyword::{Authenticates, Challenge, Keyword, Requirement, Scheme};
pub use crate::models::{Token, User};
#[cfg(feature = "openapi")]
pub use crate::openapi::response::{WithAuthErrors, output};
#[cfg(feature = "openapi")]
pub use crate::openapi::{ApiAuth, ApiMaybeAuth};
pub use crate::rejection::Rejection;
pub use crate::store::watch::Watch;
pub use crate::store::{AuthUser, Pack, Packer, Unpacker};
