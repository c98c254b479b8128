//! A JWT's header and claims (see [`kubectl_runai_token_fuzz::jwt`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kubectl_runai_token_fuzz::jwt(data));
