//! `cargo fuzz run ingest_body`: the properties are in `crisiswatch::fuzz_checks::ingest_body`, which
//! `tests/fuzz_corpus.rs` also runs on `fuzz/corpus/ingest_body/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crisiswatch::fuzz_checks::ingest_body(data));
