//! Tokens as a product (issue 20), black box over HTTP: users list, revoke and roll their own
//! tokens; tokens carry limits (`allowed_ips`, `read_only`); unused tokens die. Each change
//! that must reach every instance is checked on a second process (a quickstart) sharing the
//! database; each attack is a regression test.

use std::time::{Duration, Instant};

use chrono::Utc;
use poem::Endpoint;
use serde_json::{Value, json};
use tokenauth::{AuthApi, NewToken, Policy, Store};

use crate::api;
use crate::common::{self, Backend, Instance, RawResponse, request, serve};

common::on_both_backends!(
    users_see_and_revoke_only_their_own_tokens,
    a_revoke_or_a_roll_reaches_the_other_instance_at_once,
    a_roll_with_grace_keeps_the_old_key_until_the_grace_ends_everywhere,
    only_the_current_key_rolls_and_concurrent_rolls_issue_one_key,
    grace_values_are_bounded_and_change_nothing,
    allowed_ips_are_checked_against_the_throttles_client_address,
    read_only_tokens_only_read_and_may_log_themselves_out,
    unused_tokens_die_everywhere_and_are_pruned,
    the_expiry_is_in_the_answer_only_when_asked_for,
    logging_out_with_the_previous_key_keeps_the_new_one,
    a_previous_key_is_no_other_tokens_key,
);

const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// The quickstart's application on `store`, with the quickstart's policy on top of the store's.
fn app(store: Store, auth: AuthApi) -> impl Endpoint {
    let policy = api::policy(store.policy().clone()).unwrap();
    api::app_with(store.with_policy(policy), auth)
}

fn token_header(key: &str) -> Vec<u8> {
    format!("Token {key}").into_bytes()
}

async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> RawResponse {
    let text = body.map(Value::to_string);
    let body = text.as_deref().map(|t| ("application/json", t.as_bytes()));
    request(addr, method, path, Some(&token_header(key)), body).await
}

fn json_of(response: &RawResponse) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

/// A user with a password, and `n` keys from logins (as the login view issues them).
async fn login(
    addr: std::net::SocketAddr,
    username: &str,
    extra: Value,
) -> (RawResponse, Option<String>) {
    let mut body = json!({ "username": username, "password": "correct horse" });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let response = common::post_json(addr, "/api/auth/token", &body, None).await;
    let key = json_of(&response)["token"].as_str().map(str::to_owned);
    (response, key)
}

async fn me(addr: std::net::SocketAddr, key: &str) -> u16 {
    common::get(addr, "/api/me", Some(&token_header(key)))
        .await
        .status
}

/// A store on a fresh database of `backend` with a user `username` (password `correct horse`),
/// served by the quickstart's application in this process.
async fn served(backend: Backend, username: &str) -> (Store, common::TestServer) {
    let store = common::store(backend).await;
    store
        .create_user(username, Some("correct horse"))
        .await
        .unwrap();
    let server = serve(app(store.clone(), api::auth_api())).await;
    (store, server)
}

/// [`served`] on a database file (or PostgreSQL database) that a second instance — a
/// quickstart process, with its own cache — shares.
async fn served_twice(
    backend: Backend,
    username: &str,
) -> (
    Store,
    common::TestServer,
    Instance,
    Option<tempfile::TempDir>,
) {
    let (url, dir) = common::database_url(backend).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let other = Instance::start(&url).await;
    store
        .create_user(username, Some("correct horse"))
        .await
        .unwrap();
    let server = serve(app(store.clone(), api::auth_api())).await;
    (store, server, other, dir)
}

/// Two stores with `policy` on one fresh, migrated database (two instances, each with its own
/// cache), and the SQLite file's directory.
async fn two_stores(backend: Backend, policy: Policy) -> (Store, Store, Option<tempfile::TempDir>) {
    let (url, dir) = common::database_url(backend).await;
    let a = Store::connect(&url)
        .await
        .unwrap()
        .with_policy(policy.clone());
    a.migrate().await.unwrap();
    let b = Store::connect(&url).await.unwrap().with_policy(policy);
    (a, b, dir)
}

async fn users_see_and_revoke_only_their_own_tokens(backend: Backend) {
    let store = common::store(backend).await;
    for name in ["alice", "bob"] {
        store
            .create_user(name, Some("correct horse"))
            .await
            .unwrap();
    }
    let server = serve(app(store.clone(), api::auth_api())).await;
    let addr = server.addr;
    let (_, laptop) = login(
        addr,
        "alice",
        json!({"name": "laptop", "scopes": ["orders:read"]}),
    )
    .await;
    let (_, phone) = login(addr, "alice", json!({"name": "phone"})).await;
    let (laptop, phone) = (laptop.unwrap(), phone.unwrap());
    let (_, bobs) = login(addr, "bob", json!({})).await;
    let bobs = bobs.unwrap();

    let listed = call(addr, "GET", "/api/auth/tokens", &laptop, None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let tokens = json_of(&listed);
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert_eq!(tokens[0]["name"], "laptop");
    assert_eq!(tokens[0]["current"], true);
    assert_eq!(tokens[0]["scopes"], json!(["orders:read"]));
    assert_eq!(tokens[1]["name"], "phone");
    assert_eq!(tokens[1]["current"], false);
    // Never a key or a digest, of anyone.
    let text = listed.body_text();
    for key in [&laptop, &phone, &bobs] {
        assert!(!text.contains(key.as_str()));
        assert!(!text.contains(tokenauth::key::KeyDigest::of(key).as_str()));
    }
    let members: Vec<&String> = tokens[0].as_object().unwrap().keys().collect();
    assert_eq!(
        members,
        [
            "allowed_ips",
            "created",
            "current",
            "expires_at",
            "id",
            "last_used_at",
            "name",
            "read_only",
            "scopes"
        ]
    );
    let phone_id = tokens[1]["id"].as_i64().unwrap();

    // Bob sees his own token only, and cannot revoke Alice's: the same 404 as a made-up id.
    let bobs_list = json_of(&call(addr, "GET", "/api/auth/tokens", &bobs, None).await);
    assert_eq!(bobs_list.as_array().unwrap().len(), 1);
    let theirs = call(
        addr,
        "DELETE",
        &format!("/api/auth/tokens/{phone_id}"),
        &bobs,
        None,
    )
    .await;
    let made_up = call(addr, "DELETE", "/api/auth/tokens/987654321", &bobs, None).await;
    let extreme = call(
        addr,
        "DELETE",
        &format!("/api/auth/tokens/{}", i64::MIN),
        &bobs,
        None,
    )
    .await;
    for response in [&theirs, &made_up, &extreme] {
        assert_eq!(response.status, 404, "{response:?}");
        assert_eq!(response.body_text(), r#"{"detail":"Not found."}"#);
    }
    assert_eq!(me(addr, &phone).await, 200, "nothing was deleted");

    // Alice revokes her phone: refused at once; her laptop still works.
    let revoked = call(
        addr,
        "DELETE",
        &format!("/api/auth/tokens/{phone_id}"),
        &laptop,
        None,
    )
    .await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    assert_eq!(me(addr, &phone).await, 401);
    assert_eq!(me(addr, &laptop).await, 200);
    let again = call(
        addr,
        "DELETE",
        &format!("/api/auth/tokens/{phone_id}"),
        &laptop,
        None,
    )
    .await;
    assert_eq!(again.status, 404);
    // A path that is no id is refused, and deletes nothing.
    let garbage = call(
        addr,
        "DELETE",
        "/api/auth/tokens/1%20OR%201=1",
        &laptop,
        None,
    )
    .await;
    assert!(garbage.status >= 400 && garbage.status < 500, "{garbage:?}");
    assert_eq!(me(addr, &laptop).await, 200);
    assert_eq!(me(addr, &bobs).await, 200);
}

/// Polls `key` on `instance` until it is refused; fails past two seconds (the revocation bound).
async fn refused_within_bound(instance: &Instance, key: &str, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        match me(instance.addr, key).await {
            401 => return start.elapsed(),
            200 => assert!(
                start.elapsed() < Duration::from_secs(2),
                "{what}: still accepted on the other instance"
            ),
            other => panic!("{what}: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn a_revoke_or_a_roll_reaches_the_other_instance_at_once(backend: Backend) {
    let (_store, server, other, _dir) = served_twice(backend, "carol").await;
    let (_, one) = login(server.addr, "carol", json!({})).await;
    let (_, two) = login(server.addr, "carol", json!({})).await;
    let (one, two) = (one.unwrap(), two.unwrap());
    for key in [&one, &two] {
        assert_eq!(me(other.addr, key).await, 200); // cached there from now on
        assert_eq!(me(other.addr, key).await, 200);
    }
    let tokens = json_of(&call(server.addr, "GET", "/api/auth/tokens", &one, None).await);
    let two_id = tokens[1]["id"].as_i64().unwrap();
    let revoked = call(
        server.addr,
        "DELETE",
        &format!("/api/auth/tokens/{two_id}"),
        &one,
        None,
    )
    .await;
    assert_eq!(revoked.status, 204);
    refused_within_bound(&other, &two, "revoke").await;

    let rolled = call(server.addr, "POST", "/api/auth/token/roll", &one, None).await;
    assert_eq!(rolled.status, 200, "{rolled:?}");
    assert_eq!(rolled.header("cache-control"), Some("no-store"));
    let new = json_of(&rolled)["token"].as_str().unwrap().to_owned();
    assert_eq!(
        me(server.addr, &one).await,
        401,
        "grace 0: refused here at once"
    );
    refused_within_bound(&other, &one, "roll").await;
    assert_eq!(
        me(other.addr, &new).await,
        200,
        "the new key works there at once"
    );
    // The same token: same id, name and scopes.
    let after = json_of(&call(server.addr, "GET", "/api/auth/tokens", &new, None).await);
    assert_eq!(after[0]["id"], tokens[0]["id"]);
    assert_eq!(after[0]["current"], true);
}

async fn a_roll_with_grace_keeps_the_old_key_until_the_grace_ends_everywhere(backend: Backend) {
    let (store, server, other, _dir) = served_twice(backend, "dave").await;
    let (_, old) = login(server.addr, "dave", json!({})).await;
    let old = old.unwrap();
    assert_eq!(me(other.addr, &old).await, 200);
    let rolled = call(
        server.addr,
        "POST",
        "/api/auth/token/roll",
        &old,
        Some(&json!({"grace": 2})),
    )
    .await;
    let rolled_at = Instant::now();
    assert_eq!(rolled.status, 200, "{rolled:?}");
    let new = json_of(&rolled)["token"].as_str().unwrap().to_owned();
    // The previous key cannot roll the token (it may be the leaked one), nor get a key.
    let stolen = call(server.addr, "POST", "/api/auth/token/roll", &old, None).await;
    assert_eq!((stolen.status, stolen.body_text()), (403, FORBIDDEN));
    // A roll names no token: a body naming another one rolls the presented token only.
    let (_, other_key) = login(server.addr, "dave", json!({})).await;
    let other_key = other_key.unwrap();
    let listed = json_of(&call(server.addr, "GET", "/api/auth/tokens", &new, None).await);
    let others_id = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["current"] == false)
        .unwrap()["id"]
        .clone();
    let body = json!({"grace": 0, "id": others_id, "token_id": others_id});
    let own = call(
        server.addr,
        "POST",
        "/api/auth/token/roll",
        &other_key,
        Some(&body),
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(
        me(server.addr, &new).await,
        200,
        "the other token was not rolled"
    );
    assert_eq!(
        me(server.addr, &other_key).await,
        401,
        "the presented one was"
    );
    // Both keys work on both instances during the grace...
    while rolled_at.elapsed() < Duration::from_millis(1500) {
        for addr in [server.addr, other.addr] {
            assert_eq!(me(addr, &old).await, 200, "within the grace");
            assert_eq!(me(addr, &new).await, 200);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and the old one is refused everywhere once it ends.
    while rolled_at.elapsed() < Duration::from_millis(2100) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for addr in [server.addr, other.addr] {
        while me(addr, &old).await != 401 {
            assert!(Instant::now() < deadline, "the old key outlived its grace");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(me(other.addr, &new).await, 200);
    // Pruning forgets the ended grace's key: the table holds no digest of it any more.
    let old_digest = tokenauth::key::KeyDigest::of(&old);
    let old_digest = old_digest.as_str().to_owned();
    let holds = |store: Store| {
        let old_digest = old_digest.clone();
        async move {
            let sql = "SELECT COUNT(*) FROM tokenauth_tokens WHERE previous_key_digest = $1";
            match (store.sqlite_pool(), store.postgres_pool()) {
                (Some(pool), _) => {
                    sqlx::query_scalar::<_, i64>(sql)
                        .bind(old_digest.as_str())
                        .fetch_one(pool)
                        .await
                }
                (_, Some(pool)) => {
                    sqlx::query_scalar::<_, i64>(sql)
                        .bind(old_digest.as_str())
                        .fetch_one(pool)
                        .await
                }
                _ => unreachable!(),
            }
            .unwrap()
        }
    };
    assert_eq!(holds(store.clone()).await, 1);
    store.tokens().prune_expired(Utc::now()).await.unwrap();
    assert_eq!(holds(store.clone()).await, 0);
    assert_eq!(me(server.addr, &old).await, 401);
    assert_eq!(me(other.addr, &new).await, 200, "the token itself is kept");
}

async fn only_the_current_key_rolls_and_concurrent_rolls_issue_one_key(backend: Backend) {
    let (_store, server) = served(backend, "erin").await;
    let addr = server.addr;
    for round in 0..5 {
        let (_, key) = login(addr, "erin", json!({})).await;
        let key = key.unwrap();
        let rolls = (0..24).map(|_| {
            let key = key.clone();
            tokio::spawn(
                async move { call(addr, "POST", "/api/auth/token/roll", &key, None).await },
            )
        });
        let mut issued = Vec::new();
        for roll in rolls {
            let response = roll.await.unwrap();
            match response.status {
                200 => issued.push(json_of(&response)["token"].as_str().unwrap().to_owned()),
                // Refused: the key was rolled already (401 once gone, 403 if it lost the race).
                401 | 403 => {}
                other => panic!("round {round}: {other} {response:?}"),
            }
        }
        assert_eq!(issued.len(), 1, "round {round}: one roll wins");
        assert_eq!(me(addr, &issued[0]).await, 200);
        assert_eq!(me(addr, &key).await, 401);
    }
}

async fn grace_values_are_bounded_and_change_nothing(backend: Backend) {
    let (store, server) = served(backend, "frank").await;
    let (_, key) = login(server.addr, "frank", json!({})).await;
    let key = key.unwrap();
    let cases: [(&str, u16, &str); 7] = [
        (
            r#"{"grace": 3601}"#,
            400,
            "grace: Ensure this value is less than or equal to 3600.",
        ),
        (
            r#"{"grace": -1}"#,
            400,
            "grace: Ensure this value is greater than or equal to 0.",
        ),
        (
            r#"{"grace": 99999999999999999999999999}"#,
            400,
            "grace: Ensure this value is less than or equal to 3600.",
        ),
        (
            r#"{"grace": "1h"}"#,
            400,
            "grace: A valid integer is required.",
        ),
        (
            r#"{"grace": 1.5}"#,
            400,
            "grace: A valid integer is required.",
        ),
        (r#"[1]"#, 400, "Invalid data. Expected a dictionary."),
        (r#"{"grace": NaN}"#, 400, ""),
    ];
    for (body, status, detail) in cases {
        let response = request(
            server.addr,
            "POST",
            "/api/auth/token/roll",
            Some(&token_header(&key)),
            Some(("application/json", body.as_bytes())),
        )
        .await;
        assert_eq!(response.status, status, "{body}: {response:?}");
        if !detail.is_empty() {
            assert_eq!(json_of(&response)["detail"], detail, "{body}");
        }
        assert_eq!(me(server.addr, &key).await, 200, "{body}: nothing rolled");
    }
    let big = vec![b' '; 4097];
    let response = request(
        server.addr,
        "POST",
        "/api/auth/token/roll",
        Some(&token_header(&key)),
        Some(("application/json", &big)),
    )
    .await;
    assert_eq!(response.status, 413);
    // A store's own bound: grace over the policy's maximum, or negative.
    let tokens = store.tokens().list_all().await.unwrap();
    let over = store
        .tokens()
        .roll(tokens[0].id, chrono::Duration::hours(2))
        .await;
    assert!(
        matches!(over, Err(tokenauth::Error::InvalidGrace(_))),
        "{over:?}"
    );
    assert_eq!(me(server.addr, &key).await, 200);
}

async fn allowed_ips_are_checked_against_the_throttles_client_address(backend: Backend) {
    let store = common::store(backend).await;
    store
        .create_user("grace", Some("correct horse"))
        .await
        .unwrap();
    let trusting = {
        let policy = store
            .policy()
            .clone()
            .trusted_proxies(["127.0.0.1".parse().unwrap()]);
        store.clone().with_policy(policy)
    };
    let behind_proxy = serve(app(trusting, api::auth_api())).await;
    let direct = serve(app(store.clone(), api::auth_api())).await;
    let (_, key) = login(
        behind_proxy.addr,
        "grace",
        json!({"allowed_ips": ["203.0.113.0/24", "2001:db8::/32"]}),
    )
    .await;
    let key = key.unwrap();
    let from = |addr, client: &str| {
        let raw = format!(
            "GET /api/me HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Token {key}\r\n\
             X-Forwarded-For: {client}\r\n\r\n"
        );
        async move { common::raw_exchange(addr, raw.as_bytes()).await }
    };
    assert_eq!(from(behind_proxy.addr, "203.0.113.9").await.status, 200);
    assert_eq!(
        from(behind_proxy.addr, "[2001:db8::7]:443").await.status,
        200
    );
    let outside = from(behind_proxy.addr, "198.51.100.1").await;
    assert_eq!((outside.status, outside.body_text()), (403, FORBIDDEN));
    // A client cannot pick its address: the header of an untrusted peer is ignored.
    let spoofed = from(direct.addr, "203.0.113.9").await;
    assert_eq!((spoofed.status, spoofed.body_text()), (403, FORBIDDEN));
    // Nor hide behind a malformed entry.
    assert_eq!(
        from(behind_proxy.addr, "203.0.113.9, junk").await.status,
        403
    );

    // Malformed networks at login: DRF's 400, nothing issued.
    let before = store.tokens().list_all().await.unwrap().len();
    for bad in [
        json!(["10.0.0.0/33"]),
        json!(["example.com"]),
        json!(["1.2.3.4/-1"]),
        json!([7]),
    ] {
        let (response, key) = login(behind_proxy.addr, "grace", json!({"allowed_ips": bad})).await;
        assert_eq!(response.status, 400, "{bad}: {response:?}");
        assert!(key.is_none());
        assert_eq!(
            json_of(&response)["allowed_ips"][0],
            "Enter valid IPv4 or IPv6 addresses or networks in CIDR notation."
        );
    }
    let too_many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
    let (response, _) = login(behind_proxy.addr, "grace", json!({"allowed_ips": too_many})).await;
    assert_eq!(response.status, 400);
    assert_eq!(store.tokens().list_all().await.unwrap().len(), before);
}

async fn read_only_tokens_only_read_and_may_log_themselves_out(backend: Backend) {
    let (_store, server) = served(backend, "heidi").await;
    let addr = server.addr;
    let (_, key) = login(
        addr,
        "heidi",
        json!({"read_only": true, "scopes": ["orders:*"]}),
    )
    .await;
    let key = key.unwrap();
    let (_, writer) = login(addr, "heidi", json!({"scopes": ["orders:write"]})).await;
    let writer = writer.unwrap();
    assert_eq!(me(addr, &key).await, 200);
    let orders = call(addr, "GET", "/api/orders", &key, None).await;
    assert_eq!(orders.status, 200);
    // orders:write implies orders:read in the quickstart's policy.
    assert_eq!(
        call(addr, "GET", "/api/orders", &writer, None).await.status,
        200
    );
    assert_eq!(
        call(addr, "POST", "/api/orders", &writer, None)
            .await
            .status,
        200
    );

    let tokens = json_of(&call(addr, "GET", "/api/auth/tokens", &key, None).await);
    let writer_id = tokens[1]["id"].as_i64().unwrap();
    let writes = [
        ("POST", "/api/orders".to_owned()),
        ("PUT", "/api/orders".to_owned()),
        ("DELETE", "/api/orders".to_owned()),
        ("POST", "/api/auth/token/roll".to_owned()),
        ("POST", "/api/auth/logout-all".to_owned()),
        ("DELETE", format!("/api/auth/tokens/{writer_id}")),
    ];
    for (method, path) in &writes {
        let response = call(addr, method, path, &key, None).await;
        assert_eq!(
            (response.status, response.body_text()),
            (403, FORBIDDEN),
            "{method} {path}"
        );
    }
    // Method-override headers do not make a write a read, nor hide one.
    for (method, header) in [
        ("POST", "X-HTTP-Method-Override: GET"),
        ("GET", "X-HTTP-Method-Override: DELETE"),
        ("GET", "X-HTTP-Method: POST"),
        ("GET", "X-Method-Override: PUT"),
    ] {
        let path = if method == "POST" {
            "/api/orders"
        } else {
            "/api/me"
        };
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Token {key}\r\n\
             {header}\r\nContent-Length: 0\r\n\r\n"
        );
        let response = common::raw_exchange(addr, raw.as_bytes()).await;
        assert_eq!(response.status, 403, "{method} with {header}");
    }
    assert_eq!(
        me(addr, &writer).await,
        200,
        "nothing happened to the other token"
    );
    // It may log itself out.
    let out = call(addr, "POST", "/api/auth/logout", &key, None).await;
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(me(addr, &key).await, 401);
}

async fn unused_tokens_die_everywhere_and_are_pruned(backend: Backend) {
    let unused = chrono::Duration::seconds(3);
    let (a, b, _dir) = two_stores(backend, Policy::default().expire_unused(unused)).await;
    let user = a.create_user("ivan", None).await.unwrap();
    let (_, used) = a
        .tokens()
        .create(user.id, NewToken::named("used"))
        .await
        .unwrap();
    let (_, idle) = a
        .tokens()
        .create(user.id, NewToken::named("idle"))
        .await
        .unwrap();
    // Both instances cache both keys.
    for store in [&a, &b] {
        store.authenticate(used.expose_secret()).await.unwrap();
        store.authenticate(idle.expose_secret()).await.unwrap();
        common::cache_serving(store).await;
        store.authenticate(idle.expose_secret()).await.unwrap();
    }
    // `used` is used on A only, every 300 ms, for twice the limit; B must still accept it
    // (A's recorded uses reach B through the database), and refuse `idle` (from its cache).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        a.authenticate(used.expose_secret()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    a.flush_usage().await.unwrap();
    assert!(
        b.authenticate(used.expose_secret()).await.is_ok(),
        "used on A: alive on B"
    );
    for store in [&a, &b] {
        assert!(
            matches!(
                store.authenticate(idle.expose_secret()).await,
                Err(tokenauth::store::AuthenticateError::Denied(
                    tokenauth::rejection::Reason::InvalidToken
                ))
            ),
            "unused for longer than the limit"
        );
    }
    let listed = a.tokens().unused_since(Utc::now() - unused).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["idle"]
    );
    assert_eq!(a.tokens().prune_expired(Utc::now()).await.unwrap(), 1);
    let left = a.tokens().list(user.id).await.unwrap();
    assert_eq!(
        left.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["used"]
    );
    assert!(
        left[0].last_used_at.is_some(),
        "recorded whatever last_used_interval says"
    );
}

async fn the_expiry_is_in_the_answer_only_when_asked_for(backend: Backend) {
    let store = common::store(backend).await;
    store
        .create_user("judy", Some("correct horse"))
        .await
        .unwrap();
    let drf = serve(app(store.clone(), api::auth_api())).await;
    let knox = serve(app(
        store.clone(),
        api::auth_api().with_expiry_in_response(),
    ))
    .await;
    let (answer, key) = login(drf.addr, "judy", json!({})).await;
    let members: Vec<String> = json_of(&answer)
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(members, ["token"], "DRF's exact body by default");
    let (answer, _) = login(knox.addr, "judy", json!({})).await;
    assert_eq!(
        json_of(&answer)["expiry"],
        Value::Null,
        "never expires: null, as knox"
    );
    let (answer, _) = login(knox.addr, "judy", json!({"expires_in": 3600})).await;
    let expiry = json_of(&answer)["expiry"].as_str().unwrap().to_owned();
    let expiry = chrono::DateTime::parse_from_rfc3339(&expiry).unwrap();
    let left = expiry.with_timezone(&Utc) - Utc::now();
    assert!(
        left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1),
        "{left}"
    );
    // A roll answers the same way.
    let rolled = call(
        knox.addr,
        "POST",
        "/api/auth/token/roll",
        &key.unwrap(),
        None,
    )
    .await;
    assert_eq!(json_of(&rolled)["expiry"], Value::Null);
}

/// Review finding: a client still holding the previous key (an old deployment shutting down
/// during the grace) logged out and took the token's new key with it.
async fn logging_out_with_the_previous_key_keeps_the_new_one(backend: Backend) {
    let (_store, server) = served(backend, "kim").await;
    let addr = server.addr;
    let (_, old) = login(addr, "kim", json!({})).await;
    let old = old.unwrap();
    let rolled = call(
        addr,
        "POST",
        "/api/auth/token/roll",
        &old,
        Some(&json!({"grace": 600})),
    )
    .await;
    let new = json_of(&rolled)["token"].as_str().unwrap().to_owned();
    let out = call(addr, "POST", "/api/auth/logout", &old, None).await;
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(me(addr, &old).await, 401, "the previous key is revoked");
    assert_eq!(me(addr, &new).await, 200, "the new key stays");
    let out = call(addr, "POST", "/api/auth/logout", &new, None).await;
    assert_eq!(out.status, 204);
    assert_eq!(
        me(addr, &new).await,
        401,
        "the current key revokes the token"
    );
}

/// Review finding: a key could be one token's previous key and another's key (imported), and
/// then authenticate as either; on SQLite, `INSERT OR REPLACE` conflicting on a previous key
/// deleted a token without telling the other instances.
async fn a_previous_key_is_no_other_tokens_key(backend: Backend) {
    let policy = Policy::default().max_roll_grace(chrono::Duration::hours(1));
    let (a, b, _dir) = two_stores(backend, policy).await;
    let alice = a.create_user("alice", None).await.unwrap();
    let bob = a.create_user("bob", None).await.unwrap();
    let (token, old) = a
        .tokens()
        .create(alice.id, NewToken::named("a"))
        .await
        .unwrap();
    let (_, new) = a
        .tokens()
        .roll(token.id, chrono::Duration::hours(1))
        .await
        .unwrap();
    let again = tokenauth::Key::import(old.expose_secret()).unwrap();
    let imported = a
        .tokens()
        .import(bob.id, &again, NewToken::named("b"))
        .await;
    assert!(
        matches!(imported, Err(tokenauth::Error::DuplicateKey)),
        "{imported:?}"
    );
    let (user, _) = a.authenticate(old.expose_secret()).await.unwrap();
    assert_eq!(user.username, "alice");
    // A second import (Django's table still holds the key) finds it present, as alice's.
    let batch = [tokenauth::import::Token {
        username: "alice".to_owned(),
        key: again.clone(),
        created: Utc::now(),
        name: String::new(),
    }];
    let report = a.import_tokens(&batch).await.unwrap();
    assert_eq!((report.tokens_imported, report.tokens_present), (0, 1));
    let batch = [tokenauth::import::Token {
        username: "bob".to_owned(),
        ..batch[0].clone()
    }];
    assert!(matches!(
        a.import_tokens(&batch).await,
        Err(tokenauth::Error::ImportConflict(_))
    ));

    if backend == Backend::Sqlite {
        // Plain SQL replacing the token through its previous key: B forgets its cached entry.
        b.authenticate(new.expose_secret()).await.unwrap();
        common::cache_serving(&b).await;
        b.authenticate(new.expose_secret()).await.unwrap();
        let pool = a.sqlite_pool().unwrap();
        let previous: String =
            sqlx::query_scalar("SELECT previous_key_digest FROM tokenauth_tokens WHERE id = ?")
                .bind(token.id)
                .fetch_one(pool)
                .await
                .unwrap();
        let other =
            tokenauth::key::KeyDigest::of(tokenauth::Key::generate().unwrap().expose_secret());
        sqlx::query(
            "INSERT OR REPLACE INTO tokenauth_tokens \
             (user_id, key_digest, name, created, scopes, previous_key_digest) \
             VALUES (?, ?, 'other', ?, '', ?)",
        )
        .bind(alice.id)
        .bind(other.as_str())
        .bind(Utc::now())
        .bind(&previous)
        .execute(pool)
        .await
        .unwrap();
        let start = Instant::now();
        while b.authenticate(new.expose_secret()).await.is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "B still serves the replaced token"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
