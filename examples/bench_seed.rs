//! Seeds a database for the load benchmark (`benches/load/run`) through tokenauth's bulk import
//! (`Store::import_begin`): USERS users, one key each, every hundredth user inactive. Writes
//! the keys of the active users, one per line, to KEYS_FILE — a benchmark fixture, the only
//! place tokenauth's keys are ever written down.
//!
//! ```sh
//! cargo run --release --example bench_seed -- sqlite://bench.db 10000 keys.txt
//! ```

use std::io::Write as _;

use tokenauth::import;
use tokenauth::{Key, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_seed DATABASE_URL USERS KEYS_FILE";
    let url = args.next().ok_or(usage)?;
    let users: i64 = args.next().ok_or(usage)?.parse()?;
    let keys_file = args.next().ok_or(usage)?;

    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let now = chrono::Utc::now();
    let mut import = store.import_begin().await?;
    let mut keys = Vec::new();
    for chunk in (1..=users).collect::<Vec<_>>().chunks(1000) {
        let batch: Vec<import::User> = chunk
            .iter()
            .map(|&i| import::User {
                id: Some(i),
                username: format!("user{i}"),
                password_hash: None,
                is_active: i % 100 != 0,
                date_joined: now,
            })
            .collect();
        import.users(&batch).await?;
        let mut tokens = Vec::new();
        for &i in chunk {
            let key = Key::generate()?;
            if i % 100 != 0 {
                keys.push(key.expose_secret().to_owned());
            }
            tokens.push(import::Token {
                username: format!("user{i}"),
                key,
                created: now,
                name: "bench".into(),
            });
        }
        import.tokens(&tokens).await?;
    }
    let report = import.commit().await?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&keys_file)?);
    for key in &keys {
        writeln!(file, "{key}")?;
    }
    file.flush()?;
    println!(
        "Seeded {} users and {} tokens; {} active keys in {keys_file}",
        report.users_imported,
        report.tokens_imported,
        keys.len()
    );
    Ok(())
}
