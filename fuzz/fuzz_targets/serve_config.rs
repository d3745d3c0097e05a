//! `cargo fuzz run serve_config`: the properties are in `crisiswatch::fuzz_checks::serve_config`, which
//! `tests/fuzz_corpus.rs` also runs on `fuzz/corpus/serve_config/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| crisiswatch::fuzz_checks::serve_config(data));
