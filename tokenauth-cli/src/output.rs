//! What a command prints: its lines on standard output ([`say!`]), and why it stopped
//! ([`Failure`]: one line for standard error).

use std::io::Write as _;

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The line to print on standard error.
    Message(String),
    /// Standard output was closed (e.g. piped into `head`): stop quietly.
    BrokenPipe,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Message(message)
    }
}

/// Prints one line on standard output; a closed pipe ends the command quietly
/// ([`Failure::BrokenPipe`], returned with `?`), and any other write error is reported.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))?
    };
}
pub(crate) use say;

/// What [`say!`] does.
pub(crate) fn line(line: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(|err| {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Message(format!("error: cannot write to standard output: {err}"))
        }
    })
}

/// One line for a store error, with a hint when the tables are missing.
pub(crate) fn store_error(err: tokenauth::Error) -> String {
    let text = err.to_string();
    let missing_tables = text.contains("no such table") || text.contains("does not exist");
    if missing_tables && matches!(err, tokenauth::Error::Database(_)) {
        format!("error: {text} (run `tokenauth migrate` first)")
    } else {
        format!("error: {text}")
    }
}
