//! Shared helpers for the integration tests: fresh stores on real SQLite and PostgreSQL
//! databases, a real HTTP server on a loopback port, and a raw HTTP/1.1 client that can send
//! any bytes in a header.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Server};
use tokenauth::Store;

/// The variable naming a PostgreSQL server for the tests (an admin connection URL). The
/// README's test command, `tests/run`, starts a throwaway server and sets it.
pub const POSTGRES_URL_VAR: &str = "TOKENAUTH_TEST_POSTGRES_URL";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated store on an empty database of the given backend.
pub async fn store(backend: Backend) -> Store {
    match backend {
        Backend::Sqlite => sqlite_store().await,
        Backend::Postgres => postgres_store().await,
    }
}

/// A fresh, migrated in-memory SQLite store.
pub async fn sqlite_store() -> Store {
    let store = Store::connect("sqlite::memory:")
        .await
        .expect("open SQLite");
    store.migrate().await.expect("migrate SQLite");
    store
}

/// A fresh database on the PostgreSQL server named by `TOKENAUTH_TEST_POSTGRES_URL`.
///
/// Without that variable the test fails (it is never skipped) with a message naming the
/// command that provides a server.
pub async fn postgres_store() -> Store {
    let url = fresh_postgres_database().await;
    let store = Store::connect(&url)
        .await
        .expect("connect to the test database");
    store.migrate().await.expect("migrate PostgreSQL");
    store
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need a PostgreSQL server and {POSTGRES_URL_VAR} is not set.\n\
             Run the README's test command, `tests/run`: it installs and starts a throwaway \
             PostgreSQL server and runs every test against it.\n\
             Or point the tests at a server you own: \
             {POSTGRES_URL_VAR}=postgres://USER@HOST:PORT/postgres cargo test \
             (they create databases named tokenauth_test_*)."
        )
    });
    let name = format!(
        "tokenauth_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .unwrap_or_else(|err| {
            panic!("cannot connect to the PostgreSQL server in {POSTGRES_URL_VAR}: {err}")
        });
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await
    .expect("drop a stale test database");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create a test database");
    admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// A running HTTP server on a free loopback port. Dropping it stops the server.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on `127.0.0.1:<free port>`.
pub async fn serve(app: impl Endpoint + 'static) -> TestServer {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a loopback port");
    let addr = *acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("a TCP address");
    let task = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run(app)
            .await
            .expect("test server failed");
    });
    TestServer { addr, task }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of this name (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| std::str::from_utf8(v).expect("header is text"))
    }

    /// How many headers of this name the response has.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }
}

/// Sends one HTTP/1.1 request whose `Authorization` header carries exactly `authorization`'s
/// bytes (no header at all for `None`), and reads the whole response.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&[u8]>,
    body: Option<(&str, &[u8])>,
) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    if let Some(value) = authorization {
        req.extend_from_slice(b"Authorization: ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    let payload = body.map_or(&b""[..], |(_, payload)| payload);
    if let Some((content_type, _)) = body {
        req.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", payload.len()).as_bytes());
    req.extend_from_slice(payload);

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&req).await.expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    parse_response(&raw)
}

/// `GET path` with the given raw `Authorization` bytes.
pub async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    authorization: Option<&[u8]>,
) -> RawResponse {
    request(addr, "GET", path, authorization, None).await
}

fn parse_response(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("response head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("header line");
            (name.to_owned(), value.trim().as_bytes().to_vec())
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
