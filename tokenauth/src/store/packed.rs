//! The authentication cache's compact form of a token and its user: one allocation of
//! plain bytes per key (60 to 80 for a typical [`User`] and [`Token`]), instead of the two
//! structs, an `Arc` and a heap string per text field. A cache entry costs about 180 bytes
//! less this way (about 200 instead of 380, with the cache's slot), which keeps 100,000
//! cached keys within 20 MB; unpacking allocates the same strings a clone would.
//!
//! Only tokenauth's own user types are packed (the format is private, and read back only by
//! the code that wrote it); others are kept as they are (see [`super::cache`]).

use std::any::Any;

use chrono::{DateTime, Utc};

use crate::{Token, User};

/// A packed `(user, token)`: the user type's tag, then its fields and the token's. Shared,
/// so that a cache hit takes it out of the cache without copying it.
pub(crate) type Packed = std::sync::Arc<[u8]>;

const USER: u8 = 1;
#[cfg(all(feature = "django", feature = "postgres"))]
const DJANGO_USER: u8 = 2;

/// `(user, token)` packed, if `U` is one of tokenauth's own user types. (The structs are
/// taken apart field by field: a field added to one of them does not compile until it is
/// packed here and read back in [`unpack`].)
pub(crate) fn pack<U: 'static>(user: &U, token: &Token) -> Option<Packed> {
    let mut out = Writer(Vec::new());
    let user: &dyn Any = user;
    if let Some(User {
        id,
        username,
        is_active,
        date_joined,
    }) = user.downcast_ref::<User>()
    {
        out.0.reserve(96);
        out.u8(USER);
        out.i64(*id);
        out.str(username);
        out.bool(*is_active);
        out.time(date_joined);
    } else {
        #[cfg(all(feature = "django", feature = "postgres"))]
        if let Some(crate::django::DjangoUser {
            id,
            username,
            email,
            first_name,
            last_name,
            is_active,
            is_staff,
            is_superuser,
            date_joined,
            last_login,
        }) = user.downcast_ref::<crate::django::DjangoUser>()
        {
            out.0.reserve(128);
            out.u8(DJANGO_USER);
            out.i64((*id).into());
            out.str(username);
            out.str(email);
            out.str(first_name);
            out.str(last_name);
            out.bool(*is_active);
            out.bool(*is_staff);
            out.bool(*is_superuser);
            out.time(date_joined);
            out.optional_time(last_login.as_ref());
        }
    }
    if out.0.is_empty() {
        return None;
    }
    let Token {
        id,
        user_id,
        name,
        created,
        expires_at,
        last_used_at,
        scopes,
    } = token;
    out.i64(*id);
    out.i64(*user_id);
    out.str(name);
    out.time(created);
    out.optional_time(expires_at.as_ref());
    out.optional_time(last_used_at.as_ref());
    out.len(scopes.len());
    for scope in scopes {
        out.str(scope);
    }
    Some(out.0.into())
}

/// What [`pack`] packed, if it packed a `U`.
pub(crate) fn unpack<U: 'static>(packed: &[u8]) -> Option<(U, Token)> {
    let mut from = Reader(packed);
    let mut user: Option<U> = None;
    let slot: &mut dyn Any = &mut user;
    match from.u8()? {
        USER => {
            *slot.downcast_mut::<Option<User>>()? = Some(User {
                id: from.i64()?,
                username: from.string()?,
                is_active: from.bool()?,
                date_joined: from.time()?,
            });
        }
        #[cfg(all(feature = "django", feature = "postgres"))]
        DJANGO_USER => {
            *slot.downcast_mut::<Option<crate::django::DjangoUser>>()? =
                Some(crate::django::DjangoUser {
                    id: from.i64()?.try_into().ok()?,
                    username: from.string()?,
                    email: from.string()?,
                    first_name: from.string()?,
                    last_name: from.string()?,
                    is_active: from.bool()?,
                    is_staff: from.bool()?,
                    is_superuser: from.bool()?,
                    date_joined: from.time()?,
                    last_login: from.optional_time()?,
                });
        }
        _ => return None,
    }
    let token = Token {
        id: from.i64()?,
        user_id: from.i64()?,
        name: from.string()?,
        created: from.time()?,
        expires_at: from.optional_time()?,
        last_used_at: from.optional_time()?,
        scopes: {
            let count = from.len()?;
            // Bounded by what was packed: never more entries than bytes left.
            let mut scopes = Vec::with_capacity(count.min(from.0.len()));
            for _ in 0..count {
                scopes.push(from.string()?);
            }
            scopes
        },
    };
    // Nothing left over: bytes that were not read are not what `pack` wrote.
    from.0.is_empty().then_some((user?, token))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    /// Zigzag LEB128: small numbers, of either sign, in few bytes (an id below 8,192 in two).
    fn i64(&mut self, value: i64) {
        self.u64(((value << 1) ^ (value >> 63)).cast_unsigned());
    }

    /// LEB128: one byte below 128.
    fn u64(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.u8(u8::try_from(value & 0x7f).unwrap_or_default() | 0x80);
            value >>= 7;
        }
        self.u8(u8::try_from(value).unwrap_or_default());
    }

    fn len(&mut self, value: usize) {
        self.u64(u64::try_from(value).unwrap_or(u64::MAX));
    }

    fn str(&mut self, value: &str) {
        self.len(value.len());
        self.0.extend_from_slice(value.as_bytes());
    }

    /// Seconds and nanoseconds: every instant `DateTime` holds (leap seconds too), exactly.
    fn time(&mut self, value: &DateTime<Utc>) {
        self.i64(value.timestamp());
        self.u64(value.timestamp_subsec_nanos().into());
    }

    fn optional_time(&mut self, value: Option<&DateTime<Utc>>) {
        self.bool(value.is_some());
        if let Some(value) = value {
            self.time(value);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&byte, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(byte)
    }

    fn bool(&mut self) -> Option<bool> {
        self.u8().map(|byte| byte != 0)
    }

    fn i64(&mut self) -> Option<i64> {
        let zigzag = self.u64()?;
        Some((zigzag >> 1).cast_signed() ^ -(zigzag & 1).cast_signed())
    }

    fn u64(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..u64::BITS).step_by(7) {
            let byte = self.u8()?;
            if shift == 63 && byte > 1 {
                return None; // more than 64 bits
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    fn string(&mut self) -> Option<String> {
        let len = self.len()?;
        let (text, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    fn time(&mut self) -> Option<DateTime<Utc>> {
        let seconds = self.i64()?;
        let nanos = u32::try_from(self.u64()?).ok()?;
        DateTime::from_timestamp(seconds, nanos)
    }

    fn optional_time(&mut self) -> Option<Option<DateTime<Utc>>> {
        if self.bool()? {
            self.time().map(Some)
        } else {
            Some(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(scopes: &[&str]) -> Token {
        Token {
            id: 7,
            user_id: -3,
            name: "laptop ✓".repeat(40), // a name longer than one length byte holds
            created: DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            expires_at: Some(DateTime::<Utc>::MAX_UTC),
            // A leap second (its nanoseconds past 1e9): still exact.
            last_used_at: DateTime::from_timestamp(1_483_228_799, 1_500_000_000),
            scopes: scopes.iter().map(|&scope| scope.to_owned()).collect(),
        }
    }

    #[test]
    fn tokenauth_users_and_their_tokens_unpack_as_they_were_packed() {
        let user = User {
            id: i64::MIN,
            username: "alice".into(),
            is_active: false,
            date_joined: DateTime::<Utc>::MIN_UTC,
        };
        for scopes in [&[][..], &["*"], &["orders:read", "", "ü"]] {
            let packed = pack(&user, &token(scopes)).unwrap();
            assert_eq!(unpack::<User>(&packed), Some((user.clone(), token(scopes))));
            // Any shorter or longer form is refused, never misread.
            for len in 0..packed.len() {
                assert_eq!(unpack::<User>(&packed[..len]), None, "cut at {len}");
            }
            assert_eq!(unpack::<User>(&[&packed[..], &[0]].concat()), None);
            #[cfg(all(feature = "django", feature = "postgres"))]
            assert_eq!(unpack::<crate::django::DjangoUser>(&packed), None);
        }
        assert!(token(&[]).last_used_at.is_some(), "the leap second exists");
    }

    #[test]
    fn a_number_of_more_than_64_bits_is_refused() {
        let mut too_long = vec![0xff; 9];
        too_long.push(0x02);
        assert_eq!(Reader(&too_long).u64(), None);
        too_long[9] = 0x01;
        assert_eq!(Reader(&too_long).u64(), Some(u64::MAX));
    }

    #[cfg(all(feature = "django", feature = "postgres"))]
    #[test]
    fn django_users_unpack_as_they_were_packed_and_only_as_django_users() {
        let mut user = crate::django::DjangoUser {
            id: i32::MIN,
            username: "bob".into(),
            email: "bob@example.com".into(),
            first_name: "Bob".into(),
            last_name: String::new(),
            is_active: true,
            is_staff: true,
            is_superuser: false,
            date_joined: Utc::now(),
            last_login: Some(Utc::now()),
        };
        for id in [i32::MIN, -1, i32::MAX] {
            user.id = id;
            let packed = pack(&user, &token(&["*"])).unwrap();
            assert_eq!(
                unpack::<crate::django::DjangoUser>(&packed),
                Some((user.clone(), token(&["*"])))
            );
            assert_eq!(unpack::<User>(&packed), None, "another type's entry");
        }
    }

    #[test]
    fn numbers_take_few_bytes_and_read_back_exactly() {
        for (value, bytes) in [
            (0, 1),
            (-1, 1),
            (63, 1),
            (64, 2),
            (8_191, 2),
            (-8_192, 2),
            (1_700_000_000, 5),
            (i64::MAX, 10),
            (i64::MIN, 10),
        ] {
            let mut out = Writer(Vec::new());
            out.i64(value);
            assert_eq!(out.0.len(), bytes, "{value}");
            assert_eq!(Reader(&out.0).i64(), Some(value));
        }
    }

    #[test]
    fn other_types_are_not_packed() {
        assert_eq!(pack(&1_i32, &token(&[])), None);
        let packed = pack(
            &User {
                id: 1,
                username: String::new(),
                is_active: true,
                date_joined: Utc::now(),
            },
            &token(&[]),
        )
        .unwrap();
        assert_eq!(unpack::<i32>(&packed), None);
    }
}
