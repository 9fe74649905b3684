//! Password hashing with Argon2id (RustCrypto `argon2`, OWASP's default parameters), run on
//! tokio's blocking pool so that a login never stalls the async workers.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Argon2 verifications performed by this process, so tests can check structurally that a
/// wrong username costs the same work as a wrong password.
static VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// How many password verifications this process has run.
pub(crate) fn verifications() -> u64 {
    VERIFICATIONS.load(Ordering::Relaxed)
}

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

use crate::Error;

/// Hashes a password into an Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub(crate) async fn hash(password: &str) -> Result<String, Error> {
    let password = zeroizing(password);
    run_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|err| Error::PasswordHash(err.to_string()))
    })
    .await
}

/// Checks a password against a stored PHC string. `None` (no usable password, or no such user)
/// still costs one full verification against a fixed dummy hash, so that a wrong username
/// takes as long as a wrong password.
pub(crate) async fn verify(password: &str, stored: Option<String>) -> Result<bool, Error> {
    let password = zeroizing(password);
    run_blocking(move || {
        let (phc, usable) = match stored.as_deref() {
            Some(phc) => (phc, true),
            None => (dummy_hash()?, false),
        };
        // A corrupt hash in the database is an error from `verify_password`: it never matches.
        VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok();
        Ok(usable && matches)
    })
    .await
}

/// A hash of a random password, computed once, verified in place of a missing user's hash.
fn dummy_hash() -> Result<&'static str, Error> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let password = crate::Key::generate()?;
    let hash = Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map_err(|err| Error::PasswordHash(err.to_string()))?
        .to_string();
    Ok(DUMMY.get_or_init(|| hash))
}

fn zeroizing(password: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(password.to_owned())
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::PasswordHash(format!("hashing task failed: {err}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify("correct horse", Some(phc.clone())).await.unwrap());
        assert!(!verify("Correct horse", Some(phc)).await.unwrap());
    }

    #[tokio::test]
    async fn missing_or_corrupt_hash_never_matches() {
        assert!(!verify("", None).await.unwrap());
        assert!(!verify("x", Some("not a phc string".into())).await.unwrap());
    }

    #[tokio::test]
    async fn salts_differ() {
        assert_ne!(hash("same").await.unwrap(), hash("same").await.unwrap());
    }
}
