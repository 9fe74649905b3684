//! `#[token_auth]` on plain poem handlers with a `Route` (no OpenAPI).
//!
//! ```sh
//! cargo run --example handler
//! ```
//!
//! `TOKENAUTH_BIND` (default `127.0.0.1:3000`) and `DATABASE_URL` (default
//! `sqlite://tokenauth-handler.db`, or `postgres://…`) configure it. On first start it creates
//! a user `demo` and prints `curl` commands with its key.

use poem::listener::TcpListener;
use poem::web::Json;
use poem::{EndpointExt, Route, Server, get, handler};
use serde_json::{Value, json};
use tokenauth::{NewToken, Store, Token, User, token_auth};

/// `Authorization: Token <key>`: the user and the token, from one query.
#[token_auth]
#[handler]
async fn me(user: User, token: Token) -> Json<Value> {
    Json(json!({ "id": user.id, "username": user.username, "token": token.name }))
}

/// `Authorization: Bearer <key>`.
#[token_auth(keyword = "Bearer")]
#[handler]
async fn bearer_me(user: User) -> Json<User> {
    Json(user)
}

/// Optional: anonymous without credentials, `401` with bad ones.
#[token_auth]
#[handler]
async fn greet(user: Option<User>) -> String {
    match user {
        Some(user) => format!("hello, {user}"),
        None => "hello, stranger".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("TOKENAUTH_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://tokenauth-handler.db".to_owned());
    let store = Store::connect(&database_url).await?;
    store.migrate().await?;

    if store.user_by_username("demo").await?.is_none() {
        let demo = store.create_user("demo", None).await?;
        let (_, key) = store
            .tokens()
            .create(demo.id, NewToken::named("handler example"))
            .await?;
        let key = key.expose_secret();
        println!("Created user `demo`. Its key is shown this once:\n");
        println!("  curl -H 'Authorization: Token {key}' http://{bind}/me");
        println!("  curl -H 'Authorization: Bearer {key}' http://{bind}/bearer/me");
        println!("  curl http://{bind}/greet\n");
    }

    let app = Route::new()
        .at("/me", get(me))
        .at("/bearer/me", get(bearer_me))
        .at("/greet", get(greet))
        .data(store);
    println!("Listening on http://{bind}");
    Server::new(TcpListener::bind(bind)).run(app).await?;
    Ok(())
}
