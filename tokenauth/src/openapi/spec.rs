//! The OpenAPI document as tokenauth completes it — each scoped operation's
//! `x-required-scopes`, `security: []` on open operations, examples of tokenauth's responses —
//! served as JSON and in Swagger UI.

use serde_json::{Map, Value, json};

use super::guard::scoped_operations;
use super::response;

/// The OpenAPI document of `service` as JSON, completed where poem-openapi cannot say it:
///
/// - each operation that `#[token_auth]` gave scopes carries them in an `x-required-scopes`
///   vendor extension (OpenAPI 3.0 reserves requirement scopes for OAuth2): each scoped
///   operation's requirement type names its `operationId` and scopes, and is found while the
///   service registers its types;
/// - every JSON body's media type is `application/json`: poem-openapi's
///   `application/json; charset=utf-8` loses its parameter, which RFC 8259 does not define for
///   JSON (JSON is UTF-8) and which hides the body from tools that look for `…/json` keys, such
///   as openapi-typescript's `SuccessResponseJSON`; every body has that one media type;
/// - each operation without a security requirement says that it is open, `security: []`
///   (poem-openapi leaves the field out, which linters such as Redocly's `security-defined`
///   refuse), whether it is tokenauth's (`obtain_token`) or the application's;
/// - each response that tokenauth documents — a secured operation's `401`, a scoped one's
///   `403`, every answer of [`AuthApi`](crate::AuthApi)'s login — has an example of each body
///   it can have, made by the code that sends it.
///
/// Serve it with [`spec_endpoint`], and Swagger UI with `swagger_ui` (feature `swagger-ui`),
/// instead of poem-openapi's.
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
///     /// The user's orders.
///     #[oai(path = "/orders", method = "get")]
///     async fn orders(&self, user: User) -> PlainText<String> {
///         PlainText(user.username)
///     }
///
///     /// Open to everyone.
///     #[oai(path = "/ping", method = "get")]
///     async fn ping(&self) -> PlainText<&'static str> {
///         PlainText("pong")
///     }
/// }
///
/// let service = OpenApiService::new(Api, "shop", "1.0");
/// let spec: serde_json::Value = serde_json::from_str(&tokenauth::openapi::spec(&service)).unwrap();
/// let orders = &spec["paths"]["/orders"]["get"];
/// assert_eq!(orders["x-required-scopes"], serde_json::json!(["orders:read"]));
/// let not_provided = &orders["responses"]["401"]["content"]["application/json"]
///     ["examples"]["not_provided"]["value"];
/// assert_eq!(not_provided["detail"], "Authentication credentials were not provided.");
/// assert_eq!(spec["paths"]["/ping"]["get"]["security"], serde_json::json!([]));
/// ```
pub fn spec<T, W>(service: &poem_openapi::OpenApiService<T, W>) -> String
where
    T: poem_openapi::OpenApi,
    W: poem_openapi::Webhook,
{
    document::<T>(service.spec())
}

/// `spec` (the JSON document of an `OpenApiService<T, _>`) completed as [`spec`] says. A
/// document that does not parse (never poem-openapi's) is returned as it is.
pub(super) fn document<T: poem_openapi::OpenApi>(spec: String) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(&spec) else {
        return spec;
    };
    let scoped = scoped_operations::<T>();
    let operations = document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|path| path.iter_mut())
        .filter(|(method, _)| METHODS.contains(&method.as_str()))
        .filter_map(|(_, operation)| operation.as_object_mut());
    for operation in operations {
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let id = id.as_deref();
        if let Some((_, scopes)) = scoped.iter().find(|(scoped, _)| Some(*scoped) == id) {
            operation.insert("x-required-scopes".to_owned(), json!(scopes));
        }
        operation
            .entry("security")
            .or_insert_with(|| Value::Array(Vec::new()));
        let responses = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.iter_mut());
        for (status, response) in responses {
            plain_json(response);
            challenge_header_name(response);
            add_examples(id, status, response);
        }
        if let Some(body) = operation.get_mut("requestBody") {
            plain_json(body);
        }
    }
    serde_json::to_string_pretty(&document).unwrap_or(spec)
}

/// Names `response`'s challenge header `WWW-Authenticate`, as tokenauth documents it: an
/// `ApiResponse` that declares it (as introspection's `403` does) gets poem-openapi's
/// upper-cased `WWW-AUTHENTICATE`, and one document should spell it one way.
fn challenge_header_name(response: &mut Value) {
    let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) else {
        return;
    };
    let other = headers
        .keys()
        .find(|name| name.eq_ignore_ascii_case("WWW-Authenticate") && *name != "WWW-Authenticate")
        .cloned();
    if let Some(other) = other
        && !headers.contains_key("WWW-Authenticate")
        && let Some(header) = headers.remove(&other)
    {
        headers.insert("WWW-Authenticate".to_owned(), header);
    }
}

/// The operations of an OpenAPI 3.0 path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Drops the `charset=utf-8` parameter from the JSON media types of `body` (a response or a
/// request body): `application/json; charset=utf-8` becomes `application/json`, unless the
/// body also has that key already.
fn plain_json(body: &mut Value) {
    let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let renamed: Vec<(String, String)> = content
        .keys()
        .filter_map(|media_type| {
            let (essence, parameters) = media_type.split_once(';')?;
            let essence = essence.trim();
            let json = essence == "application/json" || essence.ends_with("+json");
            let utf8 = parameters.trim().eq_ignore_ascii_case("charset=utf-8");
            (json && utf8 && !content.contains_key(essence))
                .then(|| (media_type.clone(), essence.to_owned()))
        })
        .collect();
    for (from, to) in renamed {
        if let Some(media) = content.remove(&from) {
            content.insert(to, media);
        }
    }
}

/// Gives `response` (with `status`, of the operation `id`) the examples of its bodies, if it is
/// one that tokenauth documents: by its description (a secured operation's `401` and `403`),
/// by its operation (`AuthApi`'s token management), or by the schema of its body (the
/// login's, which nothing else uses).
fn add_examples(id: Option<&str>, status: &str, response: &mut Value) {
    let description = response
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut examples = response::examples(description);
    if examples.is_empty() {
        let status = status.parse().unwrap_or_default();
        examples = super::endpoints::operation_examples(id.unwrap_or_default(), status);
    }
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    for media in content.values_mut().filter_map(Value::as_object_mut) {
        let schema = media
            .get("schema")
            .and_then(|schema| schema.get("$ref"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if examples.is_empty() {
            examples = super::endpoints::login_examples(schema, status.parse().unwrap_or_default());
        }
        if examples.is_empty() || media.contains_key("example") || media.contains_key("examples") {
            continue;
        }
        let examples: Map<String, Value> = examples
            .iter()
            .map(|(name, summary, body)| {
                let value = serde_json::from_str(body).unwrap_or_else(|_| json!(body));
                (
                    (*name).to_owned(),
                    json!({ "summary": summary, "value": value }),
                )
            })
            .collect();
        media.insert("examples".to_owned(), Value::Object(examples));
    }
}

/// An endpoint serving [`spec`] as `application/json`.
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
    let spec = spec(service);
    poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(spec.clone())
    })
}
