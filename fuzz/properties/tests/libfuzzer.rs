//! The fuzz targets under the real libFuzzer (the `libfuzzer` feature, which .ci/run turns on):
//! built with stable Rust and no sanitizer, each loads its dictionary `fuzz/dict/<target>.dict`
//! and runs its whole seed corpus `fuzz/corpus/<target>/` without a crash (`-runs=0`: no
//! fuzzing), as `fuzz/run` does first. Sanitizers and coverage need nightly (`fuzz/run`) but
//! change nothing in how libFuzzer reads a dictionary or a corpus.

use std::path::Path;
use std::process::Command;

/// Each target and its `fuzz_<target>` bin, built from `fuzz/fuzz_targets/<target>.rs`.
const TARGETS: &[(&str, &str)] = &[
    ("header", env!("CARGO_BIN_EXE_fuzz_header")),
    ("login_body", env!("CARGO_BIN_EXE_fuzz_login_body")),
    ("duration", env!("CARGO_BIN_EXE_fuzz_duration")),
    ("key_format", env!("CARGO_BIN_EXE_fuzz_key_format")),
    ("attr_args", env!("CARGO_BIN_EXE_fuzz_attr_args")),
];

/// The number in libFuzzer's output line that contains `before`, e.g. `Dictionary: 30 entries`.
fn reported(output: &str, before: &str) -> Option<usize> {
    let (_, rest) = output.split_once(before)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[test]
fn every_target_loads_its_dictionary_and_runs_its_seed_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut failures = Vec::new();
    for &(target, exe) in TARGETS {
        let corpus = fuzz.join("corpus").join(target);
        let seeds = std::fs::read_dir(&corpus)
            .unwrap_or_else(|err| panic!("{}: {err}", corpus.display()))
            .count();
        let mut command = Command::new(exe);
        command.args(["-runs=0", "-timeout=10", "-rss_limit_mb=2048"]);
        // A crashing seed is written there, not into the source tree (tests/corpus.rs names it).
        command.arg(format!(
            "-artifact_prefix={}/libfuzzer-{target}-",
            env!("CARGO_TARGET_TMPDIR")
        ));
        let dict = fuzz.join("dict").join(format!("{target}.dict"));
        // The entries: every line but blank ones and comments, as libFuzzer counts them.
        let entries = dict.exists().then(|| {
            let text = std::fs::read_to_string(&dict).expect("the dictionary is UTF-8");
            command.arg(format!("-dict={}", dict.display()));
            text.lines()
                .map(str::trim_start)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .count()
        });
        command.arg(&corpus);
        let run = command.output().expect("the fuzz target runs");
        let output = String::from_utf8_lossy(&run.stderr);

        let problem = if !run.status.success() {
            Some(format!("libFuzzer exited with {}", run.status))
        } else if reported(&output, "seed corpus: files: ") != Some(seeds) {
            Some(format!("libFuzzer did not read all {seeds} seeds"))
        } else if let Some(entries) = entries
            && reported(&output, "Dictionary: ") != Some(entries)
        {
            Some(format!(
                "libFuzzer did not load all {entries} dictionary entries"
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            let tail: Vec<&str> = output.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            failures.push(format!(
                "{target}: {problem}; libFuzzer's output ends:\n{}",
                tail.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
