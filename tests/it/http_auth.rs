//! REFERENCE.md §1–2 through real HTTP: a poem server on a loopback port, raw request bytes
//! on the wire, and the status, `WWW-Authenticate` header and exact JSON body checked for every
//! case, on SQLite and on PostgreSQL, for the `Token` and `Bearer` keywords.

use crate::common;

use chrono::{Duration, Utc};
use common::{
    Backend, INACTIVE, INVALID_TOKEN, NO_CREDENTIALS, NOT_PROVIDED, ReferenceKeys, TestServer,
    assert_401, get, request, serve,
};
use poem::web::Json;
use poem::{EndpointExt, Route, handler, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth::keyword::BearerKeyword;
use tokenauth::{Auth, Key, MaybeAuth, NewToken, Store, User};

#[handler]
async fn me(auth: Auth) -> Json<Value> {
    Json(json!({ "id": auth.user.id, "username": auth.user.username, "token": auth.token.id }))
}

#[handler]
async fn bearer_me(auth: Auth<User, BearerKeyword>) -> Json<Value> {
    Json(json!({ "id": auth.user.id, "username": auth.user.username, "token": auth.token.id }))
}

#[handler]
async fn maybe(MaybeAuth(auth): MaybeAuth) -> String {
    match auth {
        Some(auth) => format!("hello {}", auth.user.username),
        None => "hello anonymous".to_owned(),
    }
}

#[derive(Deserialize)]
struct Order {
    quantity: u32,
}

#[handler]
async fn order(auth: Auth, Json(order): Json<Order>) -> String {
    format!("{} ordered {}", auth.user.username, order.quantity)
}

fn app(store: Store) -> impl poem::Endpoint {
    Route::new()
        .at("/me", me)
        .at("/bearer/me", bearer_me)
        .at("/maybe", maybe)
        .at("/orders", post(order))
        .data(store)
}

/// Users and keys for the reference cases.
struct Fixture {
    server: TestServer,
    alice: User,
    alice_token: i64,
    alice_key: Key,
    inactive_key: Key,
    expired_key: Key,
}

async fn fixture(backend: Backend) -> Fixture {
    let store = common::store(backend).await;
    let alice = store.create_user("alice", None).await.unwrap();
    let (token, alice_key) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    // Inactive with a live token (as when an admin deactivates a user in the database).
    let bob = store.create_user_with("bob", None, false).await.unwrap();
    let (_, inactive_key) = store
        .tokens()
        .create(bob.id, NewToken::default())
        .await
        .unwrap();
    let (_, expired_key) = store
        .tokens()
        .create(
            alice.id,
            NewToken::default().expires_at(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    Fixture {
        server: serve(app(store)).await,
        alice,
        alice_token: token.id,
        alice_key,
        inactive_key,
        expired_key,
    }
}

async fn reference_cases(backend: Backend, path: &str, keyword: &str) {
    let fx = fixture(backend).await;
    let expected = json!({ "id": fx.alice.id, "username": "alice", "token": fx.alice_token });
    let keys = ReferenceKeys {
        valid: fx.alice_key.expose_secret(),
        inactive: fx.inactive_key.expose_secret(),
        expired: fx.expired_key.expose_secret(),
        expected: &expected,
    };
    common::reference_cases(fx.server.addr, path, keyword, &keys).await;
}

async fn optional_and_ordering_cases(backend: Backend) {
    let fx = fixture(backend).await;
    let addr = fx.server.addr;
    let key = fx.alice_key.expose_secret();
    let token = format!("Token {key}");

    // §2: authentication is eager; only missing credentials are anonymous.
    let response = get(addr, "/maybe", None).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "hello anonymous")
    );
    let response = get(addr, "/maybe", Some(b"Bearer something")).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "hello anonymous")
    );
    let response = get(addr, "/maybe", Some(token.as_bytes())).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "hello alice")
    );
    let response = get(addr, "/maybe", Some(b"Token")).await;
    assert_401(&response, "Token", NO_CREDENTIALS, "optional, malformed");
    let response = get(addr, "/maybe", Some(b"Token nope")).await;
    assert_401(&response, "Token", INVALID_TOKEN, "optional, invalid");
    let inactive = format!("Token {}", fx.inactive_key.expose_secret());
    let response = get(addr, "/maybe", Some(inactive.as_bytes())).await;
    assert_401(&response, "Token", INACTIVE, "optional, inactive");

    // §2: authentication runs before the body is parsed.
    let bad_body = Some(("application/json", &b"{not json"[..]));
    let response = request(addr, "POST", "/orders", Some(b"Token nope"), bad_body).await;
    assert_401(&response, "Token", INVALID_TOKEN, "bad token and bad body");
    let response = request(addr, "POST", "/orders", None, bad_body).await;
    assert_401(&response, "Token", NOT_PROVIDED, "no token and bad body");
    let response = request(addr, "POST", "/orders", Some(token.as_bytes()), bad_body).await;
    assert_eq!(
        response.status, 400,
        "good token and bad body: {response:?}"
    );
    let good_body = Some(("application/json", &br#"{"quantity":3}"#[..]));
    let response = request(addr, "POST", "/orders", Some(token.as_bytes()), good_body).await;
    assert_eq!(
        (response.status, response.body_text()),
        (200, "alice ordered 3")
    );
}

async fn token_keyword_matches_drf(backend: Backend) {
    reference_cases(backend, "/me", "Token").await;
}

async fn bearer_keyword_matches_drf(backend: Backend) {
    reference_cases(backend, "/bearer/me", "Bearer").await;
}

common::on_both_backends!(
    token_keyword_matches_drf,
    bearer_keyword_matches_drf,
    optional_and_ordering_cases,
);
