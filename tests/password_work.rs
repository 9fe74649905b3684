//! A wrong username costs the same Argon2 work as a wrong password, checked structurally by
//! counting verifications (not by timing). Its own test binary: no other test in this process
//! verifies passwords meanwhile.

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
}
