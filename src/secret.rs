//! `Secret<T>`: a value that must never reach an output, a log or an error.
//!
//! It has no `Display`; its `Debug` prints `[redacted]`. The only way to the value is
//! [`Secret::expose`], so every place that needs the raw value says so in the code.
//! For logs, [`fingerprint`] gives a length and a short hash that identify a token
//! without revealing it.

use std::fmt;

use sha2::{Digest, Sha256};

/// Marks the process non-dumpable (Linux): no core file, no ptrace by other users'
/// processes, so neither can read a secret out of its memory. Called first thing in
/// `main`; it costs one system call (docs/security.md#memory).
pub fn keep_out_of_core_dumps() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Best effort: a kernel that refuses leaves things as they were.
        let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
}

/// A value that is hidden from `Debug` and has no `Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The raw value. Call it only where the value leaves the process on purpose: an
    /// HTTP request, the requested output, the cache file.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Secret<String> {
    /// `len=N sha256=xxxxxxxx`: enough to tell two tokens apart in a log, nothing more.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

/// `len=N sha256=xxxxxxxx` for any sensitive string.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    format!("len={} sha256={}", value.len(), &hex(&digest)[..8])
}

/// Lowercase hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// Every form in which the plugin itself puts `value` on the wire, and in which a
/// server that echoes a request back would show it: raw, form-urlencoded (as sent,
/// and with lowercase hex or `%20` as a server may re-encode it), JSON string
/// content, JSON of JSON (a JSON request quoted inside a JSON error), and base64
/// (how a Kubernetes Secret carries it, docs/fleet.md).
/// docs/security.md#redaction
pub fn encodings(value: &str) -> Vec<String> {
    use base64::Engine;
    let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let json = |text: &str| {
        let quoted = serde_json::Value::String(text.to_owned()).to_string();
        quoted[1..quoted.len() - 1].to_owned()
    };
    let mut forms = vec![
        value.to_owned(),
        json(value),
        json(&json(value)),
        form.replace('+', "%20"),
        lowercase_hex(&form),
        base64::engine::general_purpose::STANDARD.encode(value),
        form,
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// `%2F` -> `%2f`, leaving everything else as it is.
fn lowercase_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// Replaces every occurrence of each needle in `text` with `[redacted]`, and every
/// JSON Web Token-looking word (`eyJ...`) as well. The last line of defence for text
/// that came from elsewhere (a response body, a command's stderr) before it is shown.
pub fn redact(text: &str, needles: &[&str]) -> String {
    let mut out = text.to_owned();
    for needle in needles.iter().filter(|n| n.len() >= 4) {
        out = out.replace(needle, "[redacted]");
    }
    redact_jwts(&out)
}

fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')))
            .unwrap_or(candidate.len());
        let word = &candidate[..end];
        if word.matches('.').count() >= 1 && word.len() >= 16 {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        rest = &candidate[end..];
    }
    out.push_str(rest);
    out
}

// The profiles file and the cache file store secrets on purpose; serde is how they get
// there. Serializing is exposing: only `profile.rs` and `cache.rs` serialize a Secret.
impl<T: serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "hunter2");
    }

    /// FIPS 180-2's example: SHA-256 of "abc", and every nibble.
    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xf0, 0xff]), "000ff0ff");
    }

    #[test]
    fn fingerprint_hides_the_value() {
        let print = fingerprint("abcdefgh");
        assert_eq!(print, "len=8 sha256=9c56cc51");
        assert!(!print.contains("abcdefgh"));
    }

    #[test]
    fn encodings_cover_what_was_sent() {
        let secret = "q9Zx+7Lm/a b\"c";
        let forms = encodings(secret);
        for expected in [
            "q9Zx+7Lm/a b\"c",
            "q9Zx%2B7Lm%2Fa+b%22c",
            "q9Zx%2b7Lm%2fa+b%22c",
            "q9Zx%2B7Lm%2Fa%20b%22c",
            "q9Zx+7Lm/a b\\\"c",
            "q9Zx+7Lm/a b\\\\\\\"c",
            // base64, as a Secret's data carries it (python3: base64.b64encode)
            "cTlaeCs3TG0vYSBiImM=",
        ] {
            assert!(forms.iter().any(|f| f == expected), "{expected} in {forms:?}");
        }
    }

    #[test]
    fn redact_replaces_needles_and_jwts() {
        let text = "secret=hunter22 token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln done; eyJ";
        assert_eq!(
            redact(text, &["hunter22", "abc"]),
            "secret=[redacted] token [redacted] done; eyJ"
        );
    }
}
