//! Integration tests: the real binary, with each test in its own [`support::TestEnv`],
//! against the real test realm (tests/realm: oidc-provider behind Keycloak's and
//! Run:ai's paths) and real kubectl.
//!
//! The binary builds on every platform: what only Unix has is in support::unix, and
//! every test that calls into it is `#[cfg(unix)]`. The tests run on Linux, where the
//! test realm is set up (scripts/test).

mod support;

mod api;
// A hostile co-user: owners, modes and symbolic links (support::unix).
#[cfg(unix)]
mod attacks;
mod auto;
mod cache;
mod clients;
mod docs;
mod doctor;
mod exit_codes;
// Fleet mode: chroot and signals (support::unix).
#[cfg(unix)]
mod fleet;
mod fuzz_regressions;
mod get;
mod inspect;
mod krew;
mod kubectl;
// How cargo links the binary there (build.rs).
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod link;
mod login;
mod login_browser;
mod network;
mod plugin;
mod profile_cmd;
mod secrecy;
mod secret_sources;
mod setup;
