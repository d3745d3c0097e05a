//! `cargo fuzz run rules`: the properties are in `crisiswatch::fuzz_checks::rules`, which
//! `tests/fuzz_corpus.rs` also runs on `fuzz/corpus/rules/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crisiswatch::fuzz_checks::rules(data));
