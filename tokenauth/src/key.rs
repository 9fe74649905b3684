//! Token keys: generation from the OS CSPRNG, import of existing keys, and the digest that
//! the database stores instead of the key.

use std::fmt;

use rand::TryRng as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize;

use crate::error::Error;
use crate::rules::{KEY_BYTES, MAX_IMPORTED_KEY_LEN};

/// The secret part of a token, as the client sends it after the keyword.
///
/// A `Key` is returned once, when a token is created; the database keeps only its SHA-256
/// digest, so it can never be shown again. `Key` has no `Display`, its `Debug` output is
/// redacted, and its memory is zeroed on drop. Read it with [`Key::expose_secret`].
///
/// ```
/// use tokenauth::Key;
///
/// let key = Key::generate()?;
/// assert_eq!(key.expose_secret().len(), 40);
/// assert!(key.expose_secret().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
/// assert_eq!(format!("{key:?}"), "Key(<redacted>)");
/// # Ok::<(), tokenauth::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// Generates a new key: [`KEY_BYTES`] bytes from the operating system's CSPRNG, as 40
    /// lowercase hexadecimal characters (Django REST framework's format).
    ///
    /// # Errors
    /// [`Error::Random`] if the operating system cannot provide random bytes.
    ///
    /// ```
    /// let a = tokenauth::Key::generate()?;
    /// let b = tokenauth::Key::generate()?;
    /// assert_ne!(a, b);
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = [0u8; KEY_BYTES];
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|err| Error::Random(err.to_string()))?;
        let key = hex_lower(&bytes);
        bytes.zeroize();
        Ok(Key(key))
    }

    /// Accepts an existing key, e.g. one copied from a Django `authtoken_token` table, so that
    /// clients keep working after a migration.
    ///
    /// The key must be 1 to [`MAX_IMPORTED_KEY_LEN`] visible ASCII characters (no
    /// whitespace), as any key DRF can authenticate is: anything else could not be sent in an
    /// `Authorization` header. Short keys are accepted, as DRF accepts them, but are easier to
    /// guess: [`Key::is_drf_format`] tells whether a key is what DRF generates.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] saying what is wrong (never echoing the key).
    ///
    /// ```
    /// use tokenauth::Key;
    ///
    /// let key = Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")?;
    /// assert_eq!(key.expose_secret(), "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b");
    /// assert!(Key::import("short").is_ok());
    /// assert!(Key::import("").is_err());
    /// assert!(Key::import("has a space in it, so no").is_err());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn import(key: impl Into<String>) -> Result<Self, Error> {
        let key = Key(key.into());
        let text = key.expose_secret();
        if text.is_empty() {
            return Err(Error::InvalidKey("a key cannot be empty"));
        }
        if text.len() > MAX_IMPORTED_KEY_LEN {
            return Err(Error::InvalidKey("a key has at most 256 characters"));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidKey(
                "a key may contain only visible ASCII characters, without whitespace",
            ));
        }
        Ok(key)
    }

    /// Whether the key is what Django REST framework generates: 40 lowercase hexadecimal
    /// characters (as [`Key::generate`] makes). An import warns about other keys.
    ///
    /// ```
    /// use tokenauth::Key;
    ///
    /// assert!(Key::generate()?.is_drf_format());
    /// assert!(!Key::import("short-key")?.is_drf_format());
    /// assert!(!Key::import("9944B09199C62BCF9418AD846DD0E4BBDFC6EE4B")?.is_drf_format());
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn is_drf_format(&self) -> bool {
        self.0.len() == 2 * KEY_BYTES
            && self
                .0
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// The key itself. Show it to its owner once; never log it.
    ///
    /// ```
    /// let key = tokenauth::Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")?;
    /// let header = format!("Token {}", key.expose_secret());
    /// assert_eq!(header, "Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b");
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The key's plain SHA-256 digest: what the database stores for it without a pepper
    /// (with [`Policy::pepper`](crate::Policy::pepper), new keys are stored as an HMAC
    /// instead).
    ///
    /// ```
    /// let key = tokenauth::Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")?;
    /// assert_eq!(key.digest(), tokenauth::key::KeyDigest::of(key.expose_secret()));
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }
}

/// How new keys are written. Keys of either format authenticate whatever the setting: the
/// database stores digests, so changing the format never invalidates existing tokens.
///
/// ```
/// use tokenauth::key::KeyFormat;
///
/// let key = KeyFormat::prefixed("tka")?.generate()?;
/// assert!(key.expose_secret().starts_with("tka_"));
/// assert_eq!(KeyFormat::prefixed("tka")?.check(key.expose_secret()), Some(true));
/// assert_eq!(KeyFormat::hex().generate()?.expose_secret().len(), 40);
/// # Ok::<(), tokenauth::Error>(())
/// ```
///
/// Either Django REST framework's 40 lowercase hex characters ([`KeyFormat::hex`], the
/// default) or `<prefix>_<27 base62 random characters><6 base62 characters of CRC32>`
/// ([`KeyFormat::prefixed`]: ≥ 160 random bits, GitHub's token format), which secret scanners
/// recognise and whose mistyped keys are refused without a database query. The prefix is
/// validated on construction, so every format in use produces sendable keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyFormat {
    prefix: Option<String>,
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^27 > 2^160: 27 base62 characters carry at least 160 random bits.
const RANDOM_CHARS: usize = 27;
const CHECKSUM_CHARS: usize = 6;

impl KeyFormat {
    /// Django REST framework's format: 40 lowercase hex characters.
    ///
    /// ```
    /// assert_eq!(tokenauth::key::KeyFormat::hex(), tokenauth::key::KeyFormat::default());
    /// ```
    pub const fn hex() -> Self {
        KeyFormat { prefix: None }
    }

    /// The prefix of the prefixed format, if this is it.
    ///
    /// ```
    /// assert_eq!(tokenauth::key::KeyFormat::prefixed("tka")?.prefix(), Some("tka"));
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The prefixed format with `prefix` (1 to 16 ASCII letters or digits).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for another prefix.
    ///
    /// ```
    /// assert!(tokenauth::key::KeyFormat::prefixed("my_app").is_err());
    /// ```
    pub fn prefixed(prefix: &str) -> Result<Self, Error> {
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidKey(
                "a key prefix is 1 to 16 ASCII letters or digits",
            ));
        }
        Ok(KeyFormat {
            prefix: Some(prefix.to_owned()),
        })
    }

    /// A new key in this format, from the OS CSPRNG.
    ///
    /// # Errors
    /// [`Error::Random`] if the operating system cannot provide random bytes.
    ///
    /// ```
    /// let key = tokenauth::key::KeyFormat::hex().generate()?;
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn generate(&self) -> Result<Key, Error> {
        let Some(prefix) = &self.prefix else {
            return Key::generate();
        };
        // Rejection sampling keeps every base62 character uniform.
        let mut random = String::with_capacity(RANDOM_CHARS);
        let mut bytes = [0u8; 64];
        while random.len() < RANDOM_CHARS {
            rand::rngs::SysRng
                .try_fill_bytes(&mut bytes)
                .map_err(|err| Error::Random(err.to_string()))?;
            for &b in &bytes {
                if b < 248 && random.len() < RANDOM_CHARS {
                    random.push(char::from(BASE62[usize::from(b % 62)]));
                }
            }
        }
        bytes.zeroize();
        let key = format!("{prefix}_{random}{}", checksum(&random));
        random.zeroize();
        Ok(Key(key))
    }

    /// For a key that claims this format (it starts with `<prefix>_`): whether its checksum
    /// holds. `None` for keys of another format, which only the database can judge.
    ///
    /// ```
    /// let format = tokenauth::key::KeyFormat::prefixed("tka")?;
    /// assert_eq!(format.check("tka_notavalidkey"), Some(false));
    /// assert_eq!(format.check("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"), None);
    /// # Ok::<(), tokenauth::Error>(())
    /// ```
    pub fn check(&self, key: &str) -> Option<bool> {
        let prefix = self.prefix.as_ref()?;
        let body = key.strip_prefix(prefix.as_str())?.strip_prefix('_')?;
        if body.len() != RANDOM_CHARS + CHECKSUM_CHARS || !body.is_ascii() {
            return Some(false);
        }
        let (random, sum) = body.split_at(RANDOM_CHARS);
        Some(checksum(random) == sum)
    }
}

/// CRC32 of the random part, as 6 base62 characters.
fn checksum(random: &str) -> String {
    let mut value = crc32fast::hash(random.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The SHA-256 digest of a key, as 64 lowercase hexadecimal characters: what the database
/// stores and looks tokens up by.
///
/// A fast hash is enough here: generated keys carry 160 random bits, so there is nothing for a
/// slow password hash to protect, and it keeps authentication to one indexed lookup.
/// Its `Debug` output is redacted too: a digest identifies a live token.
///
/// ```
/// use tokenauth::key::KeyDigest;
///
/// let digest = KeyDigest::of("abc");
/// assert_eq!(
///     digest.as_str(),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// assert_eq!(format!("{digest:?}"), "KeyDigest(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyDigest(String);

impl KeyDigest {
    /// Digests a key as presented by a client.
    ///
    /// ```
    /// let digest = tokenauth::key::KeyDigest::of("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b");
    /// assert_eq!(digest.as_str().len(), 64);
    /// ```
    pub fn of(key: &str) -> Self {
        KeyDigest::from_raw(&RawDigest::of(key))
    }

    /// The stored (hex) form of a raw digest.
    pub(crate) fn from_raw(raw: &RawDigest) -> Self {
        KeyDigest(hex_lower(&raw.0))
    }

    /// The digest as stored in the `key_digest` column.
    ///
    /// ```
    /// let digest = tokenauth::key::KeyDigest::of("abc");
    /// assert!(digest.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's SHA-256 as bytes: what the authentication cache and the live-key filter look
/// up, without the hex string that the database stores.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RawDigest(pub(crate) [u8; 32]);

impl RawDigest {
    pub(crate) fn of(key: &str) -> Self {
        RawDigest(Sha256::digest(key.as_bytes()).into())
    }

    /// A stored (hex) digest in its raw form; `None` if it is not 64 hexadecimal digits.
    pub(crate) fn from_hex(digest: &str) -> Option<Self> {
        decode_hex(digest)?.try_into().ok().map(RawDigest)
    }

    /// The digest's first two 64-bit words, big-endian: the same as the first 32 hex digits
    /// of its stored form read as two numbers ([`hex_words`]).
    pub(crate) fn words(&self) -> (u64, u64) {
        let mut first = [0; 8];
        let mut second = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        second.copy_from_slice(&self.0[8..16]);
        (u64::from_be_bytes(first), u64::from_be_bytes(second))
    }
}

/// The most peppers a [`Policy`](crate::Policy) holds at once: each is one more HMAC and one
/// more candidate in every lookup of a key not in the cache.
pub const MAX_PEPPERS: usize = 8;

/// The shortest pepper, in bytes: HMAC-SHA-256's block of security, 256 bits.
pub const MIN_PEPPER_LEN: usize = 32;

/// A server-side secret mixed into key digests ([`Policy::pepper`](crate::Policy::pepper)):
/// a key is stored as HMAC-SHA-256 under the current pepper, so that a dump of the database
/// alone cannot confirm a guessed key, nor be given a digest of a key someone chose.
#[derive(Clone)]
pub(crate) struct Pepper {
    pub(crate) id: i16,
    secret: zeroize::Zeroizing<Vec<u8>>,
}

impl Pepper {
    fn digest(&self, key: &str) -> RawDigest {
        use hmac::{KeyInit as _, Mac as _};
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(key.as_bytes());
        RawDigest(mac.finalize().into_bytes().into())
    }
}

/// The peppers of a policy, the current first: the one named current (then the `bool` is
/// true), else the highest id. Their `Debug` shows the ids only.
#[derive(Clone, Default)]
pub(crate) struct Peppers(std::sync::Arc<[Pepper]>, bool);

impl fmt::Debug for Peppers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|p| p.id)).finish()
    }
}

impl PartialEq for Peppers {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| a.id == b.id && *a.secret == *b.secret)
    }
}

impl Peppers {
    /// These peppers with `id` current (first); the others keep their order.
    pub(crate) fn with_current(&self, id: u16) -> Result<Peppers, Error> {
        let position = i16::try_from(id)
            .ok()
            .and_then(|id| self.0.iter().position(|p| p.id == id))
            .ok_or_else(|| {
                Error::InvalidPepper(format!(
                    "the current pepper {id} is not one of the peppers given: give it first"
                ))
            })?;
        let mut peppers = self.0.to_vec();
        let current = peppers.remove(position);
        peppers.insert(0, current);
        Ok(Peppers(peppers.into(), true))
    }
}

impl Eq for Peppers {}

impl Peppers {
    /// These peppers and `(id, secret)`, checked.
    pub(crate) fn with(&self, id: u16, secret: &[u8]) -> Result<Peppers, Error> {
        let id = i16::try_from(id)
            .map_err(|_| Error::InvalidPepper("a pepper's id is 0 to 32767".into()))?;
        if secret.len() < MIN_PEPPER_LEN {
            return Err(Error::InvalidPepper(format!(
                "a pepper is at least {MIN_PEPPER_LEN} random bytes (256 bits)"
            )));
        }
        if self.0.iter().any(|p| p.id == id) {
            return Err(Error::InvalidPepper(format!(
                "the pepper id {id} is given twice: give each pepper its own id"
            )));
        }
        if self.0.len() == MAX_PEPPERS {
            return Err(Error::InvalidPepper(format!(
                "at most {MAX_PEPPERS} peppers: drop one whose tokens are gone"
            )));
        }
        let named = self.1.then(|| self.0.first().map(|p| p.id)).flatten();
        let mut peppers = self.0.to_vec();
        peppers.push(Pepper {
            id,
            secret: zeroize::Zeroizing::new(secret.to_vec()),
        });
        // The highest id first, unless one was named current.
        peppers.sort_by_key(|p| (Some(p.id) != named, std::cmp::Reverse(p.id)));
        Ok(Peppers(peppers.into(), self.1))
    }

    /// The ids, the current first.
    pub(crate) fn ids(&self) -> impl Iterator<Item = i16> + '_ {
        self.0.iter().map(|p| p.id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many digests [`Peppers::candidates`] gives: one per pepper, and plain SHA-256.
    pub(crate) fn candidate_count(&self) -> usize {
        self.0.len() + 1
    }

    /// The digest a new key is stored with — HMAC-SHA-256 under the current pepper, or plain
    /// SHA-256 without one — and that pepper's id.
    pub(crate) fn stored(&self, key: &str) -> (KeyDigest, Option<i16>) {
        match self.0.first() {
            Some(pepper) => (KeyDigest::from_raw(&pepper.digest(key)), Some(pepper.id)),
            None => (KeyDigest::of(key), None),
        }
    }

    /// Every digest `key` may be stored with: under each pepper, the current first, then
    /// plain SHA-256 (keys stored before any pepper, or beside Django).
    pub(crate) fn candidates(&self, key: &str) -> Candidates {
        let mut candidates = Candidates {
            digests: [RawDigest([0; 32]); MAX_PEPPERS + 1],
            len: 0,
        };
        for pepper in self.0.iter() {
            candidates.digests[candidates.len] = pepper.digest(key);
            candidates.len += 1;
        }
        candidates.digests[candidates.len] = RawDigest::of(key);
        candidates.len += 1;
        candidates
    }
}

/// The digests a presented key may be stored with ([`Peppers::candidates`]): never empty;
/// one (plain SHA-256) without peppers. On the stack: no allocation per request.
#[derive(Clone, Copy)]
pub(crate) struct Candidates {
    digests: [RawDigest; MAX_PEPPERS + 1],
    len: usize,
}

impl Candidates {
    /// The candidates, the current pepper's first.
    pub(crate) fn as_slice(&self) -> &[RawDigest] {
        &self.digests[..self.len]
    }

    /// The first: the digest a key made now would be stored with.
    pub(crate) fn first(&self) -> &RawDigest {
        &self.digests[0]
    }

    /// The candidates as stored (hex), to bind in a query.
    pub(crate) fn stored(&self) -> Vec<KeyDigest> {
        self.as_slice().iter().map(KeyDigest::from_raw).collect()
    }
}

impl fmt::Debug for Candidates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Candidates({} digests)", self.len)
    }
}

/// The bytes of hexadecimal `text` (either case); `None` if it is not an even number of hex
/// digits.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// The first two 64-bit words of a stored (hex) digest; `None` if it is not one.
pub(crate) fn hex_words(digest: &str) -> Option<(u64, u64)> {
    let first = u64::from_str_radix(digest.get(0..16)?, 16).ok()?;
    let second = u64::from_str_radix(digest.get(16..32)?, 16).ok()?;
    Some((first, second))
}

impl fmt::Debug for RawDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawDigest(<redacted>)")
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyDigest(<redacted>)")
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_digest_reads_back_as_its_raw_form_and_nothing_else_does() {
        let digest = KeyDigest::of("key");
        assert_eq!(
            RawDigest::from_hex(digest.as_str()),
            Some(RawDigest::of("key"))
        );
        assert_eq!(
            RawDigest::from_hex(&digest.as_str().to_uppercase()),
            Some(RawDigest::of("key"))
        );
        let plus = format!("+1{}", &digest.as_str()[2..]);
        for bad in ["", "ab", &digest.as_str()[1..], &plus, &"g".repeat(64)] {
            assert_eq!(RawDigest::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_are_40_lowercase_hex_and_distinct() {
        let keys: Vec<Key> = (0..64).map(|_| Key::generate().unwrap()).collect();
        for key in &keys {
            let text = key.expose_secret();
            assert_eq!(text.len(), 40);
            assert!(text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        let distinct: std::collections::HashSet<&str> =
            keys.iter().map(Key::expose_secret).collect();
        assert_eq!(distinct.len(), keys.len());
    }

    #[test]
    fn import_rejects_unusable_keys_without_echoing_them() {
        for bad in [
            "",
            "with space inside the key",
            "tab\tinside-the-key-value",
            "non-ascii-ключ-значение",
        ] {
            let err = Key::import(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidKey(_)), "{bad:?}");
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad));
            }
        }
        assert!(Key::import("x".repeat(257)).is_err());
        assert!(Key::import("x".repeat(256)).is_ok());
        assert!(Key::import("sixteen-chars!!!").is_ok());
    }

    #[test]
    fn digest_is_sha256_hex() {
        // Known answer: SHA-256 of the empty string.
        assert_eq!(
            KeyDigest::of("").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn prefixed_keys_carry_a_checksum() {
        let format = KeyFormat::prefixed("tka").unwrap();
        let key = format.generate().unwrap();
        let text = key.expose_secret();
        assert_eq!(text.len(), 4 + RANDOM_CHARS + CHECKSUM_CHARS);
        assert_eq!(format.check(text), Some(true));
        // Any one-character change breaks the checksum.
        let mut broken = text.to_owned().into_bytes();
        let last = broken.len() - 1;
        broken[10] = if broken[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            format.check(std::str::from_utf8(&broken).unwrap()),
            Some(false)
        );
        broken[last] = b'!';
        assert_eq!(
            format.check(std::str::from_utf8(&broken).unwrap()),
            Some(false)
        );
        assert_eq!(format.check("tka_short"), Some(false));
        assert_eq!(format.check("other_whatever"), None);
        assert_ne!(format.generate().unwrap(), key);
    }

    #[test]
    fn debug_is_redacted() {
        let key = Key::import("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b").unwrap();
        assert!(!format!("{key:?}").contains("9944"));
        assert!(!format!("{:?}", key.digest()).contains(key.digest().as_str()));
    }
}
