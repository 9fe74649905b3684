//! Runs the 11 steps every generated client runs against the quickstart, through the client
//! progenitor generated (the `tokenauth_progenitor_client` library), and prints one
//! `e2e: progenitor: <step> ... ok|FAILED` line per step, details indented below a failure.
//! Exits 1 if a step failed, 2 on bad arguments.
//!
//! ```text
//! TOKENAUTH_CLIENT_PASSWORD=… tokenauth-progenitor-client API_URL USERNAME
//! ```
//!
//! API_URL is the quickstart's root joined with its document's `servers` entry (`/api`), e.g.
//! `http://127.0.0.1:3000/api`; USERNAME/the password a user who can log in (`tokenauth
//! create-user --password-stdin`) and has failed no login lately (the login throttle). The
//! password may also be given as a third argument.
//!
//! "Typed" below means what progenitor hands back is the type it generated for that response's
//! schema: each check names it (`types::Me`, `types::ErrorDetail`, …), so a document whose
//! responses change type no longer compiles here.

use std::{fmt::Debug, future::Future, process::ExitCode, time::Duration};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use tokenauth_progenitor_client::{ByteStream, Client, Error, ResponseValue, types};

const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const INVALID_TOKEN: &str = "Invalid token.";
const NO_PERMISSION: &str = "You do not have permission to perform this action.";
const SCOPE: &str = "orders:read";
const PASSWORD_VAR: &str = "TOKENAUTH_CLIENT_PASSWORD";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let password = args
        .get(2)
        .cloned()
        .or_else(|| std::env::var(PASSWORD_VAR).ok());
    let (api, username, password) = match (&args[..], password) {
        ([api, username] | [api, username, _], Some(password)) => (
            api.trim_end_matches('/').to_owned(),
            username.clone(),
            password,
        ),
        _ => {
            eprintln!(
                "usage: {PASSWORD_VAR}=PASSWORD tokenauth-progenitor-client API_URL USERNAME\n   \
                 or: tokenauth-progenitor-client API_URL USERNAME PASSWORD\n\
                 API_URL: the quickstart's root and its `servers` entry, e.g. http://127.0.0.1:3000/api"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start a tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let failures = runtime.block_on(run(&Api(api), &username, &password));
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The 11 steps, in order; returns how many failed. A step that needs a key an earlier step
/// failed to obtain fails too, saying so.
async fn run(api: &Api, username: &str, password: &str) -> usize {
    let mut report = Report { failures: 0 };
    let anonymous = api.client(None);
    let anonymous = anonymous.as_ref();

    report
        .step("GET /api/ping: 200 pong", async {
            let ping = anonymous?.get_ping().await;
            let text = read_text(expect_ok(ping, 200).await?).await?;
            ensure(
                text == "pong",
                format!("expected the body \"pong\"; got {text:?}"),
            )
        })
        .await;

    report
        .step(
            "POST /api/auth/token with a wrong password: typed 400 non_field_errors",
            async {
                let wrong = format!("{password}-wrong");
                let request = login_request(username, &wrong, &[])?;
                let errors: types::ObtainTokenErrors =
                    expect_error(anonymous?.obtain_token(&request).await, 400).await?;
                ensure(
                    errors.non_field_errors == [BAD_CREDENTIALS],
                    format!("expected non_field_errors [{BAD_CREDENTIALS:?}]; got {errors:?}"),
                )
            },
        )
        .await;

    let scoped = report
        .step(
            &format!("POST /api/auth/token with scopes [{SCOPE}]: typed 200 with a token"),
            async { login(anonymous?, username, password, &[SCOPE]).await },
        )
        .await;

    report
        .step(
            "GET /api/me with `Authorization: Token <key>`: typed 200 Me",
            async {
                let me: types::Me = expect_ok(api.token(&scoped)?.get_me().await, 200).await?;
                ensure(
                    me.username == username,
                    format!("expected username {username:?}; got {me:?}"),
                )
            },
        )
        .await;

    report
        .step(
            "GET /api/bearer/me with `Authorization: Bearer <key>`: typed 200 Me",
            async {
                let key = known(&scoped)?;
                let client = api.client(Some(format!("Bearer {key}")))?;
                let me: types::Me = expect_ok(client.get_bearer_me().await, 200).await?;
                ensure(
                    me.username == username,
                    format!("expected username {username:?}; got {me:?}"),
                )
            },
        )
        .await;

    report
        .step(
            &format!("GET /api/orders with the {SCOPE} key: 200 list of strings"),
            async {
                let orders: Vec<String> =
                    expect_ok(api.token(&scoped)?.get_orders().await, 200).await?;
                ensure(
                    !orders.is_empty(),
                    "expected the quickstart's orders; got an empty list".into(),
                )
            },
        )
        .await;

    let unscoped = report
        .step(
            "GET /api/orders with a key from a login without scopes: typed 403",
            async {
                let key = login(anonymous?, username, password, &[])
                    .await
                    .map_err(|err| format!("the login without scopes: {err}"))?;
                let client = api.client(Some(format!("Token {key}")))?;
                let refused: types::ErrorDetail =
                    expect_error(client.get_orders().await, 403).await?;
                ensure(
                    refused.detail == NO_PERMISSION,
                    format!("expected detail {NO_PERMISSION:?}; got {refused:?}"),
                )?;
                Ok(key)
            },
        )
        .await;

    report
        .step(
            "GET /api/me without credentials: typed 401 (not provided)",
            async { expect_unauthorized(anonymous?, NOT_PROVIDED).await },
        )
        .await;

    report
        .step("POST /api/auth/logout with the scoped key: 204", async {
            expect_ok(api.token(&scoped)?.logout().await, 204)
                .await
                .map(drop)
        })
        .await;

    report
        .step(
            "GET /api/me with the logged-out key: typed 401 (invalid token)",
            async { expect_unauthorized(&api.token(&scoped)?, INVALID_TOKEN).await },
        )
        .await;

    report
        .step(
            "POST /api/auth/logout-all with the unscoped key: 204, then that key gets a typed 401",
            async {
                let client = api.token(&unscoped)?;
                expect_ok(client.logout_all().await, 204).await?;
                expect_unauthorized(&client, INVALID_TOKEN).await
            },
        )
        .await;

    report.failures
}

struct Report {
    failures: usize,
}

impl Report {
    /// Runs one step and prints its line; `Some` with the step's value if it passed.
    async fn step<T>(
        &mut self,
        name: &str,
        check: impl Future<Output = Result<T, String>>,
    ) -> Option<T> {
        match check.await {
            Ok(value) => {
                println!("e2e: progenitor: {name} ... ok");
                Some(value)
            }
            Err(detail) => {
                self.failures += 1;
                println!("e2e: progenitor: {name} ... FAILED");
                for line in detail.lines() {
                    println!("    {line}");
                }
                None
            }
        }
    }
}

/// The quickstart's API root, e.g. `http://127.0.0.1:3000/api`.
struct Api(String);

impl Api {
    /// The generated client over a `reqwest::Client` that sends `authorization` with every
    /// request: progenitor ignores the document's security schemes, so this is how its users
    /// authenticate.
    fn client(&self, authorization: Option<String>) -> Result<Client, String> {
        let mut headers = HeaderMap::new();
        if let Some(authorization) = authorization {
            let mut value = HeaderValue::from_str(&authorization)
                .map_err(|err| format!("not a header value: {err}"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .no_proxy()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|err| format!("cannot build a reqwest client: {err}"))?;
        Ok(Client::new_with_client(&self.0, http))
    }

    /// The client that sends `Authorization: Token <key>` with the key an earlier step obtained.
    fn token(&self, key: &Option<String>) -> Result<Client, String> {
        self.client(Some(format!("Token {}", known(key)?)))
    }
}

fn known(key: &Option<String>) -> Result<&str, String> {
    key.as_deref()
        .ok_or_else(|| "skipped: the step that obtains this key failed".to_owned())
}

fn ensure(condition: bool, message: String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message) }
}

fn login_request(
    username: &str,
    password: &str,
    scopes: &[&str],
) -> Result<types::ObtainTokenRequest, String> {
    let invalid =
        |field: &'static str| move |err: types::error::ConversionError| format!("{field}: {err}");
    Ok(types::ObtainTokenRequest {
        username: username.parse().map_err(invalid("username"))?,
        password: password.parse().map_err(invalid("password"))?,
        scopes: scopes
            .iter()
            .map(|scope| scope.parse().map_err(invalid("scopes")))
            .collect::<Result<_, _>>()?,
        expires_in: None,
        name: None,
        allowed_ips: Vec::new(),
        read_only: None,
    })
}

/// Logs in through the generated `obtain_token`; the new key.
async fn login(
    client: &Client,
    username: &str,
    password: &str,
    scopes: &[&str],
) -> Result<String, String> {
    let request = login_request(username, password, scopes)?;
    let obtained: types::ObtainedToken =
        expect_ok(client.obtain_token(&request).await, 200).await?;
    let key = obtained.token;
    let well_formed =
        key.len() == 40 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    // The key itself is not printed.
    ensure(
        well_formed,
        format!(
            "`token` is not 40 lowercase hex digits ({} characters)",
            key.len()
        ),
    )?;
    Ok(key)
}

async fn expect_unauthorized(client: &Client, detail: &str) -> Result<(), String> {
    let refused: types::ErrorDetail = expect_error(client.get_me().await, 401).await?;
    ensure(
        refused.detail == detail,
        format!("expected detail {detail:?}; got {refused:?}"),
    )
}

/// The typed body of a success with this status.
async fn expect_ok<T, E: Debug>(
    result: Result<ResponseValue<T>, Error<E>>,
    status: u16,
) -> Result<T, String> {
    match result {
        Ok(value) if value.status().as_u16() == status => Ok(value.into_inner()),
        Ok(value) => Err(format!("expected status {status}; got {}", value.status())),
        Err(err) => Err(format!(
            "expected status {status}; got {}",
            describe(err).await
        )),
    }
}

/// The typed body of a documented error response (`Error::ErrorResponse`) with this status.
async fn expect_error<T, E: Debug>(
    result: Result<ResponseValue<T>, Error<E>>,
    status: u16,
) -> Result<E, String> {
    match result {
        Err(Error::ErrorResponse(value)) if value.status().as_u16() == status => {
            Ok(value.into_inner())
        }
        Ok(value) => Err(format!(
            "expected a typed {status}; got the success {}",
            value.status()
        )),
        Err(err) => Err(format!(
            "expected a typed {status}; got {}",
            describe(err).await
        )),
    }
}

/// An error of the generated client, with the body of a response it did not expect.
async fn describe<E: Debug>(err: Error<E>) -> String {
    match err {
        Error::ErrorResponse(value) => format!("the typed error {} {value:?}", value.status()),
        Error::UnexpectedResponse(response) => {
            let status = response.status();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .cloned();
            let body = response
                .text()
                .await
                .unwrap_or_else(|err| format!("<unreadable: {err}>"));
            format!(
                "an undocumented response (Error::UnexpectedResponse): {status}, content type {content_type:?}, body {body:?}"
            )
        }
        Error::InvalidResponsePayload(body, err) => format!(
            "a body that does not match its schema (Error::InvalidResponsePayload): {err}; body {:?}",
            String::from_utf8_lossy(&body)
        ),
        other => format!("{other:#}"),
    }
}

/// A `text/plain` body: progenitor hands it back as a byte stream.
async fn read_text(stream: ByteStream) -> Result<String, String> {
    let mut stream = stream.into_inner();
    let mut body = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        body.extend_from_slice(&chunk.map_err(|err| format!("reading the body: {err}"))?);
    }
    String::from_utf8(body).map_err(|err| format!("the body is not UTF-8: {err}"))
}
