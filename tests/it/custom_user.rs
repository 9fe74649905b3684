//! An application's own user type and tables (`examples/custom_user`), on SQLite and
//! PostgreSQL: authentication joins the app's tables, DRF's answers hold, and tokenauth's own
//! tables are never needed.

use crate::app;
use crate::common;

use app::Account;
use common::{Backend, INACTIVE, INVALID_TOKEN, NOT_PROVIDED, assert_401, get, serve};
use serde_json::json;
use tokenauth::{NewToken, Store};

async fn app_owned_users_and_tokens(backend: Backend) {
    let store = match backend {
        Backend::Sqlite => Store::connect("sqlite::memory:").await.unwrap(),
        Backend::Postgres => Store::connect(&common::fresh_postgres_database().await)
            .await
            .unwrap(),
    };
    app::migrate(&store).await.unwrap(); // the app's migrations only: no tokenauth tables
    let ada = app::create_account(&store, "ada@example.com", "Ada")
        .await
        .unwrap();
    let bob = app::create_account(&store, "bob@example.com", "Bob")
        .await
        .unwrap();
    let tokens = store.tokens_for::<Account>();
    let (token, key) = tokens
        .create(ada.id, NewToken::named("laptop"))
        .await
        .unwrap();
    let (_, bob_key) = tokens.create(bob.id, NewToken::default()).await.unwrap();
    assert_eq!(
        tokens.list(ada.id).await.unwrap(),
        std::slice::from_ref(&token)
    );
    assert!(matches!(
        tokens.create(ada.id + 1000, NewToken::default()).await,
        Err(tokenauth::Error::UserNotFound(_))
    ));
    let (again, no_key) = tokens.get_or_create(ada.id).await.unwrap();
    assert_eq!((again, no_key), (token.clone(), None));

    let (user, auth) = store
        .authenticate_as::<Account>(key.expose_secret())
        .await
        .unwrap();
    assert_eq!((user, auth), (ada.clone(), token.clone()));

    let server = serve(app::app(store.clone())).await;
    let header = format!("Token {}", key.expose_secret());
    let response = get(server.addr, "/me", Some(header.as_bytes())).await;
    assert_eq!(response.status, 200, "{response:?}");
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({ "id": ada.id, "email": "ada@example.com", "display_name": "Ada", "disabled": false })
    );
    let header = format!("Bearer {}", key.expose_secret());
    let response = get(server.addr, "/token", Some(header.as_bytes())).await;
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!((response.status, &body["name"]), (200, &json!("laptop")));

    let response = get(server.addr, "/me", None).await;
    assert_401(&response, "Token", NOT_PROVIDED, "no credentials");

    // A disabled account is "inactive or deleted", through the app's own `is_active`.
    let disable = "UPDATE accounts SET disabled = TRUE WHERE id = $1";
    let disabled = match (store.sqlite_pool(), store.postgres_pool()) {
        (Some(pool), _) => sqlx::query(disable)
            .bind(bob.id)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        (_, Some(pool)) => sqlx::query(disable)
            .bind(bob.id)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
        _ => unreachable!(),
    };
    assert_eq!(disabled, 1);
    let header = format!("Token {}", bob_key.expose_secret());
    let response = get(server.addr, "/me", Some(header.as_bytes())).await;
    assert_401(&response, "Token", INACTIVE, "disabled account");

    assert!(tokens.revoke(token.id).await.unwrap());
    let header = format!("Token {}", key.expose_secret());
    let response = get(server.addr, "/me", Some(header.as_bytes())).await;
    assert_401(&response, "Token", INVALID_TOKEN, "revoked token");
}

/// A user type that does not match the database is found at start-up, with the type, the
/// table and the database's own words; the example's `Account` matches.
async fn user_types_are_checked_against_the_database(backend: Backend) {
    #[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
    #[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled)]
    #[allow(dead_code)]
    struct Misnamed {
        id: i64,
        #[sqlx(rename = "nickname")]
        display_name: String,
        disabled: bool,
    }

    #[derive(Clone, sqlx::FromRow, tokenauth::AuthUser)]
    #[auth_user(table = "accounts", tokens_table = "account_tokens", is_active = !disabled)]
    #[allow(dead_code)]
    struct WrongType {
        id: i64,
        disabled: bool,
        email: i64, // the column holds text
    }

    let store = match backend {
        Backend::Sqlite => Store::connect("sqlite::memory:").await.unwrap(),
        Backend::Postgres => Store::connect(&common::fresh_postgres_database().await)
            .await
            .unwrap(),
    };
    app::migrate(&store).await.unwrap();
    store.check_user_type::<Account>().await.unwrap();
    // A pepper needs columns the example's tokens table does not have: said at start-up.
    let peppered = tokenauth::Policy::default().pepper(1, [7; 32]).unwrap();
    let error = store
        .clone()
        .with_policy(peppered)
        .check_user_type::<Account>()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("key_pepper"), "{error}");

    let error = store.check_user_type::<Misnamed>().await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, tokenauth::Error::UserType { .. })
            && message.contains("Misnamed")
            && message.contains("nickname"),
        "{message}"
    );
    // Tokenauth's own tables were never created: `User` does not match this database.
    let error = store
        .check_user_type::<tokenauth::User>()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("tokenauth_"), "{error}");

    // A wrong column type is found once there is a row to read.
    store.check_user_type::<WrongType>().await.unwrap();
    app::create_account(&store, "ada@example.com", "Ada")
        .await
        .unwrap();
    let error = store.check_user_type::<WrongType>().await.unwrap_err();
    assert!(error.to_string().contains("does not decode"), "{error}");
}

struct AccountApi;

#[tokenauth::token_auth(user = Account)]
#[poem_openapi::OpenApi]
impl AccountApi {
    /// The account's email.
    #[oai(path = "/account", method = "get")]
    async fn account(&self, account: Account) -> poem_openapi::payload::PlainText<String> {
        poem_openapi::payload::PlainText(account.email)
    }
}

/// `drf_methods` authenticates a wrong method or `OPTIONS` as the path's operation would: as
/// the app's `Account`, from its own tables (tokenauth's do not exist here).
async fn wrong_methods_authenticate_the_apps_user_type(backend: Backend) {
    use poem::EndpointExt as _;

    let store = match backend {
        Backend::Sqlite => Store::connect("sqlite::memory:").await.unwrap(),
        Backend::Postgres => Store::connect(&common::fresh_postgres_database().await)
            .await
            .unwrap(),
    };
    app::migrate(&store).await.unwrap();
    let ada = app::create_account(&store, "ada@example.com", "Ada")
        .await
        .unwrap();
    let (_, key) = store
        .tokens_for::<Account>()
        .create(ada.id, NewToken::default())
        .await
        .unwrap();
    let service = poem_openapi::OpenApiService::new(AccountApi, "accounts", "1");
    let server = serve(
        poem::Route::new()
            .nest("/api", tokenauth::openapi::drf_methods(service))
            .data(store),
    )
    .await;
    let header = format!("Token {}", key.expose_secret());
    for method in ["OPTIONS", "PUT"] {
        let response = common::request(server.addr, method, "/api/account", None, None).await;
        assert_401(&response, "Token", NOT_PROVIDED, method);
        let response = common::request(
            server.addr,
            method,
            "/api/account",
            Some(header.as_bytes()),
            None,
        )
        .await;
        let status = if method == "OPTIONS" { 200 } else { 405 };
        assert_eq!(response.status, status, "{method}: {response:?}");
        assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
    }
}

common::on_both_backends!(
    app_owned_users_and_tokens,
    user_types_are_checked_against_the_database,
    wrong_methods_authenticate_the_apps_user_type,
);

/// A database error that is not a mismatch — here, a role without privileges on the tables —
/// is reported as the database's, never as a user type that does not match.
#[tokio::test]
async fn check_user_type_keeps_other_database_errors() {
    let url = common::fresh_postgres_database().await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let role = format!("tokenauth_limited_{}", std::process::id());
    let pool = store.postgres_pool().unwrap();
    for statement in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(pool)
            .await
            .unwrap();
    }
    let limited_url = url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let limited = Store::connect(&limited_url).await.unwrap();
    let error = limited
        .check_user_type::<tokenauth::User>()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, tokenauth::Error::Database(_)),
        "permission denied is the database's error: {error:?}"
    );
    assert!(error.to_string().contains("permission denied"), "{error}");
    limited.close().await;
}
