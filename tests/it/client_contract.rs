//! The quickstart's OpenAPI document as client generators and linters read it: one body type
//! per outcome (progenitor's rule), one JSON media type, every operation's security declared,
//! plain-text summaries, and examples that are exactly what the server sends. The generators
//! and linters themselves run in `./tests/run` (tests/clients/); these checks say which
//! property broke, in seconds.

use std::collections::BTreeSet;

use poem::EndpointExt as _;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi, OpenApiService};
use serde_json::{Value, json};
use tokenauth::openapi::ErrorDetail;
use tokenauth::{NewToken, Store, User, token_auth};

use crate::api;
use crate::common::{self, RawResponse, get, post_json, request, serve};

/// The one media type of JSON bodies in the served document.
const JSON_MEDIA: &str = "application/json";

async fn served_spec(app: impl poem::Endpoint + 'static) -> Value {
    let server = serve(app).await;
    let response = get(server.addr, "/openapi.json", None).await;
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).unwrap()
}

/// Every `(path, method, operation)` of `spec`.
fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((path.clone(), method.clone(), operation));
        }
    }
    assert!(!found.is_empty());
    found
}

/// progenitor 0.15's classification of a response: the schema of its JSON body (any media
/// type `application/json` or `application/json;…`), `raw` for another body, `none` without.
fn body_kind(response: &Value) -> String {
    let content = response.get("content").and_then(Value::as_object);
    let json = content.and_then(|content| {
        content.iter().find(|(media, _)| {
            *media == "application/json" || media.starts_with("application/json;")
        })
    });
    match (json, content) {
        (Some((_, media)), _) => media["schema"].to_string(),
        (None, Some(content)) if !content.is_empty() => "raw".to_owned(),
        _ => "none".to_owned(),
    }
}

/// The operations of `spec` that break progenitor's rule — at most one body type for the
/// successes (2xx, default) and one for the errors (4xx, 5xx, default) — with their types.
fn progenitor_refuses(spec: &Value) -> Vec<String> {
    let mut refused = Vec::new();
    for (path, method, operation) in operations(spec) {
        let mut success = BTreeSet::new();
        let mut error = BTreeSet::new();
        for (status, response) in operation["responses"].as_object().unwrap() {
            let kind = body_kind(response);
            if status == "default" || status.starts_with('2') {
                success.insert(kind.clone());
            }
            if status == "default" || status.starts_with('4') || status.starts_with('5') {
                error.insert(kind);
            }
        }
        if success.len() > 1 || error.len() > 1 {
            refused.push(format!("{method} {path}: {success:?} / {error:?}"));
        }
    }
    refused
}

#[tokio::test]
async fn each_operation_has_one_success_type_and_one_error_type() {
    let spec = served_spec(api::app(common::sqlite_store().await)).await;
    assert_eq!(progenitor_refuses(&spec), Vec::<String>::new());
    // The login's refusals are all one schema, with `detail` for those that are not about a
    // field.
    let obtain = &spec["paths"]["/auth/token"]["post"]["responses"];
    for status in ["400", "403", "413", "415", "429", "503"] {
        assert_eq!(
            obtain[status]["content"][JSON_MEDIA]["schema"]["$ref"],
            "#/components/schemas/ObtainTokenErrors",
            "{status}"
        );
    }
}

/// An operation with an error of its own besides the `401` the macro documents.
#[derive(ApiResponse)]
enum Order {
    /// The order.
    #[oai(status = 200)]
    Found(Json<String>),
    /// No such order.
    #[oai(status = 404)]
    NotFound(Json<ErrorDetail>),
}

struct Orders;

#[token_auth(scopes = ["orders:read"])]
#[OpenApi]
impl Orders {
    /// One order
    ///
    /// Its own `404`, the macro's `401` and `403`: all `ErrorDetail`.
    #[oai(path = "/orders/:id", method = "get")]
    async fn order(&self, user: User, id: poem_openapi::param::Path<i64>) -> Order {
        match id.0 {
            1 => Order::Found(Json(format!("order #1 of {}", user.username))),
            _ => Order::NotFound(Json(ErrorDetail::new("Not found."))),
        }
    }
}

#[tokio::test]
async fn an_application_error_documented_as_error_detail_keeps_one_error_type() {
    let service = OpenApiService::new(Orders, "orders", "1.0");
    let spec: Value = serde_json::from_str(&tokenauth::openapi::spec(&service)).unwrap();
    assert_eq!(progenitor_refuses(&spec), Vec::<String>::new());
    let responses = &spec["paths"]["/orders/{id}"]["get"]["responses"];
    let statuses: Vec<&String> = responses.as_object().unwrap().keys().collect();
    assert_eq!(statuses, ["200", "401", "403", "404"]);

    // And the operation answers as documented.
    let store = common::sqlite_store().await;
    let alice = store.create_user("alice", None).await.unwrap();
    let scoped = NewToken::default().scope("orders:read").unwrap();
    let (_, key) = store.tokens().create(alice.id, scoped).await.unwrap();
    let server = serve(poem::Route::new().nest("/", service).data(store)).await;
    let header = format!("Token {}", key.expose_secret());
    let response = get(server.addr, "/orders/2", Some(header.as_bytes())).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body_text(), r#"{"detail":"Not found."}"#);
}

/// Every media type of a body (request or response) in `spec`.
fn media_types(spec: &Value) -> BTreeSet<String> {
    let mut media_types = BTreeSet::new();
    for (_, _, operation) in operations(spec) {
        let bodies = operation["responses"]
            .as_object()
            .unwrap()
            .values()
            .chain(operation.get("requestBody"));
        for body in bodies {
            let content = body.get("content").and_then(Value::as_object);
            media_types.extend(
                content
                    .into_iter()
                    .flat_map(|content| content.keys().cloned()),
            );
        }
    }
    media_types
}

#[tokio::test]
async fn every_json_body_is_documented_with_one_media_type() {
    // The served document: `application/json` (openapi-typescript's `*JSON` helper types match
    // `…/json` keys only), /ping's text, and the form of revocation and introspection.
    let spec = served_spec(api::app(common::sqlite_store().await)).await;
    let text = "text/plain; charset=utf-8".to_owned();
    let form = "application/x-www-form-urlencoded".to_owned();
    assert_eq!(
        media_types(&spec),
        BTreeSet::from([JSON_MEDIA.to_owned(), text.clone(), form.clone()])
    );
    // poem-openapi's own document: tokenauth's bodies have the media type it gives the
    // application's.
    let service = OpenApiService::new((api::Api, api::auth_api()), "quickstart", "1");
    let native: Value = serde_json::from_str(&service.spec()).unwrap();
    let poem_openapi_s = "application/json; charset=utf-8".to_owned();
    assert_eq!(
        media_types(&native),
        BTreeSet::from([poem_openapi_s, text, form])
    );
}

#[tokio::test]
async fn every_operation_declares_its_security_and_plain_summaries() {
    let spec = served_spec(api::app(common::sqlite_store().await)).await;
    for (path, method, operation) in operations(&spec) {
        let security = &operation["security"];
        assert!(security.is_array(), "{method} {path}: {operation}");
        let open = ["/auth/token", "/ping"].contains(&path.as_str());
        assert_eq!(security == &json!([]), open, "{method} {path}: {security}");
        // Summaries are shown as they are (Redoc, Swagger UI): no Markdown.
        let summary = operation["summary"].as_str().unwrap();
        assert!(
            !summary.contains(['`', '*', '_', '[', ']', '#', '<']),
            "{method} {path}: {summary:?}"
        );
        // Spectral's `operation-description` and `operation-tags`.
        assert!(operation["description"].is_string(), "{method} {path}");
        assert!(
            operation["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty())
        );
    }
}

/// The response of each example the document gives of tokenauth's answers, made for real.
async fn answer_of(
    server: &common::TestServer,
    keys: &Keys,
    path: &str,
    status: &str,
    example: &str,
) -> Option<RawResponse> {
    let addr = server.addr;
    let login = |body: Value| async move { post_json(addr, "/api/auth/token", &body, None).await };
    let raw_login = |content_type: &'static str, body: Vec<u8>| async move {
        let body = Some((content_type, &body[..]));
        request(addr, "POST", "/api/auth/token", None, body).await
    };
    // The operation's own path where it has no parameters; an operation of the same keyword
    // and challenge otherwise.
    let bearer = format!("/api{path}");
    let (secured, keyword) = match path {
        "/orders" => ("/api/orders", "Token"),
        "/bearer/me" | "/oauth/me" | "/oauth/orders" | "/auth/revoke" | "/auth/introspect" => {
            (bearer.as_str(), "Bearer")
        }
        _ => ("/api/me", "Token"),
    };
    let with = |header: Vec<u8>| async move { get(addr, secured, Some(&header)).await };
    let header = |rest: &str| format!("{keyword}{rest}").into_bytes();
    // A fresh key of alice's, for the operations that use one up.
    let fresh = || async move {
        let key = keys.fresh.lock().unwrap().pop().expect("enough fresh keys");
        format!("Token {key}")
    };
    let roll = |body: Option<(&'static str, Vec<u8>)>| async move {
        let key = fresh().await;
        let body = body
            .as_ref()
            .map(|(content_type, bytes)| (*content_type, &bytes[..]));
        request(
            addr,
            "POST",
            "/api/auth/token/roll",
            Some(key.as_bytes()),
            body,
        )
        .await
    };
    match (path, status, example) {
        ("/auth/tokens", "200", "tokens") => {
            let key = fresh().await;
            return Some(get(addr, "/api/auth/tokens", Some(key.as_bytes())).await);
        }
        ("/auth/tokens/{id}", "404", "not_found") => {
            let key = fresh().await;
            let path = format!("/api/auth/tokens/{}", i64::MAX);
            return Some(request(addr, "DELETE", &path, Some(key.as_bytes()), None).await);
        }
        ("/auth/token/roll", "200", "key") => return Some(roll(None).await),
        ("/auth/token/roll", "400", "negative_grace") => {
            let body = br#"{"grace": -1}"#.to_vec();
            return Some(roll(Some(("application/json", body))).await);
        }
        ("/auth/token/roll", "400", "not_json") => {
            let body = b"{\"grace\": ".to_vec();
            return Some(roll(Some(("application/json", body))).await);
        }
        ("/auth/token/roll", "413", "too_large") => {
            return Some(roll(Some(("application/json", vec![b' '; 4097]))).await);
        }
        ("/auth/token/roll", "415", "unsupported_media_type") => {
            return Some(roll(Some(("text/plain", b"60".to_vec()))).await);
        }
        _ => {}
    }
    // Revocation and introspection: forms, sent by a caller that may introspect.
    if path == "/auth/revoke" || path == "/auth/introspect" {
        let form = |content_type: &'static str, body: Vec<u8>| async move {
            let caller = format!("Bearer {}", keys.introspector);
            let body = Some((content_type, &body[..]));
            request(addr, "POST", secured, Some(caller.as_bytes()), body).await
        };
        let form_type = "application/x-www-form-urlencoded";
        match (status, example) {
            ("200", "active") => {
                let body = format!("token={}", keys.unscoped).into_bytes();
                return Some(form(form_type, body).await);
            }
            ("200", "inactive") => return Some(form(form_type, b"token=nope".to_vec()).await),
            ("400", "no_token") => {
                return Some(form(form_type, b"token_type_hint=x".to_vec()).await);
            }
            ("400", "repeated") => return Some(form(form_type, b"token=a&token=b".to_vec()).await),
            ("413", "too_large") => return Some(form(form_type, vec![b'a'; 16 * 1024 + 1]).await),
            ("415", "unsupported_media_type") => {
                return Some(form("application/json", br#"{"token":"a"}"#.to_vec()).await);
            }
            ("403", "insufficient_scope") if path == "/auth/introspect" => {
                let caller = format!("Bearer {}", keys.unscoped);
                let body = Some((form_type, &b"token=a"[..]));
                return Some(request(addr, "POST", secured, Some(caller.as_bytes()), body).await);
            }
            _ => {}
        }
    }
    Some(match (status, example) {
        ("401", "not_provided") => get(addr, secured, None).await,
        ("401", "invalid_token") => with(header(" 0123456789abcdef")).await,
        ("401", "user_inactive") => with(header(&format!(" {}", keys.inactive))).await,
        // RFC 6750's `400`s, or DRF's `401`s.
        ("400" | "401", "no_credentials") => with(header("")).await,
        ("400" | "401", "spaces") => with(header(" a b")).await,
        ("400" | "401", "invalid_characters") => {
            with([header(" "), b"\xc3\x28".to_vec()].concat()).await
        }
        ("403", "insufficient_scope") => {
            // A scoped operation of the same challenge; RFC 6750's lists the scopes, so an
            // operation without any refuses a key limited to another address.
            let (path, keyword, key) = match path {
                "/oauth/orders" => (secured, "Bearer", &keys.unscoped),
                "/oauth/me" | "/auth/revoke" | "/auth/introspect" => {
                    (secured, "Bearer", &keys.elsewhere)
                }
                _ => ("/api/orders", "Token", &keys.unscoped),
            };
            let header = format!("{keyword} {key}");
            get(addr, path, Some(header.as_bytes())).await
        }
        ("200", "key") => login(json!({ "username": "alice", "password": "correct horse" })).await,
        ("400", "bad_credentials") => login(json!({ "username": "alice", "password": "no" })).await,
        ("400", "missing_fields") => login(json!({})).await,
        ("400", "blank_password") => login(json!({ "username": "alice", "password": "" })).await,
        ("400", "not_json") => raw_login("application/json", b"{\"username\": ".to_vec()).await,
        ("400", "scope_not_grantable") => {
            let body =
                json!({ "username": "alice", "password": "correct horse", "scopes": ["admin"] });
            login(body).await
        }
        ("403", "token_limit") => {
            login(json!({ "username": "limited", "password": "correct horse" })).await
        }
        ("413", "too_large") => raw_login("application/json", vec![b' '; 192 * 1024 + 1]).await,
        ("415", "unsupported_media_type") => raw_login("text/plain", b"alice".to_vec()).await,
        // The throttle's wait and an outage are not made here: their bodies come from the
        // functions the tests of the throttle and of outages check.
        ("429", "throttled") | ("503", "overloaded" | "unavailable") => return None,
        _ => panic!("no request makes the example {status} {example} of {path}"),
    })
}

struct Keys {
    inactive: String,
    unscoped: String,
    /// A key allowed only from an address the tests do not send from.
    elsewhere: String,
    /// A key that may introspect.
    introspector: String,
    /// Keys of their own for the operations that use one up (each taken once).
    fresh: std::sync::Mutex<Vec<String>>,
}

#[tokio::test]
async fn the_examples_are_what_the_server_sends() {
    let store = common::store_with_login_users(common::Backend::Sqlite).await;
    let gone = store.create_user_with("gone", None, false).await.unwrap();
    let (_, inactive) = store
        .tokens()
        .create(gone.id, NewToken::default())
        .await
        .unwrap();
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let (_, unscoped) = store
        .tokens()
        .create(alice.id, NewToken::default())
        .await
        .unwrap();
    let (_, elsewhere) = store
        .tokens()
        .create(
            alice.id,
            NewToken::default().allow_ip("192.0.2.0/24").unwrap(),
        )
        .await
        .unwrap();
    // Not alice's: her logins must stay under the token limit.
    let gateway = store.create_user("gateway", None).await.unwrap();
    let (_, introspector) = store
        .tokens()
        .create(
            gateway.id,
            NewToken::default().scope("tokenauth:introspect").unwrap(),
        )
        .await
        .unwrap();
    let limited = store
        .create_user("limited", Some("correct horse"))
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .tokens()
            .create(limited.id, NewToken::default())
            .await
            .unwrap();
    }
    let roller = store.create_user("roller", None).await.unwrap();
    let mut fresh = Vec::new();
    for _ in 0..10 {
        let (_, key) = store
            .tokens()
            .create(roller.id, NewToken::default())
            .await
            .unwrap();
        fresh.push(key.expose_secret().to_owned());
    }
    let policy = store.policy().clone().max_tokens_per_user(3);
    let store: Store = store.with_policy(policy);
    let keys = Keys {
        inactive: inactive.expose_secret().to_owned(),
        unscoped: unscoped.expose_secret().to_owned(),
        elsewhere: elsewhere.expose_secret().to_owned(),
        introspector: introspector.expose_secret().to_owned(),
        fresh: std::sync::Mutex::new(fresh),
    };
    let server = serve(api::app(store)).await;
    let response = get(server.addr, "/openapi.json", None).await;
    let spec: Value = serde_json::from_slice(&response.body).unwrap();

    let mut checked = 0;
    for (path, method, operation) in operations(&spec) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let Some(examples) = response["content"][JSON_MEDIA]["examples"].as_object() else {
                // tokenauth documents every response of its own with examples.
                let tokenauth_s =
                    path.starts_with("/auth/") || ["401", "403"].contains(&status.as_str());
                assert!(
                    !tokenauth_s || response.get("content").is_none(),
                    "{method} {path} {status} has no examples"
                );
                continue;
            };
            for (name, example) in examples {
                let Some(answer) = answer_of(&server, &keys, &path, status, name).await else {
                    continue;
                };
                assert_eq!(
                    &answer.status.to_string(),
                    status,
                    "{path} {name}: {answer:?}"
                );
                // The documented challenge is the one sent, for the example it was made of.
                let challenge = &response["headers"]["WWW-Authenticate"];
                if let Some(documented) = challenge["schema"]["example"].as_str()
                    && ["invalid_token", "spaces", "insufficient_scope"].contains(&name.as_str())
                {
                    assert_eq!(
                        answer.header("www-authenticate"),
                        Some(documented),
                        "{path} {status} {name}"
                    );
                }
                // A challenge sent is documented; a required one is sent.
                let sent = answer.header("www-authenticate").is_some();
                assert!(
                    !sent || challenge.is_object(),
                    "{path} {status} {name}: a challenge sent is documented"
                );
                assert!(
                    sent || challenge["required"] != true,
                    "{path} {status} {name}: a required challenge is sent"
                );
                let body: Value = serde_json::from_slice(&answer.body).unwrap();
                if name == "tokens" || name == "active" {
                    // The same members, of the same types, in each token (or answer).
                    let shape = |value: &Value| -> Vec<(String, &'static str)> {
                        let item = if value.is_array() { &value[0] } else { value };
                        item.as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    if v.is_null() {
                                        "null"
                                    } else if v.is_string() {
                                        "string"
                                    } else if v.is_array() {
                                        "array"
                                    } else if v.is_boolean() {
                                        "boolean"
                                    } else {
                                        "number"
                                    },
                                )
                            })
                            .filter(|(_, kind)| *kind != "null")
                            .collect()
                    };
                    let mut sent = shape(&body);
                    // Members present only for some keys (never-expiring, unscoped).
                    let optional = ["expires_at", "last_used_at", "exp", "scope"];
                    sent.retain(|(k, _)| !optional.contains(&k.as_str()));
                    let mut shown = shape(&example["value"]);
                    shown.retain(|(k, _)| !optional.contains(&k.as_str()));
                    assert_eq!(sent, shown, "{method} {path} {status} {name}");
                } else if name == "key" {
                    // A key of the example's format.
                    let (key, shown) =
                        (body["token"].as_str().unwrap(), &example["value"]["token"]);
                    let hex =
                        |key: &str| key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit());
                    assert!(hex(key) && hex(shown.as_str().unwrap()), "{key} / {shown}");
                } else {
                    assert_eq!(body, example["value"], "{method} {path} {status} {name}");
                }
                checked += 1;
            }
        }
    }
    // Six 401s on each of five DRF operations, three 400s and three 401s on each of two
    // RFC 6750 operations, two 403s, and the login's; revocation's and introspection's.
    assert!(checked >= 5 * 6 + 2 * 6 + 2 + 9 + 2 * 7 + 3, "{checked}");
}
