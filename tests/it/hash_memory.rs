//! Password hashing is bounded in concurrency and in memory: a burst of logins for unknown
//! usernames (each an Argon2 verification of 19 MiB) raises this process's peak memory by
//! what the worker threads hold, not by 19 MiB per login. The test runs in a process of its own
//! (`common::alone`), so that the process's peak resident size (`VmHWM`) measures this burst
//! alone.

use crate::common;

use std::time::Duration;

use common::{Backend, peak_rss, post_json, serve};
use poem::{EndpointExt, Route};
use poem_openapi::OpenApiService;
use serde_json::json;
use tokenauth::openapi::Limit;
use tokenauth::{AuthApi, Policy};

/// Worker threads for the burst: fixed, so that the bound below does not grow with the CPUs
/// of the machine running the test.
const WORKERS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_is_bounded_by_the_hashing_workers() {
    let _heavy = common::heavy().await;
    if !common::alone("hash_memory::a_burst_of_logins_is_bounded_by_the_hashing_workers") {
        return;
    }
    let (store, _dir) = common::file_store(Backend::Sqlite).await;
    let store =
        store.with_policy(Policy::default().password_hashing(WORKERS, 64, Duration::from_secs(3)));
    let window = Duration::from_secs(60);
    let auth = AuthApi::new().login_limits(Limit::new(0, window), Limit::new(0, window));
    let app = Route::new()
        .nest("/api", OpenApiService::new(auth, "memory", "1"))
        .data(store);
    let server = serve(app).await;
    let login = |i: usize| json!({"username": format!("nobody{i}"), "password": "guess"});

    // Warm up: the workers, the dummy hash and the server's buffers exist before measuring.
    for i in 0..4 {
        let response = post_json(server.addr, "/api/auth/token", &login(i), None).await;
        assert_eq!(response.status, 400);
    }
    let before = peak_rss();

    let burst: Vec<_> = (0..120)
        .map(|i| {
            let (addr, body) = (server.addr, login(i));
            tokio::spawn(async move { post_json(addr, "/api/auth/token", &body, None).await })
        })
        .collect();
    let (mut verified, mut refused) = (0, 0);
    for task in burst {
        let response = task.await.unwrap();
        match response.status {
            400 => verified += 1,
            503 => {
                assert!(response.header("retry-after").is_some(), "{response:?}");
                assert_eq!(
                    response.body_text(),
                    r#"{"detail":"Too many logins at once. Try again shortly."}"#
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {response:?}"),
        }
    }
    let growth = peak_rss().saturating_sub(before);
    assert!(verified > 0, "{verified} verified, {refused} refused");
    // One Argon2 memory block per worker (19 MiB each) and the requests' own buffers;
    // unbounded hashing held ~19 MiB per concurrent login.
    let bound = WORKERS as u64 * 20 * (1 << 20) + 80 * (1 << 20);
    assert!(
        growth < bound,
        "peak memory grew by {} MiB during the burst (bound {} MiB)",
        growth >> 20,
        bound >> 20
    );
}
