//! `tokenauth check`: what an operator should fix in a tokenauth database, one line each.
//! It only reads: a SQLite file is opened as it is (without switching it to WAL, as
//! `Store::connect` would), and no key, digest or password hash is ever printed.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use tokenauth::sqlx;
use tokenauth::store::Problem;
use tokenauth::{Policy, Store};

use crate::output::{Failure, say, store_error};

/// The prefixes of the Django hashes that tokenauth verifies and upgrades to Argon2id at the
/// next login (Django's `argon2` keeps the PHC string's own `$argon2…` after its name).
const DJANGO_PREFIXES: [&str; 5] = [
    "pbkdf2_sha256$",
    "pbkdf2_sha1$",
    "bcrypt_sha256$",
    "scrypt$",
    "argon2$argon2",
];

/// OWASP's Argon2id configurations of equal strength (Password Storage Cheat Sheet): memory
/// in KiB and iterations, each with a parallelism of 1. A hash meeting none is under the
/// minimum.
const OWASP_ARGON2: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

/// Runs `tokenauth check` on `url`: prints each problem found, then fails if there was any.
pub(crate) async fn run(url: &str, max_ttl: Option<chrono::Duration>) -> Result<(), Failure> {
    let store = open(url).await?;
    let found = problems(&store, max_ttl).await;
    store.close().await;
    let found = found?;
    for line in &found {
        say!("{line}");
    }
    match found.len() {
        0 => {
            say!("No problems found");
            Ok(())
        }
        1 => Err("tokenauth check: 1 problem found".to_owned().into()),
        n => Err(format!("tokenauth check: {n} problems found").into()),
    }
}

/// A store on the existing database at `url`, without an authentication cache (nothing to
/// serve) and, on SQLite, without changing the file's journal mode.
async fn open(url: &str) -> Result<Store, Failure> {
    let policy = crate::env::with_peppers(Policy::default().no_auth_cache())?;
    if url.starts_with("sqlite:") {
        let cannot =
            |err: sqlx::Error| format!("error: cannot open the SQLite database {url}: {err}");
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .map_err(cannot)?
            .create_if_missing(false);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(cannot)?;
        return Ok(Store::from(pool).with_policy(policy));
    }
    let store = Store::connect_existing(url).await.map_err(store_error)?;
    Ok(store.with_policy(policy))
}

/// Runs `sql` for one value on whichever pool the store holds.
macro_rules! scalar {
    ($store:expr, $ty:ty, sqlite: $sqlite:expr, postgres: $postgres:expr) => {
        if let Some(pool) = $store.sqlite_pool() {
            sqlx::query_scalar::<_, $ty>(sqlx::AssertSqlSafe($sqlite))
                .fetch_one(pool)
                .await
        } else {
            let pool = $store
                .postgres_pool()
                .expect("a SQLite or PostgreSQL store");
            sqlx::query_scalar::<_, $ty>(sqlx::AssertSqlSafe($postgres))
                .fetch_one(pool)
                .await
        }
    };
}

/// The lines of the problems found.
async fn problems(
    store: &Store,
    max_ttl: Option<chrono::Duration>,
) -> Result<Vec<String>, Failure> {
    let failed = |err: sqlx::Error| Failure::from(format!("error: {err}"));
    let mut lines = Vec::new();
    let health = store.health().await;
    let mut tables = true;
    let mut peppered = true;
    for problem in health.problems() {
        match problem {
            Problem::Database(error) => {
                return Err(format!("error: the database does not answer: {error}").into());
            }
            Problem::MissingMigrations(missing) => {
                // Without the first migration, there are no tables to look into.
                tables = !missing.iter().any(|m| m.description == "initial");
                peppered = !missing.iter().any(|m| m.description == "peppered digests");
                lines.push(problem.to_string());
            }
            other => lines.push(other.to_string()),
        }
    }
    if let Some(pool) = store.sqlite_pool() {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .map_err(failed)?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            lines.push(format!(
                "the SQLite database is in `{mode}` journal mode, not WAL: readers and the \
                 writer block each other; switch it once with `PRAGMA journal_mode=WAL` \
                 (`Store::connect` does)"
            ));
        }
    }
    if !tables {
        return Ok(lines);
    }

    let expired_sqlite = "FROM tokenauth_tokens \
                          WHERE julianday(expires_at) < julianday('now', '-1 day')";
    let expired_postgres = "FROM tokenauth_tokens WHERE expires_at < now() - interval '1 day'";
    let expired: i64 = scalar!(store, i64,
        sqlite: format!("SELECT count(*) {expired_sqlite}"),
        postgres: format!("SELECT count(*) {expired_postgres}"))
    .map_err(failed)?;
    if expired > 0 {
        let oldest: DateTime<Utc> = scalar!(store, DateTime<Utc>,
            sqlite: format!("SELECT expires_at {expired_sqlite} ORDER BY julianday(expires_at) LIMIT 1"),
            postgres: format!("SELECT expires_at {expired_postgres} ORDER BY expires_at LIMIT 1"))
        .map_err(failed)?;
        lines.push(format!(
            "{} expired more than a day ago and {} still stored (the oldest expired at {}): \
             run `tokenauth prune-expired` on a schedule",
            tokens(expired),
            if expired == 1 { "is" } else { "are" },
            oldest.format("%Y-%m-%d %H:%M:%SZ")
        ));
    }

    if let Some(max_ttl) = max_ttl {
        let sql = "SELECT count(*) FROM tokenauth_tokens WHERE expires_at IS NULL";
        let forever: i64 = scalar!(store, i64, sqlite: sql, postgres: sql).map_err(failed)?;
        if forever > 0 {
            lines.push(format!(
                "{} never {} although --max-ttl is {}: revoke {} (`tokenauth list-tokens` \
                 shows them) and create new ones, which --max-ttl limits",
                tokens(forever),
                if forever == 1 { "expires" } else { "expire" },
                duration(max_ttl),
                if forever == 1 { "it" } else { "them" },
            ));
        }
    }

    if peppered {
        lines.extend(pepper_problems(store).await.map_err(failed)?);
    }

    let django = DJANGO_PREFIXES
        .iter()
        .map(|prefix| format!("substr(password_hash, 1, {}) = '{prefix}'", prefix.len()))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!("SELECT count(*) FROM tokenauth_users WHERE {django}");
    let waiting: i64 = scalar!(store, i64, sqlite: sql.clone(), postgres: sql).map_err(failed)?;
    if waiting > 0 {
        lines.push(format!(
            "{waiting} {} a Django password hash waiting for an upgrade: each is rehashed with \
             Argon2id at the user's next login; a user who no longer logs in keeps it until \
             `tokenauth set-password`",
            if waiting == 1 {
                "user still has"
            } else {
                "users still have"
            },
        ));
    }

    let weak = weak_argon2(store).await.map_err(failed)?;
    let count: i64 = weak.iter().map(|(_, n)| n).sum();
    if count > 0 {
        let sets = weak
            .iter()
            .map(|(params, n)| format!("{n} with {params}"))
            .collect::<Vec<_>>()
            .join(", ");
        lines.push(format!(
            "{count} Argon2 password {} parameters under OWASP's minimum (m=19456 KiB, t=2, \
             p=1) ({sets}): each is rehashed with the policy's parameters at the user's next \
             login; a user who no longer logs in keeps it until `tokenauth set-password`",
            if count == 1 {
                "hash uses"
            } else {
                "hashes use"
            },
        ));
    }
    Ok(lines)
}

/// The Argon2 parameter sets (`m=…,t=…,p=…`) under OWASP's minimum, with how many hashes
/// use each; only the parameters are read out of the database, never a salt or hash. A hash
/// with no `$` after its parameters is not a PHC string, and is left out (it matches no
/// password).
async fn weak_argon2(store: &Store) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let sql = |instr: &str| {
        // The text between `$m=` and the next `$`, prefixed with `m=`.
        let after = format!("substr(password_hash, {instr}(password_hash, '$m=') + 1)");
        format!(
            "SELECT substr({after}, 1, {instr}({after}, '$') - 1) AS params, count(*) \
             FROM tokenauth_users \
             WHERE (password_hash LIKE '$argon2%' OR password_hash LIKE 'argon2$argon2%') \
               AND {instr}(password_hash, '$m=') > 0 AND {instr}({after}, '$') > 0 \
             GROUP BY params ORDER BY params"
        )
    };
    let sets: Vec<(String, i64)> = if let Some(pool) = store.sqlite_pool() {
        sqlx::query_as(sqlx::AssertSqlSafe(sql("instr")))
            .fetch_all(pool)
            .await?
    } else {
        let pool = store.postgres_pool().expect("a SQLite or PostgreSQL store");
        sqlx::query_as(sqlx::AssertSqlSafe(sql("strpos")))
            .fetch_all(pool)
            .await?
    };
    Ok(sets
        .into_iter()
        .filter(|(params, _)| under_owasp(params))
        .collect())
}

/// Whether an Argon2 PHC string's parameters (`m=19456,t=2,p=1`) are under OWASP's minimum
/// (or unreadable).
fn under_owasp(params: &str) -> bool {
    let value = |name: &str| {
        params
            .split(',')
            .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse::<u32>().ok())
    };
    let (Some(m), Some(t), Some(p)) = (value("m"), value("t"), value("p")) else {
        return true;
    };
    p < 1
        || !OWASP_ARGON2
            .iter()
            .any(|&(memory, iterations)| m >= memory && t >= iterations)
}

/// `1 token`, `2 tokens`.
fn tokens(count: i64) -> String {
    format!("{count} token{}", if count == 1 { "" } else { "s" })
}

/// A duration as `--max-ttl` could be written: `90d`, `12h`, `30m` or `45s`.
fn duration(duration: chrono::Duration) -> String {
    let seconds = duration.num_seconds();
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Tokens whose digests the given peppers (`TOKENAUTH_PEPPER`) cannot verify: under a pepper
/// not given (refused as unknown keys; drop a pepper once this counts none under it), or,
/// with a pepper given, still plain SHA-256 (made before it).
async fn pepper_problems(store: &Store) -> Result<Vec<String>, sqlx::Error> {
    let given: Vec<i16> = store.policy().pepper_ids().collect();
    let sql = "SELECT pepper, count(*) FROM (SELECT key_pepper AS pepper FROM tokenauth_tokens \
               UNION ALL SELECT previous_key_pepper FROM tokenauth_tokens \
               WHERE previous_key_digest IS NOT NULL) AS digests GROUP BY pepper ORDER BY pepper";
    let counts: Vec<(Option<i16>, i64)> = if let Some(pool) = store.sqlite_pool() {
        sqlx::query_as(sql).fetch_all(pool).await?
    } else {
        let pool = store.postgres_pool().expect("a SQLite or PostgreSQL store");
        sqlx::query_as(sql).fetch_all(pool).await?
    };
    let mut lines = Vec::new();
    for (pepper, count) in counts {
        let keys = if count == 1 { "key is" } else { "keys are" };
        match pepper {
            Some(id) if !given.contains(&id) => lines.push(format!(
                "{count} {keys} digested under pepper {id}, which TOKENAUTH_PEPPER does not give: \
                 the application refuses them unless it has that pepper; give it here too, or \
                 revoke them before dropping it"
            )),
            None if !given.is_empty() => lines.push(format!(
                "{count} {keys} still digested with plain SHA-256, made before a pepper: a \
                 copy of the database can check guesses against them; roll or replace them \
                 to store them under the current pepper"
            )),
            _ => {}
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owasp_minimum() {
        assert!(!under_owasp("m=19456,t=2,p=1"));
        assert!(!under_owasp("m=47104,t=1,p=1"));
        assert!(!under_owasp("m=65536,t=3,p=4"));
        assert!(under_owasp("m=4096,t=3,p=1"));
        assert!(under_owasp("m=19456,t=1,p=1"));
        assert!(under_owasp("m=19456,t=2,p=0"));
        assert!(under_owasp("garbage"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration(chrono::Duration::days(90)), "90d");
        assert_eq!(duration(chrono::Duration::hours(12)), "12h");
        assert_eq!(duration(chrono::Duration::seconds(90)), "90s");
    }
}
