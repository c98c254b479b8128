//! `kubectl-runai-token`: parse, run, print the error once, pick the exit code.

use std::process::ExitCode;

use runai_token::output::{Log, report_error};
use runai_token::paths::Env;
use runai_token::{classify, is_reported};

fn main() -> ExitCode {
    runai_token::secret::keep_out_of_core_dumps();
    let log = Log::default();
    match runai_token::run(std::env::args_os(), &Env::os(), &log) {
        Ok(exit) => exit.into(),
        Err(err) => {
            let (exit, hint) = classify(&err);
            if !is_reported(&err) {
                report_error(&log, &format!("{err:#}"), hint.as_deref());
            }
            exit.into()
        }
    }
}
