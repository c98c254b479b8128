//! `KUBERNETES_EXEC_INFO` (see [`kubectl_runai_token_fuzz::exec_info`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kubectl_runai_token_fuzz::exec_info(data));
