//! Authenticating an application's own user type from its own table.
//!
//! ```sh
//! cargo run --example custom_user
//! ```
//!
//! The application owns `accounts` (its users) and `account_tokens` (their tokens, with
//! tokenauth's columns) and creates them with its own migrations. `Account` derives
//! [`tokenauth::AuthUser`], checked against the database at start-up, and
//! `#[token_auth(user = Account)]` does the rest: one query joins
//! `account_tokens` to `accounts`, and a disabled account gets DRF's
//! `User inactive or deleted.`
//!
//! `TOKENAUTH_BIND` (default `127.0.0.1:3000`) and `DATABASE_URL` (default
//! `sqlite://tokenauth-custom-user.db`, or `postgres://…`) configure it.

mod app;

use poem::Server;
use poem::listener::TcpListener;
use tokenauth::{NewToken, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("TOKENAUTH_BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://tokenauth-custom-user.db".to_owned());

    let store = Store::connect(&database_url).await?;
    app::migrate(&store).await?;
    // A table or column that `Account` names but the database lacks is found now, not on the
    // first request.
    store.check_user_type::<app::Account>().await?;

    let email = "ada@example.com";
    match app::create_account(&store, email, "Ada").await {
        Ok(account) => {
            let tokens = store.tokens_for::<app::Account>();
            let (_, key) = tokens
                .create(account.id, NewToken::named("custom_user"))
                .await?;
            println!("Created account {email}. Its key is shown this once:\n");
            println!(
                "  curl -H 'Authorization: Token {}' http://{bind}/me\n",
                key.expose_secret()
            );
        }
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
            println!("Account {email} exists; delete the database to get a new key.");
        }
        Err(err) => return Err(err.into()),
    }

    println!("Listening on http://{bind}");
    Server::new(TcpListener::bind(bind))
        .run(app::app(store))
        .await?;
    Ok(())
}
