//! Scopes with structure over real HTTP, on both backends: wildcards (`orders:*`, `*`) and the
//! policy's implications, in scoped handlers and operations (DRF's `403`), in the document,
//! and at login, where a client asks for scopes (`AuthApi::grantable_scopes`) — with the
//! attacker's requests for `*` and `orders:*` that the application does not grant.

use crate::common;

use std::time::Duration;

use common::{Backend, RawResponse, get, post_json, request, serve};
use poem::{Endpoint, EndpointExt, Route, get as poem_get};
use poem_openapi::payload::PlainText;
use poem_openapi::{OpenApi, OpenApiService};
use serde_json::{Value, json};
use tokenauth::keyword::{Keyword, Requirement, Scheme, TokenKeyword};
use tokenauth::openapi::Limit;
use tokenauth::{AuthApi, NewToken, Policy, Store, User, token_auth};

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;
const TOKEN: &str = "/api/auth/token";

common::on_both_backends!(
    wildcards_and_implications_decide_each_requirement,
    a_login_gets_only_what_the_grantable_scopes_cover,
    implications_do_not_widen_what_a_login_may_request,
);

#[token_auth(scopes = ["orders:read"])]
#[poem::handler]
async fn orders_read(user: User) -> String {
    user.username
}

#[token_auth(scopes = ["orders:write"])]
#[poem::handler]
async fn orders_write(user: User) -> String {
    user.username
}

#[token_auth(scopes = ["ordersx:read"])]
#[poem::handler]
async fn ordersx_read(user: User) -> String {
    user.username
}

/// The bare prefix of `orders:*`, which the wildcard does not grant.
#[token_auth(scopes = ["orders"])]
#[poem::handler]
async fn orders_bare(user: User) -> String {
    user.username
}

/// Implied by `orders:write` (so by `orders:*` too).
#[token_auth(scopes = ["reports:read"])]
#[poem::handler]
async fn reports_read(user: User) -> String {
    user.username
}

/// Implied by `cycle:b`, which `cycle:a` implies, which `cycle:b` implies.
#[token_auth(scopes = ["cycle:a"])]
#[poem::handler]
async fn cycle_a(user: User) -> String {
    user.username
}

struct Api;

#[token_auth]
#[OpenApi]
impl Api {
    /// Write an order
    #[token_auth(scopes = ["orders:write"])]
    #[oai(path = "/orders", method = "post")]
    async fn write(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }

    /// Read an order
    #[token_auth(scopes = ["orders:read"])]
    #[oai(path = "/orders", method = "get")]
    async fn read(&self, user: User) -> PlainText<String> {
        PlainText(user.username)
    }
}

/// The application's policy: `orders:write` implies `orders:read` and `reports:read`, and
/// `cycle:a` and `cycle:b` imply each other.
fn policy() -> Policy {
    Policy::default()
        .scope_implies("orders:write", "orders:read")
        .and_then(|p| p.scope_implies("orders:write", "reports:read"))
        .and_then(|p| p.scope_implies("cycle:a", "cycle:b"))
        .and_then(|p| p.scope_implies("cycle:b", "cycle:a"))
        .expect("valid implications")
}

/// `GET path` (`POST` for `post /api/orders`) with `key`: the status.
async fn status(addr: std::net::SocketAddr, route: &str, key: &str) -> u16 {
    let header = format!("Token {key}");
    let (method, path) = route.split_once(' ').unwrap_or(("GET", route));
    let response = request(addr, method, path, Some(header.as_bytes()), None).await;
    if response.status == 403 {
        assert_eq!(response.body_text(), FORBIDDEN, "{route}");
    } else {
        assert_eq!(
            (response.status, response.body_text()),
            (200, "alice"),
            "{route}"
        );
    }
    response.status
}

async fn wildcards_and_implications_decide_each_requirement(backend: Backend) {
    let store = common::store(backend).await.with_policy(policy());
    let alice = store.create_user("alice", None).await.unwrap();
    let mut keys = Vec::new();
    for scopes in [
        &["orders:*"][..],
        &["*"],
        &["orders:write"],
        &["orders:read"],
        &["cycle:b"],
        &["orders:items:*"],
    ] {
        let mut options = NewToken::named(scopes.join(" "));
        for scope in scopes {
            options = options.scope(*scope).unwrap();
        }
        let (_, key) = store.tokens().create(alice.id, options).await.unwrap();
        keys.push(key.expose_secret().to_owned());
    }
    let api = OpenApiService::new(Api, "scopes", "1");
    let app = Route::new()
        .at("/orders/read", poem_get(orders_read))
        .at("/orders/write", poem_get(orders_write))
        .at("/ordersx/read", poem_get(ordersx_read))
        .at("/orders/bare", poem_get(orders_bare))
        .at("/reports/read", poem_get(reports_read))
        .at("/cycle/a", poem_get(cycle_a))
        .at("/spec", tokenauth::openapi::spec_endpoint(&api))
        .nest("/api", api)
        .data(store.clone());
    let server = serve(app).await;

    let routes = [
        "/orders/read",
        "/orders/write",
        "/ordersx/read",
        "/orders/bare",
        "/reports/read",
        "/cycle/a",
        "GET /api/orders",
        "POST /api/orders",
    ];
    // Each token's answer on each route, in the order of `routes`.
    let expected: [(&str, [u16; 8]); 6] = [
        // Everything under `orders:`, and what `orders:write` implies; not `ordersx:read`
        // nor `orders` itself.
        ("orders:*", [200, 200, 403, 403, 200, 403, 200, 200]),
        ("*", [200; 8]),
        // `orders:write` implies `orders:read` and `reports:read`.
        ("orders:write", [200, 200, 403, 403, 200, 403, 200, 200]),
        // Not the reverse.
        ("orders:read", [200, 403, 403, 403, 403, 403, 200, 403]),
        // Through a cycle, and a cycle ends (the other routes are refused, not hung).
        ("cycle:b", [403, 403, 403, 403, 403, 200, 403, 403]),
        // A narrower wildcard covers nothing of these.
        ("orders:items:*", [403, 403, 403, 403, 403, 403, 403, 403]),
    ];
    for ((granted, statuses), key) in expected.iter().zip(&keys) {
        for (route, want) in routes.iter().zip(statuses) {
            let got =
                tokio::time::timeout(Duration::from_secs(10), status(server.addr, route, key))
                    .await
                    .unwrap_or_else(|_| panic!("{granted} on {route}: no answer"));
            assert_eq!(got, *want, "a token granted {granted} on {route}");
        }
    }

    // The same rule outside a request: the token alone (wildcards), and the policy (both).
    let alice_tokens = store.tokens().list(alice.id).await.unwrap();
    let writer = alice_tokens
        .iter()
        .find(|t| t.scopes == ["orders:write"])
        .unwrap();
    assert!(store.policy().grants(writer, "orders:read"));
    assert!(
        !writer.has_scope("orders:read"),
        "implications need the policy"
    );
    let wildcard = alice_tokens
        .iter()
        .find(|t| t.scopes == ["orders:*"])
        .unwrap();
    assert!(wildcard.has_scope("orders:read") && !wildcard.has_scope("ordersx:read"));
    assert!(store.policy().grants(wildcard, "reports:read"));

    // A wildcard written by hand as a requirement (the macros refuse one) is never granted,
    // not even to `*`: the runtime agrees with the compile-time rule.
    struct Wildcard;
    impl Requirement for Wildcard {
        const SCHEMES: &'static [Scheme] = &[TokenKeyword::SCHEME];
        const SCOPES: &'static [&'static str] = &["orders:*"];
    }
    for key in [&keys[0], &keys[1]] {
        let mut req = poem::Request::builder()
            .header("Authorization", format!("Token {key}"))
            .finish();
        req.extensions_mut().insert(store.clone());
        let rejection = tokenauth::authenticate::<User, Wildcard>(&req)
            .await
            .expect_err("a wildcard requirement");
        let response = poem::error::ResponseError::as_response(&rejection);
        assert_eq!(response.status(), 403);
    }

    // The document: the required scopes as data, and the description says what grants them.
    let spec: Value = serde_json::from_slice(&get(server.addr, "/spec", None).await.body).unwrap();
    let post = &spec["paths"]["/orders"]["post"];
    assert_eq!(post["x-required-scopes"], json!(["orders:write"]));
    let description = post["description"].as_str().unwrap_or_default();
    assert!(
        description.contains(
            "Requires the scope(s) `orders:write` (also granted by `orders:*` or `*`, and by a \
             scope the application declares to imply it); otherwise `403`."
        ),
        "{description}"
    );
}

/// The login view alone, under `/api`, without throttling.
fn login_app(store: Store, grantable: &[&str]) -> impl Endpoint {
    let window = Duration::from_secs(600);
    let auth = AuthApi::new()
        .login_limits(Limit::new(0, window), Limit::new(0, window))
        .grantable_scopes(grantable.iter().copied());
    Route::new()
        .nest("/api", OpenApiService::new(auth, "scopes", "1"))
        .data(store)
}

async fn login(addr: std::net::SocketAddr, password: &str, scopes: &[&str]) -> RawResponse {
    let body = json!({"username": "alice", "password": password, "scopes": scopes});
    post_json(addr, TOKEN, &body, None).await
}

/// DRF's `400` for a scope a login may not ask for.
fn not_a_valid_choice(scope: &str) -> String {
    json!({ "scopes": [format!("{} is not a valid choice.", json!(scope))] }).to_string()
}

/// Asserts a refused login issued nothing: alice has no token.
async fn nothing_issued(store: &Store, case: &str) {
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let tokens = store.tokens().list(alice.id).await.unwrap();
    assert!(tokens.is_empty(), "{case}: {tokens:?}");
}

async fn a_login_gets_only_what_the_grantable_scopes_cover(backend: Backend) {
    let store = common::store_with_login_users(backend).await;
    assert_eq!(
        not_a_valid_choice("*"),
        r#"{"scopes":["\"*\" is not a valid choice."]}"#
    );

    // The attacker's requests: `*` and `orders:*` where only `orders:read` is grantable are
    // refused with the right password, and issue nothing; so are they where nothing is.
    for grantable in [&["orders:read"][..], &[]] {
        let server = serve(login_app(store.clone(), grantable)).await;
        for requested in [&["*"][..], &["orders:*"], &["orders:read", "orders:*"]] {
            let response = login(server.addr, "correct horse", requested).await;
            // The first one that is not listed (none of the listed ones is a wildcard).
            let refused = requested.iter().find(|s| !grantable.contains(s)).unwrap();
            assert_eq!(
                (response.status, response.body_text()),
                (400, not_a_valid_choice(refused).as_str()),
                "{requested:?} with {grantable:?} grantable"
            );
            nothing_issued(&store, "a refused scope").await;
        }
        // With a wrong password, the credentials are refused: no oracle of what is grantable.
        let response = login(server.addr, "wrong", &["*"]).await;
        assert_eq!(
            (response.status, response.body_text()),
            (
                400,
                r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
            )
        );
    }

    // `orders:*` grantable: `orders:*` itself and what it covers are issued; `*`, `orders`
    // and `ordersx:read` are not.
    let server = serve(login_app(store.clone(), &["orders:*"])).await;
    for refused in ["*", "orders", "ordersx:read", "reports:*"] {
        let response = login(server.addr, "correct horse", &[refused]).await;
        assert_eq!(
            (response.status, response.body_text()),
            (400, not_a_valid_choice(refused).as_str()),
            "{refused} with orders:* grantable"
        );
    }
    nothing_issued(&store, "orders:* grantable").await;
    for requested in [&["orders:*"][..], &["orders:read", "orders:items:*"]] {
        let response = login(server.addr, "correct horse", requested).await;
        assert_eq!(response.status, 200, "{requested:?}: {response:?}");
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        let (_, token) = store
            .authenticate(body["token"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(token.scopes, *requested);
    }

    // `*` only where `*` is grantable, and then anything.
    let server = serve(login_app(store.clone(), &["*"])).await;
    let response = login(server.addr, "correct horse", &["*", "ordersx:read"]).await;
    assert_eq!(response.status, 200, "{response:?}");
}

async fn implications_do_not_widen_what_a_login_may_request(backend: Backend) {
    let store = common::store_with_login_users(backend)
        .await
        .with_policy(policy());
    let server = serve(login_app(store.clone(), &["orders:write"])).await;
    let response = login(server.addr, "correct horse", &["orders:read"]).await;
    assert_eq!(
        (response.status, response.body_text()),
        (400, not_a_valid_choice("orders:read").as_str()),
        "orders:write implies orders:read only where a scope is required"
    );
    nothing_issued(&store, "an implied scope").await;
}
