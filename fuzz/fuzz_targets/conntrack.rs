//! A byte program of packets, clock steps and rule changes through two trackers. See
//! fuzz/README.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sgeval_fuzz::conntrack(data);
});
