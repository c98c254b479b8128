//! kubeconfig files, read and edited (see [`kubectl_runai_token_fuzz::kubeconfig`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kubectl_runai_token_fuzz::kubeconfig(data));
