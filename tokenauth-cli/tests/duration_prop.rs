//! Property tests of the CLI's duration parser (`parse_duration`, `before`). Bounded (256
//! cases a property); `fuzz/` has the unbounded fuzz target `duration`.
//!
//! `18446744073709551615s1000ms` made humantime's parser panic (found by fuzzing): the
//! parser no longer uses it, and `huge_sums_are_refused` keeps that input.

use chrono::{Duration, Utc};
use proptest::prelude::*;
use tokenauth_cli::{before, parse_duration};

/// humantime's units, long and short.
const UNITS: &[&str] = &[
    "ns", "us", "ms", "s", "sec", "secs", "m", "min", "mins", "h", "hr", "hours", "d", "day",
    "days", "w", "week", "weeks", "M", "month", "months", "y", "year", "years", "", "x",
];

/// Text shaped like humantime durations, valid or not: `<n><unit>` parts with spaces.
fn duration_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            prop_oneof![0u64..100, 0u64..100_000, any::<u64>()],
            proptest::sample::select(UNITS),
            proptest::sample::select(&["", " ", "  "][..]),
        ),
        1..5,
    )
    .prop_map(|parts| {
        parts
            .iter()
            .map(|(n, unit, space)| format!("{n}{unit}{space}"))
            .collect()
    })
}

/// Sums at and past `u64::MAX` seconds are refused, never a panic (humantime 2.4 panicked
/// on the first: its nanosecond carry overflowed `std::time::Duration::new`).
#[test]
fn huge_sums_are_refused() {
    for text in [
        "18446744073709551615s1000ms",
        "18446744073709551615s15ms65ms5ms915ms",
        "18446744073709551615s 500ms 500ms",
        "18446744073709551615s1000000us",
        "340282366920938463463374607431768211456ns",
    ] {
        assert!(parse_duration(text).is_err(), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Never panics; an accepted duration is between zero and `MAX_LIFETIME`, and `before`
    /// can subtract it from now.
    #[test]
    fn accepted_durations_are_bounded(text in prop_oneof![duration_like(), ".{0,30}", "[0-9a-z ]{0,20}"]) {
        if let Ok(d) = parse_duration(&text) {
            prop_assert!(d >= Duration::zero(), "{} for {:?}", d, text);
            prop_assert!(d <= tokenauth::rules::MAX_LIFETIME, "{} for {:?}", d, text);
            let now = Utc::now();
            prop_assert_eq!(before(now, d), Ok(now - d));
        }
    }

    /// `<n>s` is n seconds, `<n>m` n minutes, `<n>h` n hours.
    #[test]
    fn small_durations_have_their_value(n in 0i64..1_000_000_000) {
        prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(Duration::seconds(n)));
        prop_assert_eq!(parse_duration(&format!("{n}sec")), Ok(Duration::seconds(n)));
        let minutes = n % 10_000_000;
        prop_assert_eq!(parse_duration(&format!("{minutes}m")), Ok(Duration::minutes(minutes)));
        let hours = n % 800_000;
        prop_assert_eq!(parse_duration(&format!("{hours}h")), Ok(Duration::hours(hours)));
        // At most 500 000 h + 10^9 s: about 89 years.
        let hours = n % 500_000;
        prop_assert_eq!(
            parse_duration(&format!("{hours}h {n}s")),
            Ok(Duration::hours(hours) + Duration::seconds(n))
        );
    }

    /// Parts add up: `<text> <n>s` is n seconds more than `<text>`, up to the limit.
    #[test]
    fn parts_add_up(text in duration_like(), n in 0i64..100_000) {
        if let Ok(d) = parse_duration(&text) {
            let more = parse_duration(&format!("{text} {n}s"));
            if d + Duration::seconds(n) <= tokenauth::rules::MAX_LIFETIME {
                prop_assert_eq!(more, Ok(d + Duration::seconds(n)));
            } else {
                prop_assert!(more.is_err());
            }
        }
    }

    /// A decimal fraction counts: `<n>.5h` is n hours and 30 minutes.
    #[test]
    fn fractions_count(n in 0i64..100_000) {
        prop_assert_eq!(
            parse_duration(&format!("{n}.5h")),
            Ok(Duration::hours(n) + Duration::minutes(30))
        );
    }

    /// Days up to 100 years (36525 days) are accepted; more are refused.
    #[test]
    fn days_are_capped_at_a_hundred_years(n in prop_oneof![0i64..40_000, 36_520i64..36_530, 0i64..i64::MAX]) {
        let result = parse_duration(&format!("{n}d"));
        if n <= 36_525 {
            prop_assert_eq!(result, Ok(Duration::days(n)));
        } else {
            let message = result.unwrap_err();
            prop_assert!(!message.is_empty());
        }
    }
}
