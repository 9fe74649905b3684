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
mod input;
mod output;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use output::Failure;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
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
