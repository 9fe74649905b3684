//! The values of the shared arguments — `keyword`, `scheme`, `scopes`, `challenge`, `realm` —
//! checked by the rules of `tokenauth-rules`, each error on the offending literal.

use syn::{Expr, ExprLit, Lit, LitStr};

use super::{Argument, Grammar};
use crate::errors::Errors;

/// A validated keyword, its security scheme's name and its challenge.
#[derive(Clone)]
pub(crate) struct Keyword {
    pub(crate) value: String,
    pub(crate) scheme: String,
    /// RFC 6750's challenge, in this realm; `None` for DRF's.
    pub(crate) realm: Option<String>,
    /// Where the keyword is written, to point at.
    pub(crate) span: proc_macro2::Span,
}

impl Keyword {
    pub(crate) fn default_token() -> Self {
        Keyword {
            value: "Token".to_owned(),
            scheme: "TokenAuth".to_owned(),
            realm: None,
            span: proc_macro2::Span::call_site(),
        }
    }
}

/// The realm of RFC 6750's challenge when `realm` is not given.
pub(crate) const DEFAULT_REALM: &str = "api";

/// `challenge = "rfc6750"` (with `realm = "..."`) or `challenge = "drf"`: `Ok(Some(realm))`
/// for RFC 6750's (in the default realm if the realm was refused), `Ok(None)` for DRF's (also
/// when not given); `Err` if refused (reported).
pub(super) fn challenge(
    challenge: Option<&Argument>,
    realm: Option<&Argument>,
    errors: &mut Errors,
) -> Result<Option<String>, ()> {
    const EXPECTED: &str = "expected `challenge = \"rfc6750\"` (RFC 6750's challenge, with \
                            `error=` and a realm) or `challenge = \"drf\"` (the default: Django \
                            REST framework's, the keyword alone)";
    let Some(challenge) = challenge else {
        return Ok(None);
    };
    let rfc6750 = match &challenge.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => match lit.value().as_str() {
            "rfc6750" => true,
            "drf" => false,
            _ => {
                errors.push_spanned(lit, EXPECTED);
                return Err(());
            }
        },
        other => {
            errors.push_spanned(other, EXPECTED);
            return Err(());
        }
    };
    let Some(realm) = realm else {
        return Ok(rfc6750.then(|| DEFAULT_REALM.to_owned()));
    };
    if !rfc6750 {
        errors.push_spanned(
            &realm.path,
            "`realm = \"...\"` is the realm of RFC 6750's challenge, and DRF's has none: \
             remove it, or use `challenge = \"rfc6750\"`",
        );
        return Err(());
    }
    match &realm.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if tokenauth_rules::is_challenge_text(&lit.value()) => Ok(Some(lit.value())),
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            errors.push_spanned(
                lit,
                "an RFC 6750 realm is one or more printable ASCII characters or spaces, \
                 without `\"` and `\\` (sent as it is, never escaped), e.g. `realm = \"shop\"`",
            );
            // Still RFC 6750's challenge, for the checks that depend on it (the scopes).
            Ok(Some(DEFAULT_REALM.to_owned()))
        }
        other => {
            errors.push_spanned(
                other,
                "the realm must be a string literal, e.g. `realm = \"shop\"`",
            );
            Ok(Some(DEFAULT_REALM.to_owned()))
        }
    }
}

/// `keywords` with `challenge` (see [`challenge`]): RFC 6750's is the `Bearer` keyword's, and
/// the challenge names the first keyword, so `Bearer` must come first; `None` if not
/// (reported).
pub(super) fn challenged(
    mut keywords: Vec<Keyword>,
    challenge: Result<Option<String>, ()>,
    errors: &mut Errors,
) -> Option<Vec<Keyword>> {
    let realm = match challenge {
        Ok(None) => return Some(keywords),
        Ok(Some(realm)) => realm,
        Err(()) => return None,
    };
    let alone = keywords.len() == 1;
    let first = keywords.first_mut()?;
    if !tokenauth_rules::is_bearer(&first.value) {
        // Reported on the keyword, where the fix is.
        let message = if alone {
            format!(
                "`challenge = \"rfc6750\"` is the `Bearer` keyword's challenge (RFC 6750 \
                 defines it for `Authorization: Bearer <key>`), and the keyword is `{}`: use \
                 `keyword = \"Bearer\"`, or remove `challenge`",
                first.value
            )
        } else {
            format!(
                "`challenge = \"rfc6750\"` is the `Bearer` keyword's challenge, and the \
                 challenge names the first keyword, `{}`: list `\"Bearer\"` first",
                first.value
            )
        };
        errors.push(syn::Error::new(first.span, message));
        return None;
    }
    first.realm = Some(realm);
    Some(keywords)
}

/// With RFC 6750's challenge, which lists the required scopes in its `scope` attribute, every
/// scope must be within RFC 6750's characters for it.
pub(crate) fn challenge_scopes(keywords: &[Keyword], scopes: &[LitStr], errors: &mut Errors) {
    if keywords.first().is_none_or(|k| k.realm.is_none()) {
        return;
    }
    for scope in scopes {
        if !tokenauth_rules::is_challenge_scope(&scope.value()) {
            errors.push_spanned(
                scope,
                format!(
                    "RFC 6750's challenge lists the required scopes in its `scope` attribute, \
                     which takes printable ASCII only, without `\"` and `\\`, and `{}` has \
                     other characters: require such a scope, e.g. `\"orders:read\"`, or remove \
                     `challenge = \"rfc6750\"`",
                    scope.value().escape_default()
                ),
            );
        }
    }
}

impl Grammar {
    /// `"Bearer"`, or where the grammar allows lists `["Token", "Bearer"]`, each keyword named
    /// `scheme` if given (one keyword only), else by `tokenauth_rules::scheme_name`.
    pub(super) fn keywords(
        &self,
        value: &Expr,
        scheme: Option<&Expr>,
        errors: &mut Errors,
    ) -> Option<Vec<Keyword>> {
        let expected = if self.keyword_lists {
            "the keyword must be a string literal, e.g. `keyword = \"Bearer\"`, or a list of \
             them, e.g. `keyword = [\"Token\", \"Bearer\"]`"
        } else {
            "the keyword must be a string literal, e.g. `keyword!(pub ApiKey = \"Api-Key\")`"
        };
        let literals: Vec<&Expr> = match value {
            Expr::Array(_) if !self.keyword_lists => {
                errors.push_spanned(
                    value,
                    "a keyword type has one keyword; to accept several, combine keyword types \
                     in a tuple, e.g. `(TokenKeyword, BearerKeyword)`, or list them in \
                     `#[token_auth(keyword = [\"Token\", \"Bearer\"])]`",
                );
                return None;
            }
            Expr::Array(array) if array.elems.is_empty() => {
                errors.push_spanned(
                    value,
                    "an empty keyword list accepts no credentials; give at least one keyword, \
                     e.g. `keyword = [\"Token\", \"Bearer\"]`",
                );
                return None;
            }
            Expr::Array(array) => array.elems.iter().collect(),
            other => vec![other],
        };
        // `Some` if `scheme` is given: its value, `None` if invalid (reported).
        let scheme: Option<Option<String>> = match scheme.map(scheme_literal) {
            Some(Err(error)) => {
                errors.push(error);
                Some(None)
            }
            Some(Ok(scheme)) if literals.len() > 1 => {
                errors.push_spanned(
                    scheme,
                    format!(
                        "`scheme = \"...\"` names the scheme of one keyword, and the list has {}; \
                         remove `scheme` (each keyword's scheme is then `<keyword>Auth`), or \
                         give one keyword",
                        literals.len()
                    ),
                );
                Some(None)
            }
            Some(Ok(scheme)) => Some(Some(scheme.value())),
            None => None,
        };
        let alone = literals.len() == 1;
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut valid = !matches!(scheme, Some(None));
        for literal in literals {
            let Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) = literal
            else {
                errors.push_spanned(literal, expected);
                valid = false;
                continue;
            };
            let text = lit.value();
            let named = match &scheme {
                Some(scheme) => match tokenauth_rules::keyword_problem(&text) {
                    Some(problem) => Err(problem),
                    None => Ok(scheme.clone().unwrap_or_default()),
                },
                None => tokenauth_rules::scheme_name(&text).map_err(|problem| {
                    tokenauth_rules::keyword_problem(&text)
                        .unwrap_or_else(|| unnamed_scheme(&problem, &text, alone))
                }),
            };
            let scheme = match named {
                Ok(scheme) => scheme,
                Err(problem) => {
                    errors.push(syn::Error::new(lit.span(), problem));
                    valid = false;
                    continue;
                }
            };
            if let Some(first) = keywords
                .iter()
                .find(|k| k.value.eq_ignore_ascii_case(&text))
            {
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "the keyword `{text}` is listed twice (`{}` before it; keywords are \
                         compared ignoring ASCII case): give each keyword once",
                        first.value
                    ),
                ));
                valid = false;
                continue;
            }
            keywords.push(Keyword {
                value: text,
                scheme,
                realm: None,
                span: lit.span(),
            });
        }
        valid.then_some(keywords)
    }
}

/// The message for a keyword whose `<keyword>Auth` cannot name a scheme: `problem`, and the
/// fix — naming the scheme, where the keyword is given `alone` (not in a list of several).
fn unnamed_scheme(problem: &str, keyword: &str, alone: bool) -> String {
    if !alone {
        return format!(
            "{problem}; use a keyword of letters, digits, `.`, `-` and `_`, e.g. \
             `keyword = \"Api-Key\"`"
        );
    }
    let valid: String = keyword
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c))
        .collect();
    let suggestion = if valid.is_empty() { "ApiKey" } else { &valid };
    format!(
        "{problem}; name the scheme, e.g. `scheme = \"{suggestion}Auth\"`, or use a keyword \
         without such characters, e.g. `\"Api-Key\"`"
    )
}

/// `scheme = "ApiKeyAuth"`: a string literal that can name an OpenAPI security scheme.
fn scheme_literal(value: &Expr) -> syn::Result<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if tokenauth_rules::is_valid_scheme_name(&lit.value()) => Ok(lit),
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Err(syn::Error::new(
            lit.span(),
            "an OpenAPI scheme name has one or more letters, digits, `.`, `-` or `_`, e.g. \
             `scheme = \"ApiKeyAuth\"`",
        )),
        other => Err(syn::Error::new_spanned(
            other,
            "the scheme name must be a string literal, e.g. `scheme = \"ApiKeyAuth\"`",
        )),
    }
}

/// `scopes = ["orders:read", ...]`: valid required scopes (no wildcard), each once, at most
/// `MAX_SCOPES`.
pub(super) fn scopes(value: &Expr, errors: &mut Errors) -> Option<Vec<LitStr>> {
    const EXPECTED: &str = "expected a list of scope strings, e.g. `scopes = [\"orders:read\"]`";
    let Expr::Array(array) = value else {
        errors.push_spanned(value, EXPECTED);
        return None;
    };
    let mut scopes: Vec<LitStr> = Vec::new();
    let mut valid = true;
    for element in &array.elems {
        let Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) = element
        else {
            errors.push_spanned(element, EXPECTED);
            valid = false;
            continue;
        };
        let text = lit.value();
        if let Some(problem) = tokenauth_rules::required_scope_problem(&text) {
            errors.push_spanned(lit, problem);
            valid = false;
        } else if scopes.iter().any(|s| s.value() == text) {
            errors.push_spanned(
                lit,
                format!("the scope `{text}` is listed twice: give each scope once"),
            );
            valid = false;
        } else if scopes.len() == tokenauth_rules::MAX_SCOPES {
            errors.push_spanned(
                lit,
                format!(
                    "at most {} scopes: a token cannot grant more",
                    tokenauth_rules::MAX_SCOPES
                ),
            );
            return None;
        } else {
            scopes.push(lit.clone());
        }
    }
    valid.then_some(scopes)
}
