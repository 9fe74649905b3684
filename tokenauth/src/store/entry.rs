//! The authentication cache's entry: a token and its user in their compact form, one
//! allocation of plain bytes per key (60 to 80 for a typical [`User`](crate::User) and
//! [`Token`]), instead of the two structs, an `Arc` and a heap string per text field. A cache
//! entry costs about 180 bytes less this way (about 200 instead of 380, with the cache's
//! slot), which keeps 100,000 cached keys within 20 MB; unpacking allocates the same strings a
//! clone would.
//!
//! Users of a type without a compact form are kept as they are (see [`super::cache`]). An
//! entry starts with a tag that this module gives each packed type (its place in a list of the
//! types packed in this process), so it is read back only as the type that wrote it. The
//! format is private to the process: it is read back only by the code that wrote it.

use std::any::TypeId;
use std::sync::OnceLock;

use super::packed::{Packer, Unpacker};
use super::user::AuthUser;
use crate::models::Token;

/// A packed `(user, token)`: the user type's tag, then its fields and the token's. Shared,
/// so that a cache hit takes it out of the cache without copying it.
pub(crate) type Packed = std::sync::Arc<[u8]>;

/// The types packed in this process, by tag: a type's tag is the place of its `TypeId` here,
/// claimed the first time one of its users is packed (a slot is filled only after those
/// before it, so the list has no gaps). Past 255 types, no more are packed.
static PACKED_TYPES: [OnceLock<TypeId>; 255] = [const { OnceLock::new() }; 255];

/// The tag of `U`, claimed if it has none yet.
pub(super) fn claim_tag<U: 'static>() -> Option<u8> {
    let id = TypeId::of::<U>();
    let place = PACKED_TYPES
        .iter()
        .position(|slot| *slot.get_or_init(|| id) == id)?;
    u8::try_from(place).ok()
}

/// The tag of `U`, if one of its users was ever packed.
pub(super) fn tag<U: 'static>() -> Option<u8> {
    let id = TypeId::of::<U>();
    let place = PACKED_TYPES
        .iter()
        .map_while(OnceLock::get)
        .position(|packed| *packed == id)?;
    u8::try_from(place).ok()
}

/// `(user, token)` packed, if `U` has a compact form ([`AuthUser::pack`] writes one).
pub(crate) fn pack<U: AuthUser>(user: &U, token: &Token) -> Option<Packed> {
    if !U::CACHEABLE {
        return None;
    }
    let mut out = Packer {
        bytes: Vec::with_capacity(128),
    };
    out.byte(0); // the tag, once the type has shown that it packs
    user.pack(&mut out);
    if out.bytes.len() == 1 {
        return None; // nothing written: no compact form
    }
    debug_assert!(
        {
            let mut from = Unpacker::new(&out.bytes[1..]);
            U::unpack(&mut from).is_some() && from.is_empty()
        },
        "`<{} as AuthUser>::unpack` does not read back exactly what its `pack` wrote",
        std::any::type_name::<U>()
    );
    out.bytes[0] = claim_tag::<U>()?;
    let Token {
        id,
        user_id,
        name,
        created,
        expires_at,
        last_used_at,
        scopes,
        allowed_ips,
        read_only,
        previous_key_until,
    } = token;
    out.put(id);
    out.put(user_id);
    out.put(name);
    out.put(created);
    out.put(expires_at);
    out.put(last_used_at);
    out.put(scopes);
    out.put(&crate::models::join_networks(allowed_ips));
    out.put(read_only);
    out.put(previous_key_until);
    Some(out.bytes.into())
}

/// What [`pack`] packed, if it packed a `U`.
pub(crate) fn unpack<U: AuthUser>(packed: &[u8]) -> Option<(U, Token)> {
    let (&tag_of_entry, rest) = packed.split_first()?;
    if tag::<U>() != Some(tag_of_entry) {
        return None; // another type's entry
    }
    let mut from = Unpacker::new(rest);
    let user = U::unpack(&mut from)?;
    let token = Token {
        id: from.take()?,
        user_id: from.take()?,
        name: from.take()?,
        created: from.take()?,
        expires_at: from.take()?,
        last_used_at: from.take()?,
        scopes: from.take()?,
        allowed_ips: crate::models::split_networks(&from.take::<String>()?),
        read_only: from.take()?,
        previous_key_until: from.take()?,
    };
    // Nothing left over: bytes that were not read are not what `pack` wrote.
    from.is_empty().then_some((user, token))
}
