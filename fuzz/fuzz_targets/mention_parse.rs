//! `cargo fuzz run mention_parse`: the properties are in `crisiswatch::fuzz_checks::mention_parse`, which
//! `tests/fuzz_corpus.rs` also runs on `fuzz/corpus/mention_parse/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crisiswatch::fuzz_checks::mention_parse(data));
