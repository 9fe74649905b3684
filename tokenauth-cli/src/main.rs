//! `tokenauth`: manage the users and tokens of a tokenauth database (SQLite or PostgreSQL)
//! from the command line — DRF's `drf_create_token`, and what knox and Sanctum add.
//!
//! Keys are stored as digests, so a key is printed once, when it is created, and never again.
//! Passwords are read from standard input (`--password-stdin`) or a prompt, never from the
//! command line, where other users could see them.

mod args;
mod check;
mod commands;
mod django;
mod env;
mod input;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use output::Failure;

/// The CLI's log, on standard error: warnings; with `TOKENAUTH_LOG` (`text` or `json`), also
/// the security events of what it changes (target `tokenauth::security`: tokens created,
/// rolled, revoked), an audit trail of operators' changes for a log pipeline. `RUST_LOG`
/// replaces the filter.
fn init_log() -> Result<(), String> {
    use std::io::IsTerminal as _;

    let mode = std::env::var("TOKENAUTH_LOG").ok();
    let default = if mode.is_some() {
        "warn,tokenauth::security=info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let log = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    match mode.as_deref() {
        Some("json") => log.json().init(),
        Some("text") | None => log.init(),
        Some(other) => {
            return Err(format!(
                "error: TOKENAUTH_LOG must be `text` or `json`, not {other:?}"
            ));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    if let Err(message) = init_log() {
        let _ = writeln!(std::io::stderr(), "{message}");
        return ExitCode::from(2);
    }
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // `tokenauth list-tokens | head`: the reader has all it wants.
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            let _ = writeln!(std::io::stderr(), "{message}");
            ExitCode::FAILURE
        }
    }
}
