//! The gcore front end on arbitrary requests: see fuzz/README.md for the properties.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sgeval_fuzz::request(sgeval::Provider::Gcore, data);
});
