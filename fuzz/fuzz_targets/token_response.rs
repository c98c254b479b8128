//! A token endpoint's answer (see [`kubectl_runai_token_fuzz::token_response`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kubectl_runai_token_fuzz::token_response(data));
