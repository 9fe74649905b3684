//! Micro-benchmarks of what every authenticated request does before and around its database
//! query: parsing the `Authorization` header, checking a prefixed key's checksum, digesting
//! the key, and the whole `Store::authenticate` on an in-memory SQLite database: with the
//! cache off (one query), a cache hit, a made-up key the database already confirmed absent,
//! and a made-up key refused by the live-key filter alone (the budget of checks spent).
//!
//! ```sh
//! cargo bench -p tokenauth --bench auth
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth::key::{KeyDigest, KeyFormat};
use tokenauth::{NewToken, Policy, Store, parse_authorization};

fn header(c: &mut Criterion) {
    let valid = b"Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b".as_slice();
    let other = b"Bearer 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b".as_slice();
    let spaced = b"Token 9944b091 99c62bcf9418ad846dd0e4bbdfc6ee4b".as_slice();
    let mut group = c.benchmark_group("parse_authorization");
    group.bench_function("valid", |b| {
        b.iter(|| parse_authorization(black_box(Some(valid)), "Token"))
    });
    group.bench_function("other keyword", |b| {
        b.iter(|| parse_authorization(black_box(Some(other)), "Token"))
    });
    group.bench_function("spaces in the key", |b| {
        b.iter(|| parse_authorization(black_box(Some(spaced)), "Token"))
    });
    group.finish();
}

fn key(c: &mut Criterion) {
    let hex = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b";
    c.bench_function("KeyDigest::of (40 hex)", |b| {
        b.iter(|| KeyDigest::of(black_box(hex)))
    });
    let format = KeyFormat::prefixed("app").unwrap();
    let prefixed = format.generate().unwrap();
    c.bench_function("KeyFormat::check (prefixed)", |b| {
        b.iter(|| format.check(black_box(prefixed.expose_secret())))
    });
}

fn authenticate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let unknown = "0000000000000000000000000000000000000000";
    let (cached, key) = runtime.block_on(async {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let alice = store.create_user("alice", None).await.unwrap();
        let (_, key) = store
            .tokens()
            .create(alice.id, NewToken::default())
            .await
            .unwrap();
        // Until the change feed is up, the key cached and the live-key filter built.
        while !(tokenauth::store::testing::cache_is_serving(&store)
            && tokenauth::store::testing::live_key_filter_ready(&store, "tokenauth_tokens"))
        {
            let _ = store.authenticate(key.expose_secret()).await;
            let _ = store.authenticate(unknown).await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        store.authenticate(key.expose_secret()).await.unwrap();
        (store, key)
    });
    let uncached = cached
        .clone()
        .with_policy(Policy::default().no_auth_cache());
    // No refusal checked: the live-key filter refuses alone, as past the budget.
    let unchecked = cached
        .clone()
        .with_policy(Policy::default().refusal_checks(0));
    runtime.block_on(async {
        while !(tokenauth::store::testing::cache_is_serving(&unchecked)
            && tokenauth::store::testing::live_key_filter_ready(&unchecked, "tokenauth_tokens"))
        {
            let _ = unchecked.authenticate(unknown).await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    // Peppered digests: a key stored under the older of two peppers, looked up under both
    // (and plain SHA-256): three HMACs or digests, and a query with three candidates.
    let (peppered, peppered_key) = runtime.block_on(async {
        let older = Policy::default().pepper(1, [1; 32]).unwrap();
        let store = cached.clone().with_policy(older);
        let alice = store.user_by_username("alice").await.unwrap().unwrap();
        let (_, key) = store
            .tokens()
            .create(alice.id, NewToken::default())
            .await
            .unwrap();
        let rotating = Policy::default()
            .pepper(1, [1; 32])
            .unwrap()
            .pepper(2, [2; 32])
            .unwrap();
        let store = cached.clone().with_policy(rotating);
        while !tokenauth::store::testing::cache_is_serving(&store) {
            let _ = store.authenticate(key.expose_secret()).await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        store.authenticate(key.expose_secret()).await.unwrap();
        (store, key)
    });
    let peppered_uncached = peppered
        .clone()
        .with_policy(peppered.policy().clone().no_auth_cache());
    let mut group = c.benchmark_group("Store::authenticate (SQLite in memory)");
    group.bench_function("valid key, cache off (a query)", |b| {
        b.iter(|| runtime.block_on(uncached.authenticate(black_box(key.expose_secret()))))
    });
    group.bench_function("unknown key, cache off (a query)", |b| {
        b.iter(|| runtime.block_on(uncached.authenticate(black_box(unknown))))
    });
    group.bench_function("valid key, cache hit", |b| {
        b.iter(|| runtime.block_on(cached.authenticate(black_box(key.expose_secret()))))
    });
    group.bench_function("valid key, cache hit, two peppers (under the older)", |b| {
        b.iter(|| runtime.block_on(peppered.authenticate(black_box(peppered_key.expose_secret()))))
    });
    group.bench_function("valid key, cache off, two peppers (under the older)", |b| {
        b.iter(|| {
            runtime
                .block_on(peppered_uncached.authenticate(black_box(peppered_key.expose_secret())))
        })
    });
    group.bench_function("made-up key, confirmed absent before", |b| {
        b.iter(|| runtime.block_on(cached.authenticate(black_box(unknown))))
    });
    group.bench_function("made-up key, refused by the live-key filter", |b| {
        b.iter(|| runtime.block_on(unchecked.authenticate(black_box(unknown))))
    });
    group.finish();
}

criterion_group!(benches, header, key, authenticate);
criterion_main!(benches);
