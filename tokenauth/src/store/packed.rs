//! The compact form of the values a user type holds: [`Pack`], written to a [`Packer`] and
//! read back from an [`Unpacker`]. A user type has a compact form if its
//! [`AuthUser::pack`](super::AuthUser::pack) writes one — as `#[derive(AuthUser)]` with
//! `cacheable` generates, field by field, from the fields' [`Pack`] implementations. The
//! authentication cache keeps a user and their token in this form (see `entry`).

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Utc};

/// A field type that has a compact form in the authentication cache: written to a
/// [`Packer`] and read back, exactly, from an [`Unpacker`]. Implemented for the integers,
/// `bool`, `f32`, `f64`, `String`, chrono's `DateTime<Utc>`, `NaiveDateTime` and
/// `NaiveDate`, and `Option` and `Vec` of any of them; every field of a user type with
/// `#[derive(AuthUser)]` and `cacheable` must be one (see [`AuthUser::pack`](super::AuthUser::pack)).
///
/// For a type of your own, write its parts with their own `Pack` implementations, and read
/// them back in the same order; `None` when the bytes are not what `pack` wrote:
///
/// ```
/// use tokenauth::store::{Pack, Packer, Unpacker};
///
/// #[derive(Debug, PartialEq)]
/// enum Plan {
///     Free,
///     Paid { seats: u32 },
/// }
///
/// impl Pack for Plan {
///     fn pack(&self, out: &mut Packer) {
///         match self {
///             Plan::Free => out.put(&0_u8),
///             Plan::Paid { seats } => {
///                 out.put(&1_u8);
///                 out.put(seats);
///             }
///         }
///     }
///     fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
///         match from.take::<u8>()? {
///             0 => Some(Plan::Free),
///             1 => Some(Plan::Paid { seats: from.take()? }),
///             _ => None,
///         }
///     }
/// }
///
/// let mut out = Packer::new();
/// out.put(&Plan::Paid { seats: 3 });
/// let mut from = Unpacker::new(out.as_bytes());
/// assert_eq!(from.take(), Some(Plan::Paid { seats: 3 }));
/// assert!(from.is_empty());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no compact form for tokenauth's authentication cache: it does not \
               implement `tokenauth::store::Pack`",
    label = "not `tokenauth::store::Pack`",
    note = "a `cacheable` user type is packed field by field: implement \
            `tokenauth::store::Pack` for `{Self}`, or leave out `cacheable`"
)]
pub trait Pack: Sized {
    /// Writes the value.
    fn pack(&self, out: &mut Packer);
    /// Reads back what [`Pack::pack`] wrote; `None` if the bytes are not that.
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self>;
}

/// Where [`Pack::pack`] writes: the bytes of one cache entry.
///
/// ```
/// let mut out = tokenauth::store::Packer::new();
/// out.put(&"alice".to_owned());
/// assert_eq!(out.as_bytes(), b"\x05alice");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Packer {
    pub(super) bytes: Vec<u8>,
}

impl Packer {
    /// An empty packer.
    ///
    /// ```
    /// assert!(tokenauth::store::Packer::new().as_bytes().is_empty());
    /// ```
    pub fn new() -> Packer {
        Packer::default()
    }

    /// Writes `value` (the same as `value.pack(self)`).
    ///
    /// ```
    /// let mut out = tokenauth::store::Packer::new();
    /// out.put(&true);
    /// out.put(&Some(-1_i64));
    /// assert_eq!(out.as_bytes(), [1, 1, 1]);
    /// ```
    pub fn put<T: Pack>(&mut self, value: &T) {
        value.pack(self);
    }

    /// What was written so far.
    ///
    /// ```
    /// let mut out = tokenauth::store::Packer::new();
    /// out.put(&300_u64);
    /// assert_eq!(out.as_bytes(), [0xac, 0x02]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn byte(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// LEB128: one byte below 128.
    fn u64(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.byte(u8::try_from(value & 0x7f).unwrap_or_default() | 0x80);
            value >>= 7;
        }
        self.byte(u8::try_from(value).unwrap_or_default());
    }

    /// Zigzag LEB128: small numbers, of either sign, in few bytes (an id below 8,192 in two).
    fn i64(&mut self, value: i64) {
        self.u64(((value << 1) ^ (value >> 63)).cast_unsigned());
    }

    fn len(&mut self, value: usize) {
        self.u64(u64::try_from(value).unwrap_or(u64::MAX));
    }
}

/// What [`Pack::unpack`] reads from: the bytes of one cache entry, consumed as they are read.
///
/// ```
/// use tokenauth::store::Unpacker;
///
/// let mut from = Unpacker::new(b"\x05alice\x01");
/// assert_eq!(from.take::<String>().as_deref(), Some("alice"));
/// assert_eq!(from.take::<bool>(), Some(true));
/// assert!(from.is_empty());
/// assert_eq!(from.take::<bool>(), None, "nothing left");
/// ```
#[derive(Debug, Clone)]
pub struct Unpacker<'a> {
    bytes: &'a [u8],
}

impl<'a> Unpacker<'a> {
    /// Reads `bytes` from the start.
    ///
    /// ```
    /// let from = tokenauth::store::Unpacker::new(&[]);
    /// assert!(from.is_empty());
    /// ```
    pub fn new(bytes: &'a [u8]) -> Unpacker<'a> {
        Unpacker { bytes }
    }

    /// Reads a `T` (the same as `T::unpack(self)`); `None` if the bytes are not one.
    ///
    /// ```
    /// let mut from = tokenauth::store::Unpacker::new(&[0x80]);
    /// assert_eq!(from.take::<u64>(), None, "a number cut short");
    /// ```
    pub fn take<T: Pack>(&mut self) -> Option<T> {
        T::unpack(self)
    }

    /// Whether everything was read.
    ///
    /// ```
    /// let mut from = tokenauth::store::Unpacker::new(&[1, 0]);
    /// assert_eq!(from.take::<bool>(), Some(true));
    /// assert!(!from.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn byte(&mut self) -> Option<u8> {
        let (&byte, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(byte)
    }

    fn u64(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..u64::BITS).step_by(7) {
            let byte = self.byte()?;
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

    fn i64(&mut self) -> Option<i64> {
        let zigzag = self.u64()?;
        Some((zigzag >> 1).cast_signed() ^ -(zigzag & 1).cast_signed())
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }

    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.bytes.split_at_checked(len)?;
        self.bytes = rest;
        Some(taken)
    }
}

impl Pack for bool {
    fn pack(&self, out: &mut Packer) {
        out.byte(u8::from(*self));
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        match from.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl Pack for u64 {
    fn pack(&self, out: &mut Packer) {
        out.u64(*self);
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        from.u64()
    }
}

impl Pack for i64 {
    fn pack(&self, out: &mut Packer) {
        out.i64(*self);
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        from.i64()
    }
}

/// The narrower integers, as the 64-bit one of their sign (a value out of range is refused).
macro_rules! pack_as {
    ($wide:ty: $($narrow:ty),*) => {$(
        impl Pack for $narrow {
            fn pack(&self, out: &mut Packer) {
                <$wide>::from(*self).pack(out);
            }
            fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
                <$wide>::unpack(from)?.try_into().ok()
            }
        }
    )*};
}
pack_as!(u64: u8, u16, u32);
pack_as!(i64: i8, i16, i32);

/// Floating-point numbers, bit for bit (NaNs and signed zeros included).
macro_rules! pack_float {
    ($($float:ty: $bits:ty),*) => {$(
        impl Pack for $float {
            fn pack(&self, out: &mut Packer) {
                out.bytes.extend_from_slice(&self.to_bits().to_le_bytes());
            }
            fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
                let bytes = from.bytes(size_of::<$float>())?.try_into().ok()?;
                Some(<$float>::from_bits(<$bits>::from_le_bytes(bytes)))
            }
        }
    )*};
}
pack_float!(f32: u32, f64: u64);

impl Pack for String {
    fn pack(&self, out: &mut Packer) {
        out.len(self.len());
        out.bytes.extend_from_slice(self.as_bytes());
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        let len = from.len()?;
        std::str::from_utf8(from.bytes(len)?)
            .ok()
            .map(str::to_owned)
    }
}

/// Seconds and nanoseconds: every instant `DateTime` holds (leap seconds too), exactly.
impl Pack for DateTime<Utc> {
    fn pack(&self, out: &mut Packer) {
        out.i64(self.timestamp());
        out.u64(self.timestamp_subsec_nanos().into());
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        let seconds = from.i64()?;
        let nanos = u32::try_from(from.u64()?).ok()?;
        DateTime::from_timestamp(seconds, nanos)
    }
}

/// As the same instant in UTC.
impl Pack for NaiveDateTime {
    fn pack(&self, out: &mut Packer) {
        self.and_utc().pack(out);
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        DateTime::<Utc>::unpack(from).map(|time| time.naive_utc())
    }
}

/// As days from the first day of the common era.
impl Pack for NaiveDate {
    fn pack(&self, out: &mut Packer) {
        out.i64(self.num_days_from_ce().into());
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        NaiveDate::from_num_days_from_ce_opt(i32::unpack(from)?)
    }
}

impl<T: Pack> Pack for Option<T> {
    fn pack(&self, out: &mut Packer) {
        self.is_some().pack(out);
        if let Some(value) = self {
            value.pack(out);
        }
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        if bool::unpack(from)? {
            T::unpack(from).map(Some)
        } else {
            Some(None)
        }
    }
}

impl<T: Pack> Pack for Vec<T> {
    fn pack(&self, out: &mut Packer) {
        out.len(self.len());
        for item in self {
            item.pack(out);
        }
    }
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        let count = from.len()?;
        // Bounded by what was packed: never more items than bytes left.
        let mut items = Vec::with_capacity(count.min(from.bytes.len()));
        for _ in 0..count {
            items.push(T::unpack(from)?);
        }
        Some(items)
    }
}

#[cfg(test)]
mod tests;
