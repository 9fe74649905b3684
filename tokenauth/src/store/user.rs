//! The user types that tokens authenticate: the [`AuthUser`] trait, which tokenauth's own
//! [`User`](crate::User), Django's user (`tokenauth::django::DjangoUser`) and an application's
//! types implement (by hand or with `#[derive(AuthUser)]`).

use super::backend::DecodeRow;
use super::packed::{Packer, Unpacker};
use super::watch::Watch;

/// A user type that tokens authenticate: tokenauth's own [`User`](crate::User), or an application's type
/// read from the application's own users table.
///
/// `TABLE`, `ID_COLUMN` and `COLUMNS` are written into the SQL as they are: they must be
/// trusted identifiers from your code, never user input.
///
/// Authentication is one query: the token row of `TOKENS_TABLE` joined to `TABLE` on
/// `TABLE.ID_COLUMN = TOKENS_TABLE.user_id`, selecting `COLUMNS` from the user table
/// (the token's columns carry a `tokenauth_token_` prefix, so column names do not clash).
///
/// `#[derive(AuthUser)]` ([`macro@crate::AuthUser`]) implements it from the type's fields,
/// as tokenauth's own [`User`](crate::User) and `django::DjangoUser` do; by hand:
///
/// ```
/// use tokenauth::AuthUser;
///
/// #[derive(Clone, sqlx::FromRow)]
/// struct Account {
///     id: i64,
///     email: String,
///     disabled: bool,
/// }
///
/// impl AuthUser for Account {
///     const TABLE: &'static str = "accounts";
///     const COLUMNS: &'static [&'static str] = &["id", "email", "disabled"];
///     const TOKENS_TABLE: &'static str = "account_tokens";
///     fn is_active(&self) -> bool {
///         !self.disabled
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tokenauth user type: it does not implement `tokenauth::AuthUser`",
    label = "not a `tokenauth::AuthUser`",
    note = "implement `tokenauth::AuthUser` for `{Self}` (its table, columns and `is_active`), \
            or take `tokenauth::User`"
)]
pub trait AuthUser: DecodeRow + Clone + Send + Sync + Unpin + 'static {
    /// The table holding the users (a trusted identifier: it is written into the SQL).
    const TABLE: &'static str;
    /// The primary key column that `tokenauth_tokens.user_id` refers to.
    const ID_COLUMN: &'static str = "id";
    /// The columns to select, read by the type's `sqlx::FromRow` implementation.
    const COLUMNS: &'static [&'static str];
    /// The table holding these users' tokens: `tokenauth_tokens` for tokenauth's own
    /// [`User`](crate::User); for an application's own users, a table with the columns of
    /// `tokenauth_tokens` whose `user_id` references `TABLE` (see `examples/custom_user`).
    const TOKENS_TABLE: &'static str = "tokenauth_tokens";
    /// Whether authentications of this type may be cached, and unknown keys refused by the
    /// live-key filter (see [`Policy::auth_cache`](crate::Policy::auth_cache)): only if
    /// triggers report every change of `TABLE` and `TOKENS_TABLE` to tokenauth's change feed,
    /// as the migrations do for [`User`](crate::User) and `django::DjangoUser`.
    /// `false` by default: an application's own tables are read on every request.
    ///
    /// A cached user is kept in the cache's compact form if the type has one
    /// ([`AuthUser::pack`]), else as a clone.
    const CACHEABLE: bool = false;
    /// The tables that tokenauth's change feed must watch for this type to be cached, if
    /// they are not tokenauth's own (which every store watches): registered with the store's
    /// cache when it first authenticates the type. Set by tokenauth's own types
    /// (`DjangoUser`) through `#[derive(AuthUser)]`'s hidden `watch = …`; a type is cached
    /// only if a group the store watches covers both its `TABLE` and its `TOKENS_TABLE`.
    #[doc(hidden)]
    const WATCH: Option<&'static Watch> = None;
    /// Whether the user may authenticate; `false` answers `User inactive or deleted.`
    fn is_active(&self) -> bool;

    /// Writes the user in the authentication cache's compact form (one buffer of plain bytes
    /// per key, about half the memory of a clone), used only if [`AuthUser::CACHEABLE`]: each
    /// field with its [`Pack`](crate::store::Pack) implementation, read back in the same order by
    /// [`AuthUser::unpack`]. Writing nothing — the default — means that the type has no
    /// compact form: its cached users are kept as clones. `#[derive(AuthUser)]` with
    /// `cacheable` writes both methods, field by field.
    ///
    /// The cache reads an entry back only as the type that wrote it, and only if `unpack`
    /// read it to the end; a debug build checks, as it packs, that `unpack` reads back what
    /// `pack` wrote.
    ///
    /// ```
    /// use tokenauth::AuthUser;
    /// use tokenauth::store::{Packer, Unpacker};
    ///
    /// #[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
    /// struct Account {
    ///     id: i64,
    ///     email: String,
    ///     disabled: bool,
    /// }
    ///
    /// impl AuthUser for Account {
    ///     const TABLE: &'static str = "accounts";
    ///     const COLUMNS: &'static [&'static str] = &["id", "email", "disabled"];
    ///     const CACHEABLE: bool = true;
    ///     fn is_active(&self) -> bool {
    ///         !self.disabled
    ///     }
    ///     fn pack(&self, out: &mut Packer) {
    ///         out.put(&self.id);
    ///         out.put(&self.email);
    ///         out.put(&self.disabled);
    ///     }
    ///     fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
    ///         Some(Account { id: from.take()?, email: from.take()?, disabled: from.take()? })
    ///     }
    /// }
    ///
    /// let account = Account { id: 1, email: "a@example.com".into(), disabled: false };
    /// let mut out = Packer::new();
    /// account.pack(&mut out);
    /// assert_eq!(Account::unpack(&mut Unpacker::new(out.as_bytes())), Some(account));
    /// ```
    fn pack(&self, out: &mut Packer) {
        let _ = out;
    }

    /// Reads back what [`AuthUser::pack`] wrote; `None` (the default) if the bytes are not
    /// that. See [`AuthUser::pack`].
    ///
    /// ```
    /// use tokenauth::store::Unpacker;
    /// use tokenauth::{AuthUser, User};
    ///
    /// assert_eq!(User::unpack(&mut Unpacker::new(&[])), None, "nothing to read");
    /// ```
    fn unpack(from: &mut Unpacker<'_>) -> Option<Self> {
        let _ = from;
        None
    }
}
