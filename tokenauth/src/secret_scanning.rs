//! The receiving end of GitHub's secret scanning partner program (feature `secret-scanning`):
//! GitHub finds one of your keys in a public repository, a gist or a package, and POSTs it to
//! your endpoint, signed with ECDSA; [`SecretScanning`] verifies the signature, revokes every
//! reported key that is live — on every instance — and answers with a label per key, as
//! GitHub's feedback format asks. No key is ever echoed: each is named by its SHA-256.
//!
//! tokenauth's prefixed keys ([`KeyFormat::prefixed`](crate::key::KeyFormat::prefixed),
//! `myapp_<base62><CRC32>`) are made to be found: register their pattern with GitHub (see the
//! README's "Leaked keys" section), serve this endpoint, and a leaked key stops working
//! minutes after it was pushed.
//!
//! ```
//! # fn keys() -> String { tokenauth::secret_scanning::testing::example_keys() }
//! use poem::{EndpointExt, Route, post};
//! use tokenauth::secret_scanning::SecretScanning;
//!
//! # fn app(store: tokenauth::Store) -> Result<impl poem::Endpoint, tokenauth::secret_scanning::KeysError> {
//! // The JSON GitHub publishes at https://api.github.com/meta/public_keys/secret_scanning,
//! // fetched by the application (tokenauth makes no request of its own).
//! let github_keys: String = keys();
//! let scanning = SecretScanning::new(&github_keys)?;
//! Ok(Route::new().at("/api/secret-scanning", post(scanning)).data(store))
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use base64ct::{Base64, Encoding as _};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use crate::rejection::Rejection;
use crate::request_body::{NotRead, UNREADABLE, read_bounded};
use crate::store::Store;

/// The header naming the key GitHub signed with.
pub const KEY_IDENTIFIER_HEADER: &str = "Github-Public-Key-Identifier";
/// The header carrying the signature: base64 of an ASN.1 DER ECDSA P-256 signature of the
/// raw body's SHA-256.
pub const SIGNATURE_HEADER: &str = "Github-Public-Key-Signature";

/// The default largest report read: 1 MiB, some ten thousand matches.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// The default number of reports handled at once; more wait no longer than 5 s and are then
/// answered `503` with `Retry-After`.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;

/// How long a report waits for its turn before it is answered `503`.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// The default longest a report's body may take to arrive: a client that sends it slowly,
/// holding one of the few turns, is cut off (`408`) rather than keep GitHub's reports out.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The most keys GitHub's document may list, and the longest a key identifier may be: bounds
/// on what an application loads, not on requests.
const MAX_KEYS: usize = 64;
const MAX_KEY_ID_LEN: usize = 256;

/// A problem with the public keys given to [`SecretScanning::new`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The document is not JSON of GitHub's shape: `{"public_keys": [{"key_identifier",
    /// "key", "is_current"}]}`.
    #[error("not GitHub's secret scanning keys document (`{{\"public_keys\": [...]}}`): {0}")]
    Document(#[from] serde_json::Error),
    /// The document lists no key, or more than 64.
    #[error("the document lists {0} keys: expected 1 to 64")]
    Count(usize),
    /// A key identifier is empty or longer than 256 characters.
    #[error("a key identifier is empty or longer than 256 characters")]
    Identifier,
    /// A key is not a PEM-encoded P-256 public key.
    #[error("the key {id:?} is not a PEM-encoded P-256 public key: {reason}")]
    Key {
        /// The key's identifier.
        id: String,
        /// Why it was refused.
        reason: String,
    },
}

/// GitHub's document of its secret scanning keys.
#[derive(Deserialize)]
struct Document {
    public_keys: Vec<DocumentKey>,
}

#[derive(Deserialize)]
struct DocumentKey {
    key_identifier: String,
    key: String,
}

/// One of GitHub's keys.
struct PublicKey {
    id: String,
    key: VerifyingKey,
}

/// An endpoint receiving GitHub's secret scanning reports (mount it at a `POST` route, with
/// the [`Store`] in the request data).
///
/// For each request:
///
/// 1. The signature headers ([`KEY_IDENTIFIER_HEADER`], [`SIGNATURE_HEADER`]) are checked
///    first: a missing header, an unknown key identifier or a signature that is not base64 of
///    a DER ECDSA signature is `401`, and the body is not read.
/// 2. The body is read up to [`max_body_size`](SecretScanning::max_body_size) (`413` beyond;
///    `408` if it takes longer than [`read_timeout`](SecretScanning::read_timeout), so that
///    slow senders cannot hold the few turns) and
///    its signature verified, over its raw bytes: a signature by another key or of other
///    bytes is `401`, and the body is not parsed.
/// 3. The body, GitHub's JSON array of matches (`[{"token", "type", "url", "source"}]`), is
///    parsed (`400` if it is not one), and every reported key that is a live key of
///    tokenauth's own users (`tokenauth_tokens`; an application's own user type keeps its
///    tokens elsewhere, which this endpoint does not search) is revoked in one transaction:
///    the token, or only the previous key of a roll still in its grace. A string that the
///    key format refuses by its checksum costs no query.
///    Every instance refuses it from then on, as after any revocation; each revocation is
///    counted (`tokenauth_tokens_revoked_total{reason="leaked"}`) and logged as a security
///    event (`authn_token_revoked`, reason `leaked`, with the user and token ids).
/// 4. The answer is `200` with `[{"token_hash", "token_type", "label"}]`, one per match:
///    `token_hash` is the lowercase hex SHA-256 of the reported string, `token_type` its
///    `type`, and `label` `true_positive` for a key that was live (now revoked) and
///    `false_positive` for anything else. A reported key is never echoed nor logged.
///
/// Every key GitHub's document lists is accepted, the current one and those it still lists
/// beside it, so that a report signed just before a rotation is not lost. At most
/// [`max_concurrent`](SecretScanning::max_concurrent) reports are handled at once (each may
/// hold a megabyte); a report that waits more than 5 s for its turn is `503` with
/// `Retry-After`. A failed database is `503` or `500`, with nothing half-revoked.
#[derive(Clone)]
pub struct SecretScanning {
    keys: Arc<[PublicKey]>,
    max_body_size: usize,
    read_timeout: Duration,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for SecretScanning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|key| key.id.as_str()).collect();
        f.debug_struct("SecretScanning")
            .field("keys", &ids)
            .field("max_body_size", &self.max_body_size)
            .finish_non_exhaustive()
    }
}

impl SecretScanning {
    /// An endpoint trusting the keys of `github_keys`: the JSON GitHub publishes at
    /// `https://api.github.com/meta/public_keys/secret_scanning`, `{"public_keys":
    /// [{"key_identifier": "…", "key": "-----BEGIN PUBLIC KEY-----…", "is_current": true}]}`
    /// (other members are ignored). The application fetches it — at start-up, and again
    /// when GitHub rotates its keys — and tokenauth makes no request of its own.
    ///
    /// # Errors
    /// [`KeysError`] if the document is not of that shape, lists no key or more than 64, or a
    /// key is not a PEM-encoded P-256 public key.
    ///
    /// ```
    /// use tokenauth::secret_scanning::SecretScanning;
    ///
    /// let keys = tokenauth::secret_scanning::testing::example_keys();
    /// let endpoint = SecretScanning::new(&keys)?;
    /// assert!(SecretScanning::new(r#"{"public_keys": []}"#).is_err());
    /// # Ok::<(), tokenauth::secret_scanning::KeysError>(())
    /// ```
    pub fn new(github_keys: &str) -> Result<Self, KeysError> {
        let document: Document = serde_json::from_str(github_keys)?;
        let count = document.public_keys.len();
        if count == 0 || count > MAX_KEYS {
            return Err(KeysError::Count(count));
        }
        let keys = document
            .public_keys
            .into_iter()
            .map(|listed| {
                if listed.key_identifier.is_empty() || listed.key_identifier.len() > MAX_KEY_ID_LEN
                {
                    return Err(KeysError::Identifier);
                }
                let key = VerifyingKey::from_public_key_pem(listed.key.trim()).map_err(|err| {
                    KeysError::Key {
                        id: listed.key_identifier.clone(),
                        reason: err.to_string(),
                    }
                })?;
                Ok(PublicKey {
                    id: listed.key_identifier,
                    key,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SecretScanning {
            keys: keys.into(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            read_timeout: DEFAULT_READ_TIMEOUT,
            permits: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT)),
        })
    }

    /// The largest report read, in bytes (default 1 MiB); a larger one is `413`, refused
    /// while it is read.
    ///
    /// ```
    /// # let keys = tokenauth::secret_scanning::testing::example_keys();
    /// let endpoint = tokenauth::secret_scanning::SecretScanning::new(&keys)?.max_body_size(64 * 1024);
    /// # Ok::<(), tokenauth::secret_scanning::KeysError>(())
    /// ```
    #[must_use]
    pub fn max_body_size(self, bytes: usize) -> Self {
        SecretScanning {
            max_body_size: bytes,
            ..self
        }
    }

    /// The longest a report's body may take to arrive (default 20 s); a slower one is `408`,
    /// so that slow senders cannot hold the turns of [`max_concurrent`](SecretScanning::max_concurrent).
    ///
    /// ```
    /// # let keys = tokenauth::secret_scanning::testing::example_keys();
    /// use std::time::Duration;
    /// let endpoint = tokenauth::secret_scanning::SecretScanning::new(&keys)?
    ///     .read_timeout(Duration::from_secs(10));
    /// # Ok::<(), tokenauth::secret_scanning::KeysError>(())
    /// ```
    #[must_use]
    pub fn read_timeout(self, timeout: Duration) -> Self {
        SecretScanning {
            read_timeout: timeout,
            ..self
        }
    }

    /// How many reports are handled at once (default 4, at least 1): each holds its body in
    /// memory while it is handled.
    ///
    /// ```
    /// # let keys = tokenauth::secret_scanning::testing::example_keys();
    /// let endpoint = tokenauth::secret_scanning::SecretScanning::new(&keys)?.max_concurrent(2);
    /// # Ok::<(), tokenauth::secret_scanning::KeysError>(())
    /// ```
    #[must_use]
    pub fn max_concurrent(self, reports: usize) -> Self {
        SecretScanning {
            permits: Arc::new(Semaphore::new(reports.max(1))),
            ..self
        }
    }

    /// Checks the signature headers: the key named, and the signature, parsed.
    fn signer(&self, req: &Request) -> Result<(&PublicKey, Signature), &'static str> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .map(|value| value.to_str().map_err(|_| "a header that is not text"))
                .transpose()
        };
        let id = header(KEY_IDENTIFIER_HEADER)?.ok_or("no key identifier header")?;
        let signature = header(SIGNATURE_HEADER)?.ok_or("no signature header")?;
        let key = self
            .keys
            .iter()
            .find(|key| key.id == id)
            .ok_or("an unknown key identifier")?;
        let der = Base64::decode_vec(signature.trim()).map_err(|_| "a signature not in base64")?;
        let signature = Signature::from_der(&der).map_err(|_| "a signature not in DER")?;
        Ok((key, signature))
    }
}

/// A match GitHub reports.
#[derive(Deserialize)]
struct Match {
    token: String,
    #[serde(rename = "type")]
    kind: String,
}

/// The answer about one match.
#[derive(serde::Serialize)]
struct Label<'a> {
    token_hash: String,
    token_type: &'a str,
    label: &'static str,
}

/// The refusal of a report whose signature does not verify.
const NOT_SIGNED: &str = "The request is not signed by one of GitHub's secret scanning keys.";

fn answer(status: StatusCode, detail: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::json!({ "detail": detail }).to_string())
}

fn unsigned(why: &str) -> Response {
    tracing::warn!(
        target: "tokenauth::security",
        reason = why,
        "tokenauth: a secret scanning report was refused: {why}"
    );
    answer(StatusCode::UNAUTHORIZED, NOT_SIGNED)
}

impl Endpoint for SecretScanning {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let Some(store) = req.data::<Store>().cloned() else {
            return Err(Rejection::missing_store().into());
        };
        let (key, signature) = match self.signer(&req) {
            Ok(signer) => signer,
            Err(why) => return Ok(unsigned(why)),
        };
        let Ok(Ok(_permit)) = tokio::time::timeout(QUEUE_WAIT, self.permits.acquire()).await else {
            return Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("Retry-After", "5")
                .content_type("application/json")
                .body(
                    serde_json::json!({ "detail": "Too many reports at once. Try again shortly." })
                        .to_string(),
                ));
        };
        let limit = self.max_body_size;
        let reading = read_bounded(req.take_body(), &req, limit);
        let body = match tokio::time::timeout(self.read_timeout, reading).await {
            Ok(Ok(body)) => body,
            Ok(Err(NotRead::TooLarge)) => {
                let detail = format!("Request body too large: at most {limit} bytes.");
                return Ok(answer(StatusCode::PAYLOAD_TOO_LARGE, &detail));
            }
            Ok(Err(NotRead::Failed)) => return Ok(answer(StatusCode::BAD_REQUEST, UNREADABLE)),
            Err(_) => {
                return Ok(answer(
                    StatusCode::REQUEST_TIMEOUT,
                    "The request body took too long to arrive.",
                ));
            }
        };
        if key.key.verify(&body, &signature).is_err() {
            return Ok(unsigned("a signature that does not verify"));
        }
        let Ok(matches) = serde_json::from_slice::<Vec<Match>>(&body) else {
            return Ok(answer(
                StatusCode::BAD_REQUEST,
                "Expected GitHub's JSON array of matches: [{\"token\", \"type\", \"url\", \"source\"}].",
            ));
        };
        let mut keys: Vec<&str> = matches.iter().map(|m| m.token.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        // A string that claims the key format but fails its checksum is no key: no query.
        let format = &store.policy().key_format;
        let candidates: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|key| format.check(key) != Some(false))
            .collect();
        let revoked = match store.tokens().revoke_leaked(&candidates).await {
            Ok(revoked) => revoked,
            Err(error) => return Err(Rejection::store_failure(error).into()),
        };
        let labels: Vec<Label<'_>> = matches
            .iter()
            .map(|found| {
                let live = candidates
                    .binary_search(&found.token.as_str())
                    .is_ok_and(|at| revoked[at]);
                Label {
                    token_hash: hex_sha256(&found.token),
                    token_type: &found.kind,
                    label: if live {
                        "true_positive"
                    } else {
                        "false_positive"
                    },
                }
            })
            .collect();
        let json = serde_json::to_string(&labels).map_err(poem::error::InternalServerError)?;
        Ok(Response::builder()
            .content_type("application/json")
            .body(json))
    }
}

/// The lowercase hex SHA-256 of `text`: how GitHub's feedback names a reported string.
fn hex_sha256(text: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Test support: GitHub's published example, for documentation and tests. Not public API:
/// hidden, and it may change in any release.
#[doc(hidden)]
pub mod testing {
    /// The key identifier of GitHub's documented example.
    pub const EXAMPLE_KEY_ID: &str =
        "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
    /// The public key of GitHub's documented example.
    pub const EXAMPLE_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd\nAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==\n-----END PUBLIC KEY-----\n";
    /// The signature of GitHub's documented example body, [`EXAMPLE_BODY`].
    pub const EXAMPLE_SIGNATURE: &str = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
    /// GitHub's documented example body (exactly these bytes, without a final newline).
    pub const EXAMPLE_BODY: &str = r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;

    /// A keys document listing GitHub's documented example key.
    pub fn example_keys() -> String {
        serde_json::json!({
            "public_keys": [{
                "key_identifier": EXAMPLE_KEY_ID,
                "key": EXAMPLE_KEY,
                "is_current": true,
            }]
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's two published examples verify, over their exact bytes: the current one (its
    /// `s` has 31 bytes) and the older one, also in crates.io's tests (a high `s`, which the
    /// verifier must accept).
    #[test]
    fn githubs_published_examples_verify() {
        let older_key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsz9ugWDj5jK5ELBK42ynytbo38gP\nHzZFI03Exwz8Lh/tCfL3YxwMdLjB+bMznsanlhK0RwcGP3IDb34kQDIo3Q==\n-----END PUBLIC KEY-----\n";
        let document = serde_json::json!({
            "public_keys": [
                { "key_identifier": testing::EXAMPLE_KEY_ID, "key": testing::EXAMPLE_KEY, "is_current": true },
                {
                    "key_identifier": "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d",
                    "key": older_key,
                    "is_current": false,
                    "something_new": 1,
                },
            ]
        });
        let scanning = SecretScanning::new(&document.to_string()).unwrap();
        let examples = [
            (0, testing::EXAMPLE_SIGNATURE, testing::EXAMPLE_BODY),
            (
                1,
                "MEUCIFLZzeK++IhS+y276SRk2Pe5LfDrfvTXu6iwKKcFGCrvAiEAhHN2kDOhy2I6eGkOFmxNkOJ+L2y8oQ9A2T9GGJo6WJY=",
                r#"[{"token":"some_token","type":"some_type","url":"some_url","source":"some_source"}]"#,
            ),
        ];
        for (index, signature, body) in examples {
            let der = Base64::decode_vec(signature).unwrap();
            let signature = Signature::from_der(&der).unwrap();
            let key = &scanning.keys[index].key;
            assert!(
                key.verify(body.as_bytes(), &signature).is_ok(),
                "example {index}"
            );
            // The bytes, exactly: a final newline, or another key, does not verify.
            assert!(
                key.verify(format!("{body}\n").as_bytes(), &signature)
                    .is_err()
            );
            let other = &scanning.keys[1 - index].key;
            assert!(other.verify(body.as_bytes(), &signature).is_err());
        }
    }

    #[test]
    fn bad_documents_are_refused() {
        for (document, expected) in [
            ("not json", "not GitHub's"),
            (r#"{"keys": []}"#, "not GitHub's"),
            (r#"{"public_keys": []}"#, "0 keys"),
            (
                r#"{"public_keys": [{"key_identifier": "", "key": "x", "is_current": true}]}"#,
                "identifier",
            ),
            (
                r#"{"public_keys": [{"key_identifier": "a", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is_current": true}]}"#,
                "not a PEM-encoded P-256",
            ),
        ] {
            let error = SecretScanning::new(document).unwrap_err().to_string();
            assert!(error.contains(expected), "{document}: {error}");
        }
    }

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            hex_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
