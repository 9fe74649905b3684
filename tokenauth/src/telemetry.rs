//! What tokenauth tells an operator: metrics through the [`metrics`] facade (any exporter plugs
//! in; without one, each is a no-op) and security events through `tracing`, target
//! `tokenauth::security`, with a stable `event` field from OWASP's logging vocabulary. Labels
//! and fields are low-cardinality or ids: never a key, digest, username, password or address
//! in a label (a client address is a field of a security event, as the throttle sees it).
//!
//! The one place that names them, so that the README's table and the code cannot drift apart
//! (`tests/it/telemetry.rs` checks the table against [`METRICS`]).

use std::net::IpAddr;
use std::time::Duration;

/// Every metric tokenauth records: `(name, kind, labels)` (the README documents each).
#[cfg(test)]
pub(crate) const METRICS: [(&str, &str, &[&str]); 11] = [
    (AUTHENTICATIONS, "counter", &["keyword", "outcome"]),
    (AUTHENTICATION_DURATION, "histogram", &["source"]),
    (LOGINS, "counter", &["outcome"]),
    (TOKENS_ISSUED, "counter", &["via"]),
    (TOKENS_REVOKED, "counter", &["reason"]),
    (CACHE_ENTRIES, "gauge", &[]),
    (FILTER_BYTES, "gauge", &[]),
    (FILTER_DEGRADED, "gauge", &[]),
    (FEED_UP, "gauge", &[]),
    (FEED_LAST_PROOF, "gauge", &[]),
    (PASSWORD_QUEUE, "gauge", &[]),
];

const AUTHENTICATIONS: &str = "tokenauth_authentications_total";
const AUTHENTICATION_DURATION: &str = "tokenauth_authentication_duration_seconds";
#[cfg_attr(not(feature = "openapi"), allow(dead_code))] // the login view is `openapi`'s
const LOGINS: &str = "tokenauth_logins_total";
const TOKENS_ISSUED: &str = "tokenauth_tokens_issued_total";
const TOKENS_REVOKED: &str = "tokenauth_tokens_revoked_total";
const CACHE_ENTRIES: &str = "tokenauth_cache_entries";
const FILTER_BYTES: &str = "tokenauth_filter_bytes";
const FILTER_DEGRADED: &str = "tokenauth_filter_degraded";
const FEED_UP: &str = "tokenauth_feed_up";
const FEED_LAST_PROOF: &str = "tokenauth_feed_last_proof_seconds";
const PASSWORD_QUEUE: &str = "tokenauth_password_queue_depth";

/// How an authentication ended (the `outcome` label of `tokenauth_authentications_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Authenticated, within its scopes and limits.
    Ok,
    /// No credentials for any of the keywords.
    Missing,
    /// An `Authorization` header that does not parse.
    Malformed,
    /// An unknown, revoked or expired key.
    Invalid,
    /// The key's user is not active.
    Inactive,
    /// The token lacks a required scope.
    InsufficientScope,
    /// The request is outside the token's limits (`allowed_ips`, `read_only`).
    Forbidden,
    /// The store failed (or is missing from the request).
    Unavailable,
}

impl Outcome {
    const fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Missing => "missing",
            Outcome::Malformed => "malformed",
            Outcome::Invalid => "invalid",
            Outcome::Inactive => "inactive",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::Forbidden => "forbidden",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Where an authentication's answer came from (the `source` label of the duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The authentication cache.
    Cache,
    /// A local check without a query: the key's format, or the live-key filter.
    Filter,
    /// A query.
    Database,
}

impl Source {
    const fn label(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Filter => "filter",
            Source::Database => "database",
        }
    }
}

/// A `metrics` key made at compile time, for the metrics recorded at every authentication:
/// no allocation, and its hash computed once (a key made at each call, as `counter!` makes one
/// whose label values are not literals, cost the load benchmark's cached authentications 4%).
macro_rules! static_key {
    ($name:expr $(, $label:literal => $value:expr)* $(,)?) => {{
        static LABELS: [metrics::Label; [$($label),*].len()] =
            [$(metrics::Label::from_static_parts($label, $value)),*];
        static KEY: metrics::Key = metrics::Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

/// The metadata of tokenauth's metrics (what `counter!` and `histogram!` give theirs).
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The key of `tokenauth_authentications_total` for a built-in keyword and each outcome.
macro_rules! authentication_key {
    ($keyword:literal, $outcome:expr, [$($variant:ident),*]) => {
        match $outcome {
            $(Outcome::$variant => static_key!(
                AUTHENTICATIONS,
                "keyword" => $keyword,
                "outcome" => Outcome::$variant.label(),
            ),)*
        }
    };
}

/// Counts an authentication with `keyword` (the one the header named, or the challenge's).
pub(crate) fn authentication(keyword: &'static str, outcome: Outcome) {
    macro_rules! key {
        ($keyword:literal) => {
            authentication_key!(
                $keyword,
                outcome,
                [
                    Ok,
                    Missing,
                    Malformed,
                    Invalid,
                    Inactive,
                    InsufficientScope,
                    Forbidden,
                    Unavailable
                ]
            )
        };
    }
    let key = match keyword {
        "Token" => key!("Token"),
        "Bearer" => key!("Bearer"),
        _ => {
            // An application's own keyword: a key made for the call.
            let outcome = outcome.label();
            metrics::counter!(AUTHENTICATIONS, "keyword" => keyword, "outcome" => outcome)
                .increment(1);
            return;
        }
    };
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA)).increment(1);
}

/// What one authentication records: its count and, for a valid token it refused, the
/// `authz_fail` event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded {
    pub(crate) keyword: &'static str,
    pub(crate) outcome: Outcome,
    pub(crate) event: Option<Security>,
}

impl Recorded {
    fn now(self) {
        authentication(self.keyword, self.outcome);
        if let Some(event) = self.event {
            event.emit();
        }
    }
}

tokio::task_local! {
    /// What the authentications of a [`held`] future would have recorded.
    static HELD: std::cell::RefCell<Vec<Recorded>>;
}

/// Records an authentication: at once, or, inside [`held`], when its holder says so.
pub(crate) fn record(recorded: Recorded) {
    if HELD
        .try_with(|held| held.borrow_mut().push(recorded))
        .is_err()
    {
        recorded.now();
    }
}

/// Runs `future`, holding what the authentications it runs would record: a request that
/// several operations' authentications judge (`drf_methods`, for a wrong method) is counted
/// once, as the one answer it gets, by [`replay`]ing that operation's records only.
#[cfg(feature = "openapi")]
pub(crate) async fn held<F: Future>(future: F) -> (F::Output, Vec<Recorded>) {
    let holding = async move {
        let output = future.await;
        (output, HELD.with(|held| held.take()))
    };
    HELD.scope(std::cell::RefCell::new(Vec::new()), holding)
        .await
}

/// Records what [`held`] held.
#[cfg(feature = "openapi")]
pub(crate) fn replay(held: Vec<Recorded>) {
    for recorded in held {
        record(recorded);
    }
}

/// Records how long the store took to answer a key, and from where.
pub(crate) fn authentication_duration(source: Source, took: Duration) {
    let key = match source {
        Source::Cache => static_key!(AUTHENTICATION_DURATION, "source" => Source::Cache.label()),
        Source::Filter => static_key!(AUTHENTICATION_DURATION, "source" => Source::Filter.label()),
        Source::Database => {
            static_key!(AUTHENTICATION_DURATION, "source" => Source::Database.label())
        }
    };
    metrics::with_recorder(|recorder| recorder.register_histogram(key, &METADATA)).record(took);
}

/// How a login ended (the `outcome` label of `tokenauth_logins_total`).
#[cfg(feature = "openapi")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Login {
    /// A token was issued.
    Ok,
    /// A wrong password, an unknown username or an inactive user.
    BadCredentials,
    /// Refused by the throttle (`429`).
    Throttled,
    /// The server was busy or unavailable (`503`).
    Busy,
    /// The request was refused for what it asked (`400`, `403`, `413`, `415`).
    Invalid,
}

/// Counts a login.
#[cfg(feature = "openapi")]
pub(crate) fn login(outcome: Login) {
    let label = match outcome {
        Login::Ok => "ok",
        Login::BadCredentials => "bad_credentials",
        Login::Throttled => "throttled",
        Login::Busy => "busy",
        Login::Invalid => "invalid",
    };
    metrics::counter!(LOGINS, "outcome" => label).increment(1);
}

/// Counts `count` tokens issued `via` a path (`login`, `store`, `roll`, `import`).
pub(crate) fn tokens_issued(via: &'static str, count: u64) {
    if count > 0 {
        metrics::counter!(TOKENS_ISSUED, "via" => via).increment(count);
    }
}

/// Counts `count` tokens revoked for `reason`.
pub(crate) fn tokens_revoked(reason: &'static str, count: u64) {
    if count > 0 {
        metrics::counter!(TOKENS_REVOKED, "reason" => reason).increment(count);
    }
}

/// The `event` of a security event: OWASP's logging vocabulary (the README's table documents
/// each, `tests` checks that it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "openapi"), allow(dead_code))] // the login view's are `openapi`'s
pub(crate) enum Event {
    LoginSuccess,
    LoginFail,
    LoginFailMax,
    ExcessRateLimit,
    TokenCreated,
    TokenRolled,
    TokenRevoked,
    AuthzFail,
    FeedDown,
    FeedUp,
}

impl Event {
    /// Every event, for the README's check.
    #[cfg(test)]
    const ALL: [Event; 10] = [
        Event::LoginSuccess,
        Event::LoginFail,
        Event::LoginFailMax,
        Event::ExcessRateLimit,
        Event::TokenCreated,
        Event::TokenRolled,
        Event::TokenRevoked,
        Event::AuthzFail,
        Event::FeedDown,
        Event::FeedUp,
    ];

    /// Its name in OWASP's vocabulary.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Event::LoginSuccess => "authn_login_success",
            Event::LoginFail => "authn_login_fail",
            Event::LoginFailMax => "authn_login_fail_max",
            Event::ExcessRateLimit => "excess_rate_limit_exceeded",
            Event::TokenCreated => "authn_token_created",
            Event::TokenRolled => "authn_token_rolled",
            Event::TokenRevoked => "authn_token_revoked",
            Event::AuthzFail => "authz_fail",
            Event::FeedDown => "sys_feed_down",
            Event::FeedUp => "sys_feed_up",
        }
    }
}

/// A security event (target `tokenauth::security`, level `INFO`): `event` from OWASP's
/// logging vocabulary, with the ids it concerns, the client's address as the throttle sees
/// it, why, and how many tokens — each only where known.
///
/// ```text
/// Security::new(Event::TokenRevoked).user(id).reason("logout").count(1).emit();
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use = "emit() logs it"]
pub(crate) struct Security {
    event: Event,
    user_id: Option<i64>,
    token_id: Option<i64>,
    client: Option<IpAddr>,
    reason: Option<&'static str>,
    count: Option<u64>,
}

impl Security {
    pub(crate) fn new(event: Event) -> Self {
        Security {
            event,
            user_id: None,
            token_id: None,
            client: None,
            reason: None,
            count: None,
        }
    }

    /// The user it concerns (an `i64`, or an `Option<i64>` where it may be unknown).
    pub(crate) fn user(self, user_id: impl Into<Option<i64>>) -> Self {
        Security {
            user_id: user_id.into(),
            ..self
        }
    }

    /// The token it concerns (as [`user`](Security::user)).
    pub(crate) fn token(self, token_id: impl Into<Option<i64>>) -> Self {
        Security {
            token_id: token_id.into(),
            ..self
        }
    }

    pub(crate) fn client(self, client: Option<IpAddr>) -> Self {
        Security { client, ..self }
    }

    pub(crate) fn reason(self, reason: &'static str) -> Self {
        Security {
            reason: Some(reason),
            ..self
        }
    }

    pub(crate) fn count(self, count: u64) -> Self {
        Security {
            count: Some(count),
            ..self
        }
    }

    pub(crate) fn emit(self) {
        let Security {
            event,
            user_id,
            token_id,
            client,
            reason,
            count,
        } = self;
        let event = event.name();
        tracing::info!(
            target: "tokenauth::security",
            event,
            user_id,
            token_id,
            client = client.map(tracing::field::display),
            reason,
            count,
            "tokenauth: {event}"
        );
    }
}

/// The cache's state as gauges show it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    /// Cached authentications.
    pub(crate) entries: u64,
    /// The bytes of the live-key filters.
    pub(crate) filter_bytes: u64,
    /// Whether the feed's proof lets the cache serve tokenauth's own tokens.
    pub(crate) serving: bool,
    /// How long ago the feed last proved that it had applied every change, if ever.
    pub(crate) since_proof: Option<Duration>,
    /// Whether refusals were given without a check lately (the budget spent: a flood).
    pub(crate) degraded: bool,
}

/// Sets the gauges: the cache's state (all zero without a cache) and the password queue's
/// depth.
pub(crate) fn gauges(cache: Gauges, password_queue: usize) {
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    metrics::gauge!(CACHE_ENTRIES).set(cache.entries as f64);
    metrics::gauge!(FILTER_BYTES).set(cache.filter_bytes as f64);
    metrics::gauge!(FILTER_DEGRADED).set(flag(cache.degraded));
    metrics::gauge!(FEED_UP).set(flag(cache.serving));
    if let Some(since) = cache.since_proof {
        metrics::gauge!(FEED_LAST_PROOF).set(since.as_secs_f64());
    }
    metrics::gauge!(PASSWORD_QUEUE).set(password_queue as f64);
}

/// A security event about the system (target `tokenauth::security`): the change feed going down
/// (`sys_feed_down`, with the problem) or coming back (`sys_feed_up`).
pub(crate) fn system(event: Event, problem: Option<&str>) {
    let event = event.name();
    tracing::warn!(target: "tokenauth::security", event, problem, "tokenauth: {event}");
}

#[cfg(test)]
mod tests {
    use super::Event;

    /// A recorder that writes down each key registered, as `name{label=value,…}`.
    #[derive(Default)]
    struct Keys(std::sync::Mutex<Vec<String>>);

    impl Keys {
        fn note(&self, key: &metrics::Key) {
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let noted = format!("{}{{{}}}", key.name(), labels.join(","));
            self.0.lock().unwrap().push(noted);
        }
    }

    impl metrics::Recorder for Keys {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.note(key);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.note(key);
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.note(key);
            metrics::Histogram::noop()
        }
    }

    /// The keys made at compile time name the metric and labels that the ones made at the call
    /// would: for the built-in keywords, each outcome and each source; and an application's own
    /// keyword gets its own label.
    #[test]
    fn authentication_keys_name_their_labels() {
        use super::{Outcome, Source};
        let keys = Keys::default();
        metrics::with_local_recorder(&keys, || {
            super::authentication("Token", Outcome::Ok);
            super::authentication("Bearer", Outcome::InsufficientScope);
            super::authentication("Token", Outcome::Unavailable);
            super::authentication("ApiKey", Outcome::Invalid);
            let took = std::time::Duration::from_micros(1);
            for source in [Source::Cache, Source::Filter, Source::Database] {
                super::authentication_duration(source, took);
            }
        });
        let auth = "tokenauth_authentications_total";
        let duration = "tokenauth_authentication_duration_seconds";
        assert_eq!(
            *keys.0.lock().unwrap(),
            [
                format!("{auth}{{keyword=Token,outcome=ok}}"),
                format!("{auth}{{keyword=Bearer,outcome=insufficient_scope}}"),
                format!("{auth}{{keyword=Token,outcome=unavailable}}"),
                format!("{auth}{{keyword=ApiKey,outcome=invalid}}"),
                format!("{duration}{{source=cache}}"),
                format!("{duration}{{source=filter}}"),
                format!("{duration}{{source=database}}"),
            ]
        );
    }

    /// The README's table of security events has a row for each.
    #[test]
    fn the_readme_documents_every_event() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let Ok(readme) = std::fs::read_to_string(readme) else {
            return; // a packaged crate, without the repository's README
        };
        for event in Event::ALL {
            let row = format!("| `{}` |", event.name());
            assert!(readme.contains(&row), "README: no row for {}", event.name());
        }
    }

    /// The README's table of metrics names each metric with its kind and labels, as recorded.
    #[test]
    fn the_readme_documents_every_metric() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let Ok(readme) = std::fs::read_to_string(readme) else {
            return; // a packaged crate, without the repository's README
        };
        for (name, kind, labels) in super::METRICS {
            let row = readme
                .lines()
                .find(|line| line.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("README: no row for {name}"));
            assert!(row.contains(kind), "{row}");
            for label in labels {
                assert!(row.contains(&format!("`{label}`")), "{row}: {label}");
            }
        }
    }
}
