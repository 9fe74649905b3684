//! GitHub's leaked-key reports, black box: two quickstart processes on one database serve
//! `POST /api/secret-scanning` with GitHub's key document naming P-256 keys made here, and
//! reports are signed as GitHub signs them (ECDSA P-256 / SHA-256 over the raw body, base64 of
//! the DER signature). A valid report revokes on both instances and labels each match; every
//! forged, altered, unsigned or oversized report is refused with nothing revoked.

use crate::common;

use base64ct::{Base64, Encoding as _};
use common::{Backend, Instance, RawResponse, get};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokenauth::{NewToken, Store};

const CURRENT_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const OLDER_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";

/// A signing key from a fixed scalar: reproducible, and never one of GitHub's.
fn signing_key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 32]).expect("a valid P-256 scalar")
}

/// GitHub's key document, listing `keys` by identifier; the first is current.
fn document(keys: &[(&str, &SigningKey)]) -> String {
    let listed: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, (id, key))| {
            json!({
                "key_identifier": id,
                "key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                "is_current": i == 0,
            })
        })
        .collect();
    json!({ "public_keys": listed }).to_string()
}

/// `POST /api/secret-scanning` with `body` and these headers, exactly.
async fn report(
    addr: std::net::SocketAddr,
    headers: &[(&str, String)],
    body: &[u8],
) -> RawResponse {
    let mut raw = format!(
        "POST /api/secret-scanning HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    common::raw_exchange(addr, &raw).await
}

/// GitHub's headers for `body` signed by `key`, named `id`.
fn signed(id: &str, key: &SigningKey, body: &[u8]) -> Vec<(&'static str, String)> {
    let signature: DerSignature = key.sign(body);
    vec![
        ("Github-Public-Key-Identifier", id.to_owned()),
        (
            "Github-Public-Key-Signature",
            Base64::encode_string(signature.as_bytes()),
        ),
    ]
}

/// GitHub's payload: one match per key, as its samples write them.
fn payload(keys: &[&str]) -> Vec<u8> {
    let matches: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "token": key,
                "type": "tokenauth_key",
                "url": "https://github.com/octo/leaky/blob/main/.env",
                "source": "content",
            })
        })
        .collect();
    serde_json::to_vec(&matches).unwrap()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn status_of(instance: &Instance, key: &str) -> u16 {
    let header = format!("Token {key}");
    get(instance.addr, "/api/me", Some(header.as_bytes()))
        .await
        .status
}

async fn leaked_keys_are_revoked_everywhere(backend: Backend) {
    let (url, _dir) = common::database_url(backend).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let alice = store.create_user("alice", None).await.unwrap();
    let bob = store.create_user("bob", None).await.unwrap();
    let key = |user: i64| {
        let store = store.clone();
        async move {
            let (_, key) = store
                .tokens()
                .create(user, NewToken::default())
                .await
                .unwrap();
            key.expose_secret().to_owned()
        }
    };
    let (leaked, spared) = (key(alice.id).await, key(bob.id).await);

    let (current, older, stranger) = (signing_key(0x11), signing_key(0x22), signing_key(0x33));
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("github-keys.json");
    std::fs::write(
        &keys_file,
        document(&[(CURRENT_ID, &current), (OLDER_ID, &older)]),
    )
    .unwrap();
    let keys_file = keys_file.to_str().unwrap();
    let env = [
        ("TOKENAUTH_SECRET_SCANNING_KEYS", keys_file),
        ("TOKENAUTH_LOG", "json"),
        ("RUST_LOG", "info"),
    ];
    let one = Instance::start_with(&url, &env).await;
    let two = Instance::start_with(&url, &env).await;
    for key in [&leaked, &spared] {
        assert_eq!(status_of(&one, key).await, 200);
        assert_eq!(status_of(&two, key).await, 200);
    }

    // Refused reports, each of the leaked key: nothing is revoked.
    let body = payload(&[&leaked]);
    let mut flipped = body.clone();
    flipped[10] ^= 0x01;
    let mut huge = body.clone();
    huge.splice(1..1, std::iter::repeat_n(b' ', 1024 * 1024));
    let headers = signed(CURRENT_ID, &current, &body);
    // (case, headers, body, status)
    type Refusal<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, u16);
    let refusals: Vec<Refusal<'_>> = vec![
        (
            "another key's signature",
            signed(CURRENT_ID, &stranger, &body),
            body.clone(),
            401,
        ),
        (
            "the other listed key's signature under this id",
            signed(CURRENT_ID, &older, &body),
            body.clone(),
            401,
        ),
        ("a flipped body byte", headers.clone(), flipped.clone(), 401),
        ("no signature", vec![headers[0].clone()], body.clone(), 401),
        (
            "no key identifier",
            vec![headers[1].clone()],
            body.clone(),
            401,
        ),
        ("no headers", Vec::new(), body.clone(), 401),
        (
            "an unknown key identifier",
            signed("f".repeat(64).as_str(), &current, &body),
            body.clone(),
            401,
        ),
        (
            "a signature not in base64",
            vec![
                headers[0].clone(),
                ("Github-Public-Key-Signature", "!!".to_owned()),
            ],
            body.clone(),
            401,
        ),
        (
            "an oversized body, signed",
            signed(CURRENT_ID, &current, &huge),
            huge.clone(),
            413,
        ),
        (
            "not JSON, signed",
            signed(CURRENT_ID, &current, b"not json"),
            b"not json".to_vec(),
            400,
        ),
    ];
    for (case, headers, body, status) in &refusals {
        let response = report(one.addr, headers, body).await;
        assert_eq!(response.status, *status, "{case}: {response:?}");
        let detail: Value = serde_json::from_slice(&response.body).unwrap();
        assert!(detail["detail"].is_string(), "{case}");
        assert!(!response.body_text().contains(&leaked), "{case}");
    }
    assert_eq!(status_of(&one, &leaked).await, 200, "nothing revoked");
    assert_eq!(status_of(&two, &leaked).await, 200, "nothing revoked");

    // A valid report: the live key revoked, on both instances; each match labelled.
    let not_ours = "tokenauth_0000000000000000000000000000000000";
    let body = payload(&[&leaked, not_ours, &leaked]);
    let response = report(one.addr, &signed(CURRENT_ID, &current, &body), &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let labels: Value = serde_json::from_slice(&response.body).unwrap();
    let label = |key: &str, label: &str| json!({ "token_hash": sha256_hex(key), "token_type": "tokenauth_key", "label": label });
    assert_eq!(
        labels,
        json!([
            label(&leaked, "true_positive"),
            label(not_ours, "false_positive"),
            label(&leaked, "true_positive"),
        ])
    );
    assert!(!response.body_text().contains(&leaked), "no key is echoed");
    let header = format!("Token {leaked}");
    let status = common::status_within(two.addr, "/api/me", &header, 401).await;
    assert_eq!(status, 401, "revoked on the other instance");
    assert_eq!(status_of(&one, &leaked).await, 401);
    assert_eq!(status_of(&one, &spared).await, 200);
    assert_eq!(status_of(&two, &spared).await, 200);

    // Reported again (GitHub retries): a false positive now. Signed by the older key
    // GitHub still lists: accepted.
    let body = payload(&[&leaked]);
    let response = report(two.addr, &signed(OLDER_ID, &older, &body), &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    let labels: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(labels, json!([label(&leaked, "false_positive")]));

    // One security event per revoked token, with ids and the reason; never the key.
    let log = one
        .output_when(|lines| lines.iter().any(|l| l.contains("\"leaked\"")))
        .await;
    let events: Vec<Value> = log
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["event"] == "authn_token_revoked")
        .collect();
    assert_eq!(events.len(), 1, "{log:?}");
    assert_eq!(events[0]["fields"]["reason"], "leaked");
    assert_eq!(events[0]["fields"]["user_id"], alice.id);
    assert!(
        log.iter().all(|line| !line.contains(&leaked)),
        "the key is never logged"
    );
    // A refused report is logged as such, without its body.
    assert!(
        log.iter()
            .any(|line| line.contains("secret scanning report was refused")),
        "{log:?}"
    );
}

common::on_both_backends!(leaked_keys_are_revoked_everywhere);

/// The quickstart refuses to start with a key document that is not GitHub's.
#[tokio::test]
async fn a_bad_key_document_stops_the_quickstart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys.json");
    std::fs::write(&file, r#"{"public_keys": []}"#).unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let output = tokio::process::Command::new(common::built_binary("examples/quickstart"))
        .env("DATABASE_URL", &url)
        .env("TOKENAUTH_BIND", "127.0.0.1:0")
        .env("TOKENAUTH_SECRET_SCANNING_KEYS", &file)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TOKENAUTH_SECRET_SCANNING_KEYS") && stderr.contains("0 keys"),
        "{stderr}"
    );
}

/// A report whose body never comes holds its turn no longer than the read timeout: it gets
/// `408`, and a real report waiting for that one turn gets through.
#[tokio::test]
async fn a_slow_body_is_cut_off() {
    use poem::{EndpointExt as _, Route, post};
    use tokenauth::secret_scanning::SecretScanning;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let store = common::sqlite_store().await;
    let key = signing_key(0x11);
    let scanning = SecretScanning::new(&document(&[(CURRENT_ID, &key)]))
        .unwrap()
        .max_concurrent(1)
        .read_timeout(std::time::Duration::from_millis(300));
    let server = common::serve(
        Route::new()
            .at("/api/secret-scanning", post(scanning))
            .data(store),
    )
    .await;
    let body = payload(&["not a key"]);
    let headers = signed(CURRENT_ID, &key, &body);
    // Signed headers, then nothing: the body is promised and never sent.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut head = format!(
        "POST /api/secret-scanning HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in &headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let started = std::time::Instant::now();
    let response = report(server.addr, &headers, &body).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}
