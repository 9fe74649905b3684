//! Cross-checks of a handler or operation: what the attribute and the signature mean together.

use quote::ToTokens;
use syn::Signature;

use crate::ast::{Params, Role};
use crate::errors::Errors;

/// Where the checked signature lives, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Handler,
    Operation,
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
