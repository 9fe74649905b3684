//! `tokenauth import-django`: reads Django's users and DRF's tokens, in pages, from one
//! read-only snapshot of the Django database, and imports them through `Store::import_begin`.

use chrono::{DateTime, NaiveDateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tokenauth::import;
use tokenauth::rules::{MAX_IMPORTED_KEY_LEN, MAX_PASSWORD_HASH_LEN, MAX_USERNAME_LEN};
use tokenauth::sqlx::{self, Connection as _, Row as _};
use tokenauth::{Key, Store};
use tokenauth_cli::{excerpt, printable, quoted_excerpt};
use zeroize::Zeroizing;

use crate::args::ImportDjango;
use crate::output::{Failure, say, store_error};

/// Rows read from Django per query (and imported per batch).
const PAGE: i64 = 1000;

/// The most characters read of a timestamp or a boolean: a hostile SQLite file can hold
/// megabytes in any column, and a page of rows must stay small.
const SHORT_VALUE: usize = 64;

/// At most this many warnings are listed; the rest are counted.
const LISTED_WARNINGS: usize = 20;

/// Reads a timestamp column: `timestamptz` (Django's `USE_TZ = True`), or a naive
/// timestamp taken as UTC (`USE_TZ = False`, and SQLite's text). `None`: NULL, or a value
/// over [`SHORT_VALUE`] characters (see [`bounded`]).
macro_rules! timestamp {
    ($row:expr, $column:literal) => {
        match $row.try_get::<Option<DateTime<Utc>>, _>($column) {
            Ok(at) => at,
            Err(_) => $row
                .try_get::<Option<NaiveDateTime>, _>($column)?
                .map(|at| at.and_utc()),
        }
    };
}

/// SQL for `column`, or NULL if its text is over `max` characters: a value that long is not
/// what the import looks for, and is not read whole (pages stay bounded in bytes).
fn bounded(column: &str, max: usize) -> String {
    format!("CASE WHEN length(CAST({column} AS TEXT)) <= {max} THEN {column} END")
}

/// SQL for the first `max` characters of `column` (as text).
fn prefix(column: &str, max: usize) -> String {
    format!("substr(CAST({column} AS TEXT), 1, {max})")
}

/// A user row of Django's, with what was read of it bounded.
struct DjangoUser {
    /// As [`import::User`], with `username` and `password_hash` cut after their longest
    /// acceptable length plus one character, so that the import can tell they are too long.
    user: import::User,
    /// The username's length in characters, in the Django database.
    username_chars: usize,
}

/// Django's database, in a read-only transaction: one snapshot for all of the reading.
enum Source {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

macro_rules! with_source {
    ($source:expr, $conn:ident => $body:expr) => {
        match $source {
            Source::Sqlite($conn) => $body,
            Source::Postgres($conn) => $body,
        }
    };
}

impl Source {
    async fn open(url: &str) -> Result<Source, String> {
        let failed = |err: sqlx::Error| format!("error: cannot open the Django database: {err}");
        if url.starts_with("sqlite:") {
            use std::str::FromStr as _;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(failed)?
                .read_only(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .map_err(failed)?;
            sqlx::query("BEGIN")
                .execute(&mut conn)
                .await
                .map_err(failed)?;
            Ok(Source::Sqlite(conn))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut conn = sqlx::PgConnection::connect(url).await.map_err(failed)?;
            sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut conn)
                .await
                .map_err(failed)?;
            Ok(Source::Postgres(conn))
        } else {
            Err("error: --from takes a sqlite:// or postgres:// URL".to_owned())
        }
    }

    /// The columns of `table` (none if there is no such table).
    async fn columns(&mut self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Source::Sqlite(conn) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                    .bind(table)
                    .fetch_all(&mut *conn)
                    .await
            }
            Source::Postgres(conn) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_name = $1 AND table_schema = ANY (current_schemas(false))",
                )
                .bind(table)
                .fetch_all(&mut *conn)
                .await
            }
        }
    }

    /// Checks that `table` has `columns`: a name that is not a column must not be read as
    /// something else (SQLite takes an unknown double-quoted name for a string).
    async fn check_columns(&mut self, table: &str, columns: &[&str]) -> Result<(), String> {
        let found = self
            .columns(table)
            .await
            .map_err(|err| format!("error: cannot read the Django database: {err}"))?;
        if found.is_empty() {
            return Err(format!(
                "error: the Django database has no table {table} (see --user-table, \
                 --token-table, --no-tokens)"
            ));
        }
        let missing: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|column| !found.iter().any(|found| found == column))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "error: the table {table} has no column {} (see --id-field, --username-field)",
                missing.join(", ")
            ))
        }
    }

    async fn count(&mut self, table: &str) -> Result<i64, sqlx::Error> {
        let sql = format!("SELECT count(*) FROM \"{table}\"");
        with_source!(self, conn => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await)
    }

    /// Up to [`PAGE`] users with an id above `after`, by id. Every value read is bounded:
    /// a page is at most about 1 MB whatever the Django database holds.
    async fn users(
        &mut self,
        options: &ImportDjango,
        after: i64,
    ) -> Result<Vec<(i64, DjangoUser)>, String> {
        let ImportDjango {
            user_table,
            username_field,
            id_field,
            ..
        } = options;
        let username = format!("\"{username_field}\"");
        let sql = format!(
            "SELECT CAST(\"{id_field}\" AS BIGINT) AS id, {} AS username, \
             CAST(length(CAST({username} AS TEXT)) AS BIGINT) AS username_chars, \
             {} AS password, {} AS is_active, {} AS date_joined FROM \"{user_table}\" \
             WHERE \"{id_field}\" > $1 ORDER BY \"{id_field}\" LIMIT $2",
            prefix(&username, MAX_USERNAME_LEN + 1),
            prefix("password", MAX_PASSWORD_HASH_LEN + 1),
            bounded("is_active", SHORT_VALUE),
            bounded("date_joined", SHORT_VALUE),
        );
        let page = with_source!(self, conn => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(PAGE)
                .fetch_all(&mut *conn)
                .await
                .map_err(read_failed)?;
            let mut page = Vec::with_capacity(rows.len());
            for row in rows {
                let read = || -> Result<_, sqlx::Error> {
                    let id: i64 = row.try_get("id")?;
                    let username: Option<String> = row.try_get("username")?;
                    let chars: Option<i64> = row.try_get("username_chars")?;
                    let password: Option<String> = row.try_get("password")?;
                    let is_active: Option<bool> = row.try_get("is_active")?;
                    let date_joined = timestamp!(row, "date_joined");
                    Ok((id, username, chars, password, is_active, date_joined))
                };
                page.push(read().map_err(read_failed)?);
            }
            page
        });
        let mut users = Vec::with_capacity(page.len());
        for (id, username, chars, password, is_active, date_joined) in page {
            let missing = |column: &str| {
                format!(
                    "error: user #{id} of {user_table} has no valid {column} (NULL, or a value \
                     over {SHORT_VALUE} characters); nothing was imported"
                )
            };
            let username = username.ok_or_else(|| {
                format!(
                    "error: user #{id} of {user_table} has no {username_field} (NULL); nothing \
                     was imported"
                )
            })?;
            let username_chars = chars
                .and_then(|chars| usize::try_from(chars).ok())
                .unwrap_or(0)
                .max(username.chars().count());
            users.push((
                id,
                DjangoUser {
                    user: import::User {
                        id: (!options.new_ids).then_some(id),
                        username,
                        password_hash: password,
                        is_active: is_active.ok_or_else(|| missing("is_active"))?,
                        date_joined: date_joined.ok_or_else(|| missing("date_joined"))?,
                    },
                    username_chars,
                },
            ));
        }
        Ok(users)
    }

    /// How many tokens have keys over [`MAX_IMPORTED_KEY_LEN`] bytes: not read, not imported.
    async fn oversized_keys(&mut self, options: &ImportDjango) -> Result<i64, sqlx::Error> {
        let sql = format!(
            "SELECT count(*) FROM \"{}\" WHERE octet_length(\"key\") > {MAX_IMPORTED_KEY_LEN}",
            options.token_table
        );
        with_source!(self, conn => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await)
    }

    /// Up to [`PAGE`] tokens with a key above `after`, by key: `(key, created, username)`.
    /// Keys over [`MAX_IMPORTED_KEY_LEN`] bytes are left out (see [`Source::oversized_keys`]),
    /// and usernames are read up to one character over [`MAX_USERNAME_LEN`]: a page stays
    /// small.
    async fn tokens(
        &mut self,
        options: &ImportDjango,
        after: &str,
    ) -> Result<Vec<(Zeroizing<String>, DateTime<Utc>, String)>, sqlx::Error> {
        let ImportDjango {
            user_table,
            username_field,
            id_field,
            token_table,
            ..
        } = options;
        let sql = format!(
            "SELECT t.\"key\" AS key, {} AS created, {} AS username \
             FROM \"{token_table}\" t JOIN \"{user_table}\" u ON u.\"{id_field}\" = t.user_id \
             WHERE t.\"key\" > $1 AND octet_length(t.\"key\") <= {MAX_IMPORTED_KEY_LEN} \
             ORDER BY t.\"key\" LIMIT $2",
            bounded("t.created", SHORT_VALUE),
            prefix(&format!("u.\"{username_field}\""), MAX_USERNAME_LEN + 1),
        );
        with_source!(self, conn => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|row| {
                let created = timestamp!(row, "created").ok_or_else(|| {
                    sqlx::Error::Decode(
                        format!(
                            "a token's `created` is NULL or over {SHORT_VALUE} characters"
                        )
                        .into(),
                    )
                })?;
                Ok((
                    Zeroizing::new(row.try_get("key")?),
                    created,
                    row.try_get("username")?,
                ))
            })
            .collect())
    }
}

/// Runs `tokenauth import-django`.
pub(crate) async fn import(store: &Store, options: ImportDjango) -> Result<(), Failure> {
    tokenauth::NewToken::named(options.token_name.as_str())
        .validate()
        .map_err(|err| format!("error: --token-name: {err}"))?;
    let mut source = Source::open(&options.from).await?;
    let ImportDjango {
        user_table,
        username_field,
        id_field,
        token_table,
        ..
    } = &options;
    source
        .check_columns(
            user_table,
            &[
                id_field,
                username_field,
                "password",
                "is_active",
                "date_joined",
            ],
        )
        .await?;
    if !options.no_tokens {
        source
            .check_columns(token_table, &["key", "created", "user_id"])
            .await?;
    }
    let users = source
        .count(&options.user_table)
        .await
        .map_err(read_failed)?;
    let tokens = if options.no_tokens {
        0
    } else {
        source.count(&options.token_table).await.map_err(|err| {
            format!(
                "error: cannot read DRF's tokens ({err}); pass --no-tokens to import the users \
                 only"
            )
        })?
    };
    let mut import = store.import_begin().await.map_err(store_error)?;

    // On a terminal only: indicatif draws nothing when standard error is not one.
    let progress = ProgressBar::new(u64::try_from(users + tokens).unwrap_or(0));
    progress.set_style(
        ProgressStyle::with_template("{msg:7} [{bar:40}] {pos}/{len} ({eta} left)")
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message("users");
    let mut after = i64::MIN;
    loop {
        let page = source.users(&options, after).await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        if last <= after {
            return Err(format!(
                "error: the column {id_field} of {user_table} does not order the users \
                 (an integer primary key is needed)"
            )
            .into());
        }
        after = last;
        let count = page.len() as u64;
        let mut users = Vec::with_capacity(page.len());
        for (
            id,
            DjangoUser {
                user,
                username_chars,
            },
        ) in page
        {
            if username_chars > MAX_USERNAME_LEN {
                // Only a prefix was read: the library could not say how long it is.
                return Err(format!(
                    "error: invalid username {} of user #{id}: use 1 to {MAX_USERNAME_LEN} \
                     letters, digits and `@`, `.`, `+`, `-`, `_` characters; nothing was imported",
                    quoted_excerpt(&user.username, username_chars)
                )
                .into());
            }
            users.push(user);
        }
        import.users(&users).await.map_err(import_error)?;
        progress.inc(count);
    }

    let mut unsendable = 0u64;
    let mut oversized = 0;
    if !options.no_tokens {
        oversized = source.oversized_keys(&options).await.map_err(read_failed)?;
        progress.set_message("tokens");
        let mut after = Zeroizing::new(String::new());
        loop {
            let page = source.tokens(&options, &after).await.map_err(read_failed)?;
            let Some((last, ..)) = page.last() else {
                break;
            };
            after = last.clone();
            let count = page.len() as u64;
            let mut batch = Vec::with_capacity(page.len());
            for (key, created, username) in page {
                // Whitespace or non-ASCII: no client can send it in an `Authorization` header.
                match Key::import(key.as_str()) {
                    Ok(key) => batch.push(import::Token {
                        username,
                        key,
                        created,
                        name: options.token_name.clone(),
                    }),
                    Err(_) => {
                        unsendable += 1;
                        warn(format_args!(
                            "the token of user {} has a key that no client can send \
                             (whitespace or non-ASCII characters): not imported",
                            excerpt(&username, username.chars().count())
                        ))?;
                    }
                }
            }
            import.tokens(&batch).await.map_err(import_error)?;
            progress.inc(count);
        }
    }
    progress.finish_and_clear();

    let report = if options.dry_run {
        let report = import.rollback().await.map_err(store_error)?;
        say!("Dry run: nothing was written. An import would do this:");
        report
    } else {
        import.commit().await.map_err(store_error)?
    };
    print_report(&report, unsendable, oversized)
}

fn warn(line: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    say!("warning: {line}");
    Ok(())
}

fn print_report(report: &import::Report, unsendable: u64, oversized: i64) -> Result<(), Failure> {
    for warning in report.warnings.iter().take(LISTED_WARNINGS) {
        // Usernames come from the database: escaped for the terminal.
        warn(format_args!("{}", printable(&warning.to_string())))?;
    }
    if report.warnings.len() > LISTED_WARNINGS {
        warn(format_args!(
            "… and {} more warnings",
            report.warnings.len() - LISTED_WARNINGS
        ))?;
    }
    say!(
        "Users: {} imported, {} already present",
        report.users_imported,
        report.users_present
    );
    say!(
        "Tokens: {} imported, {} already present",
        report.tokens_imported,
        report.tokens_present
    );
    if unsendable > 0 {
        say!("Skipped {unsendable} tokens whose keys no client can send");
    }
    if oversized > 0 {
        say!(
            "Skipped {oversized} tokens whose keys are over {MAX_IMPORTED_KEY_LEN} characters \
             (DRF's are 40): no client can send them"
        );
    }
    Ok(())
}

fn read_failed(err: sqlx::Error) -> String {
    format!("error: cannot read the Django database: {err}")
}

fn import_error(err: tokenauth::Error) -> String {
    match err {
        tokenauth::Error::Database(ref db)
            if db
                .as_database_error()
                .is_some_and(|db| db.message().contains("tokenauth_")) =>
        {
            format!("error: {err} (has `tokenauth migrate` been run on the target database?)")
        }
        // Usernames in the message come from the Django database: escaped for the terminal.
        other => printable(&store_error(other)),
    }
}
