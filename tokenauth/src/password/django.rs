//! Django's password hash formats (`django/contrib/auth/hashers.py`), verified so that users
//! imported from Django log in with their Django passwords, and are then upgraded to Argon2id.
//!
//! | Django hasher | stored as |
//! |---|---|
//! | `PBKDF2PasswordHasher` (Django's default) | `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` |
//! | `PBKDF2SHA1PasswordHasher` | `pbkdf2_sha1$<iterations>$<salt>$<base64 hash>` |
//! | `Argon2PasswordHasher` | `argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` (a PHC string after `argon2`) |
//! | `BCryptSHA256PasswordHasher` | `bcrypt_sha256$$2b$<cost>$<salt and hash>` (bcrypt of the SHA-256 hex digest) |
//! | `ScryptPasswordHasher` | `scrypt$<n>$<salt>$<r>$<p>$<base64 hash>` |
//! | unusable password | `!<random>` (never matches) |
//!
//! Each verification recomputes the hash as Django's `encode` does and compares the encoded
//! forms in constant time, as Django's `constant_time_compare` does. Parameters are bounded:
//! a stored hash asking for more work than [`MAX_PBKDF2_ITERATIONS`], [`MAX_BCRYPT_COST`] or
//! the scrypt limits never matches and costs the usual dummy work instead.
//!
//! Compiled with the `django` feature only (it brings the `bcrypt`, `scrypt`, `pbkdf2` and
//! `sha1` crates); without it, [`super::format`] still recognises these formats, and a hash
//! in one of them never matches.

use std::sync::atomic::{AtomicU64, Ordering};

use base64ct::{Base64, Encoding as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Django 5.2's `PBKDF2PasswordHasher.iterations` (and `PBKDF2SHA1PasswordHasher`'s). A wrong
/// password against a hash with fewer iterations costs the difference too, as Django's
/// `harden_runtime` does, so the time of a failed login does not tell when the user last
/// logged in to Django.
pub(crate) const DJANGO_PBKDF2_ITERATIONS: u32 = 1_000_000;

/// The most PBKDF2 iterations a stored hash may ask for (ten times Django 5.2's default).
pub(crate) const MAX_PBKDF2_ITERATIONS: u32 = 10 * DJANGO_PBKDF2_ITERATIONS;

/// The highest bcrypt cost a stored hash may ask for (Django's default is 12; each step
/// doubles the work).
pub(crate) const MAX_BCRYPT_COST: u32 = 16;

/// The most memory an scrypt hash may make a verification allocate (`128 · r · (n + p + 1)`
/// bytes: scrypt's `V`, `B` and `T` arrays), and the most work (`128 · r · n · p`).
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;
const MAX_SCRYPT_WORK: u64 = 4 * MAX_SCRYPT_MEMORY;

/// PBKDF2 iterations computed by this process, so tests can check structurally that a wrong
/// password costs Django's `harden_runtime` work.
static PBKDF2_ITERATIONS: AtomicU64 = AtomicU64::new(0);

/// How many PBKDF2 iterations this process has computed.
pub(crate) fn pbkdf2_iterations() -> u64 {
    PBKDF2_ITERATIONS.load(Ordering::Relaxed)
}

/// The PBKDF2 digests Django uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pbkdf2Digest {
    Sha256,
    Sha1,
}

/// A Django hash in a format other than a PHC string, parsed and within the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Legacy<'a> {
    Pbkdf2 {
        digest: Pbkdf2Digest,
        iterations: u32,
        salt: &'a str,
        hash: &'a str,
    },
    /// `$2b$…`, as the `bcrypt` module stores it after Django's `bcrypt_sha256$`.
    BcryptSha256 { bcrypt: &'a str },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: &'a str,
        hash: &'a str,
    },
}

impl<'a> Legacy<'a> {
    /// Parses the hash after its `algorithm$`, within the limits; `None`: malformed, over a
    /// limit, or not one of these formats.
    pub(crate) fn parse(algorithm: &str, rest: &'a str) -> Option<Self> {
        match algorithm {
            "pbkdf2_sha256" => pbkdf2(Pbkdf2Digest::Sha256, rest),
            "pbkdf2_sha1" => pbkdf2(Pbkdf2Digest::Sha1, rest),
            "bcrypt_sha256" => bcrypt_sha256(rest),
            "scrypt" => scrypt(rest),
            _ => None,
        }
    }
}

/// `<iterations>$<salt>$<hash>`
fn pbkdf2(digest: Pbkdf2Digest, rest: &str) -> Option<Legacy<'_>> {
    let mut parts = rest.splitn(3, '$');
    let iterations = parts.next()?.parse::<u32>().ok()?;
    let (salt, hash) = (parts.next()?, parts.next()?);
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return None;
    }
    Some(Legacy::Pbkdf2 {
        digest,
        iterations,
        salt,
        hash,
    })
}

/// `$2b$<cost>$<53 characters>` (the part after `bcrypt_sha256$`).
fn bcrypt_sha256(rest: &str) -> Option<Legacy<'_>> {
    let mut parts = rest.splitn(4, '$');
    let (empty, version, cost, _) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let cost = cost.parse::<u32>().ok()?;
    let known = matches!(version, "2a" | "2b" | "2x" | "2y");
    if !empty.is_empty() || !known || cost > MAX_BCRYPT_COST {
        return None;
    }
    Some(Legacy::BcryptSha256 { bcrypt: rest })
}

/// `<n>$<salt>$<r>$<p>$<hash>`
fn scrypt(rest: &str) -> Option<Legacy<'_>> {
    let mut parts = rest.splitn(5, '$');
    let n = parts.next()?.parse::<u64>().ok()?;
    let salt = parts.next()?;
    let r = parts.next()?.parse::<u32>().ok()?;
    let p = parts.next()?.parse::<u32>().ok()?;
    let hash = parts.next()?;
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
        return None;
    }
    let block = 128u64.checked_mul(u64::from(r))?;
    let memory = block.checked_mul(n.checked_add(u64::from(p))?.checked_add(1)?)?;
    let work = block.checked_mul(n)?.checked_mul(u64::from(p))?;
    if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    Some(Legacy::Scrypt {
        log_n,
        r,
        p,
        salt,
        hash,
    })
}

impl Legacy<'_> {
    /// Whether `password` matches, computed as Django's hasher `encode`s it.
    pub(crate) fn matches(&self, password: &str) -> bool {
        match *self {
            Legacy::Pbkdf2 {
                digest,
                iterations,
                salt,
                hash,
            } => {
                let computed = pbkdf2_base64(digest, password, salt, iterations);
                constant_time_eq(computed.as_bytes(), hash.as_bytes())
            }
            Legacy::BcryptSha256 { bcrypt } => {
                let hexdigest = crate::key::hex_lower(&Sha256::digest(password.as_bytes()));
                bcrypt::verify(hexdigest.as_bytes(), bcrypt).unwrap_or(false)
            }
            Legacy::Scrypt {
                log_n,
                r,
                p,
                salt,
                hash,
            } => {
                let Ok(params) = scrypt::Params::new(log_n, r, p) else {
                    return false;
                };
                let mut out = [0u8; 64];
                if scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out).is_err()
                {
                    return false;
                }
                constant_time_eq(Base64::encode_string(&out).as_bytes(), hash.as_bytes())
            }
        }
    }

    /// Whether this is a PBKDF2 hash (whose failed checks cost Django's iterations).
    pub(crate) fn is_pbkdf2(&self) -> bool {
        matches!(self, Legacy::Pbkdf2 { .. })
    }

    /// After a wrong password: Django's `harden_runtime`, the work a hash with Django's
    /// current parameters would have cost beyond this one's.
    pub(crate) fn harden(&self, password: &str) {
        if let Legacy::Pbkdf2 {
            digest,
            iterations,
            salt,
            ..
        } = *self
        {
            let extra = DJANGO_PBKDF2_ITERATIONS.saturating_sub(iterations);
            if extra > 0 {
                std::hint::black_box(pbkdf2_base64(digest, password, salt, extra));
            }
        }
    }
}

/// Django's default PBKDF2 work on `password` (the cost of checking a current Django hash),
/// done to pad a failed check.
pub(crate) fn pbkdf2_like_django(password: &str) {
    std::hint::black_box(pbkdf2_base64(
        Pbkdf2Digest::Sha256,
        password,
        "tokenauth-padding",
        DJANGO_PBKDF2_ITERATIONS,
    ));
}

fn pbkdf2_base64(digest: Pbkdf2Digest, password: &str, salt: &str, iterations: u32) -> String {
    PBKDF2_ITERATIONS.fetch_add(u64::from(iterations), Ordering::Relaxed);
    let (password, salt) = (password.as_bytes(), salt.as_bytes());
    match digest {
        Pbkdf2Digest::Sha256 => {
            let mut out = [0u8; 32];
            // Not `pbkdf2_hmac::<Sha256>`: a generic's loops are compiled in the crate that
            // names it, and tokenauth's debug builds (the suite's) are unoptimised, where
            // Django's 1,000,000 iterations take 2.3 s instead of 0.3 s. This function is not
            // generic: it is compiled in pbkdf2, optimised (the workspace's profile). It takes
            // at least `Params::MIN_ROUNDS` (1,000) iterations; fewer cost nothing anyway.
            match pbkdf2::Params::new_with_output_len(iterations, out.len()) {
                Ok(params) => pbkdf2::pbkdf2_hmac_with_params(
                    password,
                    salt,
                    pbkdf2::Algorithm::Pbkdf2Sha256,
                    params,
                    &mut out,
                ),
                Err(_) => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
            }
            Base64::encode_string(&out)
        }
        Pbkdf2Digest::Sha1 => {
            let mut out = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out);
            Base64::encode_string(&out)
        }
    }
}

/// Django's `constant_time_compare`: the lengths are not secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use crate::password::format::Format;

    #[test]
    fn formats_are_recognised() {
        assert!(matches!(
            Format::of("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            Format::Phc { django: false, .. }
        ));
        assert_eq!(
            Format::of("argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA"),
            Format::Phc {
                phc: "$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA",
                django: true
            }
        );
        for unusable in [
            "",
            "!",
            "!abcdefghij",
            "md5$salt$0123",
            "pbkdf2_sha256$0$salt$hash",
            "pbkdf2_sha256$99999999999$salt$hash",
            "pbkdf2_sha256$-1$salt$hash",
            "pbkdf2_sha256$1000",
            "bcrypt_sha256$$2b$31$abc",
            "bcrypt_sha256$2b$12$abc",
            "scrypt$16385$salt$8$1$hash",
            "scrypt$1099511627776$salt$8$1$hash",
            "scrypt$16384$salt$0$1$hash",
            "scrypt$16384$salt$8$4294967295$hash",
            "scrypt$2$salt$1048576$4$hash", // 128·r·p: 512 MiB of `B`
        ] {
            assert_eq!(Format::of(unusable), Format::Unusable, "{unusable}");
        }
    }
}
