//! Pieces of the `tokenauth` command that are tested and fuzzed on their own: reading
//! durations from the command line, and showing stored text on a terminal. Not a stable API.

#![doc(hidden)]

use chrono::{DateTime, Utc};

/// Parses a duration as the CLI takes it (`30d`, `12h`, `1h 30m`, humantime's syntax), at
/// most [`tokenauth::MAX_LIFETIME`] (100 years).
///
/// ```
/// use tokenauth_cli::parse_duration;
///
/// assert_eq!(parse_duration("1h 30m").unwrap(), chrono::Duration::minutes(90));
/// assert!(parse_duration("1000000y").unwrap_err().contains("at most 100 years"));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    chrono::Duration::from_std(duration)
        .ok()
        .filter(|duration| *duration <= tokenauth::MAX_LIFETIME)
        .ok_or_else(|| "the duration is too long: at most 100 years".to_owned())
}

/// `now - duration`, or a message if that is before the earliest time tokenauth keeps.
///
/// ```
/// let now = chrono::Utc::now();
/// let week = chrono::Duration::days(7);
/// assert_eq!(tokenauth_cli::before(now, week).unwrap(), now - week);
/// assert!(tokenauth_cli::before(now, chrono::Duration::MAX).is_err());
/// ```
pub fn before(now: DateTime<Utc>, duration: chrono::Duration) -> Result<DateTime<Utc>, String> {
    now.checked_sub_signed(duration)
        .ok_or_else(|| "the duration is too long".to_owned())
}

/// Stored text as it is safe to print on a terminal: control characters (which could move
/// the cursor, forge a row or recolour the screen), invisible formatting characters
/// (bidirectional controls, zero-width characters) and backslashes are escaped (`\n`,
/// `\u{1b}`, `\u{202e}`, `\\`); everything else is shown as it is.
///
/// ```
/// use tokenauth_cli::printable;
///
/// assert_eq!(printable("laptop"), "laptop");
/// assert_eq!(printable("a\n7  mallory"), "a\\n7  mallory");
/// assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
/// assert_eq!(printable("Zoë 用户"), "Zoë 用户");
/// assert_eq!(printable("a\u{200b}b\u{61c}"), "a\\u{200b}b\\u{61c}");
/// ```
pub fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_format(c) || c == '\\' {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// Unicode's invisible format characters (category `Cf`) that can disguise text on a
/// terminal: bidirectional controls, zero-width characters, soft hyphen, word joiners, the
/// byte order mark, interlinear annotations and tag characters.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        | '\u{e0001}' | '\u{e0020}'..='\u{e007f}')
}
