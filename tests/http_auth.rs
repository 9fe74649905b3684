//! REFERENCE.md §1–2 through real HTTP: a poem server on a loopback port, raw request bytes
//! on the wire, and the status, `WWW-Authenticate` header and exact JSON body checked for every
//! case, on SQLite and on PostgreSQL, for the `Token` and `Bearer` keywords.

mod common;

use chrono::{Duration, Utc};
use common::{Backend, RawResponse, TestServer, get, request, serve};
use poem::web::Json;
use poem::{EndpointExt, Route, handler, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth::{Auth, BearerKeyword, Key, MaybeAuth, NewToken, Store, User};

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
const SPACES: &str = "Invalid token header. Token string should not contain spaces.";
const INVALID_CHARS: &str =
    "Invalid token header. Token string should not contain invalid characters.";
const INVALID_TOKEN: &str = "Invalid token.";
const INACTIVE: &str = "User inactive or deleted.";

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
        .create_token(alice.id, NewToken::default())
        .await
        .unwrap();
    let bob = store.create_user("bob", None).await.unwrap();
    let (_, inactive_key) = store
        .create_token(bob.id, NewToken::default())
        .await
        .unwrap();
    store.set_active(bob.id, false).await.unwrap();
    let (_, expired_key) = store
        .create_token(
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

/// Asserts DRF's `401` exactly: status, one `WWW-Authenticate: <keyword>`, JSON content type and
/// the compact body.
#[track_caller]
fn assert_401(response: &RawResponse, keyword: &str, detail: &str, case: &str) {
    assert_eq!(response.status, 401, "{case}: {response:?}");
    assert_eq!(response.header_count("www-authenticate"), 1, "{case}");
    assert_eq!(response.header("www-authenticate"), Some(keyword), "{case}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    let expected = format!(r#"{{"detail":"{detail}"}}"#);
    assert_eq!(response.body_text(), expected, "{case}");
}

#[track_caller]
fn assert_alice(response: &RawResponse, fx: &Fixture, case: &str) {
    assert_eq!(response.status, 200, "{case}: {response:?}");
    assert_eq!(response.header_count("www-authenticate"), 0, "{case}");
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({ "id": fx.alice.id, "username": "alice", "token": fx.alice_token }),
        "{case}"
    );
}

async fn reference_cases(backend: Backend, path: &str, keyword: &str) {
    let fx = fixture(backend).await;
    let addr = fx.server.addr;
    let key = fx.alice_key.expose_secret();
    let lower = keyword.to_ascii_lowercase();
    let upper = keyword.to_ascii_uppercase();
    let other = if keyword == "Token" {
        "Bearer"
    } else {
        "Token"
    };

    // §1.3 / §2: no credentials for this scheme.
    let not_provided: Vec<(String, Option<Vec<u8>>)> = vec![
        ("no header".into(), None),
        ("empty header".into(), Some(b"".to_vec())),
        ("only spaces".into(), Some(b"   ".to_vec())),
        (
            "other scheme".into(),
            Some(format!("{other} {key}").into_bytes()),
        ),
        ("basic".into(), Some(b"Basic YWxpY2U6cHc=".to_vec())),
        (
            "keyword glued to key".into(),
            Some(format!("{keyword}{key}").into_bytes()),
        ),
        (
            "keyword prefix".into(),
            Some(format!("{keyword}s {key}").into_bytes()),
        ),
        (
            "keyword with comma".into(),
            Some(format!("{keyword}, {key}").into_bytes()),
        ),
    ];
    for (case, header) in &not_provided {
        let response = get(addr, path, header.as_deref()).await;
        assert_401(&response, keyword, NOT_PROVIDED, case);
    }

    // §1.4: the keyword alone.
    for header in [
        keyword.to_owned(),
        format!("{keyword} "),
        format!("\t{lower}\t"),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_401(&response, keyword, NO_CREDENTIALS, &format!("{header:?}"));
    }

    // §1.5: more than two parts.
    for header in [
        format!("{keyword} {key} extra"),
        format!("{keyword} a b c"),
        format!("{keyword} {key}\textra"),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_401(&response, keyword, SPACES, &format!("{header:?}"));
    }

    // §1.6: the key is not UTF-8 (obs-text bytes travel in HTTP/1.1 headers).
    for tail in [&b"\xff"[..], b"abc\xc3", b"\xc0\xaf", b"\xed\xa0\x80"] {
        let header = [format!("{keyword} ").as_bytes(), tail].concat();
        let response = get(addr, path, Some(&header)).await;
        assert_401(&response, keyword, INVALID_CHARS, &format!("{header:?}"));
    }

    // §1.7: unknown keys, including valid UTF-8 that is not ASCII, and expired keys.
    for (case, header) in [
        ("unknown hex key", format!("{keyword} {}", "0".repeat(40))),
        ("unknown non-ASCII key", format!("{keyword} clé")),
        (
            "key with different case",
            format!("{keyword} {}", key.to_ascii_uppercase()),
        ),
        (
            "expired key",
            format!("{keyword} {}", fx.expired_key.expose_secret()),
        ),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_401(&response, keyword, INVALID_TOKEN, case);
    }

    // §1.8: the user is not active.
    let header = format!("{keyword} {}", fx.inactive_key.expose_secret());
    let response = get(addr, path, Some(header.as_bytes())).await;
    assert_401(&response, keyword, INACTIVE, "inactive user");

    // §1.2 and §1.9: whitespace runs, case-insensitive keyword, success.
    for header in [
        format!("{keyword} {key}"),
        format!("{keyword}  {key}"),
        format!("{keyword}\t{key}"),
        format!("{keyword} \t {key}"),
        format!("  {keyword} {key}"),
        format!("{lower} {key}"),
        format!("{upper} {key}"),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_alice(&response, &fx, &format!("{header:?}"));
    }
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

#[tokio::test]
async fn sqlite_token_keyword_matches_drf() {
    reference_cases(Backend::Sqlite, "/me", "Token").await;
}

#[tokio::test]
async fn sqlite_bearer_keyword_matches_drf() {
    reference_cases(Backend::Sqlite, "/bearer/me", "Bearer").await;
}

#[tokio::test]
async fn sqlite_optional_auth_and_auth_before_body() {
    optional_and_ordering_cases(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_token_keyword_matches_drf() {
    reference_cases(Backend::Postgres, "/me", "Token").await;
}

#[tokio::test]
async fn postgres_bearer_keyword_matches_drf() {
    reference_cases(Backend::Postgres, "/bearer/me", "Bearer").await;
}

#[tokio::test]
async fn postgres_optional_auth_and_auth_before_body() {
    optional_and_ordering_cases(Backend::Postgres).await;
}
