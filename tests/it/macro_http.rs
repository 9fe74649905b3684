//! `#[token_auth]` behaviour over real HTTP: plain handlers and poem-openapi operations with
//! either or both parameters, optional authentication, custom keywords, authentication before
//! the body, a `bad_request_handler` that must not swallow a 401, and the generated spec.

use crate::common;

use common::{INVALID_TOKEN, NO_CREDENTIALS, NOT_PROVIDED, assert_401, get, request, serve};
use poem::web::Json as PoemJson;
use poem::{EndpointExt, Route, get as poem_get, post};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService};
use serde_json::{Value, json};
use tokenauth::keyword::BearerKeyword;
use tokenauth::{ApiAuth, ApiMaybeAuth, Key, NewToken, Store, Token, User, token_auth};

/// DRF's `authentication_classes = [TokenAuthentication, BearerAuthentication]`.
#[token_auth(keyword = ["Token", "Bearer"])]
#[poem::handler]
async fn either(user: User) -> String {
    user.username
}

#[token_auth]
#[poem::handler]
async fn both(token: Token, user: User) -> String {
    format!("{} {}", user.username, token.name)
}

#[token_auth(keyword = "Api-Key")]
#[poem::handler]
async fn custom(user: User) -> String {
    user.username
}

#[token_auth]
#[poem::handler]
async fn optional(user: Option<User>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.username)
}

#[token_auth(scopes = ["orders:read"])]
#[poem::handler]
async fn scoped(user: User) -> String {
    user.username
}

#[token_auth(scopes = ["orders:read"])]
#[poem::handler]
async fn scoped_optional(token: Option<Token>) -> String {
    token.map_or_else(|| "anonymous".to_owned(), |t| t.name)
}

#[derive(serde::Deserialize)]
struct Quantity {
    quantity: u32,
}

#[token_auth(keyword = "Bearer")]
#[poem::handler]
async fn place_order(PoemJson(body): PoemJson<Quantity>, user: User) -> String {
    format!("{} ordered {}", user.username, body.quantity)
}

#[derive(Object)]
struct Order {
    quantity: u32,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
enum OrderResponse {
    #[oai(status = 200)]
    Ok(PlainText<String>),
    #[oai(status = 400)]
    BadRequest(PlainText<String>),
}

fn bad_request(_: poem::Error) -> OrderResponse {
    OrderResponse::BadRequest(PlainText("handled by bad_request_handler".to_owned()))
}

struct Api;

#[token_auth]
#[OpenApi]
impl Api {
    #[oai(path = "/orders", method = "post")]
    async fn order(&self, Json(order): Json<Order>, user: User) -> OrderResponse {
        OrderResponse::Ok(PlainText(format!(
            "{} ordered {}",
            user.username, order.quantity
        )))
    }

    #[oai(path = "/maybe", method = "get")]
    async fn maybe(&self, token: Option<Token>) -> PlainText<String> {
        PlainText(token.map_or_else(|| "anonymous".to_owned(), |t| t.name))
    }

    /// Write orders.
    #[token_auth(keyword = "Bearer", scopes = ["orders:write"])]
    #[oai(path = "/orders/write", method = "post")]
    async fn write_orders(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    /// Hand-written optional authentication, beside the generated `/maybe`.
    #[oai(path = "/hand/maybe", method = "get")]
    async fn hand_maybe(&self, ApiMaybeAuth(auth): ApiMaybeAuth) -> PlainText<String> {
        PlainText(auth.map_or_else(|| "anonymous".to_owned(), |a| a.token.name.clone()))
    }

    #[token_auth(keyword = ["Token", "Bearer"], scopes = ["orders:read"])]
    #[oai(path = "/either", method = "get")]
    async fn either(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    #[token_auth(keyword = "Api-Key")]
    #[oai(path = "/custom", method = "get")]
    async fn custom(&self, user: User, token: Token) -> poem::Result<PlainText<String>> {
        if token.name.is_empty() {
            return Err(poem::Error::from_status(poem::http::StatusCode::FORBIDDEN));
        }
        Ok(PlainText(format!("{} {}", user.username, token.name)))
    }

    /// Open; `POST` on the same path is not.
    #[oai(path = "/mixed", method = "get")]
    async fn mixed_open(&self) -> PlainText<&'static str> {
        PlainText("open")
    }

    #[oai(path = "/mixed", method = "post")]
    async fn mixed_secured(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    /// Two secured operations on one path, with different keywords and scopes.
    #[token_auth(scopes = ["orders:read"])]
    #[oai(path = "/shared", method = "get")]
    async fn shared_read(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    #[token_auth(keyword = "Bearer")]
    #[oai(path = "/shared", method = "delete")]
    async fn shared_delete(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    /// Hand-written required authentication.
    #[oai(path = "/hand/me", method = "get")]
    async fn hand_me(&self, auth: ApiAuth<User, BearerKeyword>) -> PlainText<String> {
        PlainText(auth.user.username.clone())
    }

    /// One operation, two methods (and so no generated `operationId`).
    #[oai(path = "/multi", method = "get", method = "put")]
    async fn multi(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }
}

async fn app() -> (common::TestServer, Key, Key) {
    let store: Store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, named) = store
        .tokens()
        .create(alice.id, NewToken::named("laptop"))
        .await
        .unwrap();
    let (_, unnamed) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let api = OpenApiService::new(Api, "macro tests", "1");
    let spec = api.spec_endpoint();
    let scoped_spec = tokenauth::openapi::spec_endpoint(&api);
    let docs = tokenauth::openapi::swagger_ui(&api);
    let app = Route::new()
        .at("/either", poem_get(either))
        .at("/tokenauth-spec", scoped_spec)
        .nest("/docs", docs)
        .at("/both", poem_get(both))
        .at("/custom", poem_get(custom))
        .at("/optional", poem_get(optional))
        .at("/order", post(place_order))
        .at("/scoped", poem_get(scoped))
        .at("/scoped/optional", poem_get(scoped_optional))
        .nest("/api", tokenauth::openapi::drf_methods(api))
        .at("/spec", spec)
        .data(store);
    (serve(app).await, named, unnamed)
}

#[tokio::test]
async fn handlers_get_user_and_token_from_one_authentication() {
    let (server, key, _) = app().await;
    let header = format!("Token {}", key.expose_secret());
    let response = get(server.addr, "/both", Some(header.as_bytes())).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "alice laptop")
    );
    let response = get(server.addr, "/both", None).await;
    assert_401(&response, "Token", NOT_PROVIDED, "no credentials");
}

#[tokio::test]
async fn custom_keyword_is_the_scheme_and_the_challenge() {
    let (server, key, _) = app().await;
    let header = format!("api-key {}", key.expose_secret());
    let response = get(server.addr, "/custom", Some(header.as_bytes())).await;
    assert_eq!((response.status, response.body_text()), (200, "alice"));
    let header = format!("Token {}", key.expose_secret());
    let response = get(server.addr, "/custom", Some(header.as_bytes())).await;
    assert_401(&response, "Api-Key", NOT_PROVIDED, "wrong keyword");
    let response = get(server.addr, "/custom", Some(b"Api-Key")).await;
    assert_401(&response, "Api-Key", NO_CREDENTIALS, "keyword alone");
}

#[tokio::test]
async fn optional_authentication_is_anonymous_only_without_credentials() {
    let (server, key, _) = app().await;
    for path in ["/optional", "/api/maybe"] {
        let response = get(server.addr, path, None).await;
        assert_eq!(
            (response.status, response.body_text()),
            (200, "anonymous"),
            "{path}"
        );
        let response = get(server.addr, path, Some(b"Token nope")).await;
        assert_401(&response, "Token", INVALID_TOKEN, path);
        let response = get(server.addr, path, Some(b"Token")).await;
        assert_401(&response, "Token", NO_CREDENTIALS, path);
    }
    let header = format!("Token {}", key.expose_secret());
    let response = get(server.addr, "/optional", Some(header.as_bytes())).await;
    assert_eq!(response.body_text(), "alice");
    let response = get(server.addr, "/api/maybe", Some(header.as_bytes())).await;
    assert_eq!(response.body_text(), "laptop");
}

#[tokio::test]
async fn authentication_runs_before_the_body_even_when_declared_after_it() {
    let (server, key, _) = app().await;
    let bad_body = Some(("application/json", &b"{oops"[..]));
    let good_body = Some(("application/json", &br#"{"quantity":2}"#[..]));
    let bearer = format!("Bearer {}", key.expose_secret());
    let token = format!("Token {}", key.expose_secret());

    // Plain handler, body extractor declared first.
    let response = request(
        server.addr,
        "POST",
        "/order",
        Some(b"Bearer nope"),
        bad_body,
    )
    .await;
    assert_401(
        &response,
        "Bearer",
        INVALID_TOKEN,
        "handler: bad token, bad body",
    );
    let response = request(
        server.addr,
        "POST",
        "/order",
        Some(bearer.as_bytes()),
        bad_body,
    )
    .await;
    assert_eq!(response.status, 400, "handler: good token, bad body");
    let response = request(
        server.addr,
        "POST",
        "/order",
        Some(bearer.as_bytes()),
        good_body,
    )
    .await;
    assert_eq!(response.body_text(), "alice ordered 2");

    // OpenAPI operation whose response type has a bad_request_handler: the 401 survives it,
    // and other errors still reach it.
    let path = "/api/orders";
    let response = request(server.addr, "POST", path, Some(b"Token nope"), bad_body).await;
    assert_401(
        &response,
        "Token",
        INVALID_TOKEN,
        "operation: bad token, bad body",
    );
    let response = request(server.addr, "POST", path, None, good_body).await;
    assert_401(&response, "Token", NOT_PROVIDED, "operation: no token");
    let response = request(server.addr, "POST", path, Some(token.as_bytes()), bad_body).await;
    assert_eq!(
        (response.status, response.body_text()),
        (400, "handled by bad_request_handler")
    );
    let response = request(server.addr, "POST", path, Some(token.as_bytes()), good_body).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "alice ordered 2")
    );
}

#[tokio::test]
async fn operation_bodies_keep_return_and_question_mark() {
    let (server, named, unnamed) = app().await;
    let header = format!("Api-Key {}", named.expose_secret());
    let response = get(server.addr, "/api/custom", Some(header.as_bytes())).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "alice laptop")
    );
    let header = format!("Api-Key {}", unnamed.expose_secret());
    let response = get(server.addr, "/api/custom", Some(header.as_bytes())).await;
    assert_eq!(
        response.status, 403,
        "the early `return Err(..)` of the body"
    );
}

#[tokio::test]
async fn spec_of_optional_custom_and_bad_request_handler_operations() {
    let (server, _, _) = app().await;
    let response = get(server.addr, "/spec", None).await;
    let spec: Value = serde_json::from_slice(&response.body).unwrap();
    let paths = &spec["paths"];

    // Optional: the scheme, or nothing — the order of a hand-written `ApiMaybeAuth`.
    assert_eq!(
        paths["/maybe"]["get"]["security"],
        json!([{ "TokenAuth": [] }, {}])
    );
    assert!(paths["/maybe"]["get"]["responses"]["401"].is_object());

    // A bad_request_handler response type still documents the 401 beside its own 400, and the
    // 403 of every secured operation (any token may carry limits).
    let orders = &paths["/orders"]["post"];
    assert_eq!(orders["security"], json!([{ "TokenAuth": [] }]));
    let responses = orders["responses"].as_object().unwrap();
    let mut codes: Vec<&str> = responses.keys().map(String::as_str).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["200", "400", "401", "403"]);

    // A custom keyword: an apiKey scheme whose description says what to send.
    assert_eq!(
        paths["/custom"]["get"]["security"],
        json!([{ "Api-KeyAuth": [] }])
    );
    let scheme = &spec["components"]["securitySchemes"]["Api-KeyAuth"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["name"], "Authorization");
    assert!(
        scheme["description"]
            .as_str()
            .unwrap()
            .contains("`Api-Key <key>`")
    );
}

#[poem::handler]
async fn forgot_the_attribute(user: User) -> String {
    user.username
}

#[tokio::test]
async fn a_user_parameter_without_the_attribute_fails_loudly() {
    let store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let server = serve(Route::new().at("/", forgot_the_attribute).data(store)).await;
    let header = format!("Token {}", key.expose_secret());
    for auth in [Some(header.as_bytes()), None] {
        let response = get(server.addr, "/", auth).await;
        assert_eq!(response.status, 500, "{response:?}");
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            body,
            json!({ "detail": tokenauth::rejection::MISSING_ATTRIBUTE_DETAIL })
        );
    }
}

#[tokio::test]
async fn repeated_authorization_headers_are_joined_as_django_sees_them() {
    let (server, key, _) = app().await;
    let request = format!(
        "GET /both HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Token {0}\r\nAuthorization: Token {0}\r\n\r\n",
        key.expose_secret()
    );
    let response = common::raw_exchange(server.addr, request.as_bytes()).await;
    assert_401(
        &response,
        "Token",
        common::SPACES,
        "two Authorization headers",
    );
}

#[tokio::test]
async fn scopes_are_required_with_drfs_403() {
    let (server, unscoped, _) = app().await;
    let forbidden = r#"{"detail":"You do not have permission to perform this action."}"#;
    let header = format!("Token {}", unscoped.expose_secret());
    for path in ["/scoped", "/scoped/optional"] {
        let response = get(server.addr, path, Some(header.as_bytes())).await;
        assert_eq!(
            (response.status, response.body_text()),
            (403, forbidden),
            "{path}"
        );
        assert_eq!(response.header_count("www-authenticate"), 0);
        assert_eq!(response.header("content-type"), Some("application/json"));
    }
    let response = get(server.addr, "/scoped/optional", None).await;
    assert_eq!((response.status, response.body_text()), (200, "anonymous"));
    let response = get(server.addr, "/scoped", None).await;
    assert_401(&response, "Token", NOT_PROVIDED, "scoped, no credentials");
}

#[tokio::test]
async fn granted_and_wildcard_scopes_pass() {
    let store: Store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, read) = store
        .tokens()
        .create(
            alice.id,
            NewToken::named("reader").scope("orders:read").unwrap(),
        )
        .await
        .unwrap();
    let (_, all) = store
        .tokens()
        .create(alice.id, NewToken::named("admin").scope("*").unwrap())
        .await
        .unwrap();
    let api = OpenApiService::new(Api, "scopes", "1");
    let app = Route::new()
        .at("/scoped", poem_get(scoped))
        .nest("/api", api)
        .data(store);
    let server = serve(app).await;
    for key in [&read, &all] {
        let header = format!("Token {}", key.expose_secret());
        let response = get(server.addr, "/scoped", Some(header.as_bytes())).await;
        assert_eq!((response.status, response.body_text()), (200, "alice"));
    }
    let write = |key: &Key| format!("Bearer {}", key.expose_secret());
    let response = request(
        server.addr,
        "POST",
        "/api/orders/write",
        Some(write(&read).as_bytes()),
        None,
    )
    .await;
    assert_eq!(
        response.status, 403,
        "orders:read does not grant orders:write"
    );
    let response = request(
        server.addr,
        "POST",
        "/api/orders/write",
        Some(write(&all).as_bytes()),
        None,
    )
    .await;
    assert_eq!((response.status, response.body_text()), (200, "alice"));
}

#[tokio::test]
async fn spec_documents_required_scopes_and_the_403() {
    let (server, _, _) = app().await;
    let response = get(server.addr, "/spec", None).await;
    let spec: Value = serde_json::from_slice(&response.body).unwrap();
    let operation = &spec["paths"]["/orders/write"]["post"];
    assert_eq!(operation["security"], json!([{ "BearerAuth": [] }]));
    assert_eq!(operation["summary"], "Write orders.");
    assert!(
        operation["description"]
            .as_str()
            .unwrap()
            .contains("`orders:write`"),
        "{operation}"
    );
    assert!(operation["responses"]["403"].is_object() && operation["responses"]["401"].is_object());
    assert!(
        spec["paths"]["/maybe"]["get"]["responses"]["403"].is_object(),
        "without scopes too: any token may carry limits (allowed_ips, read_only)"
    );
}

#[tokio::test]
async fn optional_requirements_read_alike_hand_written_and_generated() {
    let (server, _, _) = app().await;
    let spec: Value = serde_json::from_slice(&get(server.addr, "/spec", None).await.body).unwrap();
    let generated = &spec["paths"]["/maybe"]["get"]["security"];
    assert_eq!(generated, &spec["paths"]["/hand/maybe"]["get"]["security"]);
    assert_eq!(generated, &json!([{ "TokenAuth": [] }, {}]));
}

#[tokio::test]
async fn several_keywords_accept_either_and_challenge_with_the_first() {
    let (server, key, _) = app().await;
    let secret = key.expose_secret();
    for path in ["/either", "/api/either"] {
        let needs_scope = path.starts_with("/api");
        for keyword in ["Token", "Bearer", "bearer"] {
            let header = format!("{keyword} {secret}");
            let response = get(server.addr, path, Some(header.as_bytes())).await;
            // The key has no `orders:read`: authenticated, then refused by scope.
            let expected = if needs_scope { 403 } else { 200 };
            assert_eq!(response.status, expected, "{path} {keyword}");
        }
        // A header naming neither keyword is no credentials; the challenge names the first.
        let response = get(server.addr, path, Some(b"Basic abc")).await;
        assert_401(&response, "Token", NOT_PROVIDED, path);
        let response = get(server.addr, path, None).await;
        assert_401(&response, "Token", NOT_PROVIDED, path);
        // A malformed header of the second keyword is refused as DRF refuses it.
        let response = get(server.addr, path, Some(b"Bearer")).await;
        assert_401(&response, "Token", NO_CREDENTIALS, path);
        let response = get(server.addr, path, Some(b"Bearer nope")).await;
        assert_401(&response, "Token", INVALID_TOKEN, path);
    }
    let spec: Value = serde_json::from_slice(&get(server.addr, "/spec", None).await.body).unwrap();
    assert_eq!(
        spec["paths"]["/either"]["get"]["security"],
        json!([{ "TokenAuth": [] }, { "BearerAuth": [] }])
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerAuth"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn required_scopes_are_data_in_the_served_spec_and_in_swagger_ui() {
    let (server, _, _) = app().await;
    let served: Value =
        serde_json::from_slice(&get(server.addr, "/tokenauth-spec", None).await.body).unwrap();
    // Swagger UI's page embeds the document it shows: read it back out of the page.
    let page = get(server.addr, "/docs", None).await;
    let html = page.body_text();
    // poem-openapi's page: `let spec = <the document>;`
    let start = html.find("let spec = ").expect("an embedded spec") + "let spec = ".len();
    let embedded: Value = serde_json::Deserializer::from_str(&html[start..])
        .into_iter::<Value>()
        .next()
        .expect("a JSON document")
        .expect("valid JSON");
    assert_eq!(served, embedded, "Swagger UI shows the served document");
    for spec in [&served, &embedded] {
        let paths = &spec["paths"];
        assert_eq!(
            paths["/orders/write"]["post"]["x-required-scopes"],
            json!(["orders:write"])
        );
        assert_eq!(
            paths["/either"]["get"]["x-required-scopes"],
            json!(["orders:read"])
        );
        assert!(paths["/custom"]["get"].get("x-required-scopes").is_none());
        // Every operation has a stable id: its HTTP method and path.
        let ids: Vec<&str> = [
            "/orders",
            "/maybe",
            "/hand/maybe",
            "/orders/write",
            "/custom",
        ]
        .iter()
        .map(|path| {
            let item = paths[*path].as_object().unwrap();
            item.values().next().unwrap()["operationId"]
                .as_str()
                .unwrap()
        })
        .collect();
        assert_eq!(
            ids,
            [
                "post_orders",
                "get_maybe",
                "get_hand_maybe",
                "post_orders_write",
                "get_custom"
            ]
        );
    }
    // A user's own words are not read as scopes.
    let description = served["paths"]["/orders/write"]["post"]["description"].as_str();
    assert!(
        description
            .unwrap_or_default()
            .contains("Requires the scope(s) `orders:write`")
    );
}

/// A method a path does not have, or `OPTIONS`, once the request is let in: DRF's `405` or
/// `200`, with `Allow`.
#[track_caller]
fn assert_answered(response: &common::RawResponse, method: &str, allow: &str, case: &str) {
    assert_eq!(response.header("allow"), Some(allow), "{case}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    if method == "OPTIONS" {
        assert_eq!(response.status, 200, "{case}: {response:?}");
        let metadata: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(metadata["renders"], json!(["application/json"]));
    } else {
        let detail = format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#);
        assert_eq!(
            (response.status, response.body_text()),
            (405, detail.as_str()),
            "{case}"
        );
    }
}

/// DRF's `401` before the method is looked at, with the path's `Allow`.
#[track_caller]
fn assert_refused(response: &common::RawResponse, keyword: &str, detail: &str, allow: &str) {
    assert_401(response, keyword, detail, "refused before the method");
    assert_eq!(response.header("allow"), Some(allow));
}

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

#[tokio::test]
async fn wrong_methods_and_options_are_answered_as_drf_does() {
    let (server, key, _) = app().await;
    let key = key.expose_secret();
    // The path, a method it lacks, its `Allow`, the keyword its operation takes, and the
    // status the key (no scopes) gets with that keyword.
    let cases = [
        ("/api/orders", "PUT", "POST, OPTIONS", Some("Token"), 405),
        ("/api/maybe", "DELETE", "GET, HEAD, OPTIONS", None, 405),
        (
            "/api/custom",
            "PATCH",
            "GET, HEAD, OPTIONS",
            Some("Api-Key"),
            405,
        ),
        (
            "/api/orders/write",
            "TRACE",
            "POST, OPTIONS",
            Some("Bearer"),
            403,
        ),
        (
            "/api/hand/me",
            "POST",
            "GET, HEAD, OPTIONS",
            Some("Bearer"),
            405,
        ),
        (
            "/api/multi",
            "PATCH",
            "GET, PUT, HEAD, OPTIONS",
            Some("Token"),
            405,
        ),
    ];
    for (path, wrong, allow, keyword, with_key) in cases {
        for method in [wrong, "OPTIONS"] {
            let case = format!("{method} {path}");
            let response = request(server.addr, method, path, None, None).await;
            match keyword {
                Some(keyword) => assert_refused(&response, keyword, NOT_PROVIDED, allow),
                None => assert_answered(&response, method, allow, &case),
            }
            let header = format!("{} {key}", keyword.unwrap_or("Token"));
            let response = request(server.addr, method, path, Some(header.as_bytes()), None).await;
            if with_key == 403 {
                assert_eq!(
                    (response.status, response.body_text()),
                    (403, FORBIDDEN),
                    "{case}"
                );
                assert_eq!(response.header("allow"), Some(allow), "{case}");
            } else {
                assert_answered(&response, method, allow, &case);
            }
        }
    }
    // Optional authentication lets the anonymous in, but not invalid credentials.
    let response = request(server.addr, "PUT", "/api/maybe", Some(b"Token nope"), None).await;
    assert_refused(&response, "Token", INVALID_TOKEN, "GET, HEAD, OPTIONS");
    // Routing is untouched otherwise: a right method, an unknown path.
    let response = get(server.addr, "/api/custom", None).await;
    assert_401(&response, "Api-Key", NOT_PROVIDED, "GET /api/custom");
    let response = request(server.addr, "PUT", "/api/nowhere", None, None).await;
    assert_eq!(response.status, 404);
}

/// tokenauth secures operations, DRF views: a path is answered to a request that one of its
/// operations would let through, and otherwise refused with the most telling refusal.
#[tokio::test]
async fn a_path_admits_what_one_of_its_operations_admits() {
    let (server, key, _) = app().await;
    let key = key.expose_secret();

    // An open operation opens the path, whatever the header says.
    let allow = "GET, POST, HEAD, OPTIONS";
    for header in [None, Some(&b"Token nope"[..])] {
        for method in ["PUT", "OPTIONS"] {
            let response = request(server.addr, method, "/api/mixed", header, None).await;
            assert_answered(&response, method, allow, "/api/mixed");
        }
    }

    // GET needs `Token` and `orders:read`, DELETE `Bearer`: either lets a request in.
    let allow = "GET, DELETE, HEAD, OPTIONS";
    let bearer = format!("Bearer {key}");
    let token = format!("Token {key}");
    for method in ["PUT", "OPTIONS"] {
        let response = request(server.addr, method, "/api/shared", None, None).await;
        assert_refused(&response, "Token", NOT_PROVIDED, allow);
        let response = request(
            server.addr,
            method,
            "/api/shared",
            Some(bearer.as_bytes()),
            None,
        )
        .await;
        assert_answered(&response, method, allow, "Bearer, DELETE's keyword");
        // Authenticated by GET's keyword, without its scope: DRF's 403, not DELETE's 401.
        let response = request(
            server.addr,
            method,
            "/api/shared",
            Some(token.as_bytes()),
            None,
        )
        .await;
        assert_eq!((response.status, response.body_text()), (403, FORBIDDEN));
        assert_eq!(response.header_count("www-authenticate"), 0);
        // An invalid key is DELETE's refusal, not GET's "not provided".
        let response = request(
            server.addr,
            method,
            "/api/shared",
            Some(b"Bearer nope"),
            None,
        )
        .await;
        assert_refused(&response, "Bearer", INVALID_TOKEN, allow);
    }
}

/// Two APIs served together may have methods of the same name: each operation's default
/// id comes from its method and path, so poem-openapi finds no duplicate.
#[tokio::test]
async fn apis_with_methods_of_the_same_name_serve_together() {
    struct Users;
    #[token_auth]
    #[OpenApi]
    impl Users {
        #[oai(path = "/users", method = "get")]
        async fn list(&self, user: User) -> PlainText<String> {
            PlainText(user.username)
        }
    }
    struct Orders;
    #[token_auth(scopes = ["orders:read"])]
    #[OpenApi]
    impl Orders {
        #[oai(path = "/orders", method = "get")]
        async fn list(&self, user: User) -> PlainText<String> {
            PlainText(user.username)
        }
    }
    let service = OpenApiService::new((Users, Orders, tokenauth::AuthApi::new()), "t", "1");
    let spec: Value = serde_json::from_str(&tokenauth::openapi::spec(&service)).unwrap();
    assert_eq!(spec["paths"]["/users"]["get"]["operationId"], "get_users");
    assert_eq!(spec["paths"]["/orders"]["get"]["operationId"], "get_orders");
    assert_eq!(
        spec["paths"]["/orders"]["get"]["x-required-scopes"],
        json!(["orders:read"])
    );
    assert!(
        spec["paths"]["/users"]["get"]
            .get("x-required-scopes")
            .is_none()
    );
    // poem-openapi panics on a duplicate id when the service becomes an endpoint.
    let server = serve(
        Route::new()
            .nest("/api", tokenauth::openapi::drf_methods(service))
            .data(common::sqlite_store().await),
    )
    .await;
    let response = get(server.addr, "/api/users", None).await;
    assert_401(&response, "Token", NOT_PROVIDED, "GET /api/users");
}

/// `scheme = "..."` names the OpenAPI scheme of a keyword whose `<keyword>Auth` cannot name
/// one (`Key!`, a valid HTTP scheme), as `keyword!` does: the header takes the keyword, the
/// spec the name.
#[tokio::test]
async fn a_named_scheme_admits_a_keyword_its_name_could_not_be_made_from() {
    #[token_auth(keyword = "Key!", scheme = "BangAuth")]
    #[poem::handler]
    async fn bang(user: User) -> String {
        user.username
    }
    struct Bang;
    #[token_auth(keyword = "Key!", scheme = "BangAuth")]
    #[OpenApi]
    impl Bang {
        #[oai(path = "/bang", method = "get")]
        async fn bang(&self, user: User) -> PlainText<String> {
            PlainText(user.username)
        }
    }
    tokenauth::keyword!(BangKeyword = "Key!", scheme = "BangAuth");
    assert_eq!(
        <BangKeyword as tokenauth::keyword::Keyword>::SCHEME_NAME,
        "BangAuth"
    );

    let store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let service = OpenApiService::new(Bang, "t", "1");
    let spec: Value = serde_json::from_str(&service.spec()).unwrap();
    assert_eq!(
        spec["paths"]["/bang"]["get"]["security"],
        json!([{ "BangAuth": [] }])
    );
    let scheme = &spec["components"]["securitySchemes"]["BangAuth"];
    assert_eq!(scheme["type"], "apiKey");
    assert!(
        scheme["description"]
            .as_str()
            .unwrap()
            .contains("`Key! <key>`")
    );
    let server = serve(
        Route::new()
            .at("/bang", poem_get(bang))
            .nest("/api", service)
            .data(store),
    )
    .await;
    let header = format!("key! {}", key.expose_secret());
    for path in ["/bang", "/api/bang"] {
        let response = get(server.addr, path, Some(header.as_bytes())).await;
        assert_eq!(
            (response.status, response.body_text()),
            (200, "alice"),
            "{path}"
        );
        let response = get(server.addr, path, None).await;
        assert_401(&response, "Key!", NOT_PROVIDED, path);
    }
}
