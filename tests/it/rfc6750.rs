//! RFC 6750's challenge (`challenge = "rfc6750"`), black box over real HTTP on both backends:
//! the quickstart's `/api/oauth/…` operations, handlers with a keyword list and scopes, and
//! `keyword!` types. Every challenge is checked byte for byte against what the RFC's text
//! says and parsed by RFC 9110's grammar ([`parse`], written here from the RFCs).

use std::collections::HashMap;

use crate::api;
use crate::common;

use chrono::{Duration, Utc};
use common::{
    Backend, Challenge, INACTIVE, INVALID_TOKEN, NO_CREDENTIALS, NOT_PROVIDED, RawResponse,
    ReferenceKeys, SPACES, assert_refused, get, request, serve,
};
use poem::{EndpointExt, Route, handler, post};
use serde_json::{Value, json};
use tokenauth::{Auth, MaybeAuth, NewToken, Store, User, token_auth};

/// The challenge's params by lower-cased name, if `value` is one RFC 6750 challenge: RFC 9110
/// §11.3 `challenge = auth-scheme [ 1*SP #auth-param ]`, `auth-param = token BWS "=" BWS
/// quoted-string` (RFC 6750 §3 quotes every value), the list's elements separated by
/// `OWS "," OWS`; each name at most once (RFC 9110 §11.2); `realm` present (RFC 6750 §3: at
/// least one auth-param); each value within RFC 6750 §3's characters, which need no
/// quoted-pair; `error` one of §3.1's codes.
pub(crate) fn parse(value: &str) -> Result<HashMap<String, String>, String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let (scheme, mut rest) = value
        .split_once(' ')
        .ok_or_else(|| format!("no auth-param after the scheme: {value:?}"))?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(format!("the scheme is {scheme:?}, not Bearer"));
    }
    rest = rest.trim_start_matches(' ');
    let mut params = HashMap::new();
    loop {
        let name_end = rest.find(|c: char| !tchar(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_end);
        if name.is_empty() {
            return Err(format!("expected an auth-param at {rest:?}"));
        }
        let after = after.trim_start_matches([' ', '\t']);
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("no `=` after {name:?}"))?
            .trim_start_matches([' ', '\t']);
        let quoted = after
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of {name:?} is not a quoted-string"))?;
        let close = quoted
            .find('"')
            .ok_or_else(|| format!("the value of {name:?} is not closed"))?;
        let (param, after) = (&quoted[..close], &quoted[close + 1..]);
        let name = name.to_ascii_lowercase();
        // §3: error and error_description %x20-21 / %x23-5B / %x5D-7E; scope, scope-tokens
        // (%x21 / %x23-5B / %x5D-7E) separated by single spaces; realm a quoted-string
        // without quoted-pairs.
        let text = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
        if !param.chars().all(text) {
            return Err(format!("{name}={param:?} is outside RFC 6750's characters"));
        }
        if name == "scope" && param.split(' ').any(str::is_empty) {
            return Err(format!(
                "scope={param:?} is not scope-tokens separated by spaces"
            ));
        }
        if params.insert(name.clone(), param.to_owned()).is_some() {
            return Err(format!("{name} given twice"));
        }
        let after = after.trim_start_matches([' ', '\t']);
        if after.is_empty() {
            break;
        }
        rest = after
            .strip_prefix(',')
            .ok_or_else(|| format!("auth-params not separated by a comma at {after:?}"))?
            .trim_start_matches([' ', '\t']);
    }
    if !params.contains_key("realm") {
        return Err(format!("no realm: {value:?}"));
    }
    if let Some(error) = params.get("error")
        && !["invalid_request", "invalid_token", "insufficient_scope"].contains(&error.as_str())
    {
        return Err(format!(
            "error={error:?} is not one of RFC 6750 §3.1's codes"
        ));
    }
    Ok(params)
}

/// DRF's `403` message, the body of every refusal for a scope or a limit.
const FORBIDDEN: &str = "You do not have permission to perform this action.";

/// Asserts RFC 6750's `403`: `insufficient_scope`, with `scope` listing `scopes` if any.
#[track_caller]
fn assert_insufficient_scope(response: &RawResponse, realm: &str, scopes: &str, case: &str) {
    assert_eq!(response.status, 403, "{case}: {response:?}");
    let mut expected = format!(
        r#"Bearer realm="{realm}", error="insufficient_scope", error_description="{FORBIDDEN}""#
    );
    if !scopes.is_empty() {
        expected += &format!(r#", scope="{scopes}""#);
    }
    assert_eq!(response.header_count("www-authenticate"), 1, "{case}");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert_eq!(challenge, expected, "{case}");
    let params = parse(challenge).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        params.get("scope").map(String::as_str).unwrap_or(""),
        scopes
    );
    assert_eq!(
        response.body_text(),
        format!(r#"{{"detail":"{FORBIDDEN}"}}"#),
        "{case}"
    );
}

/// A user `demo` with keys: valid, expired, an inactive user's, and one per scope set.
struct Keys {
    store: Store,
    demo: User,
    valid: String,
    expired: String,
    inactive: String,
}

async fn keys(backend: Backend) -> Keys {
    let store = common::store(backend).await;
    let demo = store.create_user("demo", None).await.unwrap();
    let demo_id = demo.id;
    let create = |new: NewToken| {
        let store = store.clone();
        async move {
            let (_, key) = store.tokens().create(demo_id, new).await.unwrap();
            key.expose_secret().to_owned()
        }
    };
    let valid = create(NewToken::default()).await;
    let expired = create(NewToken::default().expires_at(Utc::now() - Duration::seconds(1))).await;
    let gone = store.create_user_with("gone", None, false).await.unwrap();
    let (_, inactive) = store
        .tokens()
        .create(gone.id, NewToken::default())
        .await
        .unwrap();
    Keys {
        demo: demo.clone(),
        valid,
        expired,
        inactive: inactive.expose_secret().to_owned(),
        store,
    }
}

impl Keys {
    async fn with(&self, new: NewToken) -> String {
        let (_, key) = self.store.tokens().create(self.demo.id, new).await.unwrap();
        key.expose_secret().to_owned()
    }
}

/// Every case of REFERENCE.md §1–2 against the quickstart's `GET /api/oauth/me`, with RFC
/// 6750's statuses and challenges; its scoped `GET /api/oauth/orders`; and the DRF operations
/// beside them unchanged.
async fn quickstart_oauth_operations(backend: Backend) {
    let keys = keys(backend).await;
    let server = serve(api::app(keys.store.clone())).await;
    let addr = server.addr;
    let expected = json!({ "id": keys.demo.id, "username": "demo" });
    let reference = ReferenceKeys {
        valid: &keys.valid,
        inactive: &keys.inactive,
        expired: &keys.expired,
        expected: &expected,
    };
    let quickstart = Challenge::Rfc6750("quickstart");
    common::reference_cases_with(addr, "/api/oauth/me", "Bearer", quickstart, &reference).await;

    // A key without `orders:read`: 403 with the scope the operation requires.
    let reports = keys
        .with(NewToken::default().scope("reports:read").unwrap())
        .await;
    let header = format!("Bearer {reports}");
    let response = get(addr, "/api/oauth/orders", Some(header.as_bytes())).await;
    assert_insufficient_scope(&response, "quickstart", "orders:read", "reports:read key");
    // The DRF operation beside it: DRF's 403, without a challenge.
    let token = format!("Token {reports}");
    let response = get(addr, "/api/orders", Some(token.as_bytes())).await;
    assert_eq!(response.status, 403);
    assert_eq!(response.header_count("www-authenticate"), 0);
    // A key with the scope (or a wildcard granting it) passes.
    for new in [
        NewToken::default().scope("orders:read").unwrap(),
        NewToken::default().scope("orders:*").unwrap(),
    ] {
        let header = format!("Bearer {}", keys.with(new).await);
        let response = get(addr, "/api/oauth/orders", Some(header.as_bytes())).await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    // Refusals before the scope check are the same as /oauth/me's.
    let response = get(addr, "/api/oauth/orders", None).await;
    assert_refused(
        &response,
        "Bearer",
        quickstart,
        NOT_PROVIDED,
        "orders, none",
    );
    let response = get(addr, "/api/oauth/orders", Some(b"Bearer")).await;
    assert_refused(
        &response,
        "Bearer",
        quickstart,
        NO_CREDENTIALS,
        "orders, alone",
    );
    let response = get(addr, "/api/oauth/orders", Some(b"Bearer nope")).await;
    assert_refused(
        &response,
        "Bearer",
        quickstart,
        INVALID_TOKEN,
        "orders, unknown",
    );

    // A wrong method (DRF's dispatch authenticates first): the operation's challenge.
    let response = request(addr, "DELETE", "/api/oauth/me", None, None).await;
    assert_refused(
        &response,
        "Bearer",
        quickstart,
        NOT_PROVIDED,
        "DELETE, none",
    );
    let response = request(addr, "DELETE", "/api/oauth/me", Some(b"Bearer a b"), None).await;
    assert_refused(&response, "Bearer", quickstart, SPACES, "DELETE, spaces");

    // The DRF keyword's operations keep DRF's challenge, malformed headers included.
    let response = get(addr, "/api/bearer/me", Some(b"Bearer a b")).await;
    common::assert_401(&response, "Bearer", SPACES, "DRF Bearer, spaces");
}

#[token_auth(
    keyword = ["Bearer", "Token"],
    challenge = "rfc6750",
    realm = "shop",
    scopes = ["orders:read", "orders:write"]
)]
#[handler]
async fn both(user: User) -> String {
    user.username
}

#[token_auth(keyword = "Bearer", challenge = "rfc6750")]
#[handler]
async fn write(user: User) -> String {
    format!("{} wrote", user.username)
}

tokenauth::keyword!(
    /// `Authorization: Bearer <key>` with RFC 6750's challenge in the default realm.
    OAuth = "Bearer",
    challenge = "rfc6750"
);

#[handler]
async fn typed(auth: Auth<User, OAuth>) -> String {
    auth.user.username
}

#[handler]
async fn maybe(MaybeAuth(auth): MaybeAuth<User, OAuth>) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |auth| auth.user.username)
}

/// Handlers: a keyword list whose first keyword has the challenge, two scopes, a read-only
/// key's write (a `403` with no scope to list), and a `keyword!` type through `Auth` and
/// `MaybeAuth`.
async fn handlers(backend: Backend) {
    let keys = keys(backend).await;
    let server = serve(
        Route::new()
            .at("/both", both)
            .at("/write", post(write))
            .at("/typed", typed)
            .at("/maybe", maybe)
            .data(keys.store.clone()),
    )
    .await;
    let addr = server.addr;
    let shop = Challenge::Rfc6750("shop");
    let api = Challenge::Rfc6750("api");

    // The list: the first keyword's challenge, whichever keyword the header named.
    let response = get(addr, "/both", None).await;
    assert_refused(&response, "Bearer", shop, NOT_PROVIDED, "list, none");
    let response = get(addr, "/both", Some(b"Token nope")).await;
    assert_refused(
        &response,
        "Bearer",
        shop,
        INVALID_TOKEN,
        "list, Token unknown",
    );
    let response = get(addr, "/both", Some(b"Token")).await;
    assert_refused(
        &response,
        "Bearer",
        shop,
        NO_CREDENTIALS,
        "list, Token alone",
    );
    let only_read = keys
        .with(NewToken::default().scope("orders:read").unwrap())
        .await;
    for keyword in ["Bearer", "Token"] {
        let header = format!("{keyword} {only_read}");
        let response = get(addr, "/both", Some(header.as_bytes())).await;
        assert_insufficient_scope(&response, "shop", "orders:read orders:write", keyword);
    }
    // A key with every scope but limited to another network: refused for its limits, and
    // `scope` names nothing it lacks.
    let elsewhere = NewToken::default()
        .scope("orders:*")
        .unwrap()
        .allow_ip("192.0.2.0/24")
        .unwrap();
    let header = format!("Bearer {}", keys.with(elsewhere).await);
    let response = get(addr, "/both", Some(header.as_bytes())).await;
    assert_insufficient_scope(&response, "shop", "", "limited to another network");
    let all = keys
        .with(NewToken::default().scope("orders:*").unwrap())
        .await;
    let header = format!("Token {all}");
    assert_eq!(
        get(addr, "/both", Some(header.as_bytes())).await.status,
        200
    );

    // A read-only key's write: refused by the token's limits, no scope to list.
    let read_only = keys.with(NewToken::default().read_only(true)).await;
    let header = format!("Bearer {read_only}");
    let response = request(addr, "POST", "/write", Some(header.as_bytes()), None).await;
    assert_insufficient_scope(&response, "api", "", "read-only write");
    let header = format!("Bearer {}", keys.valid);
    let response = request(addr, "POST", "/write", Some(header.as_bytes()), None).await;
    assert_eq!(response.body_text(), "demo wrote");

    // A keyword type: required, and optional (only a missing header is anonymous).
    let response = get(addr, "/typed", None).await;
    assert_refused(&response, "Bearer", api, NOT_PROVIDED, "typed, none");
    let header = format!("Bearer {}", keys.inactive);
    let response = get(addr, "/typed", Some(header.as_bytes())).await;
    assert_refused(&response, "Bearer", api, INACTIVE, "typed, inactive");
    let response = get(addr, "/maybe", Some(b"Basic YWxpY2U6cHc=")).await;
    assert_eq!(response.body_text(), "anonymous");
    let response = get(addr, "/maybe", Some(b"Bearer a b")).await;
    assert_refused(&response, "Bearer", api, SPACES, "maybe, spaces");
}

common::on_both_backends!(quickstart_oauth_operations, handlers);

/// The quickstart's document says the same: each RFC 6750 operation documents the `400`, and
/// every refusal's `WWW-Authenticate` with the challenge it sends as its example; the DRF
/// operations' responses are unchanged.
#[tokio::test]
async fn the_document_describes_the_challenges() {
    let server = serve(api::app(common::sqlite_store().await)).await;
    let response = get(server.addr, "/openapi.json", None).await;
    let spec: Value = serde_json::from_slice(&response.body).unwrap();
    let paths = &spec["paths"];
    let example = |response: &Value| {
        response["headers"]["WWW-Authenticate"]["schema"]["example"]
            .as_str()
            .map(str::to_owned)
    };
    let names = |response: &Value| {
        let examples = &response["content"]["application/json"]["examples"];
        let mut names: Vec<String> = examples.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    for path in ["/oauth/me", "/oauth/orders"] {
        let responses = &paths[path]["get"]["responses"];
        let unauthorized = &responses["401"];
        let challenge = example(unauthorized).unwrap();
        assert_eq!(
            challenge,
            r#"Bearer realm="quickstart", error="invalid_token", error_description="Invalid token.""#
        );
        parse(&challenge).unwrap();
        assert_eq!(
            names(unauthorized),
            ["invalid_token", "not_provided", "user_inactive"]
        );
        let bad_request = &responses["400"];
        let challenge = example(bad_request).unwrap();
        assert!(
            challenge.contains(r#"error="invalid_request""#),
            "{challenge}"
        );
        parse(&challenge).unwrap();
        assert_eq!(
            names(bad_request),
            ["invalid_characters", "no_credentials", "spaces"]
        );
        assert_eq!(
            bad_request["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorDetail"
        );
    }
    let forbidden = example(&paths["/oauth/orders"]["get"]["responses"]["403"]).unwrap();
    assert_eq!(
        forbidden,
        format!(
            r#"Bearer realm="quickstart", error="insufficient_scope", error_description="{FORBIDDEN}", scope="orders:read""#
        )
    );
    // Both keywords named Bearer share one security scheme: the challenge is not in it.
    assert_eq!(
        paths["/oauth/me"]["get"]["security"],
        json!([{ "BearerAuth": [] }])
    );
    // DRF's operations: no 400, the keyword alone, a 403 without a challenge.
    let me = &paths["/bearer/me"]["get"]["responses"];
    assert!(me.get("400").is_none(), "{me}");
    assert_eq!(example(&me["401"]).as_deref(), Some("Bearer"));
    assert_eq!(names(&me["401"]).len(), 6);
    let orders = &paths["/orders"]["get"]["responses"]["403"];
    assert!(orders.get("headers").is_none(), "{orders}");
}

/// The parser refuses what RFC 9110 and RFC 6750 refuse, so that the tests above can fail.
#[test]
fn the_parser_follows_the_rfcs() {
    let valid = [
        r#"Bearer realm="api""#,
        r#"Bearer realm="api", error="invalid_token", error_description="Invalid token.""#,
        r#"bearer realm = "a b" ,scope="x y""#,
    ];
    for value in valid {
        parse(value).unwrap_or_else(|e| panic!("{value}: {e}"));
    }
    let invalid = [
        ("Bearer", "no auth-param"),
        (r#"Bearer error="invalid_token""#, "no realm"),
        (
            r#"Bearer realm="a" error="invalid_token""#,
            "not separated by a comma",
        ),
        (r#"Bearer realm="a", realm="b""#, "given twice"),
        (r#"Bearer realm="a", REALM="b""#, "given twice"),
        (r#"Bearer realm=a"#, "not a quoted-string"),
        (r#"Bearer realm="a\"b""#, "outside RFC 6750's characters"),
        (
            "Bearer realm=\"caf\u{e9}\"",
            "outside RFC 6750's characters",
        ),
        (r#"Bearer realm="a", scope="x  y""#, "scope-tokens"),
        (r#"Bearer realm="a", error="nope""#, "§3.1's codes"),
        (r#"Token realm="a""#, "not Bearer"),
    ];
    for (value, problem) in invalid {
        let error = parse(value).expect_err(value);
        assert!(error.contains(problem), "{value}: {error}");
    }
}
