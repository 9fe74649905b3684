//! Wrong methods and `OPTIONS`, answered as Django REST framework's views answer them.

use std::sync::Arc;

use poem::error::MethodNotAllowedError;
use poem::http::{Method, StatusCode, header};
use poem::{Endpoint, IntoEndpoint, Request, Response};
use poem_openapi::registry::MetaApi;
use poem_openapi::{OpenApi, OpenApiService, Webhook};

/// One path of the API: its template's segments and what its operations accept.
struct PathMethods {
    /// `None` for a `{parameter}` segment.
    segments: Vec<Option<String>>,
    /// DRF's `Allow`: the methods in Django's order, then `OPTIONS`.
    allow: String,
    /// DRF's `OPTIONS` body.
    metadata: String,
    /// Whether an operation of the API itself answers `OPTIONS` on this path.
    own_options: bool,
}

impl PathMethods {
    fn matches(&self, path: &str) -> bool {
        let mut parts = path.split('/').filter(|part| !part.is_empty());
        self.segments
            .iter()
            .all(|segment| match (segment, parts.next()) {
                (Some(literal), Some(part)) => literal == part,
                (None, Some(_)) => true,
                (_, None) => false,
            })
            && parts.next().is_none()
    }
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

/// The paths of `apis`, each once with the methods of all its operations (the APIs of a tuple
/// may share a path), most specific first — more literal segments before `{parameters}`, as
/// poem's router prefers them — so that the first match is the route poem takes.
fn paths(apis: Vec<MetaApi>) -> Vec<PathMethods> {
    let mut merged: Vec<(String, Vec<poem_openapi::registry::MetaOperation>)> = Vec::new();
    for path in apis.into_iter().flat_map(|api| api.paths) {
        match merged
            .iter_mut()
            .find(|(template, _)| *template == path.path)
        {
            Some((_, operations)) => operations.extend(path.operations),
            None => merged.push((path.path, path.operations)),
        }
    }
    let mut paths: Vec<PathMethods> = merged
        .into_iter()
        .map(|(template, operations)| {
            let segments: Vec<Option<String>> = template
                .split('/')
                .filter(|part| !part.is_empty())
                .map(|part| {
                    let parameter = part.starts_with('{') && part.ends_with('}');
                    (!parameter).then(|| part.to_owned())
                })
                .collect();
            let mut methods: Vec<Method> = operations.iter().map(|o| o.method.clone()).collect();
            // Django answers HEAD wherever GET is answered; poem does too.
            if methods.contains(&Method::GET) {
                methods.push(Method::HEAD);
            }
            let own_options = methods.contains(&Method::OPTIONS);
            let mut allow: Vec<&str> = DJANGO_ORDER
                .iter()
                .filter(|method| methods.contains(method))
                .map(Method::as_str)
                .collect();
            allow.push("OPTIONS");
            let first = operations.first();
            let parses: Vec<&str> = operations
                .iter()
                .filter_map(|o| o.request.as_ref())
                .flat_map(|request| request.content.iter().map(|c| c.content_type))
                .collect();
            let metadata = serde_json::json!({
                "name": first.and_then(|o| o.summary).unwrap_or(&template),
                "description": first.and_then(|o| o.description).unwrap_or(""),
                "renders": ["application/json"],
                "parses": parses,
            });
            PathMethods {
                segments,
                allow: allow.join(", "),
                metadata: metadata.to_string(),
                own_options,
            }
        })
        .collect();
    // Literal segments win over parameters, left to right (`/users/me` before `/users/{id}`).
    paths.sort_by_key(|path| {
        std::cmp::Reverse(
            path.segments
                .iter()
                .map(|segment| u8::from(segment.is_some()))
                .collect::<Vec<u8>>(),
        )
    });
    paths
}

/// `service` as an endpoint that answers a method its path does not have, and `OPTIONS`, as
/// Django REST framework's views do:
///
/// - a wrong method: `405` with `Allow` and `{"detail":"Method \"PUT\" not allowed."}`
///   (poem's own `405` has neither);
/// - `OPTIONS`: `200` with `Allow` and DRF's metadata (`name`, `description`, `renders`,
///   `parses`), unless the API has an `OPTIONS` operation there.
///
/// Nest it where the service would go. Unlike DRF, which authenticates before it looks at
/// the method, a wrong method is a `405` whatever the credentials.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use poem::{Route, test::TestClient};
/// use poem_openapi::OpenApiService;
///
/// let service = OpenApiService::new(tokenauth::AuthApi::new(), "auth", "1.0");
/// let app = Route::new().nest("/api", tokenauth::drf_methods(service));
/// let response = TestClient::new(app).put("/api/auth/logout").send().await;
/// response.assert_status(poem::http::StatusCode::METHOD_NOT_ALLOWED);
/// response.assert_header("allow", "POST, OPTIONS");
/// response.assert_text(r#"{"detail":"Method \"PUT\" not allowed."}"#).await;
/// # }
/// ```
pub fn drf_methods<T, W>(service: OpenApiService<T, W>) -> impl Endpoint<Output = Response>
where
    T: OpenApi + 'static,
    W: Webhook + 'static,
{
    DrfMethods {
        paths: Arc::from(paths(T::meta())),
        inner: service.into_endpoint(),
    }
}

struct DrfMethods<E> {
    paths: Arc<[PathMethods]>,
    inner: E,
}

impl<E: Endpoint<Output = Response>> Endpoint for DrfMethods<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let found = self.paths.iter().find(|p| p.matches(req.uri().path()));
        let Some(path) = found else {
            return self.inner.call(req).await;
        };
        if req.method() == Method::OPTIONS && !path.own_options {
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

fn json(status: StatusCode, body: String, allow: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::ALLOW, allow)
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_paths() {
        let path = |template: &str| PathMethods {
            segments: template
                .split('/')
                .filter(|p| !p.is_empty())
                .map(|p| (!p.starts_with('{')).then(|| p.to_owned()))
                .collect(),
            allow: String::new(),
            metadata: String::new(),
            own_options: false,
        };
        assert!(path("/auth/token").matches("/auth/token"));
        assert!(path("/auth/token").matches("/auth/token/"));
        assert!(!path("/auth/token").matches("/auth/token/x"));
        assert!(!path("/auth/token").matches("/auth"));
        assert!(path("/users/{id}").matches("/users/7"));
        assert!(!path("/users/{id}").matches("/users"));
    }

    #[test]
    fn paths_merge_across_apis_and_the_most_specific_matches_first() {
        use poem_openapi::registry::{MetaOperation, MetaPath, MetaResponses};
        let operation = |method: Method| MetaOperation {
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
        };
        let api = |paths: Vec<(&str, Method)>| MetaApi {
            paths: paths
                .into_iter()
                .map(|(path, method)| MetaPath {
                    path: path.to_owned(),
                    operations: vec![operation(method)],
                })
                .collect(),
        };
        let paths = paths(vec![
            api(vec![
                ("/users/{id}", Method::DELETE),
                ("/items", Method::GET),
            ]),
            api(vec![("/users/me", Method::PUT), ("/items", Method::POST)]),
        ]);
        let allow = |path: &str| {
            paths
                .iter()
                .find(|p| p.matches(path))
                .map(|p| p.allow.as_str())
        };
        assert_eq!(allow("/items"), Some("GET, POST, HEAD, OPTIONS"));
        assert_eq!(allow("/users/me"), Some("PUT, OPTIONS"));
        assert_eq!(allow("/users/7"), Some("DELETE, OPTIONS"));
    }
}
