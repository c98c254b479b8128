//! The one place that writes to stdout and stderr (besides `main`'s `error:` line).
//!
//! stdout carries the requested output and nothing else: an exec plugin's stdout is
//! parsed by client-go, so a stray line breaks every kubectl command. Diagnostics go
//! to stderr through [`Log`], only at the verbosity asked for, and every line it
//! writes passes through the redaction list first: a secret or token that became
//! known to the process is never written, whatever a caller formats by mistake.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::secret::redact;

/// Verbosity levels of `-v`.
pub const DECISIONS: u8 = 1;
/// `-vv`: HTTP exchanges.
pub const HTTP: u8 = 2;
/// `-vvv`: headers and (redacted) bodies.
pub const WIRE: u8 = 3;

/// Diagnostics on stderr, and the list of values that must never be shown.
#[derive(Default)]
pub struct Log {
    level: AtomicU8,
    sensitive: Mutex<Sensitive>,
}

/// The protected values, and every form they are sent in. The forms are worked out
/// only when text is about to be shown: a cache hit protects a secret and shows
/// nothing, and kubectl runs it before every command (docs/performance.md).
#[derive(Default)]
struct Sensitive {
    values: Vec<String>,
    /// Longest first: a form that contains another is replaced whole.
    forms: Vec<String>,
    /// How many of `values` have their forms in `forms`.
    expanded: usize,
}

impl Sensitive {
    fn forms(&mut self) -> &[String] {
        for value in &self.values[self.expanded..] {
            for form in crate::secret::encodings(value) {
                if !self.forms.contains(&form) {
                    self.forms.push(form);
                }
            }
        }
        if self.expanded < self.values.len() {
            self.expanded = self.values.len();
            self.forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        }
        &self.forms
    }
}

impl Log {
    pub fn set_level(&self, level: u8) {
        self.level.store(level, Ordering::Relaxed);
    }

    pub fn level(&self) -> u8 {
        self.level.load(Ordering::Relaxed)
    }

    pub fn enabled(&self, level: u8) -> bool {
        self.level() >= level
    }

    /// Registers a value (a secret, a token) to be redacted from everything this
    /// process writes to stderr, in every form the plugin sends it in
    /// ([`crate::secret::encodings`]).
    pub fn protect(&self, value: &str) {
        if value.len() < 4 {
            return;
        }
        let mut sensitive = self.sensitive.lock().unwrap_or_else(|e| e.into_inner());
        if !sensitive.values.iter().any(|known| known == value) {
            sensitive.values.push(value.to_owned());
        }
    }

    /// Whether `text` shows any protected value (or a JWT).
    pub fn reveals(&self, text: &str) -> bool {
        self.redact(text) != text
    }

    /// `text` with every protected value and every JWT-looking word redacted.
    pub fn redact(&self, text: &str) -> String {
        let mut sensitive = self.sensitive.lock().unwrap_or_else(|e| e.into_inner());
        let needles: Vec<&str> = sensitive.forms().iter().map(String::as_str).collect();
        redact(text, &needles)
    }

    /// Writes one diagnostic line at `level` (1 = `-v`).
    pub fn at(&self, level: u8, args: fmt::Arguments<'_>) {
        if self.enabled(level) {
            self.line(&args.to_string());
        }
    }

    /// A warning shown at every verbosity (the insecure-skip-tls-verify warning).
    pub fn warn(&self, args: fmt::Arguments<'_>) {
        self.line(&format!("warning: {args}"));
    }

    /// A note shown at every verbosity, for commands whose stderr is for humans
    /// (`setup` saying what it replaced).
    pub fn note(&self, args: fmt::Arguments<'_>) {
        self.line(&args.to_string());
    }

    fn line(&self, text: &str) {
        // Log lines quote servers (headers, bodies): escaped like any text from elsewhere.
        let text = escape_untrusted(&self.redact(text));
        let mut stderr = io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }
}

/// `-v` line: `log_at!(log, DECISIONS, "...", args)`.
#[macro_export]
macro_rules! log_at {
    ($log:expr, $level:expr, $($arg:tt)*) => {
        $log.at($level, format_args!($($arg)*))
    };
}

/// Text the plugin did not write (a server's message, a token's claims, a command's
/// stderr) made safe for a terminal: control characters and the invisible
/// formatting characters that can reorder text are shown escaped (`\u{1b}`).
pub fn escape_untrusted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || invisible {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes the requested output to stdout. A closed pipe (`| head`) is not an error.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    stdout_bytes(text.as_bytes())
}

/// Writes raw bytes to stdout (`api` passes the body through as it came).
pub fn stdout_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(anyhow::Error::new(err).context("cannot write to stdout")),
        Ok(()) => Ok(()),
    }
}

/// Writes a server's text to stderr (`api` puts an error body there), line by line
/// with control characters escaped: a body is not the plugin's to send to the
/// terminal raw (docs/security.md#text-from-elsewhere).
pub fn stderr_text(text: &str) -> io::Result<()> {
    let mut err = io::stderr().lock();
    for line in text.lines() {
        writeln!(err, "{}", escape_untrusted(line))?;
    }
    err.flush()
}

/// Left-aligned columns separated by three spaces, like kubectl's tables.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` on one line: its lines trimmed and joined by spaces, empty ones dropped
/// (whatever a library put in its message).
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `main`'s error report: `error: ...` and an optional `hint: ...`, redacted.
pub fn report_error(log: &Log, message: &str, hint: Option<&str>) {
    let message = one_line(message);
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", escape_untrusted(&log.redact(&message)));
    if let Some(hint) = hint {
        let _ = writeln!(stderr, "hint: {}", escape_untrusted(&log.redact(hint)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_values_are_redacted() {
        let log = Log::default();
        log.protect("s3cr3t-value");
        log.protect("abc"); // too short to be a secret worth matching
        assert_eq!(log.redact("got s3cr3t-value and abc"), "got [redacted] and abc");
    }

    #[test]
    fn untrusted_text_is_escaped() {
        assert_eq!(
            escape_untrusted("a\u{1b}[31mred\r\nX\u{0}\u{202e}é"),
            "a\\u{1b}[31mred\\r\\nX\\u{0}\\u{202e}é"
        );
    }

    #[test]
    fn every_encoding_of_a_protected_value_is_redacted() {
        let log = Log::default();
        log.protect("q9Zx+7Lm/Q");
        assert_eq!(
            log.redact("client_secret=q9Zx%2B7Lm%2FQ&x"),
            "client_secret=[redacted]&x"
        );
        assert!(log.reveals("q9Zx+7Lm/Q") && !log.reveals("nothing here"));
    }

    #[test]
    fn tables_align() {
        let rows = [["A".to_owned(), "BB".to_owned()], ["ccc".to_owned(), "d".to_owned()]];
        assert_eq!(table(&rows), "A     BB\nccc   d\n");
    }

    #[test]
    fn levels_gate_lines() {
        let log = Log::default();
        assert!(!log.enabled(DECISIONS));
        log.set_level(2);
        assert!(log.enabled(HTTP) && !log.enabled(WIRE));
    }
}
