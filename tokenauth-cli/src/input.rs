//! Secrets from standard input or a terminal prompt — never from the command line.

use std::io::{IsTerminal as _, Read as _};

/// The most read from standard input for one secret: a 4096-character password (Django's
/// limit) of 4-byte characters, and a line ending.
const MAX_SECRET_BYTES: u64 = 4 * 4096 + 2;

/// One secret line from standard input, without its line ending.
pub(crate) fn stdin_line(what: &str) -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| format!("error: cannot read the {what} from standard input: {err}"))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(format!(
            "error: the {what} read from standard input is too long"
        ));
    }
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        return Err(format!(
            "error: the {what} read from standard input is empty"
        ));
    }
    if line.contains('\n') {
        return Err(format!(
            "error: the {what} read from standard input has several lines; give one"
        ));
    }
    Ok(line.to_owned())
}

/// A new password: from standard input with `--password-stdin`, else typed twice at a prompt.
pub(crate) fn password(from_stdin: bool) -> Result<String, String> {
    if from_stdin {
        return stdin_line("password");
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "error: no password: pipe one with --password-stdin, create the user with \
                    --no-password, or run in a terminal to be prompted"
                .to_owned(),
        );
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|err| format!("error: cannot read the password: {err}"))?;
    if first.is_empty() {
        return Err("error: the password is empty".to_owned());
    }
    let second = rpassword::prompt_password("Password (again): ")
        .map_err(|err| format!("error: cannot read the password: {err}"))?;
    if first != second {
        return Err("error: the passwords do not match; nothing was changed".to_owned());
    }
    Ok(first)
}
