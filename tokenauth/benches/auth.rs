//! Micro-benchmarks of what every authenticated request does before and around its database
//! query: parsing the `Authorization` header, checking a prefixed key's checksum, digesting
//! the key, and the whole `Store::authenticate` on an in-memory SQLite database (today's cost
//! of a hit: one query).
//!
//! ```sh
//! cargo bench -p tokenauth --bench auth
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tokenauth::{KeyDigest, KeyFormat, NewToken, Store, parse_authorization};

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
    let (store, key) = runtime.block_on(async {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let alice = store.create_user("alice", None).await.unwrap();
        let (_, key) = store
            .tokens()
            .create(alice.id, NewToken::default())
            .await
            .unwrap();
        (store, key)
    });
    let mut group = c.benchmark_group("Store::authenticate (SQLite in memory)");
    group.bench_function("valid key", |b| {
        b.iter(|| runtime.block_on(store.authenticate(black_box(key.expose_secret()))))
    });
    group.bench_function("unknown key", |b| {
        b.iter(|| {
            runtime
                .block_on(store.authenticate(black_box("0000000000000000000000000000000000000000")))
        })
    });
    group.finish();
}

criterion_group!(benches, header, key, authenticate);
criterion_main!(benches);
