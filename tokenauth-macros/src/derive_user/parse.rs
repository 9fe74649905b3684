//! Reading the struct as written: its `#[auth_user(...)]` arguments and its fields, spans
//! kept, every problem collected. Nothing here relates one argument to another (`check`).

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{
    Attribute, Data, DataStruct, DeriveInput, Expr, Fields, Generics, Ident, LitStr, Path, Type,
};

use crate::errors::Errors;

/// The arguments, as the messages show them.
pub(crate) const EXPECTED: &str = "expected `#[auth_user(table = \"accounts\")]`, with optional \
                                   `tokens_table = \"account_tokens\"`, `id_column = \"id\"`, \
                                   `is_active = field` or `is_active = !field`, and `cacheable`";

/// What `watch` takes (not listed in [`EXPECTED`]: it is for tokenauth's own user types).
const WATCH_EXPECTED: &str = "`watch` takes the path of a constant naming the tables to watch: \
                              `watch = path::TO_WATCH`";

/// The struct that `#[derive(AuthUser)]` is on.
pub(crate) struct UserType {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) args: Args,
    pub(crate) fields: Vec<Field>,
}

/// The arguments of every `#[auth_user(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Args {
    /// Whether there is an `#[auth_user(...)]` at all.
    pub(crate) given: bool,
    /// Whether every `#[auth_user(...)]` was read to its end: if not, an argument missing
    /// may be one that was not read.
    pub(crate) complete: bool,
    pub(crate) table: Option<LitStr>,
    pub(crate) tokens_table: Option<LitStr>,
    pub(crate) id_column: Option<LitStr>,
    pub(crate) is_active: Option<IsActive>,
    pub(crate) cacheable: Option<Ident>,
    /// `watch = path::TO_WATCH` (hidden, for tokenauth's own user types): the group of tables
    /// the change feed must watch for the type to be cached.
    pub(crate) watch: Option<Watch>,
}

/// `watch = path`, and the `watch` keyword (where a cross-check's error points).
pub(crate) struct Watch {
    pub(crate) key: Ident,
    pub(crate) path: Path,
}

/// `is_active = field` or `is_active = !field`.
pub(crate) struct IsActive {
    pub(crate) negated: bool,
    pub(crate) field: Ident,
}

/// A field, and the column it is read from (`None`: `#[sqlx(skip)]`, not read).
pub(crate) struct Field {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    pub(crate) column: Option<String>,
}

/// The struct, if it is one with named fields.
pub(crate) fn user(input: TokenStream, errors: &mut Errors) -> Option<UserType> {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let Data::Struct(DataStruct {
        fields: Fields::Named(fields),
        ..
    }) = &input.data
    else {
        errors.push_spanned(
            &input.ident,
            "`#[derive(AuthUser)]` needs a struct with named fields",
        );
        return None;
    };
    struct_sqlx_attributes(&input.attrs, errors);
    let args = args(&input.attrs, errors);
    let fields = fields
        .named
        .iter()
        .filter_map(|field| {
            Some(Field {
                ident: field.ident.clone()?,
                ty: field.ty.clone(),
                column: column(field, errors),
            })
        })
        .collect();
    Some(UserType {
        ident: input.ident,
        generics: input.generics,
        args,
        fields,
    })
}

/// The struct's own `#[sqlx(...)]`: `rename_all` would change the columns unseen.
fn struct_sqlx_attributes(attrs: &[Attribute], errors: &mut Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                errors.push_spanned(
                    &meta.path,
                    "`#[derive(AuthUser)]` does not apply `rename_all`: rename the fields one \
                     by one (`#[sqlx(rename = \"...\")]`), or implement `tokenauth::AuthUser` \
                     by hand",
                );
            }
            skip_value(&meta)
        });
    }
}

/// Every `#[auth_user(...)]`, merged; an argument given twice is reported, the first kept.
fn args(attrs: &[Attribute], errors: &mut Errors) -> Args {
    let mut args = Args {
        complete: true,
        ..Args::default()
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("auth_user")) {
        args.given = true;
        let mut found = Errors::default();
        let parsed = attr.parse_nested_meta(|meta| argument(&meta, &mut args, &mut found));
        errors.extend(found);
        if let Err(error) = parsed {
            errors.push(error);
            args.complete = false;
        }
    }
    args
}

/// One argument of `#[auth_user(...)]`: an error that leaves the rest readable is collected
/// in `errors`; one that does not (a value that is not one) ends the attribute.
fn argument(meta: &ParseNestedMeta<'_>, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    let Some(key) = meta.path.get_ident() else {
        errors.push_spanned(&meta.path, format!("unknown argument; {EXPECTED}"));
        return skip_value(meta);
    };
    let twice = |errors: &mut Errors| {
        errors.push_spanned(
            key,
            format!("`{key}` is given twice: give each argument of `#[auth_user(...)]` once"),
        );
    };
    let name = key.to_string();
    let literal = match name.as_str() {
        "table" => Some(&mut args.table),
        "tokens_table" => Some(&mut args.tokens_table),
        "id_column" => Some(&mut args.id_column),
        _ => None,
    };
    if let Some(slot) = literal {
        let value = meta.value()?.parse::<LitStr>()?;
        if slot.is_some() {
            twice(errors);
        } else {
            *slot = Some(value);
        }
        return Ok(());
    }
    match name.as_str() {
        "is_active" => {
            let value = meta.value()?;
            let negated = value.parse::<Option<syn::Token![!]>>()?.is_some();
            let field = value.parse()?;
            if args.is_active.is_some() {
                twice(errors);
            } else {
                args.is_active = Some(IsActive { negated, field });
            }
        }
        "cacheable" if meta.input.peek(syn::Token![=]) => {
            errors.push_spanned(
                key,
                "`cacheable` takes no value: write `#[auth_user(..., cacheable)]`, or leave it \
                 out for a type that is not cached",
            );
            return skip_value(meta);
        }
        "cacheable" => match args.cacheable {
            Some(_) => twice(errors),
            None => args.cacheable = Some(key.clone()),
        },
        "watch" if !meta.input.peek(syn::Token![=]) => {
            errors.push_spanned(key, WATCH_EXPECTED);
        }
        "watch" => {
            let value: Expr = meta.value()?.parse()?;
            match value {
                Expr::Path(syn::ExprPath {
                    qself: None, path, ..
                }) => match args.watch {
                    Some(_) => twice(errors),
                    None => {
                        args.watch = Some(Watch {
                            key: key.clone(),
                            path,
                        });
                    }
                },
                other => errors.push_spanned(other, WATCH_EXPECTED),
            }
        }
        _ => {
            errors.push_spanned(key, format!("unknown argument `{key}`; {EXPECTED}"));
            return skip_value(meta);
        }
    }
    Ok(())
}

/// Reads past an argument's `= value`, if it has one.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    }
    Ok(())
}

/// The column a field is read from, as `sqlx::FromRow` reads it; `None` if skipped.
fn column(field: &syn::Field, errors: &mut Errors) -> Option<String> {
    let ident = field.ident.as_ref()?;
    let mut name = syn::ext::IdentExt::unraw(ident).to_string();
    let mut skip = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("sqlx")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                name = meta.value()?.parse::<LitStr>()?.value();
            } else if meta.path.is_ident("skip") {
                skip = true;
            } else if meta.path.is_ident("flatten") || meta.path.is_ident("json") {
                return Err(meta.error(
                    "`#[derive(AuthUser)]` cannot list the columns of a flattened or JSON \
                     field; implement `tokenauth::AuthUser` by hand, with `COLUMNS`",
                ));
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            errors.push(error);
        }
    }
    (!skip).then_some(name)
}
