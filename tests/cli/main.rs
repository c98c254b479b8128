//! Integration tests: the real binary, with each test in its own [`support::TestEnv`],
//! against the real test realm (tests/realm: oidc-provider behind Keycloak's and
//! Run:ai's paths) and real kubectl.

mod support;

mod api;
mod attacks;
mod auto;
mod cache;
mod clients;
mod docs;
mod doctor;
mod exit_codes;
mod get;
mod inspect;
mod krew;
mod kubectl;
mod network;
mod plugin;
mod profile_cmd;
mod secrecy;
mod setup;
