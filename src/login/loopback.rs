//! The authorization-code flow's redirect target (docs/login.md#in-the-browser): a
//! server on a loopback address that accepts one callback, checks its `state`,
//! answers the browser with a page it may close, and is gone.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config_error;
use crate::output::escape_untrusted;
use crate::secret::Secret;

/// The callback's path under the loopback address.
pub const CALLBACK_PATH: &str = "/callback";
/// The largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;

/// A bound listener and the redirect URI it answers.
pub struct Loopback {
    listener: std::net::TcpListener,
    pub redirect_uri: String,
}

impl Loopback {
    /// Binds the first of `addresses` that is free (port 0: any free port). Only
    /// loopback addresses reach here (the profile's `listen-address` is checked).
    pub fn bind(addresses: &[SocketAddr]) -> anyhow::Result<Self> {
        let mut failures = Vec::new();
        for address in addresses {
            match std::net::TcpListener::bind(address) {
                Ok(listener) => {
                    let bound = listener.local_addr().context("cannot read the loopback address")?;
                    listener
                        .set_nonblocking(true)
                        .context("cannot set up the loopback listener")?;
                    // The URI uses the address as bound: 127.0.0.1 or [::1], never a name.
                    let redirect_uri = format!("http://{bound}{CALLBACK_PATH}");
                    return Ok(Self { listener, redirect_uri });
                }
                Err(err) => failures.push(format!("{address}: {err}")),
            }
        }
        Err(config_error!(
            "cannot listen for the browser's redirect on {}",
            failures.join(", ")
        ))
    }

    /// Waits `wait` for the browser's one callback. Each connection is served on its
    /// own, so an idle one (a browser's spare socket) delays nothing. Requests for
    /// other paths (a favicon) get 404 and do not count; the first callback ends the
    /// wait, whatever it says, and the listener is closed with it. Errors are exit 3
    /// with the `login` hint for `profile`: the sign-in did not happen, and running
    /// `login` again is the way on.
    pub async fn callback(self, state: &str, wait: Duration, profile: &str) -> anyhow::Result<Secret<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        let listener =
            tokio::net::TcpListener::from_std(self.listener).context("cannot set up the loopback listener")?;
        let (outcomes, mut first) = tokio::sync::mpsc::channel::<Result<Secret<String>, String>>(1);
        let state = state.to_owned();
        let taken = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acceptor = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone(), taken.clone(), outcomes.clone()));
            }
        });
        let outcome = tokio::time::timeout_at(deadline, first.recv()).await;
        // The listener goes with the acceptor: a second callback finds nobody.
        acceptor.abort();
        let _ = acceptor.await;
        match outcome {
            Ok(Some(outcome)) => outcome.map_err(|reason| not_signed_in(profile, reason)),
            _ => Err(not_signed_in(
                profile,
                format!(
                    "the browser sign-in did not come back in time (waited {})",
                    crate::time::GoDuration(wait)
                ),
            )),
        }
    }
}

/// One connection: the first callback's outcome goes to `outcomes`,
/// anything else is answered and forgotten. A connection that says nothing within
/// 10 s is dropped.
async fn serve(
    mut stream: tokio::net::TcpStream,
    state: String,
    taken: std::sync::Arc<std::sync::atomic::AtomicBool>,
    outcomes: tokio::sync::mpsc::Sender<Result<Secret<String>, String>>,
) {
    let Ok(Ok(head)) = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await else {
        return;
    };
    let Some(target) = request_target(&head) else {
        let _ = respond(&mut stream, 400, "This is not a request this page understands.").await;
        return;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        let _ = respond(&mut stream, 404, "Nothing here.").await;
        return;
    }
    // One callback is accepted: any later one is dropped unanswered, even before
    // the listener is gone.
    if taken.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let outcome = read_callback(query, &state);
    let page = match &outcome {
        Ok(_) => "You are signed in to Run:ai. You may close this tab.",
        Err(_) => "The sign-in did not complete. See the terminal for what went wrong; you may close this tab.",
    };
    let _ = respond(&mut stream, if outcome.is_ok() { 200 } else { 400 }, page).await;
    let _ = outcomes.try_send(outcome);
}

fn not_signed_in(profile: &str, reason: String) -> anyhow::Error {
    crate::token::TokenError::LoginNeeded {
        profile: profile.to_owned(),
        reason,
    }
    .into()
}

/// The code of a callback whose `state` is the one sent; the issuer's `error` and
/// `error_description` as the error otherwise.
fn read_callback(query: &str, state: &str) -> Result<Secret<String>, String> {
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => got_state = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            "error_description" => description = Some(value.into_owned()),
            _ => {}
        }
    }
    if got_state.as_deref() != Some(state) {
        return Err(
            "the browser's redirect does not carry this sign-in's state: refused (a stale tab, or a forged request)"
                .to_owned(),
        );
    }
    if let Some(error) = error {
        let detail = match description {
            Some(description) => format!("{error}: {description}"),
            None => error,
        };
        let shown: String = detail.chars().take(200).collect();
        return Err(format!("the issuer refused the sign-in: {}", escape_untrusted(&shown)));
    }
    match code.filter(|c| !c.is_empty()) {
        Some(code) => Ok(Secret::new(code)),
        None => Err("the browser's redirect carries no code".to_owned()),
    }
}

async fn read_head(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || head.len() + read > MAX_REQUEST {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// `/callback?code=...` of `GET /callback?code=... HTTP/1.1`.
fn request_target(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    (method == "GET" && version.starts_with("HTTP/1.")).then_some(target)
}

async fn respond(stream: &mut tokio::net::TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>kubectl runai-token</title></head>\
         <body style=\"font-family: sans-serif; margin: 3em\"><p>{text}</p></body></html>\n"
    );
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_is_read_only_with_its_state() {
        assert_eq!(read_callback("code=c0de&state=s1", "s1").unwrap().expose(), "c0de");
        let wrong = read_callback("code=c0de&state=other", "s1").unwrap_err().to_string();
        assert!(wrong.contains("does not carry this sign-in's state"), "{wrong}");
        let refused = read_callback("error=access_denied&error_description=no%1b[2J&state=s1", "s1")
            .unwrap_err()
            .to_string();
        assert_eq!(refused, "the issuer refused the sign-in: access_denied: no\\u{1b}[2J");
        assert!(read_callback("state=s1", "s1").is_err());
    }

    #[test]
    fn the_request_line_is_parsed_strictly() {
        assert_eq!(
            request_target("GET /callback?code=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some("/callback?code=1")
        );
        assert_eq!(request_target("POST /callback HTTP/1.1\r\n"), None);
        assert_eq!(request_target("garbage"), None);
    }
}
