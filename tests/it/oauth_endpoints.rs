//! RFC 7009 revocation and RFC 7662 introspection (`POST /api/auth/revoke`,
//! `POST /api/auth/introspect`), as the quickstart serves them, on both backends and with two
//! instances on one database: whose keys a caller may revoke, what introspection says and to
//! whom, the form's bounds, and RFC 6750's challenges for the caller's own key.

use crate::api;
use crate::common;

use chrono::{Duration, Utc};
use common::{Backend, RawResponse, get, request, serve};
use serde_json::{Value, json};
use tokenauth::{NewToken, Store, User};

const FORM: &str = "application/x-www-form-urlencoded";

/// `POST path` with `Authorization: <authorization>` and a form body.
async fn post_form(
    addr: std::net::SocketAddr,
    path: &str,
    authorization: &str,
    form: &str,
) -> RawResponse {
    let body = Some((FORM, form.as_bytes()));
    request(addr, "POST", path, Some(authorization.as_bytes()), body).await
}

/// `token=<key>`, percent-encoded.
fn token(key: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("token", key)
        .finish()
}

/// Two instances on one fresh database, and users with keys.
struct World {
    one: Store,
    two: Store,
    alice: User,
    bob: User,
    _dir: Option<tempfile::TempDir>,
}

async fn world(backend: Backend) -> World {
    let (url, dir) = common::database_url(backend).await;
    let one = Store::connect(&url).await.expect("the first instance");
    one.migrate().await.expect("migrate");
    let two = Store::connect(&url).await.expect("the second instance");
    let alice = one.create_user("alice", None).await.unwrap();
    let bob = one.create_user("bob", None).await.unwrap();
    World {
        one,
        two,
        alice,
        bob,
        _dir: dir,
    }
}

impl World {
    async fn key(&self, user: &User, new: NewToken) -> String {
        let (_, key) = self.one.tokens().create(user.id, new).await.unwrap();
        key.expose_secret().to_owned()
    }
}

/// RFC 7009: a caller revokes its user's keys, on every instance at once; another user's key
/// or an unknown one gets the same `200` and nothing changes; the form is bounded and
/// refused as RFC 6749 says, with nothing revoked.
async fn revocation(backend: Backend) {
    let w = world(backend).await;
    let one = serve(api::app(w.one.clone())).await;
    let two = serve(api::app(w.two.clone())).await;
    let caller = w.key(&w.alice, NewToken::default()).await;
    let bearer = format!("Bearer {caller}");
    let other = w.key(&w.alice, NewToken::default()).await;
    let bobs = w.key(&w.bob, NewToken::default()).await;
    // Every instance has served both keys (and cached them, where it caches).
    for (addr, key) in [(one.addr, &other), (two.addr, &other), (two.addr, &bobs)] {
        let header = format!("Token {key}");
        assert_eq!(
            get(addr, "/api/me", Some(header.as_bytes())).await.status,
            200
        );
    }

    // Another user's key: 200, no body, and the key still works everywhere.
    let response = post_form(one.addr, "/api/auth/revoke", &bearer, &token(&bobs)).await;
    assert_eq!((response.status, response.body_text()), (200, ""));
    // An unknown key, a made-up one, a huge one: the same answer.
    for key in ["0".repeat(40), "nope".to_owned(), "k".repeat(1000)] {
        let response = post_form(one.addr, "/api/auth/revoke", &bearer, &token(&key)).await;
        assert_eq!((response.status, response.body_text()), (200, ""), "{key}");
    }
    let header = format!("Token {bobs}");
    for addr in [one.addr, two.addr] {
        assert_eq!(
            get(addr, "/api/me", Some(header.as_bytes())).await.status,
            200
        );
    }

    // Refused forms revoke nothing.
    // (case, Content-Type, body, status, what the message says)
    type Refusal<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let refusals: [Refusal<'_>; 7] = [
        (
            "no token",
            Some(FORM),
            b"token_type_hint=access_token".to_vec(),
            400,
            "no token parameter",
        ),
        (
            "empty token",
            Some(FORM),
            b"token=".to_vec(),
            400,
            "no token parameter",
        ),
        (
            "repeated",
            Some(FORM),
            format!("{}&{}", token(&other), token(&other)).into_bytes(),
            400,
            "repeats a parameter",
        ),
        (
            "JSON",
            Some("application/json"),
            json!({ "token": other }).to_string().into_bytes(),
            415,
            "Unsupported media type application/json",
        ),
        (
            "too large",
            Some(FORM),
            format!("{}&pad={}", token(&other), "x".repeat(16 * 1024)).into_bytes(),
            413,
            "at most 16384 bytes",
        ),
        (
            "no type",
            None,
            token(&other).into_bytes(),
            415,
            "media type none",
        ),
        (
            "a token longer than the document allows",
            Some(FORM),
            token(&"k".repeat(1025)).into_bytes(),
            400,
            "longer than 1024 characters",
        ),
    ];
    for (case, content_type, body, status, message) in refusals {
        let mut raw = format!(
            "POST /api/auth/revoke HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: {bearer}\r\nContent-Length: {}\r\n",
            body.len()
        )
        .into_bytes();
        if let Some(content_type) = content_type {
            raw.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(&body);
        let response = common::raw_exchange(one.addr, &raw).await;
        assert_eq!(response.status, status, "{case}: {response:?}");
        // DRF's body, as every refusal of tokenauth's.
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "{case}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(message),
            "{case}: {body}"
        );
    }
    let header = format!("Token {other}");
    assert_eq!(
        get(two.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status,
        200
    );

    // Its own user's key: revoked, here at once and on the other instance within the
    // change feed's bound.
    let response = post_form(one.addr, "/api/auth/revoke", &bearer, &token(&other)).await;
    assert_eq!((response.status, response.body_text()), (200, ""));
    let response = get(one.addr, "/api/me", Some(header.as_bytes())).await;
    common::assert_401(&response, "Token", common::INVALID_TOKEN, "revoked key");
    let status = common::status_within(two.addr, "/api/me", &header, 401).await;
    assert_eq!(status, 401, "revoked on the other instance");
    // Revoking it again is the same answer.
    let response = post_form(two.addr, "/api/auth/revoke", &bearer, &token(&other)).await;
    assert_eq!((response.status, response.body_text()), (200, ""));

    // The `Token` keyword works too, and the caller may revoke its own key.
    let token_header = format!("Token {caller}");
    let response = post_form(two.addr, "/api/auth/revoke", &token_header, &token(&caller)).await;
    assert_eq!(response.status, 200);
    // Revoked through the second instance: refused here within the feed's bound.
    let status = common::status_within(one.addr, "/api/oauth/me", &bearer, 401).await;
    assert_eq!(status, 401);
    let response = post_form(one.addr, "/api/auth/revoke", &bearer, &token(&bobs)).await;
    common::assert_refused(
        &response,
        "Bearer",
        common::Challenge::Rfc6750("api"),
        common::INVALID_TOKEN,
        "the revoked caller",
    );

    // RFC 6750 for the caller: no credentials, a malformed header, a read-only key.
    let api = common::Challenge::Rfc6750("api");
    let response = request(one.addr, "POST", "/api/auth/revoke", None, None).await;
    common::assert_refused(&response, "Bearer", api, common::NOT_PROVIDED, "none");
    let body = Some((FORM, b"token=x".as_slice()));
    let response = request(
        one.addr,
        "POST",
        "/api/auth/revoke",
        Some(b"Bearer a b"),
        body,
    )
    .await;
    common::assert_refused(&response, "Bearer", api, common::SPACES, "spaces");
    let read_only = w.key(&w.alice, NewToken::default().read_only(true)).await;
    let target = w.key(&w.alice, NewToken::default()).await;
    let header = format!("Bearer {read_only}");
    let response = post_form(one.addr, "/api/auth/revoke", &header, &token(&target)).await;
    assert_eq!(response.status, 403, "{response:?}");
    let header = format!("Token {target}");
    assert_eq!(
        get(one.addr, "/api/me", Some(header.as_bytes()))
            .await
            .status,
        200
    );
}

/// Revocations race each other, the owner's own and another user's: every one of the
/// owner's keys ends revoked, another user's never, and no request fails.
async fn concurrent_revocations(backend: Backend) {
    let w = world(backend).await;
    let one = serve(api::app(w.one.clone())).await;
    let two = serve(api::app(w.two.clone())).await;
    let alice = format!("Bearer {}", w.key(&w.alice, NewToken::default()).await);
    let bob = format!("Bearer {}", w.key(&w.bob, NewToken::default()).await);
    let mut targets = Vec::new();
    for _ in 0..24 {
        targets.push(w.key(&w.alice, NewToken::default()).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, key) in targets.iter().enumerate() {
        for (caller, addr) in [(&alice, one.addr), (&bob, two.addr), (&alice, two.addr)] {
            let (caller, form) = (caller.clone(), token(key));
            tasks.spawn(async move {
                let response = post_form(addr, "/api/auth/revoke", &caller, &form).await;
                (i, response.status)
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (i, status) = done.unwrap();
        assert_eq!(status, 200, "revocation of key {i}");
    }
    for key in &targets {
        let header = format!("Token {key}");
        for addr in [one.addr, two.addr] {
            assert_eq!(
                common::status_within(addr, "/api/me", &header, 401).await,
                401
            );
        }
    }
    let bob_token = bob.replacen("Bearer", "Token", 1);
    assert_eq!(
        get(two.addr, "/api/me", Some(bob_token.as_bytes()))
            .await
            .status,
        200
    );
    let alice_token = alice.replacen("Bearer", "Token", 1);
    assert_eq!(
        get(two.addr, "/api/me", Some(alice_token.as_bytes()))
            .await
            .status,
        200
    );
}

/// RFC 7662: a caller with the introspection scope learns about any live key, and only
/// `{"active": false}` about any other; a caller without it learns nothing.
async fn introspection(backend: Backend) {
    let w = world(backend).await;
    let one = serve(api::app(w.one.clone())).await;
    let two = serve(api::app(w.two.clone())).await;
    let gateway = w
        .key(
            &w.bob,
            NewToken::named("gateway")
                .scope("tokenauth:introspect")
                .unwrap()
                .read_only(true),
        )
        .await;
    let gateway = format!("Bearer {gateway}");
    let expires = Utc::now() + Duration::days(30);
    let (live_token, live) = w
        .one
        .tokens()
        .create(
            w.alice.id,
            NewToken::named("laptop")
                .scope("orders:read")
                .unwrap()
                .scope("orders:write")
                .unwrap()
                .allow_ip("203.0.113.0/24")
                .unwrap()
                .expires_at(expires),
        )
        .await
        .unwrap();
    let response = post_form(
        one.addr,
        "/api/auth/introspect",
        &gateway,
        &token(live.expose_secret()),
    )
    .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({
            "active": true,
            "scope": "orders:read orders:write",
            "exp": expires.timestamp(),
            "iat": live_token.created.timestamp(),
            "username": "alice",
            "sub": w.alice.id.to_string(),
            "client_id": "laptop",
            "token_type": "Bearer",
            "read_only": false,
            "allowed_ips": ["203.0.113.0/24"],
        })
    );

    // Whatever is wrong with a key, the answer is `{"active": false}` and nothing else.
    let inactive_user = w.one.create_user_with("gone", None, false).await.unwrap();
    let inactive = w.key(&inactive_user, NewToken::default()).await;
    let expired = w
        .key(
            &w.alice,
            NewToken::default().expires_at(Utc::now() - Duration::seconds(1)),
        )
        .await;
    let revoked = w.key(&w.alice, NewToken::default()).await;
    let alice = format!("Token {revoked}");
    let response = post_form(one.addr, "/api/auth/revoke", &alice, &token(&revoked)).await;
    assert_eq!(response.status, 200);
    let no_scopes = w.key(&w.alice, NewToken::default()).await;
    for (case, key) in [
        ("inactive user", inactive.as_str()),
        ("expired", &expired),
        ("revoked", &revoked),
        ("unknown", &"0".repeat(40)),
        ("not a key", "a b\u{e9}\""),
    ] {
        for addr in [one.addr, two.addr] {
            let response = post_form(addr, "/api/auth/introspect", &gateway, &token(key)).await;
            assert_eq!(response.status, 200, "{case}");
            assert_eq!(response.body_text(), r#"{"active":false}"#, "{case}");
        }
    }
    // A live key without scopes: no `scope` member, and never-expiring: no `exp`.
    let response = post_form(
        two.addr,
        "/api/auth/introspect",
        &gateway,
        &token(&no_scopes),
    )
    .await;
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["active"], true);
    assert!(
        body.get("scope").is_none() && body.get("exp").is_none(),
        "{body}"
    );

    // A roll's previous key, in its grace: live until the grace ends, and `exp` says so.
    let rolling = w
        .one
        .clone()
        .with_policy(tokenauth::Policy::default().max_roll_grace(Duration::hours(1)));
    let (rolled, previous) = rolling
        .tokens()
        .create(w.alice.id, NewToken::default())
        .await
        .unwrap();
    rolling
        .tokens()
        .roll(rolled.id, Duration::minutes(10))
        .await
        .unwrap();
    let response = post_form(
        two.addr,
        "/api/auth/introspect",
        &gateway,
        &token(previous.expose_secret()),
    )
    .await;
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    let until = Utc::now() + Duration::minutes(10);
    let exp = body["exp"].as_i64().expect("the grace's end");
    assert!((exp - until.timestamp()).abs() <= 5, "{body}");

    // Without the scope: RFC 6750's 403 naming it, and nothing about the key.
    let plain = format!("Bearer {no_scopes}");
    let response = post_form(
        one.addr,
        "/api/auth/introspect",
        &plain,
        &token(live.expose_secret()),
    )
    .await;
    assert_eq!(response.status, 403);
    assert_eq!(
        response.header("www-authenticate"),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="You do not have permission to perform this action.", scope="tokenauth:introspect""#
        )
    );
    crate::rfc6750::parse(response.header("www-authenticate").unwrap()).unwrap();
    assert_eq!(
        response.body_text(),
        r#"{"detail":"You do not have permission to perform this action."}"#
    );
    // A wildcard grants it, as every scope; `Token` is accepted too.
    let admin = w.key(&w.bob, NewToken::default().scope("*").unwrap()).await;
    let header = format!("Token {admin}");
    let response = post_form(two.addr, "/api/auth/introspect", &header, &token(&inactive)).await;
    assert_eq!(response.body_text(), r#"{"active":false}"#);
    // No credentials: no error details.
    let response = request(one.addr, "POST", "/api/auth/introspect", None, None).await;
    common::assert_refused(
        &response,
        "Bearer",
        common::Challenge::Rfc6750("api"),
        common::NOT_PROVIDED,
        "none",
    );
    // A refused form, after the scope check.
    let response = post_form(one.addr, "/api/auth/introspect", &gateway, "hint=1").await;
    assert_eq!(response.status, 400);
    let response = post_form(one.addr, "/api/auth/introspect", &plain, "hint=1").await;
    assert_eq!(response.status, 403);
}

common::on_both_backends!(revocation, concurrent_revocations, introspection);

/// An application names its own introspection scope: the default one no longer suffices.
#[tokio::test]
async fn the_introspection_scope_is_configurable() {
    let store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let key = |scope: &'static str| {
        let store = store.clone();
        async move {
            let new = NewToken::default().scope(scope).unwrap();
            let (_, key) = store.tokens().create(alice.id, new).await.unwrap();
            format!("Bearer {}", key.expose_secret())
        }
    };
    let (default, custom) = (
        key("tokenauth:introspect").await,
        key("gateway:introspect").await,
    );
    let auth = api::auth_api()
        .introspection_scope("gateway:introspect")
        .unwrap();
    let server = serve(api::app_with(store.clone(), auth)).await;
    let form = token("nope");
    let response = post_form(server.addr, "/api/auth/introspect", &default, &form).await;
    assert_eq!(response.status, 403);
    assert!(
        response
            .header("www-authenticate")
            .unwrap()
            .ends_with(r#"scope="gateway:introspect""#)
    );
    let response = post_form(server.addr, "/api/auth/introspect", &custom, &form).await;
    assert_eq!(response.body_text(), r#"{"active":false}"#);
    for refused in ["gateway:*", "*", "two words", "caf\u{e9}", "a\"b", ""] {
        assert!(
            api::auth_api().introspection_scope(refused).is_err(),
            "{refused:?}"
        );
    }
}
