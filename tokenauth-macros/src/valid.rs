//! Checks of the item as read (`ast`): where the attribute is placed, and what it and the
//! signature mean together. `expand` generates code only for what passes.

use quote::ToTokens;
use syn::{Attribute, ImplItem, Signature};

use crate::ast::{Api, Handler, Params, Role, is_attr};
use crate::errors::Errors;

/// Where the checked signature lives, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Handler,
    Operation,
}

/// The message for a second `#[token_auth]` on one item.
const TWICE: &str = "a second `#[token_auth]` on one item: give it once; to accept several \
                     keywords, list them: `#[token_auth(keyword = [\"Token\", \"Bearer\"])]`";

/// Checks a handler; `Ok` if it can be expanded.
pub(crate) fn handler(handler: &Handler, errors: &mut Errors) -> bool {
    let sig = &handler.function.sig;
    twice(&handler.function.attrs, errors);
    if !handler.has_handler {
        let message = if handler.params.receiver.is_some() {
            "`#[token_auth]` on a method of a poem-openapi `#[OpenApi]` impl needs `#[token_auth]` \
             on the `impl` block too, above `#[OpenApi]`; per-operation `#[token_auth(keyword = \"...\")]` \
             then overrides it"
        } else {
            "`#[token_auth]` must be placed above `#[handler]` (or `#[handler]` is missing): \
             attributes expand top-down, so below `#[handler]` the parameters are already fixed; \
             write `#[token_auth]` on the line before `#[handler]`"
        };
        errors.push_spanned(&sig.ident, message);
        return false;
    }
    let found = signature(sig, &handler.params, Target::Handler);
    let valid = found.is_empty();
    errors.extend(found);
    valid
}

/// Checks an API: its placement, its operations' attributes and each secured operation's
/// signature. `None` if the impl cannot be expanded; otherwise, for each operation of
/// `api.operations`, whether it is secured and valid (to be rewritten).
pub(crate) fn api(api: &Api, errors: &mut Errors) -> Option<Vec<bool>> {
    if !api.has_openapi {
        errors.push_spanned(
            &api.block.self_ty,
            "`#[token_auth]` on an `impl` block must be placed above `#[OpenApi]` (poem-openapi): \
             attributes expand top-down, so below `#[OpenApi]` the operations are already generated; \
             write `#[token_auth]` on the line before `#[OpenApi]`",
        );
        return None;
    }
    twice(&api.block.attrs, errors);
    for attribute in &api.duplicate_attributes {
        errors.push_spanned(attribute, TWICE);
    }
    for helper in &api.helpers_with_attribute {
        errors.push_spanned(
            helper,
            "`#[token_auth(...)]` on a method without `#[oai(...)]`: it applies to \
             poem-openapi operations only; remove it, or make the method an operation",
        );
    }
    let secured = api.operations.iter().map(|operation| {
        let ImplItem::Fn(method) = &api.block.items[operation.index] else {
            return false;
        };
        if !operation.is_secured() {
            return false; // an open operation
        }
        let found = signature(&method.sig, &operation.params, Target::Operation);
        let valid = found.is_empty();
        errors.extend(found);
        valid
    });
    Some(secured.collect())
}

/// Reports `#[token_auth]` attributes left on an item below the one expanding.
fn twice(attrs: &[Attribute], errors: &mut Errors) {
    for attribute in attrs.iter().filter(|a| is_attr(a, "token_auth")) {
        errors.push_spanned(attribute, TWICE);
    }
}

/// Checks a signature that `#[token_auth]` applies to.
pub(crate) fn signature(sig: &Signature, params: &Params, target: Target) -> Errors {
    let mut errors = Errors::default();
    if sig.asyncness.is_none() {
        errors.push_spanned(
            sig.fn_token,
            format!(
                "`#[token_auth]` needs an `async fn`: authentication queries the database; write `async fn {}`",
                sig.ident
            ),
        );
    }
    if target == Target::Handler
        && let Some(receiver) = &params.receiver
    {
        errors.push_spanned(
            receiver,
            "a poem `#[handler]` cannot take `self`; remove it (for methods, use a poem-openapi \
             `#[OpenApi]` impl with `#[token_auth]` above `#[OpenApi]`)",
        );
    }
    for role in [Role::User, Role::Token] {
        let mut of_role = params.auth.iter().filter(|p| p.role == role);
        let first = of_role.next();
        for extra in of_role {
            let (name, kind) = match role {
                Role::User => ("User", "user"),
                Role::Token => ("Token", "token"),
            };
            errors.push_spanned(
                &extra.ty,
                format!(
                    "two `{name}` parameters: one authentication yields one {kind}; remove this one \
                     (the first is `{}`)",
                    first.map(|p| p.pat.to_token_stream().to_string()).unwrap_or_default()
                ),
            );
        }
    }
    if params.auth.is_empty() {
        let message = match target {
            Target::Handler => format!(
                "`#[token_auth]` handler `{}` takes neither a `User` nor a `Token` parameter, so \
                 nothing would be authenticated; add `user: tokenauth::User` (and/or \
                 `token: tokenauth::Token`), or remove `#[token_auth]`",
                sig.ident
            ),
            Target::Operation => format!(
                "`#[token_auth(...)]` on operation `{}`, which takes neither a `User` nor a `Token` \
                 parameter; add `user: tokenauth::User` (and/or `token: tokenauth::Token`), or \
                 remove the attribute",
                sig.ident
            ),
        };
        errors.push_spanned(&sig.ident, message);
    }
    if let (Some(user), Some(token)) = (params.user(), params.token())
        && user.optional != token.optional
    {
        let (optional, required) = if user.optional {
            (user, token)
        } else {
            (token, user)
        };
        errors.push_spanned(
            &optional.ty,
            format!(
                "`{}` makes authentication optional but `{}` requires it; use `Option<…>` for \
                 both (optional) or for neither (required)",
                compact(&optional.ty),
                compact(&required.ty)
            ),
        );
    }
    errors
}

/// Tokens as source text without the spaces `to_string` puts between them (`Option<Token>`).
fn compact(tokens: &impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}
