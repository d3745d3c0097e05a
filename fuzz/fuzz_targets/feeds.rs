//! `cargo fuzz run feeds`: the properties are in `crisiswatch::fuzz_checks::feeds`, which
//! `tests/fuzz_corpus.rs` also runs on `fuzz/corpus/feeds/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crisiswatch::fuzz_checks::feeds(data));
