//! `AuthApi` over real HTTP on SQLite and PostgreSQL: DRF's obtain-token view byte for byte,
//! throttling, logout and logout-all, and their place in the OpenAPI document.

use crate::api;
use crate::common;

use std::time::Duration;

use common::{
    Backend, INVALID_TOKEN, NO_CREDENTIALS, NOT_PROVIDED, RawResponse, assert_401, get, request,
    serve,
};
use poem::EndpointExt;
use poem_openapi::OpenApiService;
use serde_json::{Value, json};
use tokenauth::openapi::Limit;
use tokenauth::{AuthApi, NewToken};

const BAD_CREDENTIALS: &str =
    r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#;

fn json_body(value: &Value) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", value.to_string().into_bytes()))
}

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&[u8]>,
    body: Option<(&str, Vec<u8>)>,
) -> RawResponse {
    request(
        addr,
        "POST",
        path,
        auth,
        body.as_ref().map(|(ct, b)| (*ct, b.as_slice())),
    )
    .await
}

#[track_caller]
fn assert_drf_400(response: &RawResponse, body: &str) {
    assert_eq!(response.status, 400, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.body_text(), body);
}

async fn obtain_token_matches_drf(backend: Backend) {
    let store = common::store_with_login_users(backend).await;
    let server = serve(api::app(store.clone())).await;
    let path = "/api/auth/token";

    // JSON and form logins each issue a new token whose key works.
    let response = post(
        server.addr,
        path,
        None,
        json_body(&json!({"username": "alice", "password": "correct horse"})),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    let first = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body.as_object().unwrap().len(), 1);
    assert_eq!(first.len(), 40);
    let form = Some((
        "application/x-www-form-urlencoded",
        b"username=alice&password=correct+horse&name=phone&scopes=orders%3Aread&expires_in=3600"
            .to_vec(),
    ));
    let response = post(server.addr, path, None, form).await;
    assert_eq!(response.status, 200, "{response:?}");
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    let second = body["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "each login issues a new token");
    let (user, token) = store.authenticate(&second).await.unwrap();
    assert_eq!(
        (user.username.as_str(), token.name.as_str()),
        ("alice", "phone")
    );
    assert_eq!(token.scopes, ["orders:read"]);
    let ttl = token.expires_at.unwrap() - token.created;
    assert!(
        (ttl - chrono::Duration::hours(1)).num_seconds().abs() <= 2,
        "{ttl}"
    );
    assert!(store.authenticate(&first).await.is_ok());

    // DRF's 400s, in DRF's field order.
    let cases: [(Value, &str); 6] = [
        (
            json!({}),
            r#"{"username":["This field is required."],"password":["This field is required."]}"#,
        ),
        (
            json!({"username": "alice"}),
            r#"{"password":["This field is required."]}"#,
        ),
        (
            json!({"username": " ", "password": ""}),
            r#"{"username":["This field may not be blank."],"password":["This field may not be blank."]}"#,
        ),
        (
            json!({"username": "alice", "password": "wrong"}),
            BAD_CREDENTIALS,
        ),
        (
            json!({"username": "nobody", "password": "correct horse"}),
            BAD_CREDENTIALS,
        ),
        (
            json!({"username": "inactive", "password": "correct horse"}),
            BAD_CREDENTIALS,
        ),
    ];
    for (body, expected) in cases {
        let response = post(server.addr, path, None, json_body(&body)).await;
        assert_drf_400(&response, expected);
    }
    let response = post(
        server.addr,
        path,
        None,
        Some((
            "application/x-www-form-urlencoded",
            b"username=alice".to_vec(),
        )),
    )
    .await;
    assert_drf_400(&response, r#"{"password":["This field is required."]}"#);

    // Other media types and methods.
    let response = post(
        server.addr,
        path,
        None,
        Some(("text/plain", b"alice".to_vec())),
    )
    .await;
    assert_eq!(
        (response.status, response.body_text()),
        (
            415,
            r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#
        )
    );
    let response = get(server.addr, path, None).await;
    assert_eq!(
        (response.status, response.body_text()),
        (405, r#"{"detail":"Method \"GET\" not allowed."}"#)
    );
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
}

/// Every tokenauth endpoint and quickstart route, and what authenticating it takes: the
/// keyword, and whether a key needs `orders:read`.
const ROUTES: [(&str, &str, Option<&str>, bool); 10] = [
    ("/api/auth/token", "POST, OPTIONS", None, false),
    ("/api/auth/logout", "POST, OPTIONS", Some("Token"), false),
    (
        "/api/auth/logout-all",
        "POST, OPTIONS",
        Some("Token"),
        false,
    ),
    ("/api/me", "GET, HEAD, OPTIONS", Some("Token"), false),
    (
        "/api/bearer/me",
        "GET, HEAD, OPTIONS",
        Some("Bearer"),
        false,
    ),
    (
        "/api/orders",
        "GET, POST, HEAD, OPTIONS",
        Some("Token"),
        true,
    ),
    (
        "/api/auth/tokens",
        "GET, HEAD, OPTIONS",
        Some("Token"),
        false,
    ),
    (
        "/api/auth/tokens/1",
        "DELETE, OPTIONS",
        Some("Token"),
        false,
    ),
    (
        "/api/auth/token/roll",
        "POST, OPTIONS",
        Some("Token"),
        false,
    ),
    ("/api/ping", "GET, HEAD, OPTIONS", None, false),
];

/// The methods a route does not have, and `OPTIONS`.
fn other_methods(allow: &str) -> impl Iterator<Item = &'static str> + '_ {
    ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS"]
        .into_iter()
        .filter(move |method| *method == "OPTIONS" || !allow.contains(method))
}

/// DRF's answer to a method a route does not have once the request is let in: `405` with
/// `Allow`, or for `OPTIONS` `200` with `Allow` and the view's metadata.
#[track_caller]
fn assert_drf_method_answer(response: &RawResponse, method: &str, allow: &str, case: &str) {
    assert_eq!(response.header("allow"), Some(allow), "{case}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    if method == "OPTIONS" {
        assert_eq!(response.status, 200, "{case}: {response:?}");
        let metadata: Value = serde_json::from_slice(&response.body).unwrap();
        assert!(metadata["name"].is_string() && metadata["description"].is_string());
    } else {
        assert_eq!(
            (response.status, response.body_text()),
            (
                405,
                format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#).as_str()
            ),
            "{case}"
        );
    }
}

/// DRF authenticates and checks permissions before it looks at the method: on a protected
/// route, a method it does not have and `OPTIONS` are DRF's `401` without valid credentials
/// and its `403` for a key without the scope — with `Allow`, as every response of a DRF view
/// — and `405`/`200` only with a key the route's operation takes. Open routes answer as
/// before, whatever the header says.
async fn methods_are_answered_after_authentication(backend: Backend) {
    let store = common::store(backend).await;
    let alice = store.create_user("alice", None).await.unwrap();
    let scoped = NewToken::default().scope("orders:read").unwrap();
    let (_, key) = store.tokens().create(alice.id, scoped).await.unwrap();
    let (_, unscoped) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let server = serve(api::app(store)).await;
    let key = key.expose_secret();

    for (path, allow, keyword, needs_scope) in ROUTES {
        for method in other_methods(allow) {
            let case = format!("{method} {path}");
            let Some(keyword) = keyword else {
                for header in [None, Some(&b"Token nope"[..])] {
                    let response = request(server.addr, method, path, header, None).await;
                    assert_drf_method_answer(&response, method, allow, &case);
                }
                continue;
            };
            let refusals = [
                (None, NOT_PROVIDED),
                (Some(format!("{keyword} nope")), INVALID_TOKEN),
                (Some(keyword.to_owned()), NO_CREDENTIALS),
                (Some(format!("Other {key}")), NOT_PROVIDED),
            ];
            for (header, detail) in refusals {
                let header = header.as_deref().map(str::as_bytes);
                let response = request(server.addr, method, path, header, None).await;
                assert_401(&response, keyword, detail, &format!("{case} {header:?}"));
                assert_eq!(response.header("allow"), Some(allow), "{case}");
            }
            let header = format!("{keyword} {key}");
            let response = request(server.addr, method, path, Some(header.as_bytes()), None).await;
            assert_drf_method_answer(&response, method, allow, &case);

            let header = format!("{keyword} {}", unscoped.expose_secret());
            let response = request(server.addr, method, path, Some(header.as_bytes()), None).await;
            if needs_scope {
                assert_eq!(
                    (response.status, response.body_text()),
                    (
                        403,
                        r#"{"detail":"You do not have permission to perform this action."}"#
                    ),
                    "{case} without the scope"
                );
                assert_eq!(response.header_count("www-authenticate"), 0, "{case}");
                assert_eq!(response.header("allow"), Some(allow), "{case}");
            } else {
                assert_drf_method_answer(&response, method, allow, &case);
            }
        }

        // Only the routes the API serves: with a trailing slash, every method is the `404`
        // that `GET` gets there, whatever the credentials.
        let slashed = format!("{path}/");
        for method in ["GET", "POST", "PUT", "OPTIONS"] {
            for header in [None, Some(format!("Token {key}"))] {
                let header = header.as_deref().map(str::as_bytes);
                let response = request(server.addr, method, &slashed, header, None).await;
                assert_eq!(response.status, 404, "{method} {slashed}: {response:?}");
                assert_eq!(response.header("allow"), None, "{method} {slashed}");
            }
        }
    }

    // The login view's metadata says what it parses, as DRF's does.
    let response = request(server.addr, "OPTIONS", "/api/auth/token", None, None).await;
    let metadata: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(metadata["parses"], json!(["application/json"]));
}

/// A store failure while authenticating a wrong method or `OPTIONS` is the extractors'
/// `503`/`500`, never a `401`.
async fn store_failures_before_the_method_are_5xx(backend: Backend) {
    let store = common::store(backend).await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (_, key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let server = serve(api::app(store.clone())).await;
    store.close().await;
    let header = format!("Token {}", key.expose_secret());
    let header = header.as_bytes();
    for method in ["OPTIONS", "PUT"] {
        let response = request(server.addr, method, "/api/me", Some(header), None).await;
        assert_eq!(response.status, 503, "{method}: {response:?}");
        assert_eq!(response.header("retry-after"), Some("5"));
        assert_eq!(
            response.body_text(),
            json!({ "detail": tokenauth::rejection::UNAVAILABLE_DETAIL }).to_string()
        );
        assert_eq!(response.header_count("www-authenticate"), 0);
    }
    // The open routes do not need the store.
    let response = request(server.addr, "PUT", "/api/ping", Some(header), None).await;
    assert_eq!(response.status, 405);
}

async fn logout_and_logout_all(backend: Backend) {
    let store = common::store_with_login_users(backend).await;
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let (_, one) = store
        .tokens()
        .create(alice.id, Default::default())
        .await
        .unwrap();
    let (_, two) = store
        .tokens()
        .create(alice.id, Default::default())
        .await
        .unwrap();
    let (_, three) = store
        .tokens()
        .create(alice.id, Default::default())
        .await
        .unwrap();
    let server = serve(api::app(store.clone())).await;

    let response = post(server.addr, "/api/auth/logout", None, None).await;
    assert_401(&response, "Token", NOT_PROVIDED, "logout without a token");
    let header = format!("Token {}", one.expose_secret());
    let response = post(
        server.addr,
        "/api/auth/logout",
        Some(header.as_bytes()),
        None,
    )
    .await;
    assert_eq!((response.status, response.body_text()), (204, ""));
    let response = post(
        server.addr,
        "/api/auth/logout",
        Some(header.as_bytes()),
        None,
    )
    .await;
    assert_401(&response, "Token", INVALID_TOKEN, "the revoked token");
    assert!(
        store.authenticate(two.expose_secret()).await.is_ok(),
        "only the presenting token"
    );

    let header = format!("Token {}", two.expose_secret());
    let response = post(
        server.addr,
        "/api/auth/logout-all",
        Some(header.as_bytes()),
        None,
    )
    .await;
    assert_eq!(response.status, 204);
    for key in [&two, &three] {
        assert!(store.authenticate(key.expose_secret()).await.is_err());
    }
}

async fn failed_logins_are_throttled_per_username_and_per_client(backend: Backend) {
    let store = common::store_with_login_users(backend).await;
    let window = Duration::from_secs(600);
    let auth = AuthApi::new().login_limits(Limit::new(2, window), Limit::new(3, window));
    let policy = store
        .policy()
        .clone()
        .trusted_proxies(["127.0.0.1".parse().unwrap()]);
    let app = poem::Route::new()
        .nest("/api", OpenApiService::new(auth, "t", "1"))
        .data(store.with_policy(policy));
    let server = serve(app).await;
    let attempt = |username: &str, password: &str, forwarded_for: &str| {
        let body = json!({"username": username, "password": password}).to_string();
        let raw = format!(
            "POST /api/auth/token HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Forwarded-For: {forwarded_for}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let addr = server.addr;
        async move { common::raw_exchange(addr, raw.as_bytes()).await }
    };

    // Two failures for alice from one client: alice is blocked, even with the right password.
    for _ in 0..2 {
        assert_eq!(attempt("alice", "wrong", "198.51.100.7").await.status, 400);
    }
    let blocked = attempt("alice", "correct horse", "198.51.100.8").await;
    assert_eq!(blocked.status, 429, "{blocked:?}");
    let wait: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((590..=600).contains(&wait), "{wait}");
    assert_eq!(
        blocked.body_text(),
        format!(r#"{{"detail":"Request was throttled. Expected available in {wait} seconds."}}"#)
    );
    // The first client has one failure left before its own limit of 3.
    assert_eq!(attempt("nobody", "x", "198.51.100.7").await.status, 400);
    assert_eq!(attempt("someone", "x", "198.51.100.7").await.status, 429);
    // Behind the trusted proxy, each forwarded client counts on its own.
    assert_eq!(attempt("someone", "x", "203.0.113.9").await.status, 400);
}

#[tokio::test]
async fn a_login_over_the_token_limit_is_403() {
    let store = common::store_with_login_users(Backend::Sqlite)
        .await
        .with_policy(tokenauth::Policy::default().max_tokens_per_user(1));
    let server = serve(api::app(store.clone())).await;
    let login = json!({"username": "alice", "password": "correct horse"});
    let response = post(server.addr, "/api/auth/token", None, json_body(&login)).await;
    assert_eq!(response.status, 200);
    let response = post(server.addr, "/api/auth/token", None, json_body(&login)).await;
    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(
        response.body_text(),
        r#"{"detail":"Maximum amount of tokens allowed per user exceeded."}"#
    );
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(store.tokens().list(alice.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_spec_documents_the_auth_operations() {
    let server = serve(api::app(common::sqlite_store().await).boxed()).await;
    let response = get(server.addr, "/openapi.json", None).await;
    let spec: Value = serde_json::from_slice(&response.body).unwrap();
    let paths = &spec["paths"];
    let obtain = &paths["/auth/token"]["post"];
    // Open, and saying so (Redocly's recommended `security-defined` rule).
    assert_eq!(
        obtain["security"],
        json!([]),
        "obtaining a token needs no token"
    );
    // JSON only: a body offered as JSON and as a form makes openapi-python-client 0.29
    // generate a module that does not import; the view still takes forms (see above).
    let content = obtain["requestBody"]["content"].as_object().unwrap();
    let media: Vec<&String> = content.keys().collect();
    assert_eq!(media, ["application/json"]);
    assert_eq!(
        content["application/json"]["schema"]["$ref"],
        "#/components/schemas/ObtainTokenRequest"
    );
    assert_eq!(obtain["operationId"], "obtain_token");
    assert_eq!(obtain["tags"], json!(["auth"]));
    let codes: Vec<&String> = obtain["responses"].as_object().unwrap().keys().collect();
    assert_eq!(codes, ["200", "400", "403", "413", "415", "429", "503"]);
    // Every refusal is typed, and by one schema (progenitor takes one error type per
    // operation): DRF's field errors for a 400, `{"detail"}` for the others.
    for code in ["400", "403", "413", "415", "429", "503"] {
        let content = obtain["responses"][code]["content"].as_object().unwrap();
        let media: Vec<&String> = content.keys().collect();
        assert_eq!(media, ["application/json"], "{code}");
        assert_eq!(
            content["application/json"]["schema"]["$ref"], "#/components/schemas/ObtainTokenErrors",
            "{code}"
        );
    }
    let errors = &spec["components"]["schemas"]["ObtainTokenErrors"]["properties"];
    assert_eq!(errors["detail"]["type"], "string");
    assert!(
        spec["components"]["schemas"]["ObtainTokenErrors"]
            .get("required")
            .is_none()
    );
    for field in [
        "non_field_errors",
        "username",
        "password",
        "name",
        "expires_in",
        "scopes",
    ] {
        assert_eq!(errors[field]["items"]["type"], "string", "{field}");
    }
    // The request's constraints are the server's checks.
    let request = &spec["components"]["schemas"]["ObtainTokenRequest"]["properties"];
    assert_eq!(
        (
            &request["username"]["minLength"],
            &request["username"]["maxLength"]
        ),
        (&json!(1), &json!(tokenauth::rules::MAX_USERNAME_LEN))
    );
    assert_eq!(
        (
            &request["password"]["minLength"],
            &request["password"]["maxLength"]
        ),
        (&json!(1), &json!(4096))
    );
    assert_eq!(
        request["name"]["maxLength"],
        json!(tokenauth::rules::MAX_TOKEN_NAME_LEN)
    );
    assert_eq!(
        request["name"]["pattern"],
        r"^[^\x00-\x1F\x7F-\x9F]*(?![\s\S])"
    );
    assert_eq!(
        request["expires_in"]["maximum"].as_f64(),
        Some(3155760000.0)
    );
    assert_eq!(
        request["scopes"]["maxItems"],
        json!(tokenauth::rules::MAX_SCOPES)
    );
    let scope = &request["scopes"]["items"];
    assert_eq!(
        scope["pattern"],
        tokenauth_rules::SCOPE_PATTERN,
        "one owner"
    );
    assert_eq!(
        (&scope["minLength"], &scope["maxLength"]),
        (&json!(1), &json!(tokenauth::rules::MAX_SCOPE_LEN))
    );
    assert!(
        paths["/auth/token"].get("get").is_none(),
        "the 405 handler is hidden"
    );
    for path in ["/auth/logout", "/auth/logout-all"] {
        let operation = &paths[path]["post"];
        assert_eq!(
            operation["security"],
            json!([{ "TokenAuth": [] }]),
            "{path}"
        );
        assert!(
            operation["responses"]["204"].is_object() && operation["responses"]["401"].is_object()
        );
    }
    let request = &spec["components"]["schemas"]["ObtainTokenRequest"];
    assert_eq!(request["required"], json!(["username", "password"]));
}

#[tokio::test]
async fn postgres_two_instances_see_a_revocation_at_once() {
    let (one, two) = common::two_postgres_instances().await;
    let (first, second) = (serve(api::app(one)).await, serve(api::app(two)).await);

    let login = json!({"username": "alice", "password": "correct horse"});
    let response = post(first.addr, "/api/auth/token", None, json_body(&login)).await;
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    let header = format!("Token {}", body["token"].as_str().unwrap());
    assert_eq!(
        get(second.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status,
        200
    );

    let response = post(
        first.addr,
        "/api/auth/logout",
        Some(header.as_bytes()),
        None,
    )
    .await;
    assert_eq!(response.status, 204);
    let response = get(second.addr, "/api/me", Some(header.as_bytes())).await;
    assert_401(
        &response,
        "Token",
        INVALID_TOKEN,
        "revoked through the other instance",
    );
}

common::on_both_backends!(
    obtain_token_matches_drf,
    methods_are_answered_after_authentication,
    store_failures_before_the_method_are_5xx,
    logout_and_logout_all,
    failed_logins_are_throttled_per_username_and_per_client,
);
