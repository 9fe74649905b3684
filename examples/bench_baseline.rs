//! The load benchmark's baseline (`benches/load/run`): what an application would write by hand
//! without tokenauth — poem-openapi and sqlx, `Authorization: Token <key>` parsed in place,
//! the key's SHA-256 looked up with one indexed query on tokenauth's tables, DRF's 401 bodies.
//! It skips what tokenauth also does (expiry, scopes, keywords, `WWW-Authenticate` variants,
//! `503` on outages), so it is the floor to compare against, not a substitute.
//!
//! ```sh
//! DATABASE_URL=sqlite://bench.db TOKENAUTH_BIND=127.0.0.1:3002 cargo run --release --example bench_baseline
//! ```

use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::{EndpointExt, Request, Route, Server};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService};
use sha2::{Digest as _, Sha256};
use sqlx::SqlitePool;

/// The authenticated account.
#[derive(Object)]
struct Me {
    id: i64,
    username: String,
}

/// DRF's error body.
#[derive(Object)]
struct Detail {
    detail: String,
}

#[derive(ApiResponse)]
enum MeResponse {
    /// The user.
    #[oai(status = 200)]
    Ok(Json<Me>),
    /// No valid key.
    #[oai(status = 401)]
    Unauthorized(Json<Detail>, #[oai(header = "WWW-Authenticate")] String),
}

fn unauthorized(detail: &str) -> MeResponse {
    MeResponse::Unauthorized(
        Json(Detail {
            detail: detail.to_owned(),
        }),
        "Token".to_owned(),
    )
}

struct Api {
    pool: SqlitePool,
}

#[OpenApi]
impl Api {
    /// Open.
    #[oai(path = "/ping", method = "get")]
    async fn ping(&self) -> PlainText<&'static str> {
        PlainText("pong")
    }

    /// The user whose key the request carries.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, request: &Request) -> poem::Result<MeResponse> {
        let header = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let Some(key) = header.and_then(|value| value.strip_prefix("Token ")) else {
            return Ok(unauthorized(
                "Authentication credentials were not provided.",
            ));
        };
        let digest = Sha256::digest(key.as_bytes());
        let digest: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let row: Option<(i64, String, bool)> = sqlx::query_as(
            "SELECT u.id, u.username, u.is_active FROM tokenauth_tokens t \
             JOIN tokenauth_users u ON u.id = t.user_id WHERE t.key_digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| poem::Error::new(err, StatusCode::SERVICE_UNAVAILABLE))?;
        Ok(match row {
            None => unauthorized("Invalid token."),
            Some((_, _, false)) => unauthorized("User inactive or deleted."),
            Some((id, username, true)) => MeResponse::Ok(Json(Me { id, username })),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = std::env::var("TOKENAUTH_BIND").unwrap_or_else(|_| "127.0.0.1:3002".to_owned());
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL (sqlite://…)")?;
    let pool = SqlitePool::connect(&url).await?;
    let api = OpenApiService::new(Api { pool }, "baseline", "1");
    let app = Route::new().nest("/", api).map_to_response();
    println!("Listening on http://{bind}");
    Server::new(TcpListener::bind(bind)).run(app).await?;
    Ok(())
}
