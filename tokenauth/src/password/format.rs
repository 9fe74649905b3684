//! What a stored password hash is: tokenauth's own Argon2 PHC string, one of Django's formats,
//! or none that can match. Telling them apart takes no hashing crate, so it is always
//! compiled; verifying Django's formats takes the `django` feature ([`super::django`]).

/// Django's prefix of an unusable password (`UNUSABLE_PASSWORD_PREFIX`).
const UNUSABLE_PREFIX: char = '!';

/// Django's hashers whose hashes tokenauth verifies with the `django` feature, as a stored
/// hash names them (the text before its first `$`).
const DJANGO_VERIFIED: [&str; 5] = [
    "pbkdf2_sha256",
    "pbkdf2_sha1",
    "argon2",
    "bcrypt_sha256",
    "scrypt",
];

/// What a stored password hash is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format<'a> {
    /// A PHC string (`$argon2id$…`): tokenauth's own, or Django's `argon2$` with the prefix
    /// removed (`django: true`).
    Phc { phc: &'a str, django: bool },
    /// One of Django's other formats.
    #[cfg(feature = "django")]
    Legacy(super::django::Legacy<'a>),
    /// One of Django's formats that the `django` feature verifies, in a build without it: it
    /// never matches.
    #[cfg(not(feature = "django"))]
    Django {
        /// The hasher, e.g. `pbkdf2_sha256` (one of [`DJANGO_VERIFIED`]).
        hasher: &'a str,
    },
    /// A hash that never matches: Django's unusable password, an unknown or unsupported
    /// algorithm (e.g. Django's deprecated `md5`), a malformed or over-limit hash.
    Unusable,
}

impl<'a> Format<'a> {
    /// Recognises a stored hash (without checking PHC strings: the caller does).
    pub(crate) fn of(stored: &'a str) -> Self {
        if stored.starts_with('$') {
            return Format::Phc {
                phc: stored,
                django: false,
            };
        }
        match stored.split_once('$') {
            Some((algorithm, rest)) if is_djangos_verified_hasher(algorithm) => {
                Format::django(stored, algorithm, rest)
            }
            _ => Format::Unusable, // includes `!…`, "" and Django's unsupported hashers
        }
    }

    /// A hash of one of [`DJANGO_VERIFIED`], parsed.
    #[cfg(feature = "django")]
    fn django(stored: &'a str, algorithm: &'a str, rest: &'a str) -> Self {
        if algorithm == "argon2" {
            // Django keeps the PHC string's leading `$`: `argon2` + `$argon2id$v=19$…`.
            return Format::Phc {
                phc: &stored[algorithm.len()..],
                django: true,
            };
        }
        super::django::Legacy::parse(algorithm, rest).map_or(Format::Unusable, Format::Legacy)
    }

    /// A hash of one of [`DJANGO_VERIFIED`], which this build cannot verify.
    #[cfg(not(feature = "django"))]
    fn django(_stored: &'a str, algorithm: &'a str, _rest: &'a str) -> Self {
        Format::Django { hasher: algorithm }
    }
}

/// Whether `hasher` (as [`hasher_name`] names it) is one of Django's whose hashes the `django`
/// feature verifies.
pub(crate) fn is_djangos_verified_hasher(hasher: &str) -> bool {
    DJANGO_VERIFIED.contains(&hasher)
}

/// The name of the Django hasher a stored hash comes from, for reports: `pbkdf2_sha256`,
/// `argon2`, `unusable`, …; `argon2id` for tokenauth's own.
pub(crate) fn hasher_name(stored: Option<&str>) -> &'static str {
    let Some(stored) = stored else {
        return "unusable";
    };
    if stored.starts_with(UNUSABLE_PREFIX) || stored.is_empty() {
        return "unusable";
    }
    // Only names of known formats: the text before a `$` could be anything, even a
    // password pasted into the wrong column.
    const UNSUPPORTED: &[&str] = &[
        "bcrypt",
        "md5",
        "sha1",
        "crypt",
        "unsalted_md5",
        "unsalted_sha1",
    ];
    match stored.split_once('$') {
        Some(("", _)) => "argon2id",
        Some((algorithm, _)) => DJANGO_VERIFIED
            .iter()
            .chain(UNSUPPORTED)
            .find(|known| **known == algorithm)
            .copied()
            .unwrap_or("unknown"),
        None => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hasher_names() {
        assert_eq!(hasher_name(None), "unusable");
        assert_eq!(hasher_name(Some("!x")), "unusable");
        assert_eq!(hasher_name(Some("pbkdf2_sha256$1$a$b")), "pbkdf2_sha256");
        assert_eq!(hasher_name(Some("scrypt$2$a$1$1$b")), "scrypt");
        assert_eq!(hasher_name(Some("$argon2id$v=19$x")), "argon2id");
        assert_eq!(hasher_name(Some("garbage")), "unknown");
        assert_eq!(hasher_name(Some("my secret$")), "unknown");
        assert_eq!(hasher_name(Some("md5$salt$hash")), "md5");
    }

    #[test]
    fn tokenauths_own_hashes_and_unusable_ones_need_no_feature() {
        assert_eq!(
            Format::of("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            Format::Phc {
                phc: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
                django: false
            }
        );
        for unusable in [
            "",
            "!",
            "!abcdefghij",
            "md5$salt$0123",
            "bcrypt$$2b$12$x",
            "x",
        ] {
            assert_eq!(Format::of(unusable), Format::Unusable, "{unusable}");
        }
    }

    /// Without the `django` feature, Django's formats are recognised — to be refused, and
    /// said why — and never parsed further.
    #[cfg(not(feature = "django"))]
    #[test]
    fn without_the_feature_djangos_formats_are_named() {
        for (stored, hasher) in [
            ("pbkdf2_sha256$1000000$salt$hash", "pbkdf2_sha256"),
            ("pbkdf2_sha1$1000000$salt$hash", "pbkdf2_sha1"),
            (
                "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA",
                "argon2",
            ),
            ("bcrypt_sha256$$2b$12$abc", "bcrypt_sha256"),
            ("scrypt$16384$salt$8$1$hash", "scrypt"),
            ("pbkdf2_sha256$0$malformed", "pbkdf2_sha256"),
        ] {
            assert_eq!(Format::of(stored), Format::Django { hasher }, "{stored}");
        }
    }
}
