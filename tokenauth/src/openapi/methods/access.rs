//! Who is told a path's methods. Django REST framework authenticates and checks permissions
//! in `APIView.initial()`, before `dispatch` looks for the method's handler: on a protected
//! view a wrong method or `OPTIONS` without valid credentials is `401`, and with credentials
//! that lack a permission `403`, never `405` or the view's metadata.
//!
//! tokenauth secures operations, DRF views. A path is taken as one view whose permission
//! admits a request that one of its operations would admit:
//!
//! - an open operation (no tokenauth parameter) admits every request, so a path with one is
//!   open whatever the credentials — a DRF view without authentication classes;
//! - a secured operation admits a request that its own extractor would let through: its
//!   keywords, its user type and its scopes; with optional authentication, also a request
//!   without credentials (malformed or invalid ones are still refused, as DRF refuses them
//!   on an `AllowAny` view);
//! - when no operation admits the request, the refusal that tells the most is the answer: a
//!   store failure (`503`/`500`) at once, else a `403` (some operation authenticated the key,
//!   which lacks a scope), else a `401` for malformed or invalid credentials, else
//!   `Authentication credentials were not provided.` — among equals, the first operation's
//!   (in the order the API declares them), whose first keyword names the challenge.

use poem::Request;
use poem::error::ResponseError as _;
use poem_openapi::registry::{MetaApi, MetaOperation};

use crate::error::Reason;
use crate::openapi::guard::{Check, Guard};
use crate::rejection::Rejection;
use crate::telemetry::{self, Recorded};

/// Whom a path admits.
pub(super) enum Access {
    /// Everyone: an operation of the path is open.
    Open,
    /// A request that passes every check of one of these operations.
    Guarded(Vec<Vec<Check>>),
}

impl Access {
    /// The access of a path whose operations run these checks.
    pub(super) fn of(operations: Vec<Vec<Check>>) -> Access {
        if operations.iter().any(Vec::is_empty) {
            Access::Open
        } else {
            Access::Guarded(operations)
        }
    }

    /// Runs the operations' authentication on `req` until one admits it.
    pub(super) async fn admit(&self, req: &Request) -> Result<(), Rejection> {
        let Access::Guarded(operations) = self else {
            return Ok(());
        };
        // One request, one answer: it is counted (and logged) as the operation whose answer
        // it gets, not once per operation tried.
        let mut refusal: Option<(Rejection, Vec<Recorded>)> = None;
        for checks in operations {
            let (outcome, recorded) = telemetry::held(async {
                for check in checks {
                    check(req).await?;
                }
                Ok::<(), Rejection>(())
            })
            .await;
            match outcome {
                Ok(()) => {
                    telemetry::replay(recorded);
                    return Ok(());
                }
                Err(rejection) if rejection.status().is_server_error() => {
                    telemetry::replay(recorded);
                    return Err(rejection);
                }
                Err(rejection) => {
                    if refusal
                        .as_ref()
                        .is_none_or(|(best, _)| weight(&rejection) > weight(best))
                    {
                        refusal = Some((rejection, recorded));
                    }
                }
            }
        }
        match refusal {
            Some((rejection, recorded)) => {
                telemetry::replay(recorded);
                Err(rejection)
            }
            None => Ok(()),
        }
    }
}

/// How much a refusal tells the client: a `403` (the key authenticated), then a `401` for
/// malformed or invalid credentials, then "not provided".
fn weight(rejection: &Rejection) -> u8 {
    match rejection.reason() {
        Some(Reason::NotAuthenticated) => 0,
        Some(_) => 1,
        None => 2,
    }
}

/// Each operation of `apis` — its path template, its metadata and the checks of its tokenauth
/// parameters. `guards` come in the order their requirements are in the operations'
/// `security` (see [`meta_with_guards`](crate::openapi::meta_with_guards)), so each is the
/// next run of requirements that names its schemes; requirements of other security schemes,
/// which tokenauth cannot run, are passed over (such an operation counts as open).
pub(super) fn operations(
    apis: Vec<MetaApi>,
    guards: Vec<Guard>,
) -> Vec<(String, MetaOperation, Vec<Check>)> {
    let mut guards = guards.into_iter().peekable();
    let mut operations = Vec::new();
    for path in apis.into_iter().flat_map(|api| api.paths) {
        for operation in path.operations {
            let mut checks = Vec::new();
            let mut security = operation.security.as_slice();
            while !security.is_empty() {
                match guards.next_if(|guard| written_by(guard, security)) {
                    Some(guard) => {
                        security = &security[guard.schemes.len() + usize::from(guard.optional)..];
                        checks.push(guard.check);
                    }
                    None => security = &security[1..],
                }
            }
            operations.push((path.path.clone(), operation, checks));
        }
    }
    operations
}

/// Whether `security` starts with the requirements `guard` writes: one a scheme, then `{}`
/// when optional.
fn written_by(guard: &Guard, security: &[std::collections::HashMap<&str, Vec<&str>>]) -> bool {
    let wanted = guard.schemes.len() + usize::from(guard.optional);
    security.len() >= wanted
        && guard
            .schemes
            .iter()
            .zip(security)
            .all(|(scheme, requirement)| {
                requirement.len() == 1 && requirement.contains_key(scheme.name)
            })
        && (!guard.optional || security[guard.schemes.len()].is_empty())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::Pin;

    use poem_openapi::registry::{MetaPath, MetaResponses};

    use super::*;
    use crate::keyword::{BearerKeyword, Keyword as _, Scheme, TokenKeyword};

    type Outcome<'r> = Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send + 'r>>;

    fn admitted(_: &Request) -> Outcome<'_> {
        Box::pin(async { Ok(()) })
    }
    fn not_provided(_: &Request) -> Outcome<'_> {
        Box::pin(async { Err(Rejection::unauthorized("Token", Reason::NotAuthenticated)) })
    }
    fn invalid(_: &Request) -> Outcome<'_> {
        Box::pin(async { Err(Rejection::unauthorized("Bearer", Reason::InvalidToken)) })
    }
    fn forbidden(_: &Request) -> Outcome<'_> {
        Box::pin(async { Err(Rejection::forbidden()) })
    }
    fn unavailable(_: &Request) -> Outcome<'_> {
        Box::pin(async {
            Err(Rejection::store_failure(crate::error::Error::Database(
                sqlx::Error::PoolClosed,
            )))
        })
    }

    async fn answer(operations: Vec<Vec<Check>>) -> Result<(), (u16, Option<Reason>)> {
        let request = Request::builder().finish();
        Access::of(operations)
            .admit(&request)
            .await
            .map_err(|rejection| (rejection.status().as_u16(), rejection.reason()))
    }

    #[tokio::test]
    async fn one_admitting_operation_or_one_open_operation_is_enough() {
        assert_eq!(
            answer(vec![vec![not_provided], vec![admitted]]).await,
            Ok(())
        );
        assert_eq!(answer(vec![vec![forbidden], vec![]]).await, Ok(()));
        // Every check of an operation must pass.
        assert_eq!(
            answer(vec![vec![admitted, forbidden]]).await,
            Err((403, None))
        );
    }

    #[tokio::test]
    async fn the_refusal_that_tells_the_most_wins() {
        let not_provided_401 = Err((401, Some(Reason::NotAuthenticated)));
        assert_eq!(answer(vec![vec![not_provided]]).await, not_provided_401);
        assert_eq!(
            answer(vec![vec![not_provided], vec![invalid]]).await,
            Err((401, Some(Reason::InvalidToken)))
        );
        assert_eq!(
            answer(vec![vec![invalid], vec![forbidden], vec![not_provided]]).await,
            Err((403, None))
        );
        // A store failure is answered at once: no later operation runs.
        assert_eq!(
            answer(vec![vec![unavailable], vec![admitted]]).await,
            Err((503, None))
        );
    }

    fn requirement(names: &[&'static str]) -> HashMap<&'static str, Vec<&'static str>> {
        names.iter().map(|name| (*name, Vec::new())).collect()
    }

    const TOKEN: &[Scheme] = &[TokenKeyword::SCHEME];
    const EITHER: &[Scheme] = &[TokenKeyword::SCHEME, BearerKeyword::SCHEME];

    #[tokio::test]
    async fn guards_go_to_the_operations_whose_requirements_they_wrote() {
        let operation = |security: Vec<HashMap<&'static str, Vec<&'static str>>>| MetaOperation {
            method: poem::http::Method::GET,
            tags: Vec::new(),
            summary: None,
            description: None,
            external_docs: None,
            params: Vec::new(),
            request: None,
            responses: MetaResponses {
                responses: Vec::new(),
            },
            deprecated: false,
            security,
            operation_id: None,
            code_samples: Vec::new(),
        };
        let api = MetaApi {
            paths: vec![
                MetaPath {
                    path: "/a".to_owned(),
                    operations: vec![operation(vec![requirement(&["TokenAuth"])])],
                },
                MetaPath {
                    path: "/b".to_owned(),
                    operations: vec![
                        // Another security scheme: not tokenauth's to run.
                        operation(vec![requirement(&["OtherAuth"])]),
                        operation(Vec::new()),
                        operation(vec![
                            requirement(&["OtherAuth"]),
                            requirement(&["TokenAuth"]),
                            requirement(&["BearerAuth"]),
                            requirement(&[]),
                        ]),
                    ],
                },
            ],
        };
        let guards = vec![
            Guard {
                schemes: TOKEN,
                optional: false,
                check: forbidden,
            },
            Guard {
                schemes: EITHER,
                optional: true,
                check: invalid,
            },
        ];
        let operations = operations(vec![api], guards);
        let paths: Vec<&str> = operations.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["/a", "/b", "/b", "/b"]);
        let checks: Vec<usize> = operations.iter().map(|(_, _, c)| c.len()).collect();
        assert_eq!(checks, [1, 0, 0, 1]);
        let request = Request::builder().finish();
        let first = (operations[0].2[0])(&request).await.unwrap_err();
        assert_eq!(first.status(), 403);
        let last = (operations[3].2[0])(&request).await.unwrap_err();
        assert_eq!(last.reason(), Some(Reason::InvalidToken));
    }
}
