//! The compiled engine against the reference evaluator. See fuzz/README.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sgeval_fuzz::differential(data);
});
