//! Wrong methods and `OPTIONS`, answered as Django REST framework's views answer them.

mod access;

use std::sync::Arc;

use poem::error::{MethodNotAllowedError, ResponseError as _};
use poem::http::{HeaderValue, Method, StatusCode, Uri, header};
use poem::{Endpoint, IntoEndpoint, Request, Response, Route};
use poem_openapi::registry::{MetaApi, MetaOperation};
use poem_openapi::{OpenApi, OpenApiService, Webhook};

use crate::openapi::guard::{Check, Guard, meta_with_guards};
use access::Access;

/// One path of the API: what its operations accept, and whom they admit.
struct PathMethods {
    /// The methods the API answers here itself: its operations', and `HEAD` with `GET`.
    methods: Vec<Method>,
    /// DRF's `Allow`: the methods in Django's order, then `OPTIONS`.
    allow: HeaderValue,
    /// DRF's `OPTIONS` body.
    metadata: String,
    /// Who may learn the path's methods (DRF authenticates before it looks at the method).
    access: Access,
}

/// Django's order of methods (`View.http_method_names`).
const DJANGO_ORDER: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::TRACE,
];

/// The route poem-openapi serves an operation's template at: its `#[OpenApi]` writes each
/// `{name}` segment as a capture and keeps the rest as it is, slashes included. Capture names
/// do not change what a route matches; numbering them as it does (`:param0`, …) makes
/// templates that differ only in them one route, as in its route table.
fn route_path(template: &str) -> String {
    let mut captures = 0;
    let segments: Vec<String> = template
        .split('/')
        .map(|segment| {
            if segment.len() > 1 && segment.starts_with('{') && segment.ends_with('}') {
                captures += 1;
                format!(":param{}", captures - 1)
            } else {
                segment.to_owned()
            }
        })
        .collect();
    segments.join("/")
}

/// The routes of the operations of `apis`, each once with the methods of all its operations
/// (the APIs of a tuple may share a path) and whom they admit (`guards`: see
/// [`meta_with_guards`]).
fn paths(apis: Vec<MetaApi>, guards: Vec<Guard>) -> Vec<(String, PathMethods)> {
    type Operations = Vec<(MetaOperation, Vec<Check>)>;
    let mut merged: Vec<(String, String, Operations)> = Vec::new();
    for (template, operation, checks) in access::operations(apis, guards) {
        let route = route_path(&template);
        match merged.iter_mut().find(|(known, _, _)| *known == route) {
            Some((_, _, operations)) => operations.push((operation, checks)),
            None => merged.push((route, template, vec![(operation, checks)])),
        }
    }
    merged
        .into_iter()
        .map(|(route, template, operations)| {
            let mut methods: Vec<Method> =
                operations.iter().map(|(o, _)| o.method.clone()).collect();
            // Django answers HEAD wherever GET is answered; poem does too.
            if methods.contains(&Method::GET) {
                methods.push(Method::HEAD);
            }
            let mut allow: Vec<&str> = DJANGO_ORDER
                .iter()
                .filter(|method| methods.contains(method))
                .map(Method::as_str)
                .collect();
            allow.push("OPTIONS");
            let first = operations.first().map(|(operation, _)| operation);
            // DRF lists its parsers' media types, without parameters (`charset`).
            let mut parses: Vec<&str> = Vec::new();
            let documented = operations
                .iter()
                .filter_map(|(o, _)| o.request.as_ref())
                .flat_map(|request| request.content.iter())
                .map(|content| content.content_type.split(';').next().unwrap_or("").trim());
            for media_type in documented {
                if !parses.contains(&media_type) {
                    parses.push(media_type);
                }
            }
            let metadata = serde_json::json!({
                "name": first.and_then(|o| o.summary).unwrap_or(&template),
                "description": first.and_then(|o| o.description).unwrap_or(""),
                "renders": ["application/json"],
                "parses": parses,
            });
            let access = Access::of(operations.into_iter().map(|(_, checks)| checks).collect());
            let path = PathMethods {
                methods,
                // Method names are tokens: always a valid header value.
                allow: HeaderValue::from_str(&allow.join(", "))
                    .unwrap_or_else(|_| HeaderValue::from_static("OPTIONS")),
                metadata: metadata.to_string(),
                access,
            };
            (route, path)
        })
        .collect()
}

/// `service` as an endpoint that answers a method its path does not have, and `OPTIONS`, as
/// Django REST framework's views do:
///
/// - a wrong method: `405` with `Allow` and `{"detail":"Method \"PUT\" not allowed."}`
///   (poem's own `405` has neither);
/// - `OPTIONS`: `200` with `Allow` and DRF's metadata (`name`, `description`, `renders`,
///   `parses`), unless the API has an `OPTIONS` operation there.
///
/// DRF authenticates and checks permissions before it looks at the method, so both answers
/// go only to requests that the path lets through. tokenauth secures operations where DRF
/// secures views; a path is taken as one view that admits what one of its operations admits:
///
/// - a path with an open operation (no tokenauth parameter) admits every request, whatever
///   its header says;
/// - otherwise a request is admitted when one operation's own extractor would let it
///   through — its keywords, its user type, its scopes; with optional authentication
///   (`Option<User>`, [`ApiMaybeAuth`](crate::ApiMaybeAuth)) also without credentials, but
///   not with malformed or invalid ones;
/// - a request no operation admits gets the refusal that tells the most, as that operation
///   answers it: a `403` (`{"detail":"You do not have permission to perform this action."}`,
///   a key that authenticated but lacks a scope), else a `401` for malformed or invalid
///   credentials, else `401 {"detail":"Authentication credentials were not provided."}` —
///   among equals the first operation's, its first keyword in `WWW-Authenticate`. `401`s and
///   `403`s carry the path's `Allow`, as every response of a DRF view does. A store failure is
///   the extractors' `503`/`500`, never a `401`.
///
/// Only the paths the service routes are answered, matched by poem's own router exactly as
/// the service's are (`/api/me/` is not `/api/me`): elsewhere the service answers, e.g. its
/// `404`. Hidden operations (`#[oai(hidden)]`) are not in the metadata: on a path that has
/// others, their methods count as wrong ones until a request is admitted, then the service
/// answers them. Operations secured by other security schemes count as open.
///
/// Nest it where the service would go.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenauth::Error> {
/// use poem::{EndpointExt, Route, test::TestClient};
/// use poem_openapi::OpenApiService;
///
/// let store = tokenauth::Store::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let service = OpenApiService::new(tokenauth::AuthApi::new(), "auth", "1.0");
/// let app = Route::new().nest("/api", tokenauth::openapi::drf_methods(service)).data(store);
/// let client = TestClient::new(app);
///
/// // The login view is open: DRF's 405.
/// let response = client.put("/api/auth/token").send().await;
/// response.assert_status(poem::http::StatusCode::METHOD_NOT_ALLOWED);
/// response.assert_header("allow", "POST, OPTIONS");
/// response.assert_text(r#"{"detail":"Method \"PUT\" not allowed."}"#).await;
///
/// // Logging out needs a token: without one, DRF's 401 comes first.
/// let response = client.put("/api/auth/logout").send().await;
/// response.assert_status(poem::http::StatusCode::UNAUTHORIZED);
/// response.assert_header("www-authenticate", "Token");
/// response.assert_text(r#"{"detail":"Authentication credentials were not provided."}"#).await;
/// # Ok(()) }
/// ```
pub fn drf_methods<T, W>(service: OpenApiService<T, W>) -> impl Endpoint<Output = Response>
where
    T: OpenApi + 'static,
    W: Webhook + 'static,
{
    // The service first: poem-openapi refuses (panics on) routes it cannot serve, so every
    // route below is one poem's router took there already.
    let inner = service.into_endpoint();
    let (apis, guards) = meta_with_guards::<T>();
    let (router, table) = router(paths(apis, guards));
    DrfMethods {
        router,
        paths: table,
        inner,
    }
}

/// A router taking the routes of `paths` as the service's does, each answering [`Found`]
/// with its index in the table returned beside it.
fn router(paths: Vec<(String, PathMethods)>) -> (Route, Arc<[PathMethods]>) {
    let mut router = Route::new();
    let mut table = Vec::new();
    for (index, (route, path)) in paths.into_iter().enumerate() {
        router = router.at(route, Found(index));
        table.push(path);
    }
    (router, Arc::from(table))
}

struct DrfMethods<E> {
    /// The service's routes, each answering [`Found`] with its index in `paths`.
    router: Route,
    paths: Arc<[PathMethods]>,
    inner: E,
}

/// The route a request path took in [`DrfMethods::router`].
#[derive(Clone, Copy)]
struct Found(usize);

impl Endpoint for Found {
    type Output = Response;

    async fn call(&self, _req: Request) -> poem::Result<Response> {
        let mut response = Response::default();
        response.set_data(*self);
        Ok(response)
    }
}

impl<E> DrfMethods<E> {
    /// The path of the API that poem's router takes for `uri`, if any.
    async fn path(&self, uri: &Uri) -> Option<&PathMethods> {
        let probe = Request::builder().uri(uri.clone()).finish();
        let response = self.router.call(probe).await.ok()?;
        let Found(index) = *response.data::<Found>()?;
        self.paths.get(index)
    }
}

impl<E: Endpoint<Output = Response>> Endpoint for DrfMethods<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let Some(path) = self.path(req.uri()).await else {
            return self.inner.call(req).await;
        };
        if path.methods.contains(req.method()) {
            return self.inner.call(req).await;
        }
        // A wrong method, or `OPTIONS` that no operation answers: DRF authenticates first.
        if let Err(rejection) = path.access.admit(&req).await {
            if rejection.status().is_server_error() {
                return Err(rejection.into());
            }
            let mut response = rejection.as_response();
            response
                .headers_mut()
                .insert(header::ALLOW, path.allow.clone());
            return Err(poem::Error::from_response(response));
        }
        if req.method() == Method::OPTIONS {
            return Ok(json(StatusCode::OK, path.metadata.clone(), &path.allow));
        }
        let method = req.method().clone();
        match self.inner.call(req).await {
            Err(error) if error.is::<MethodNotAllowedError>() => {
                let detail = format!("Method \"{method}\" not allowed.");
                let body = serde_json::json!({ "detail": detail }).to_string();
                Ok(json(StatusCode::METHOD_NOT_ALLOWED, body, &path.allow))
            }
            other => other,
        }
    }
}

fn json(status: StatusCode, body: String, allow: &HeaderValue) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::ALLOW, allow.clone())
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::registry::{MetaOperation, MetaPath, MetaResponses};

    fn operation(method: Method) -> MetaOperation {
        MetaOperation {
            method,
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
            security: Vec::new(),
            operation_id: None,
            code_samples: Vec::new(),
        }
    }

    fn api(paths: Vec<(&str, Method)>) -> MetaApi {
        MetaApi {
            paths: paths
                .into_iter()
                .map(|(path, method)| MetaPath {
                    path: path.to_owned(),
                    operations: vec![operation(method)],
                })
                .collect(),
        }
    }

    #[test]
    fn templates_become_the_routes_poem_openapi_serves() {
        assert_eq!(route_path("/auth/token"), "/auth/token");
        assert_eq!(route_path("/users/{id}"), "/users/:param0");
        assert_eq!(route_path("/a/{x}/b/{y}"), "/a/:param0/b/:param1");
        assert_eq!(route_path("/v1/"), "/v1/", "a trailing slash is kept");
        assert_eq!(route_path("/"), "/");
    }

    /// The paths of a router built from `apis`, and the `Allow` each request path gets (`None`:
    /// not a route of the API).
    async fn allow(apis: Vec<MetaApi>, path: &str) -> Option<String> {
        let (router, table) = router(paths(apis, Vec::new()));
        let probe = Request::builder().uri(Uri::try_from(path).ok()?).finish();
        let found = router.call(probe).await.ok()?;
        let Found(index) = *found.data::<Found>()?;
        Some(table[index].allow.to_str().ok()?.to_owned())
    }

    #[tokio::test]
    async fn paths_merge_across_apis_and_match_as_poem_routes_them() {
        let apis = || {
            vec![
                api(vec![
                    ("/users/{id}", Method::DELETE),
                    ("/items", Method::GET),
                ]),
                api(vec![
                    ("/users/me", Method::PUT),
                    ("/items", Method::POST),
                    ("/users/{name}", Method::PATCH),
                ]),
            ]
        };
        let cases = [
            ("/items", Some("GET, POST, HEAD, OPTIONS")),
            ("/users/me", Some("PUT, OPTIONS")),
            ("/users/7", Some("PATCH, DELETE, OPTIONS")),
            // poem's router takes neither a trailing slash nor an empty segment.
            ("/items/", None),
            ("/users/me/", None),
            ("/users/7/", None),
            ("//items", None),
            ("/users", None),
            ("/users/7/x", None),
            ("/nowhere", None),
        ];
        for (path, expected) in cases {
            assert_eq!(allow(apis(), path).await.as_deref(), expected, "{path}");
        }
    }
}
