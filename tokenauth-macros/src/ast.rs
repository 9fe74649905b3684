//! The item as the macro understands it: which parameters are the `User` and the `Token`.

use syn::{Attribute, FnArg, GenericArgument, Pat, PathArguments, Signature, Type, TypePath};

/// Whether `attr` is `#[name]` or `#[path::to::name(...)]`.
pub(crate) fn is_attr(attr: &Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// Which role a parameter plays.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    User,
    Token,
}

/// A `User` or `Token` parameter, kept as written.
pub(crate) struct AuthParam {
    pub(crate) role: Role,
    pub(crate) pat: Box<Pat>,
    /// The type as written, e.g. `Option<User>`.
    pub(crate) ty: Box<Type>,
    /// For a user: the user type itself (the `T` of `Option<T>`).
    pub(crate) inner: Type,
    pub(crate) optional: bool,
}

/// The parameters of a handler or operation, split into authentication and the rest.
pub(crate) struct Params {
    pub(crate) receiver: Option<FnArg>,
    pub(crate) auth: Vec<AuthParam>,
    pub(crate) rest: Vec<FnArg>,
}

impl Params {
    pub(crate) fn user(&self) -> Option<&AuthParam> {
        self.auth.iter().find(|p| p.role == Role::User)
    }

    pub(crate) fn token(&self) -> Option<&AuthParam> {
        self.auth.iter().find(|p| p.role == Role::Token)
    }
}

/// Splits a signature's parameters. A parameter is the user if its type (or the `T` of its
/// `Option<T>`) is named `User` or is the `user = Type` argument, and the token if named `Token`.
pub(crate) fn params(sig: &Signature, user_type: Option<&Type>) -> Params {
    let mut params = Params {
        receiver: None,
        auth: Vec::new(),
        rest: Vec::new(),
    };
    for input in &sig.inputs {
        let FnArg::Typed(typed) = input else {
            params.receiver = Some(input.clone());
            continue;
        };
        let (inner, optional) = match option_inner(&typed.ty) {
            Some(inner) => (inner.clone(), true),
            None => ((*typed.ty).clone(), false),
        };
        let user_name = user_type.and_then(last_ident);
        let role = match last_ident(&inner) {
            Some(name) if user_name.map_or(name == "User", |user| *user == *name) => Role::User,
            Some(name) if name == "Token" => Role::Token,
            _ => {
                params.rest.push(input.clone());
                continue;
            }
        };
        params.auth.push(AuthParam {
            role,
            pat: typed.pat.clone(),
            ty: typed.ty.clone(),
            inner,
            optional,
        });
    }
    params
}

/// The last path segment of a plain type path without generic arguments (`tokenauth::User`).
fn last_ident(ty: &Type) -> Option<&syn::Ident> {
    let Type::Path(TypePath { qself: None, path }) = ty else {
        return None;
    };
    let last = path.segments.last()?;
    matches!(last.arguments, PathArguments::None).then_some(&last.ident)
}

/// `T` for `Option<T>` (any path ending in `Option`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(TypePath { qself: None, path }) = ty else {
        return None;
    };
    let last = path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}
