//! A poem service beside a running Django: it authenticates the keys that Django REST
//! framework keeps issuing and deleting in Django's own PostgreSQL database
//! (`tokenauth::django`), so endpoints can move to Rust one at a time.
//!
//! ```sh
//! DATABASE_URL=postgres://django@localhost/django cargo run --example beside_django
//! curl -H "Authorization: Token $DRF_KEY" http://127.0.0.1:3001/me
//! ```
//!
//! - `DATABASE_URL`: Django's database (after Django's `migrate` with
//!   `rest_framework.authtoken`); on start the example applies `tokenauth::django::migrate`;
//! - `TOKENAUTH_BIND`: address to listen on (default `127.0.0.1:3001`).

use poem::listener::TcpListener;
use poem::web::Json;
use poem::{EndpointExt, Route, Server, get, handler};
use serde::Serialize;
use tokenauth::django::DjangoUser;
use tokenauth::{Store, Token, token_auth};

/// What `/me` answers.
#[derive(Serialize)]
struct Me {
    id: i32,
    username: String,
    is_staff: bool,
    token_created: chrono::DateTime<chrono::Utc>,
}

/// The Django user whose DRF key the request carries (`Authorization: Token <key>`).
#[token_auth(user = DjangoUser)]
#[handler]
async fn me(user: DjangoUser, token: Token) -> Json<Me> {
    Json(Me {
        id: user.id,
        username: user.username,
        is_staff: user.is_staff,
        token_created: token.created,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let bind = std::env::var("TOKENAUTH_BIND").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let database_url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to Django's PostgreSQL database (postgres://…)")?;

    let store = Store::connect(&database_url).await?;
    for migration in tokenauth::django::migrate(&store).await? {
        println!(
            "Applied migration {} {}",
            migration.version, migration.description
        );
    }
    store.check_user_type::<DjangoUser>().await?;

    let app = Route::new().at("/me", get(me)).data(store);
    println!("Listening on http://{bind}");
    Server::new(TcpListener::bind(bind)).run(app).await?;
    Ok(())
}
