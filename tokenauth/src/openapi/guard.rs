//! What tokenauth's security parameters record while an API builds its metadata: the
//! security schemes and scoped operations they register, and the guard of each operation
//! (for `drf_methods`, `x-required-scopes` and Swagger UI's keywords).

use std::cell::RefCell;
use std::pin::Pin;
use std::thread::LocalKey;

use poem::Request;
use poem_openapi::registry::{MetaApi, MetaSecurityScheme, Registry};

use crate::keyword::{Requirement, Scheme};
use crate::rejection::Rejection;

/// Registers `R`'s security schemes, and records its scopes for [`spec`](super::spec) and the
/// keywords of the apiKey schemes it adds for `swagger_ui`.
pub(super) fn register<R: Requirement>(registry: &mut Registry) {
    for scheme in R::SCHEMES {
        let (ty, http_scheme, name, key_in) = if tokenauth_rules::is_bearer(scheme.keyword) {
            ("http", Some("bearer"), None, None)
        } else {
            // poem-openapi keeps the first scheme of a name: a scheme the application
            // registered first under this name is its own, and not ours to describe.
            if !registry.security_schemes.contains_key(scheme.name) {
                KEYWORDS.with_borrow_mut(|keywords| {
                    if let Some(keywords) = keywords {
                        keywords.push((scheme.name, scheme.keyword));
                    }
                });
            }
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
pub(super) fn scoped_operations<T: poem_openapi::OpenApi>() -> Vec<ScopedOperation> {
    collect(&SCOPED, || T::register(&mut Registry::new())).1
}

/// An apiKey security scheme's name and its keyword: the header is `Authorization: <keyword> <key>`.
type ApiKeyScheme = (&'static str, &'static str);

thread_local! {
    /// The apiKey schemes registered while [`api_key_schemes`] runs on this thread.
    static KEYWORDS: RefCell<Option<Vec<ApiKeyScheme>>> = const { RefCell::new(None) };
}

/// The `(name, keyword)` of every apiKey security scheme that tokenauth's security
/// parameters add to `T`'s document (every keyword but `Bearer`, whose scheme is http
/// `bearer`), each once: collected while `T` registers its types. A scheme the application
/// registered itself is not among them.
#[cfg(feature = "swagger-ui")]
pub(super) fn api_key_schemes<T: poem_openapi::OpenApi>() -> Vec<ApiKeyScheme> {
    collect(&KEYWORDS, || T::register(&mut Registry::new())).1
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
pub(super) fn guard(schemes: &'static [Scheme], optional: bool, check: Check) {
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
