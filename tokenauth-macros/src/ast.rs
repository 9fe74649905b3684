//! The item as the macro understands it, spans kept: a handler, or an API with its
//! operations, each with its resolved arguments and its `User` and `Token` parameters.

use syn::{
    Attribute, FnArg, GenericArgument, ImplItem, ImplItemFn, Item, ItemFn, ItemImpl, Pat,
    PathArguments, Signature, Type, TypePath,
};

use crate::attr::{self, Args, Resolved};
use crate::errors::Errors;

/// What `#[token_auth]` was put on.
pub(crate) enum Target {
    /// A fn, meant to be a poem `#[handler]`.
    Handler(Box<Handler>),
    /// An impl block, meant to be a poem-openapi `#[OpenApi]` impl.
    Api(Box<Api>),
    /// Anything else, kept as written.
    Other(Box<Item>),
}

/// A fn with `#[token_auth]` on it.
pub(crate) struct Handler {
    pub(crate) function: ItemFn,
    /// Whether `#[handler]` is among its attributes (below ours).
    pub(crate) has_handler: bool,
    pub(crate) args: Resolved,
    pub(crate) params: Params,
}

/// An impl block with `#[token_auth]` on it.
pub(crate) struct Api {
    /// The block; each operation's `#[token_auth(...)]` is removed from it.
    pub(crate) block: ItemImpl,
    /// Whether `#[OpenApi]` is among its attributes (below ours).
    pub(crate) has_openapi: bool,
    /// The name of the implementing type, to name generated items.
    pub(crate) type_name: String,
    pub(crate) operations: Vec<Operation>,
    /// Methods without `#[oai]` that carry a `#[token_auth(...)]` (an error).
    pub(crate) helpers_with_attribute: Vec<syn::Ident>,
    /// Extra `#[token_auth]` attributes on one method (an error), with their method.
    pub(crate) duplicate_attributes: Vec<Attribute>,
}

/// An `#[oai]` method of an API.
pub(crate) struct Operation {
    /// Its index in `Api::block.items`.
    pub(crate) index: usize,
    /// The impl's arguments, with the operation's own `#[token_auth(...)]` over them.
    pub(crate) args: Resolved,
    /// Whether the operation has a `#[token_auth(...)]` of its own.
    pub(crate) has_attribute: bool,
    pub(crate) params: Params,
    /// What its `#[oai(...)]` says.
    pub(crate) oai: OaiOptions,
}

impl Operation {
    /// Whether the operation authenticates (takes a `User` or `Token`, or has the attribute).
    pub(crate) fn is_secured(&self) -> bool {
        !self.params.auth.is_empty() || self.has_attribute
    }
}

/// Reads the item the attribute is on, with the attribute's arguments `args`.
pub(crate) fn read(item: Item, args: &Args, errors: &mut Errors) -> Target {
    match item {
        Item::Fn(function) => {
            let has_handler = function.attrs.iter().any(|a| is_attr(a, "handler"));
            let args = attr::resolve(args, None, errors);
            let params = params(&function.sig, args.user.as_ref());
            Target::Handler(Box::new(Handler {
                function,
                has_handler,
                args,
                params,
            }))
        }
        Item::Impl(block) => Target::Api(Box::new(read_api(block, args, errors))),
        other => Target::Other(Box::new(other)),
    }
}

fn read_api(mut block: ItemImpl, args: &Args, errors: &mut Errors) -> Api {
    let has_openapi = block.attrs.iter().any(|a| is_attr(a, "OpenApi"));
    // Every segment: `impl v1::Api` and `impl v2::Api` in one module name their items apart.
    let type_name = match &*block.self_ty {
        Type::Path(path) => path
            .path
            .segments
            .iter()
            .map(|s| syn::ext::IdentExt::unraw(&s.ident).to_string())
            .collect::<Vec<_>>()
            .join("_"),
        _ => String::new(),
    };
    let mut operations = Vec::new();
    let mut helpers_with_attribute = Vec::new();
    let mut duplicate_attributes = Vec::new();
    for (index, item) in block.items.iter_mut().enumerate() {
        let ImplItem::Fn(method) = item else { continue };
        let (own, duplicates) = take_operation_attr(method, errors);
        duplicate_attributes.extend(duplicates);
        let Some(oai) = method.attrs.iter().find(|a| is_attr(a, "oai")) else {
            if own.is_some() {
                helpers_with_attribute.push(method.sig.ident.clone());
            }
            continue;
        };
        let oai = oai_options(oai);
        let resolved = attr::resolve(args, own.as_ref(), errors);
        let params = params(&method.sig, resolved.user.as_ref());
        operations.push(Operation {
            index,
            args: resolved,
            has_attribute: own.is_some(),
            params,
            oai,
        });
    }
    Api {
        block,
        has_openapi,
        type_name,
        operations,
        helpers_with_attribute,
        duplicate_attributes,
    }
}

/// Removes a method's inert `#[token_auth(...)]` attributes: the first parsed, the others
/// returned.
fn take_operation_attr(
    method: &mut ImplItemFn,
    errors: &mut Errors,
) -> (Option<Args>, Vec<Attribute>) {
    let mut found: Option<Args> = None;
    let mut duplicates = Vec::new();
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attribute in std::mem::take(&mut method.attrs) {
        if !is_attr(&attribute, "token_auth") {
            kept.push(attribute);
        } else if found.is_some() {
            duplicates.push(attribute);
        } else {
            found = Some(attr::parse_attribute(&attribute, errors));
        }
    }
    method.attrs = kept;
    (found, duplicates)
}

/// What `#[token_auth]` reads of an operation's `#[oai(...)]`.
#[derive(Default)]
pub(crate) struct OaiOptions {
    /// `path = "..."`.
    pub(crate) path: Option<String>,
    /// Every `method = "..."` (poem-openapi allows several).
    pub(crate) methods: Vec<String>,
    /// `operation_id = "..."`.
    pub(crate) operation_id: Option<String>,
    /// `hidden` or `hidden = true`.
    pub(crate) hidden: bool,
}

/// Reads `#[oai(...)]`. poem-openapi reports malformed `#[oai]` itself: what cannot be read
/// here is skipped, and reading goes on with the next argument.
fn oai_options(oai: &Attribute) -> OaiOptions {
    let mut options = OaiOptions::default();
    let syn::Meta::List(list) = &oai.meta else {
        return options;
    };
    let Ok(metas) = list.parse_args_with(
        syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
    ) else {
        return options;
    };
    let text = |expr: &syn::Expr| match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Some(lit.value()),
        _ => None,
    };
    for meta in metas {
        match &meta {
            syn::Meta::Path(path) if path.is_ident("hidden") => options.hidden = true,
            syn::Meta::NameValue(nv) if nv.path.is_ident("hidden") => {
                options.hidden = matches!(
                    &nv.value,
                    syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(b), .. }) if b.value
                );
            }
            syn::Meta::NameValue(nv) if nv.path.is_ident("path") => options.path = text(&nv.value),
            syn::Meta::NameValue(nv) if nv.path.is_ident("method") => {
                options.methods.extend(text(&nv.value));
            }
            syn::Meta::NameValue(nv) if nv.path.is_ident("operation_id") => {
                options.operation_id = text(&nv.value);
            }
            _ => {}
        }
    }
    options
}

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
