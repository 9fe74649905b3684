//! A wrong username costs the same Argon2 work as a wrong password, and a wrong password for
//! a Django PBKDF2 hash costs what Django's `harden_runtime` makes it cost — checked
//! structurally by counting verifications and PBKDF2 iterations (not by timing). Its own test
//! binary, with one test: no other test in this process verifies passwords meanwhile.

mod common;

#[tokio::test]
async fn a_wrong_username_costs_one_verification_like_a_wrong_password() {
    let store = common::store_with_login_users(common::Backend::Sqlite).await;
    store.create_user("nopass", None).await.unwrap();
    for (username, password) in [
        ("alice", "wrong"),
        ("alice", "correct horse"),
        ("nobody", "correct horse"),
        ("inactive", "correct horse"),
        ("nopass", ""),
    ] {
        let before = tokenauth::__private::password_verifications();
        store.check_password(username, password).await.unwrap();
        let work = tokenauth::__private::password_verifications() - before;
        assert_eq!(work, 1, "{username}/{password}: {work} verifications");
    }

    // Django-made PBKDF2 hashes: Django 5.2's 1,000,000 iterations and Django 5.0's 600,000.
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("fixtures/django_hashes.json")).unwrap();
    let hash = |name: &str| {
        let entry = fixtures.iter().find(|e| e["hasher"] == name).unwrap();
        let password = entry["password"].as_str().unwrap().to_owned();
        (entry["encoded"].as_str().unwrap().to_owned(), password)
    };
    let (current, current_password) = hash("pbkdf2_sha256");
    let (older, older_password) = hash("pbkdf2_sha256_600000");
    let imported = |id: i64, name: &str, hash: &str| tokenauth::ImportUser {
        id: Some(id),
        username: name.to_owned(),
        password_hash: Some(hash.to_owned()),
        is_active: true,
        date_joined: chrono::Utc::now(),
    };
    store
        .import_users(&[imported(100, "current", &current), imported(101, "older", &older)])
        .await
        .unwrap();
    let iterations = |before: u64| tokenauth::__private::pbkdf2_iterations() - before;
    for username in ["current", "older"] {
        let (verifications, pbkdf2) = (
            tokenauth::__private::password_verifications(),
            tokenauth::__private::pbkdf2_iterations(),
        );
        assert!(store.check_password(username, "wrong").await.unwrap().is_none());
        assert_eq!(
            iterations(pbkdf2),
            1_000_000,
            "{username}: a wrong password costs Django 5.2's iterations, whatever the hash's"
        );
        assert_eq!(tokenauth::__private::password_verifications() - verifications, 1);
    }
    // The right password costs the hash's own iterations, then the upgrade's Argon2id.
    let pbkdf2 = tokenauth::__private::pbkdf2_iterations();
    assert!(store.check_password("older", &older_password).await.unwrap().is_some());
    assert_eq!(iterations(pbkdf2), 600_000);
    let pbkdf2 = tokenauth::__private::pbkdf2_iterations();
    assert!(store.check_password("current", &current_password).await.unwrap().is_some());
    assert_eq!(iterations(pbkdf2), 1_000_000);
    // Upgraded: no PBKDF2 any more.
    let pbkdf2 = tokenauth::__private::pbkdf2_iterations();
    assert!(store.check_password("older", "wrong").await.unwrap().is_none());
    assert_eq!(iterations(pbkdf2), 0);
    // An unknown user costs Argon2id, never PBKDF2 (as Django runs its preferred hasher).
    let pbkdf2 = tokenauth::__private::pbkdf2_iterations();
    assert!(store.check_password("nobody", "wrong").await.unwrap().is_none());
    assert_eq!(iterations(pbkdf2), 0);
}
