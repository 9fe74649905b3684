//! A wrong username costs the same Argon2 work as a wrong password, and a wrong password for
//! a Django PBKDF2 hash costs what Django's `harden_runtime` makes it cost — checked
//! structurally by counting verifications and PBKDF2 iterations (not by timing). The test runs
//! in a process of its own (`common::alone`): no other test verifies passwords meanwhile.

use crate::common;

#[tokio::test]
async fn a_wrong_username_costs_one_verification_like_a_wrong_password() {
    let _heavy = common::heavy().await;
    if !common::alone(
        "password_work::a_wrong_username_costs_one_verification_like_a_wrong_password",
    ) {
        return;
    }
    let store = common::store_with_login_users(common::Backend::Sqlite).await;
    store.create_user("nopass", None).await.unwrap();
    for (username, password) in [
        ("alice", "wrong"),
        ("alice", "correct horse"),
        ("nobody", "correct horse"),
        ("inactive", "correct horse"),
        ("nopass", ""),
    ] {
        let before = tokenauth::password::testing::password_verifications();
        store.check_password(username, password).await.unwrap();
        let work = tokenauth::password::testing::password_verifications() - before;
        assert_eq!(work, 1, "{username}/{password}: {work} verifications");
    }

    // Django-made PBKDF2 hashes: Django 5.2's 1,000,000 iterations and Django 5.0's 600,000.
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../fixtures/django_hashes.json")).unwrap();
    let hash = |name: &str| {
        let entry = fixtures.iter().find(|e| e["hasher"] == name).unwrap();
        let password = entry["password"].as_str().unwrap().to_owned();
        (entry["encoded"].as_str().unwrap().to_owned(), password)
    };
    let (current, current_password) = hash("pbkdf2_sha256");
    let (older, older_password) = hash("pbkdf2_sha256_600000");
    let imported = |id: i64, name: &str, hash: &str| tokenauth::import::User {
        id: Some(id),
        username: name.to_owned(),
        password_hash: Some(hash.to_owned()),
        is_active: true,
        date_joined: chrono::Utc::now(),
    };
    store
        .import_users(&[
            imported(100, "current", &current),
            imported(101, "older", &older),
        ])
        .await
        .unwrap();
    // (Argon2 computations, PBKDF2 iterations) of one `check_password`.
    let work = async |username: &str, password: &str| {
        let (argon2, pbkdf2) = (
            tokenauth::password::testing::argon2_computations(),
            tokenauth::password::testing::pbkdf2_iterations(),
        );
        let matched = store
            .check_password(username, password)
            .await
            .unwrap()
            .is_some();
        let work = (
            tokenauth::password::testing::argon2_computations() - argon2,
            tokenauth::password::testing::pbkdf2_iterations() - pbkdf2,
        );
        (matched, work)
    };
    // While Django's PBKDF2 hashes are in the store, every failure costs what a failure
    // costs for a current Django hash (Django 5.2's 1,000,000 iterations, whatever the
    // hash's own count: `harden_runtime`) and an Argon2id verification, whoever the user:
    // not yet migrated, migrated (alice) or unknown. Timing tells none of them apart.
    for username in ["current", "older", "alice", "nobody", "nopass"] {
        assert_eq!(
            work(username, "wrong").await,
            (false, (1, 1_000_000)),
            "{username}: a failed login"
        );
    }
    // The right password costs the hash's own iterations, then the upgrade's Argon2id.
    assert_eq!(work("older", &older_password).await, (true, (1, 600_000)));
    assert_eq!(
        work("current", &current_password).await,
        (true, (1, 1_000_000))
    );
    // Upgraded: the padding stays while the other Django hashes do…
    store
        .import_users(&[imported(102, "pending", &older)])
        .await
        .unwrap();
    assert_eq!(work("older", "wrong").await, (false, (1, 1_000_000)));
    assert_eq!(work("pending", &older_password).await, (true, (1, 600_000)));
    // …and ends with the last of them (this store checks again after an import).
    store.import_users(&[]).await.unwrap();
    assert_eq!(work("nobody", "wrong").await, (false, (1, 0)));
    assert_eq!(work("older", "wrong").await, (false, (1, 0)));
}
