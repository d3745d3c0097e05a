//! The fuzz corpus as a regression suite on the stable toolchain: every file of
//! `fuzz/corpus/<target>/` goes through the same check as the fuzz target
//! (`crisiswatch::fuzz_checks`), so an input that once crashed a target (minimised and added
//! to the corpus) stays fixed. `scripts/fuzz` runs the targets themselves (nightly).

use crisiswatch::fuzz_checks;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn run_corpus(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus files", dir.display());
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target}: {} of {} corpus files fail: {failed:?}", failed.len(), files.len());
}

#[test]
fn mention_parse() {
    run_corpus("mention_parse", fuzz_checks::mention_parse);
}

#[test]
fn rules() {
    run_corpus("rules", fuzz_checks::rules);
}

#[test]
fn serve_config() {
    run_corpus("serve_config", fuzz_checks::serve_config);
}

#[test]
fn ingest_body() {
    run_corpus("ingest_body", fuzz_checks::ingest_body);
}

#[test]
fn feeds() {
    run_corpus("feeds", fuzz_checks::feeds);
}
