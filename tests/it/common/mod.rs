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

/// Defines each listed test on both backends, as `sqlite::name` and `postgres::name`: the one
/// per-backend wrapper of the integration tests. `name` is an `async fn(Backend)` of the test
/// file (or, after `store:`, an `async fn(Store)` given a fresh, migrated store). The tests run
/// on a two-thread runtime, so that concurrency tests race for real; after `current_thread:`,
/// on one thread, where a thread-local `tracing` subscriber or `metrics` recorder sees the
/// server's tasks too.
///
/// ```text
/// common::on_both_backends!(logins_work, tokens_expire);
/// common::on_both_backends!(store: users_are_created);
/// common::on_both_backends!(heavy: a_burst_of_logins); // one heavy test at a time: see `heavy`
/// common::on_both_backends!(current_thread: events_are_logged);
/// ```
#[allow(unused_macros)]
macro_rules! on_both_backends {
    (current_thread: $($name:ident),* $(,)?) => {
        $crate::common::on_both_backends!(@define (None::<()>) (flavor = "current_thread")
            $($name => super::$name),*);
    };
    (heavy: store: $($name:ident),* $(,)?) => {
        $crate::common::on_both_backends!(@define (Some($crate::common::heavy().await)) ()
            $($name => |backend| async move {
                super::$name($crate::common::store(backend).await).await
            }),*);
    };
    (heavy: $($name:ident),* $(,)?) => {
        $crate::common::on_both_backends!(@define (Some($crate::common::heavy().await)) ()
            $($name => super::$name),*);
    };
    (store: $($name:ident),* $(,)?) => {
        $crate::common::on_both_backends!(@define (None::<()>) ()
            $($name => |backend| async move {
                super::$name($crate::common::store(backend).await).await
            }),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::common::on_both_backends!(@define (None::<()>) () $($name => super::$name),*);
    };
    (@define ($guard:expr) () $($name:ident => $body:expr),*) => {
        $crate::common::on_both_backends!(@define ($guard)
            (flavor = "multi_thread", worker_threads = 2) $($name => $body),*);
    };
    (@define ($guard:expr) $flavor:tt $($name:ident => $body:expr),*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(#[tokio::test $flavor]
            async fn $name() {
                let _guard = $guard;
                ($body)($crate::common::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(#[tokio::test $flavor]
            async fn $name() {
                let _guard = $guard;
                ($body)($crate::common::Backend::Postgres).await;
            })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

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

/// Runs `sql` (one statement or several) on the store's database.
pub async fn execute(store: &Store, sql: &str) {
    let statements = sqlx::AssertSqlSafe(sql.to_owned());
    let done = if let Some(pool) = store.sqlite_pool() {
        sqlx::raw_sql(statements).execute(pool).await.map(drop)
    } else {
        let pool = store.postgres_pool().expect("a SQLite or PostgreSQL store");
        sqlx::raw_sql(statements).execute(pool).await.map(drop)
    };
    done.unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Waits until the store's authentication cache serves (its change feed is up), at most
/// 10 s.
pub async fn cache_serving(store: &Store) {
    for _ in 0..10_000 {
        if tokenauth::store::testing::cache_is_serving(store) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("the change feed did not come up");
}

/// A fresh store with `alice` (password `correct horse`) and `inactive` (same password, not
/// active): the users the login tests need.
pub async fn store_with_login_users(backend: Backend) -> Store {
    let store = store(backend).await;
    store
        .create_user("alice", Some("correct horse"))
        .await
        .unwrap();
    store
        .create_user_with("inactive", Some("correct horse"), false)
        .await
        .unwrap();
    store
}

/// The URL of a fresh, empty database as production runs it: on SQLite a WAL file in a
/// temporary directory (kept as long as the returned guard), on PostgreSQL a fresh database.
pub async fn database_url(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}", dir.path().join("tokenauth.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => (fresh_postgres_database().await, None),
    }
}

/// A fresh, migrated store as production runs it (see [`database_url`]). Use it for
/// concurrency tests: an in-memory SQLite database shares one cache and locks differently.
pub async fn file_store(backend: Backend) -> (Store, Option<tempfile::TempDir>) {
    let (url, dir) = database_url(backend).await;
    let store = Store::connect(&url).await.expect("open the database");
    store.migrate().await.expect("migrate");
    (store, dir)
}

/// A fresh, migrated database as production runs it (see [`database_url`]), its URL (for a
/// CLI or a quickstart beside), and a store on it without an authentication cache, that reads
/// the database at every authentication.
pub async fn uncached_database(backend: Backend) -> (String, Store, Option<tempfile::TempDir>) {
    let (url, dir) = database_url(backend).await;
    let policy = tokenauth::Policy::default().no_auth_cache();
    let store = Store::connect(&url)
        .await
        .expect("open the database")
        .with_policy(policy);
    store.migrate().await.expect("migrate");
    (url, store, dir)
}

/// Two stores on one fresh PostgreSQL database, as two application instances behind a load
/// balancer, with `alice` (password `correct horse`) created through the first.
pub async fn two_postgres_instances() -> (Store, Store) {
    let url = fresh_postgres_database().await;
    let one = Store::connect(&url)
        .await
        .expect("connect the first instance");
    one.migrate().await.expect("migrate PostgreSQL");
    one.create_user("alice", Some("correct horse"))
        .await
        .expect("create alice");
    let two = Store::connect(&url)
        .await
        .expect("connect the second instance");
    (one, two)
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

    raw_exchange(addr, &req).await
}

/// Sends `request` exactly as given and parses the whole response.
pub async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    parse_response(&raw)
}

/// `POST path` with a JSON body, from the client `forwarded_for` (an `X-Forwarded-For`,
/// believed when the server trusts 127.0.0.1 as a proxy).
pub async fn post_json(
    addr: std::net::SocketAddr,
    path: &str,
    body: &serde_json::Value,
    forwarded_for: Option<&str>,
) -> RawResponse {
    let body = body.to_string();
    let forwarded = forwarded_for
        .map(|client| format!("X-Forwarded-For: {client}\r\n"))
        .unwrap_or_default();
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{forwarded}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw_exchange(addr, raw.as_bytes()).await
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

pub const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
pub const NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
pub const SPACES: &str = "Invalid token header. Token string should not contain spaces.";
pub const INVALID_CHARS: &str =
    "Invalid token header. Token string should not contain invalid characters.";
pub const INVALID_TOKEN: &str = "Invalid token.";
pub const INACTIVE: &str = "User inactive or deleted.";

/// Asserts DRF's `401` exactly: status, one `WWW-Authenticate: <keyword>`, JSON content type and
/// the compact body.
#[track_caller]
pub fn assert_401(response: &RawResponse, keyword: &str, detail: &str, case: &str) {
    assert_eq!(response.status, 401, "{case}: {response:?}");
    assert_eq!(response.header_count("www-authenticate"), 1, "{case}");
    assert_eq!(response.header("www-authenticate"), Some(keyword), "{case}");
    assert_drf_body(response, detail, case);
}

/// The status `GET path` with `authorization` gets once it is `status`, polled for at most
/// 2 s: a change made through another instance reaches this one within the change feed's
/// bound (tests/it/revocation.rs measures it; 2 s is the bound under faults).
pub async fn status_within(
    addr: std::net::SocketAddr,
    path: &str,
    authorization: &str,
    status: u16,
) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let got = get(addr, path, Some(authorization.as_bytes())).await.status;
        if got == status || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Asserts DRF's body of a refusal: JSON, and exactly `{"detail":"<detail>"}`, compact.
#[track_caller]
pub fn assert_drf_body(response: &RawResponse, detail: &str, case: &str) {
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    let expected = format!(r#"{{"detail":"{detail}"}}"#);
    assert_eq!(response.body_text(), expected, "{case}");
}

/// How an endpoint challenges a request it refuses: Django REST framework's way, or RFC
/// 6750's in a realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Drf,
    Rfc6750(&'static str),
}

/// Asserts the refusal of a request for a reason with DRF's `detail`, as `challenge` says:
/// DRF's `401` ([`assert_401`]), or RFC 6750 §3.1's status and challenge, spelled out here
/// from the RFC's text — no error without credentials, `400 invalid_request` for a malformed
/// request, `401 invalid_token` for a refused key — and parsed by RFC 9110's grammar
/// ([`crate::rfc6750::parse`]). The body is DRF's either way.
#[track_caller]
pub fn assert_refused(
    response: &RawResponse,
    keyword: &str,
    challenge: Challenge,
    detail: &str,
    case: &str,
) {
    let Challenge::Rfc6750(realm) = challenge else {
        return assert_401(response, keyword, detail, case);
    };
    let (status, error) = match detail {
        NOT_PROVIDED => (401, None),
        NO_CREDENTIALS | SPACES | INVALID_CHARS => (400, Some("invalid_request")),
        INVALID_TOKEN | INACTIVE => (401, Some("invalid_token")),
        other => panic!("{case}: no RFC 6750 refusal for {other:?}"),
    };
    let mut expected = format!(r#"{keyword} realm="{realm}""#);
    if let Some(error) = error {
        expected += &format!(r#", error="{error}", error_description="{detail}""#);
    }
    assert_eq!(response.status, status, "{case}: {response:?}");
    assert_eq!(response.header_count("www-authenticate"), 1, "{case}");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert_eq!(challenge, expected, "{case}");
    let params = crate::rfc6750::parse(challenge).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(params.get("error").map(String::as_str), error, "{case}");
    assert_drf_body(response, detail, case);
}

/// The keys a reference run needs, and the body a valid key gets.
pub struct ReferenceKeys<'a> {
    /// A valid key of an active user.
    pub valid: &'a str,
    /// A valid key of an inactive user.
    pub inactive: &'a str,
    /// An expired key.
    pub expired: &'a str,
    /// The JSON body `GET path` answers with the valid key.
    pub expected: &'a serde_json::Value,
}

#[track_caller]
fn assert_success(response: &RawResponse, expected: &serde_json::Value, case: &str) {
    assert_eq!(response.status, 200, "{case}: {response:?}");
    assert_eq!(response.header_count("www-authenticate"), 0, "{case}");
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(&body, expected, "{case}");
}

/// Every case of REFERENCE.md §1–2 against `GET path` secured with `keyword`, over real HTTP.
pub async fn reference_cases(
    addr: std::net::SocketAddr,
    path: &str,
    keyword: &str,
    keys: &ReferenceKeys<'_>,
) {
    reference_cases_with(addr, path, keyword, Challenge::Drf, keys).await;
}

/// [`reference_cases`] for an endpoint that challenges as `challenge` says
/// ([`assert_refused`]).
pub async fn reference_cases_with(
    addr: std::net::SocketAddr,
    path: &str,
    keyword: &str,
    challenge: Challenge,
    keys: &ReferenceKeys<'_>,
) {
    let assert_401 = |response: &RawResponse, keyword: &str, detail: &str, case: &str| {
        assert_refused(response, keyword, challenge, detail, case);
    };
    let key = keys.valid;
    let lower = keyword.to_ascii_lowercase();
    let upper = keyword.to_ascii_uppercase();
    let other = if keyword == "Token" {
        "Bearer"
    } else {
        "Token"
    };

    // §1.3 / §2: no credentials for this scheme.
    let not_provided: Vec<(String, Option<Vec<u8>>)> = vec![
        ("no header".into(), None),
        ("empty header".into(), Some(b"".to_vec())),
        ("only spaces".into(), Some(b"   ".to_vec())),
        (
            "other scheme".into(),
            Some(format!("{other} {key}").into_bytes()),
        ),
        ("basic".into(), Some(b"Basic YWxpY2U6cHc=".to_vec())),
        (
            "keyword glued to key".into(),
            Some(format!("{keyword}{key}").into_bytes()),
        ),
        (
            "keyword prefix".into(),
            Some(format!("{keyword}s {key}").into_bytes()),
        ),
        (
            "keyword with comma".into(),
            Some(format!("{keyword}, {key}").into_bytes()),
        ),
    ];
    for (case, header) in &not_provided {
        let response = get(addr, path, header.as_deref()).await;
        assert_401(&response, keyword, NOT_PROVIDED, case);
    }

    // §1.4: the keyword alone.
    for header in [
        keyword.to_owned(),
        format!("{keyword} "),
        format!("\t{lower}\t"),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_401(&response, keyword, NO_CREDENTIALS, &format!("{header:?}"));
    }

    // §1.5: more than two parts.
    for header in [
        format!("{keyword} {key} extra"),
        format!("{keyword} a b c"),
        format!("{keyword} {key}\textra"),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_401(&response, keyword, SPACES, &format!("{header:?}"));
    }

    // §1.6: the key is not UTF-8 (obs-text bytes travel in HTTP/1.1 headers).
    for tail in [&b"\xff"[..], b"abc\xc3", b"\xc0\xaf", b"\xed\xa0\x80"] {
        let header = [format!("{keyword} ").as_bytes(), tail].concat();
        let response = get(addr, path, Some(&header)).await;
        assert_401(&response, keyword, INVALID_CHARS, &format!("{header:?}"));
    }

    // §1.7: unknown keys, including valid UTF-8 that is not ASCII, and expired keys.
    for (case, header) in [
        ("unknown hex key", format!("{keyword} {}", "0".repeat(40))),
        ("unknown non-ASCII key", format!("{keyword} clé")),
        (
            "key with different case",
            format!("{keyword} {}", key.to_ascii_uppercase()),
        ),
        ("expired key", format!("{keyword} {}", keys.expired)),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_401(&response, keyword, INVALID_TOKEN, case);
    }

    // §1.8: the user is not active.
    let header = format!("{keyword} {}", keys.inactive);
    let response = get(addr, path, Some(header.as_bytes())).await;
    assert_401(&response, keyword, INACTIVE, "inactive user");

    // §1.2 and §1.9: whitespace runs, case-insensitive keyword, success.
    for header in [
        format!("{keyword} {key}"),
        format!("{keyword}  {key}"),
        format!("{keyword}\t{key}"),
        format!("{keyword} \t {key}"),
        format!("  {keyword} {key}"),
        format!("{lower} {key}"),
        format!("{upper} {key}"),
    ] {
        let response = get(addr, path, Some(header.as_bytes())).await;
        assert_success(&response, keys.expected, &format!("{header:?}"));
    }
}

/// The directory of PostgreSQL's server and client programs: `TOKENAUTH_TEST_PG_BIN`, or the
/// newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package, which `tests/run`
/// installs).
pub fn pg_bin() -> std::path::PathBuf {
    std::env::var_os("TOKENAUTH_TEST_PG_BIN")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
                .filter(|dir| dir.join("initdb").exists())
                .collect();
            dirs.sort_by_key(|dir| {
                dir.parent()
                    .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            });
            dirs.pop()
        })
        .unwrap_or_else(|| {
            panic!(
                "this test runs PostgreSQL's own programs (a server, pg_dump, psql) and found no \
                 PostgreSQL binaries: run `tests/run` (it installs Debian's postgresql), or \
                 set TOKENAUTH_TEST_PG_BIN to the directory holding initdb and pg_ctl"
            )
        })
}

/// A PostgreSQL server of the test's own, on a free loopback port, that the test may stop and
/// start (the shared server of `TOKENAUTH_TEST_POSTGRES_URL` must stay up for other tests).
/// Its binaries are found in `TOKENAUTH_TEST_PG_BIN` or the newest `/usr/lib/postgresql/*/bin`
/// (Debian's `postgresql` package, which `tests/run` installs). Run as root, the server runs
/// as the `postgres` user. Dropping it stops the server and deletes its files.
pub struct PgCluster {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PgCluster {
    /// Initialises and starts a throwaway cluster.
    pub fn start() -> PgCluster {
        PgCluster::start_in(tempfile::tempdir().expect("a temporary directory"))
    }

    /// [`PgCluster::start`] with its files in `dir` (e.g. in memory, under `/dev/shm`).
    pub fn start_in(dir: tempfile::TempDir) -> PgCluster {
        let bin = pg_bin();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = PgCluster { bin, dir, port };
        if Self::as_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let data = cluster.dir.path().join("data");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--no-sync".as_ref(),
                "--no-locale".as_ref(),
                "--encoding=UTF8".as_ref(),
            ],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn as_root() -> bool {
        // PostgreSQL refuses to run as root.
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0"))
    }

    /// One of the server's programs, run as `postgres` when we are root.
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if Self::as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            std::process::Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let output = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|err| panic!("run {program}: {err}"));
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again).
    pub fn pg_ctl_start(&self) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("server.log");
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.dir.path().display(),
            self.port
        );
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
    }

    /// Stops the server as an administrator does (`pg_ctl stop -m fast`: open connections
    /// are terminated with 57P01).
    pub fn pg_ctl_stop(&self) {
        let data = self.dir.path().join("data");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
    }

    /// The admin connection URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The path of one of the server's client programs (`pg_dump`, `psql`).
    pub fn program(&self, name: &str) -> std::path::PathBuf {
        self.bin.join(name)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A binary that `cargo test --workspace` builds beside the test binaries (`tokenauth`, or
/// `examples/quickstart`).
pub fn built_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bin tokenauth --example quickstart` \
         (`cargo test --workspace`, as tests/run runs it, builds both)",
        path.display()
    );
    path
}

/// Runs the `tokenauth` CLI on `url` with `args`; panics unless it succeeds. Returns what it
/// printed on standard output.
pub async fn cli(url: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(built_binary("tokenauth"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "tokenauth {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A quickstart server process (an application instance) on `url`, listening on a free
/// port; killed when dropped.
pub struct Instance {
    pub child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
    /// The lines it printed on standard output so far (its log, with `TOKENAUTH_LOG=json`).
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts one with the quickstart's defaults.
    pub async fn start(url: &str) -> Instance {
        Instance::start_with(url, &[]).await
    }

    /// Starts one with these environment variables too (`TOKENAUTH_ARGON2`, …).
    pub async fn start_with(url: &str, env: &[(&str, &str)]) -> Instance {
        use tokio::io::AsyncBufReadExt as _;

        // Port 0: the quickstart binds a free port and names it (a port picked here could be
        // taken by an outgoing connection before the quickstart binds it).
        let mut child = tokio::process::Command::new(built_binary("examples/quickstart"))
            .env("DATABASE_URL", url)
            .env("TOKENAUTH_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        while let Some(line) = lines.next_line().await.unwrap() {
            let listening = line.strip_prefix("Listening on http://").map(|rest| {
                let addr = rest.split_whitespace().next().unwrap();
                addr.parse::<std::net::SocketAddr>().unwrap()
            });
            output.lock().unwrap().push(line);
            if let Some(addr) = listening {
                let kept = std::sync::Arc::clone(&output);
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        kept.lock().unwrap().push(line);
                    }
                });
                return Instance {
                    child,
                    addr,
                    output,
                };
            }
        }
        panic!("the quickstart exited: {:?}", child.wait().await);
    }

    /// Waits (at most 10 s) until `ready` holds for the lines it printed, and returns them.
    pub async fn output_when(&self, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..1000 {
            {
                let output = self.output.lock().unwrap();
                if ready(&output) {
                    return output.clone();
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "not printed within 10 s; printed:\n{}",
            self.output.lock().unwrap().join("\n")
        );
    }

    /// Sends the process a signal (`STOP`, `CONT`, …), as an operator or the kernel would.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the instance is running");
        send_signal(pid, signal);
    }
}

/// Sends process `pid` a signal with `kill` (e.g. `STOP` to freeze a PostgreSQL backend).
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Captures the `tracing` output of the current thread at `INFO` and above while the guard
/// [`install`](Logs::install) returns lives: on a current-thread runtime, the server's and the
/// change feed's tasks log here too.
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The PostgreSQL URL `url` with its role and database replaced.
pub fn as_role(url: &str, role: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    let base = base.replacen("postgres@", &format!("{role}@"), 1);
    format!("{base}/{database}")
}

/// This process's peak resident set size (`VmHWM`), in bytes: for tests run [`alone`].
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// The environment variable that tells a process started by [`alone`] which test it runs.
const ALONE: &str = "TOKENAUTH_TEST_ALONE";

/// Runs the test `path` (as the harness names it, e.g. `hash_memory::a_burst`) in a process of
/// its own, for tests that measure the whole process (its peak memory, process-wide counters)
/// and so must not share it with the other tests of this binary. Returns `true` in the process
/// that should run the test's body (the one started here), `false` in the calling process once
/// that one passed; panics with its output if it failed.
///
/// ```text
/// #[tokio::test]
/// async fn measured() {
///     if !common::alone("module::measured") {
///         return;
///     }
///     // the body, alone in its process
/// }
/// ```
pub fn alone(path: &str) -> bool {
    if std::env::var_os(ALONE).is_some_and(|test| test == path) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([path, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, path)
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{path}, in a process of its own: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Held by each test that loads the machine for seconds — bursts of password hashing,
/// quickstart processes under load, a PostgreSQL cluster of its own — so that no two of them
/// run at once in this binary: each was written for a machine it shares with light tests only
/// (as when each file was a test binary of its own, whose tests ran two at a time at most).
/// Light tests still run beside them.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}
