use chrono::TimeZone as _;

use super::*;
use crate::models::Token;
use crate::store::entry::{claim_tag, pack, tag, unpack};
use crate::store::user::AuthUser;

/// Shaped like tokenauth's `User`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, tokenauth_macros::AuthUser)]
#[auth_user(table = "accounts", cacheable)]
struct Account {
    id: i64,
    username: String,
    is_active: bool,
    date_joined: DateTime<Utc>,
}

/// The same fields as [`Account`], another type.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, tokenauth_macros::AuthUser)]
#[auth_user(table = "accounts", cacheable)]
struct Twin {
    id: i64,
    username: String,
    is_active: bool,
    date_joined: DateTime<Utc>,
}

/// Shaped like Django's `auth_user`, with a field that is not read from the database.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, tokenauth_macros::AuthUser)]
#[auth_user(table = "members", cacheable)]
struct Member {
    id: i32,
    username: String,
    email: String,
    first_name: String,
    last_name: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: DateTime<Utc>,
    last_login: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    seen: Vec<String>,
}

/// A user type without a compact form.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, tokenauth_macros::AuthUser)]
#[auth_user(table = "plain")]
struct Plain {
    id: i64,
    is_active: bool,
}

/// Cacheable, without a compact form: kept as it is.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct Unpacked {
    id: i64,
}

impl AuthUser for Unpacked {
    const TABLE: &'static str = "unpacked";
    const COLUMNS: &'static [&'static str] = &["id"];
    const CACHEABLE: bool = true;
    fn is_active(&self) -> bool {
        true
    }
}

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
        allowed_ips: vec![
            "2001:db8::/32".parse().unwrap(),
            "0.0.0.0/0".parse().unwrap(),
        ],
        read_only: true,
        previous_key_until: Some(DateTime::from_timestamp(1_800_000_000, 1).unwrap()),
    }
}

fn account() -> Account {
    Account {
        id: i64::MIN,
        username: "alice".into(),
        is_active: false,
        date_joined: DateTime::<Utc>::MIN_UTC,
    }
}

/// `value` packed, and whether it reads back exactly, from exactly its bytes.
fn round_trip<T: Pack + PartialEq + std::fmt::Debug>(value: &T) -> Vec<u8> {
    let mut out = Packer::new();
    out.put(value);
    let bytes = out.as_bytes().to_vec();
    let mut from = Unpacker::new(&bytes);
    assert_eq!(from.take::<T>().as_ref(), Some(value));
    assert!(from.is_empty(), "{value:?}: bytes left over");
    for len in 0..bytes.len() {
        assert_eq!(
            Unpacker::new(&bytes[..len]).take::<T>(),
            None,
            "cut at {len}"
        );
    }
    bytes
}

#[test]
fn users_and_their_tokens_unpack_as_they_were_packed() {
    let user = account();
    for scopes in [&[][..], &["*"], &["orders:read", "", "ü"]] {
        let packed = pack(&user, &token(scopes)).unwrap();
        assert_eq!(
            unpack::<Account>(&packed),
            Some((user.clone(), token(scopes)))
        );
        // Any shorter or longer form is refused, never misread.
        for len in 0..packed.len() {
            assert_eq!(unpack::<Account>(&packed[..len]), None, "cut at {len}");
        }
        assert_eq!(unpack::<Account>(&[&packed[..], &[0]].concat()), None);
        assert_eq!(unpack::<Member>(&packed), None, "another type's entry");
    }
    assert!(token(&[]).last_used_at.is_some(), "the leap second exists");
}

#[test]
fn an_entry_is_read_only_as_the_type_that_wrote_it_even_with_the_same_fields() {
    let packed = pack(&account(), &token(&[])).unwrap();
    assert_eq!(unpack::<Twin>(&packed), None);
    let twin = Twin {
        id: 1,
        username: "bob".into(),
        is_active: true,
        date_joined: Utc::now(),
    };
    let packed_twin = pack(&twin, &token(&[])).unwrap();
    assert_ne!(packed[0], packed_twin[0], "each type its own tag");
    assert_eq!(unpack::<Account>(&packed_twin), None);
    assert_eq!(unpack::<Twin>(&packed_twin), Some((twin, token(&[]))));
    assert_eq!(
        claim_tag::<Account>(),
        Some(packed[0]),
        "a type keeps its tag"
    );
}

#[test]
fn django_shaped_users_unpack_as_they_were_packed_and_skipped_fields_as_default() {
    let mut user = Member {
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
        seen: Vec::new(),
    };
    for id in [i32::MIN, -1, i32::MAX] {
        user.id = id;
        let packed = pack(&user, &token(&["*"])).unwrap();
        assert_eq!(
            unpack::<Member>(&packed),
            Some((user.clone(), token(&["*"])))
        );
        assert_eq!(unpack::<Account>(&packed), None, "another type's entry");
    }
    user.seen = vec!["not a column".into()];
    let (unpacked, _) = unpack::<Member>(&pack(&user, &token(&[])).unwrap()).unwrap();
    assert_eq!(
        unpacked.seen,
        Vec::<String>::new(),
        "`#[sqlx(skip)]`: its default"
    );
}

#[test]
fn a_number_of_more_than_64_bits_is_refused() {
    let mut too_long = vec![0xff; 9];
    too_long.push(0x02);
    assert_eq!(Unpacker::new(&too_long).take::<u64>(), None);
    too_long[9] = 0x01;
    assert_eq!(Unpacker::new(&too_long).take::<u64>(), Some(u64::MAX));
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
        assert_eq!(round_trip(&value).len(), bytes, "{value}");
    }
    assert_eq!(round_trip(&127_u64).len(), 1);
    assert_eq!(round_trip(&128_u64).len(), 2);
    assert_eq!(round_trip(&u64::MAX).len(), 10);
}

#[test]
fn narrow_numbers_out_of_their_range_are_refused() {
    for value in [i8::MIN, i8::MAX] {
        round_trip(&value);
    }
    round_trip(&i16::MIN);
    round_trip(&u8::MAX);
    round_trip(&u16::MAX);
    round_trip(&u32::MAX);
    let wide = round_trip(&(i64::from(i32::MAX) + 1));
    assert_eq!(Unpacker::new(&wide).take::<i32>(), None);
    let wide = round_trip(&256_u64);
    assert_eq!(Unpacker::new(&wide).take::<u8>(), None);
    let negative = round_trip(&-1_i64);
    assert_eq!(Unpacker::new(&negative).take::<i8>(), Some(-1));
}

#[test]
fn every_field_type_reads_back_exactly_and_only_from_its_own_bytes() {
    round_trip(&true);
    round_trip(&false);
    assert_eq!(Unpacker::new(&[2]).take::<bool>(), None, "not a bool");
    round_trip(&String::new());
    round_trip(&"ü".repeat(100));
    assert_eq!(
        Unpacker::new(&[1, 0xff]).take::<String>(),
        None,
        "not UTF-8"
    );
    round_trip(&Some(Some(3_u32)));
    round_trip(&Option::<String>::None);
    round_trip(&vec![vec![1_i16, -1], vec![]]);
    round_trip(&-0.0_f64);
    round_trip(&f32::MIN_POSITIVE);
    assert_eq!(round_trip(&1.5_f64).len(), 8);
    let mut out = Packer::new();
    out.put(&f64::NAN);
    let read = Unpacker::new(out.as_bytes()).take::<f64>().unwrap();
    assert_eq!(read.to_bits(), f64::NAN.to_bits(), "NaN, bit for bit");
    round_trip(&DateTime::<Utc>::MAX_UTC);
    round_trip(&Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap());
    round_trip(&NaiveDateTime::MIN);
    round_trip(&NaiveDate::MAX);
    round_trip(&NaiveDate::MIN);
    // A count larger than the bytes left reserves nothing it cannot fill.
    assert_eq!(
        Unpacker::new(&[0xff, 0xff, 0xff, 0x0f]).take::<Vec<bool>>(),
        None
    );
}

#[test]
fn types_without_a_compact_form_are_not_packed() {
    let plain = Plain {
        id: 1,
        is_active: true,
    };
    assert_eq!(pack(&plain, &token(&[])), None, "not cacheable");
    assert_eq!(
        pack(&Unpacked { id: 1 }, &token(&[])),
        None,
        "packs nothing"
    );
    let packed = pack(&account(), &token(&[])).unwrap();
    assert_eq!(unpack::<Plain>(&packed), None);
    assert_eq!(unpack::<Unpacked>(&packed), None);
    assert_eq!(tag::<Unpacked>(), None, "no tag taken");
}
