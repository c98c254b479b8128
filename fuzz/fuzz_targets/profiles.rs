//! The profiles file (see [`kubectl_runai_token_fuzz::profiles`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kubectl_runai_token_fuzz::profiles(data));
