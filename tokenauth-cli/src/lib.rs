//! Pieces of the `tokenauth` command that are tested and fuzzed on their own: reading
//! durations from the command line, and showing stored text on a terminal. Not a stable API.

#![doc(hidden)]

use chrono::{DateTime, Utc};

/// Parses a duration as the CLI takes it — humantime's syntax: numbers (optionally with a
/// decimal fraction) each followed by a unit, e.g. `30d`, `12h`, `1h 30m`, `1.5h`, `2 weeks`
/// — of at most [`tokenauth::rules::MAX_LIFETIME`] (100 years). Units: `ns`, `us`/`µs`, `ms`,
/// `s`/`sec`/`seconds`, `m`/`min`/`minutes`, `h`/`hr`/`hours`, `d`/`days`, `w`/`wk`/`weeks`,
/// `M`/`months` (30.44 days), `y`/`yr`/`years` (365.25 days).
///
/// Parsed here with checked arithmetic rather than by `humantime`, whose parser panics on
/// some sums near `u64::MAX` seconds (found by fuzzing `fuzz/`'s `duration` target).
///
/// ```
/// use tokenauth_cli::parse_duration;
///
/// assert_eq!(parse_duration("1h 30m").unwrap(), chrono::Duration::minutes(90));
/// assert_eq!(parse_duration("1.5h").unwrap(), chrono::Duration::minutes(90));
/// assert!(parse_duration("1000000y").unwrap_err().contains("at most 100 years"));
/// assert!(parse_duration("18446744073709551615s15ms65ms5ms915ms").is_err());
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("-5s").unwrap_err().contains("cannot be negative"));
/// ```
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    const TOO_LONG: &str = "the duration is too long: at most 100 years";
    let max = u128::try_from(
        tokenauth::rules::MAX_LIFETIME
            .num_nanoseconds()
            .unwrap_or(i64::MAX),
    )
    .unwrap_or(u128::MAX);
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err("an empty duration: write e.g. `30d` or `1h 30m`".to_owned());
    }
    if rest.starts_with('-') {
        return Err("a duration cannot be negative: write e.g. `30d` or `1h 30m`".to_owned());
    }
    let mut total: u128 = 0; // nanoseconds
    while !rest.is_empty() {
        let whole = take_digits(&mut rest);
        if whole.is_empty() {
            return Err(format!("expected a number at `{rest}`"));
        }
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
            fraction = take_digits(&mut rest);
            if fraction.is_empty() {
                return Err("expected digits after the decimal point".to_owned());
            }
        }
        rest = rest.trim_start();
        let unit_len = rest
            .find(|c: char| !(c.is_ascii_alphabetic() || c == 'µ'))
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_len);
        let Some(unit_nanos) = unit_nanos(unit) else {
            return Err(if unit.is_empty() {
                format!("a unit is needed after `{whole}`: e.g. `{whole}d` or `{whole}h`")
            } else {
                format!("unknown unit `{unit}`: use s, m, h, d, w, M or y")
            });
        };
        // Digits beyond what fits are too long anyway: u128 holds 38 of them.
        let whole: u128 = whole.parse().map_err(|_| TOO_LONG.to_owned())?;
        let mut nanos = whole.checked_mul(unit_nanos).ok_or(TOO_LONG)?;
        // Eighteen fraction digits are finer than a nanosecond of any unit; more are dropped,
        // which also keeps the arithmetic below in range.
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let numerator: u128 = fraction.parse().map_err(|_| TOO_LONG.to_owned())?;
            let denominator = 10u128.pow(fraction.len() as u32);
            nanos = nanos
                .checked_add(numerator * unit_nanos / denominator)
                .ok_or(TOO_LONG)?;
        }
        total = total
            .checked_add(nanos)
            .filter(|t| *t <= max)
            .ok_or(TOO_LONG)?;
        rest = after.trim_start();
    }
    let total = i64::try_from(total).map_err(|_| TOO_LONG.to_owned())?;
    Ok(chrono::Duration::nanoseconds(total))
}

/// Splits the leading ASCII digits off `text`.
fn take_digits<'a>(text: &mut &'a str) -> &'a str {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, rest) = text.split_at(end);
    *text = rest;
    digits
}

/// Nanoseconds in a unit, by humantime's names.
fn unit_nanos(unit: &str) -> Option<u128> {
    const SECOND: u128 = 1_000_000_000;
    Some(match unit {
        "nanos" | "nsec" | "ns" => 1,
        "usec" | "us" | "µs" => 1_000,
        "millis" | "msec" | "ms" => 1_000_000,
        "seconds" | "second" | "secs" | "sec" | "s" => SECOND,
        "minutes" | "minute" | "min" | "mins" | "m" => 60 * SECOND,
        "hours" | "hour" | "hr" | "hrs" | "h" => 3_600 * SECOND,
        "days" | "day" | "d" => 86_400 * SECOND,
        "weeks" | "week" | "wk" | "wks" | "w" => 7 * 86_400 * SECOND,
        "months" | "month" | "M" => 2_630_016 * SECOND, // 30.44 days
        "years" | "year" | "yr" | "yrs" | "y" => 31_557_600 * SECOND, // 365.25 days
        _ => return None,
    })
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

/// A value read from elsewhere, as a message shows it: [`printable`], and cut to its first
/// 100 characters with an ellipsis and its length (`total_chars`, which may be more than
/// `text` holds when only a prefix was read) when it is longer.
///
/// ```
/// use tokenauth_cli::excerpt;
///
/// assert_eq!(excerpt("alice", 5), "alice");
/// assert_eq!(excerpt("a\nb", 3), "a\\nb");
/// let prefix = "u".repeat(151);
/// assert_eq!(excerpt(&prefix, 5_242_880), format!("{}… (5242880 characters)", &prefix[..100]));
/// ```
pub fn excerpt(text: &str, total_chars: usize) -> String {
    shown(text, total_chars, "")
}

/// [`excerpt`] in backticks, the length outside them.
///
/// ```
/// use tokenauth_cli::quoted_excerpt;
///
/// assert_eq!(quoted_excerpt("alice", 5), "`alice`");
/// let prefix = "u".repeat(151);
/// assert_eq!(quoted_excerpt(&prefix, 200), format!("`{}…` (200 characters)", &prefix[..100]));
/// ```
pub fn quoted_excerpt(text: &str, total_chars: usize) -> String {
    shown(text, total_chars, "`")
}

fn shown(text: &str, total_chars: usize, quote: &str) -> String {
    const SHOWN: usize = 100;
    let end = text.char_indices().nth(SHOWN).map(|(end, _)| end);
    let total = total_chars.max(text.chars().count());
    match end {
        None if total <= SHOWN => format!("{quote}{}{quote}", printable(text)),
        _ => format!(
            "{quote}{}…{quote} ({total} characters)",
            printable(&text[..end.unwrap_or(text.len())])
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn humantimes_syntax() {
        for (text, expected) in [
            ("30d", Duration::days(30)),
            ("12h", Duration::hours(12)),
            ("1h 30m", Duration::minutes(90)),
            ("1h30m", Duration::minutes(90)),
            ("2 weeks", Duration::weeks(2)),
            ("1.5h", Duration::minutes(90)),
            ("500ms", Duration::milliseconds(500)),
            ("1M", Duration::seconds(2_630_016)),
            ("1y", Duration::seconds(31_557_600)),
            ("100y", Duration::seconds(3_155_760_000)),
            (" 7d ", Duration::days(7)),
            ("0s", Duration::zero()),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text:?}");
        }
        for text in [
            "",
            "d",
            "5",
            "5 parsecs",
            "1..5h",
            "1.h",
            "-5s",
            "5s!",
            "100y 1s",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
        let long = "9".repeat(10_000);
        assert!(parse_duration(&format!("{long}s")).is_err());
        assert!(parse_duration(&format!("1.{long}s")).is_ok());
    }
}
