//! A tiny blocking HTTP/1.1 client for the realm's admin API and its plain-HTTP tenants (loopback),
//! so the tests need no HTTP library of their own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends one request and returns the status and the body.
pub fn request(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    request_with(method, url, "", body)
}

/// The status of a `GET` of `url` with `Authorization: Bearer token`.
pub fn get_with_bearer(url: &str, token: &str) -> u16 {
    request_with("GET", url, &format!("Authorization: Bearer {token}\r\n"), None).0
}

/// [`request`] with `headers` (each line ending in CRLF) added.
fn request_with(method: &str, url: &str, headers: &str, body: Option<&str>) -> (u16, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("admin URLs are http: {url}"));
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".to_owned()));
    let mut stream = TcpStream::connect(host).unwrap_or_else(|err| panic!("connect {host}: {err}"));
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|err| panic!("{method} {url}: {err}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {url}: bad response {text:?}"));
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {head:?}"));
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let payload = if chunked { dechunk(payload) } else { payload.to_owned() };
    (status, payload)
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}
