//! The OpenAPI document with each scoped operation's `x-required-scopes`, served as JSON and
//! in Swagger UI.

use super::guard::scoped_operations;

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
/// let spec: serde_json::Value = serde_json::from_str(&tokenauth::openapi::spec_with_scopes(&service)).unwrap();
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
pub(super) fn with_scopes<T: poem_openapi::OpenApi>(spec: String) -> String {
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
/// let app = poem::Route::new().at("/openapi.json", tokenauth::openapi::spec_endpoint(&service));
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
