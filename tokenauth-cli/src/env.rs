//! What the command reads from its environment as the application does, so that both treat
//! the database alike: the peppers of key digests.

use tokenauth::Policy;

use crate::output::Failure;

/// `policy` with the application's peppers, from `TOKENAUTH_PEPPER` (as
/// [`Policy::peppers`] reads it): keys the CLI creates are stored as the application stores
/// them, and keys it revokes are found whatever pepper they are under. The value is never
/// printed.
pub(crate) fn with_peppers(policy: Policy) -> Result<Policy, Failure> {
    match std::env::var("TOKENAUTH_PEPPER") {
        Err(std::env::VarError::NotPresent) => Ok(policy),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err("error: TOKENAUTH_PEPPER is not text".to_owned().into())
        }
        Ok(spec) => policy
            .peppers(&spec)
            .map_err(|err| format!("error: TOKENAUTH_PEPPER: {err}").into()),
    }
}
