//! Talking to the person at the terminal (docs/login.md): where the browser is
//! opened, and how a username and password are asked for. Prompts and URLs go to
//! stderr; stdout is kubectl's. They are for the person, not diagnostics, so they
//! do not go through [`crate::output::Log`]; none of them holds a secret.
#![allow(clippy::print_stderr)]

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::{Command, Stdio};

use crate::config_error;
use crate::paths::Env;

/// How to show the person a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Browser {
    /// The platform's opener (`xdg-open`, `open`, the Windows shell).
    Platform,
    /// `--browser-command`: the command, then the URL as its last argument.
    Command(Vec<String>),
    /// `--no-browser`: print the URL only.
    None,
}

impl Browser {
    /// Opens `url`, or says why not; the URL is printed either way, so that a
    /// person on another machine can copy it. Never waits for the browser.
    pub fn open(&self, url: &str) {
        // The issuer chose most of it: shown escaped, passed to the opener as it is.
        let shown = crate::output::escape_untrusted(url);
        eprintln!("To sign in, open this URL in a browser:\n\n    {shown}\n");
        let argv: Vec<String> = match self {
            Browser::None => return,
            Browser::Command(argv) => argv.clone(),
            Browser::Platform => platform_opener(),
        };
        let Some((program, args)) = argv.split_first() else {
            return;
        };
        let spawned = Command::new(program)
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(err) = spawned {
            eprintln!("(cannot start {program}: {err}; open the URL yourself)");
        }
    }
}

fn platform_opener() -> Vec<String> {
    let argv: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        // Not `cmd /c start`: cmd would read the URL's `&` as a command separator.
        &["rundll32", "url.dll,FileProtocolHandler"]
    } else {
        &["xdg-open"]
    };
    argv.iter().map(|a| (*a).to_owned()).collect()
}

/// Whether a person can answer here: stdin and stderr are terminals, and under an
/// exec client `KUBERNETES_EXEC_INFO` says it connected them (`interactive: true`).
pub fn can_interact(env: &Env) -> bool {
    let terminals = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let exec_client_allows = match env.var("KUBERNETES_EXEC_INFO") {
        Some(info) => crate::exec_credential::interactive_from_exec_info(&info),
        None => !env.is_set("KUBERNETES_EXEC_INFO"),
    };
    terminals && exec_client_allows
}

/// The password from stdin (`--password-stdin`): everything up to the first line
/// end, at most 4 KiB.
pub fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(4096)
        .read_line(&mut line)
        .map_err(|err| config_error!("cannot read the password from stdin: {err}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(config_error!("--password-stdin: stdin holds no password"));
    }
    Ok(password)
}

/// Asks for a line on the terminal, echoing it.
pub fn ask(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(4096)
        .read_line(&mut line)
        .map_err(|err| config_error!("cannot read the answer: {err}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).trim().to_owned())
}

/// Asks for a password on the terminal without echoing it.
pub fn ask_password(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let password = without_echo(|| {
        let mut line = String::new();
        std::io::stdin().lock().take(4096).read_line(&mut line).map(|_| line)
    })
    .map_err(|err| config_error!("cannot read the password: {err}"))?;
    eprintln!();
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(config_error!("no password given"));
    }
    Ok(password)
}

#[cfg(unix)]
fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
    let result = read();
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    result
}

#[cfg(not(unix))]
fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    // The Windows console has no termios; use --password-stdin to keep it unseen.
    read()
}
