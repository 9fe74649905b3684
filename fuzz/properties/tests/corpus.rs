//! Every fuzz target's property over every file of its committed seed corpus
//! (`fuzz/corpus/<target>/`), as libFuzzer runs them before it mutates anything: a property
//! that no longer holds fails here, naming the seeds it fails on.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// What a fuzz target checks: panics when its input breaks the property.
type Property = fn(&[u8]);

/// Every fuzz target, `fuzz/fuzz_targets/<target>.rs`, and the property it checks.
const TARGETS: &[(&str, Property)] = &[
    ("header", tokenauth_fuzz_properties::header),
    ("login_body", tokenauth_fuzz_properties::login_body),
    ("duration", tokenauth_fuzz_properties::duration),
    ("key_format", tokenauth_fuzz_properties::key_format),
    ("attr_args", tokenauth_fuzz_properties::attr_args),
];

/// The `fuzz` directory.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `target`'s property over each file of `fuzz/corpus/<target>/` and fails naming every
/// file it panics on, with the panic's message.
fn holds_over_corpus(target: &str) {
    let property = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, property)| property)
        .expect("a listed target");
    let dir = fuzz_dir().join("corpus").join(target);
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("the seed corpus {}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    seeds.sort();
    assert!(
        !seeds.is_empty(),
        "the seed corpus {} is empty",
        dir.display()
    );

    let mut failures = Vec::new();
    for seed in &seeds {
        let data = std::fs::read(seed)
            .unwrap_or_else(|err| panic!("reading the seed {}: {err}", seed.display()));
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| property(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            let name = seed.file_name().unwrap_or_default().to_string_lossy();
            failures.push(format!("fuzz/corpus/{target}/{name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "the `{target}` property fails on {} of its {} seeds:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

#[test]
fn header() {
    holds_over_corpus("header");
}

#[test]
fn login_body() {
    holds_over_corpus("login_body");
}

#[test]
fn duration() {
    holds_over_corpus("duration");
}

#[test]
fn key_format() {
    holds_over_corpus("key_format");
}

#[test]
fn attr_args() {
    holds_over_corpus("attr_args");
}

/// The names in `dir` (files ending in `suffix`, or directories when `suffix` is empty), sorted.
fn names_in(dir: &str, suffix: &str) -> Vec<String> {
    let dir = fuzz_dir().join(dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| suffix.is_empty() == path.is_dir())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            Some(name.strip_suffix(suffix)?.to_owned())
        })
        .collect();
    names.sort();
    names
}

/// A new target, or one renamed, is fuzzed by `fuzz/run`, checked here and under libFuzzer by
/// .ci/run (tests/libfuzzer.rs) only if every list names it.
#[test]
fn every_target_is_listed_everywhere() {
    let mut targets: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    targets.sort();
    assert_eq!(
        names_in("fuzz_targets", ".rs"),
        targets,
        "fuzz/fuzz_targets/*.rs and this file's TARGETS"
    );
    assert_eq!(names_in("corpus", ""), targets, "fuzz/corpus/*/");
    for dict in names_in("dict", ".dict") {
        assert!(
            targets.contains(&dict),
            "fuzz/dict/{dict}.dict: no such target"
        );
    }

    let read = |path: &str| {
        std::fs::read_to_string(fuzz_dir().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
    };
    let cargo_fuzz = read("Cargo.toml");
    let own = read("properties/Cargo.toml");
    let libfuzzer_test = read("properties/tests/libfuzzer.rs");
    let run = read("run");
    let all_targets = run
        .lines()
        .find_map(|line| line.strip_prefix("ALL_TARGETS=("))
        .and_then(|rest| rest.strip_suffix(')'))
        .expect("fuzz/run sets ALL_TARGETS=(...)");
    let mut listed: Vec<&str> = all_targets.split_whitespace().collect();
    listed.sort_unstable();
    assert_eq!(listed, targets, "fuzz/run's ALL_TARGETS");
    for target in &targets {
        assert!(
            cargo_fuzz.contains(&format!("path = \"fuzz_targets/{target}.rs\"")),
            "fuzz/Cargo.toml has no [[bin]] for {target}"
        );
        assert!(
            own.contains(&format!("path = \"../fuzz_targets/{target}.rs\"")),
            "fuzz/properties/Cargo.toml has no fuzz_{target} [[bin]]"
        );
        assert!(
            libfuzzer_test.contains(&format!("env!(\"CARGO_BIN_EXE_fuzz_{target}\")")),
            "fuzz/properties/tests/libfuzzer.rs does not run fuzz_{target}"
        );
    }
}
