//! Time as the plugin needs it: whole seconds since the Unix epoch, RFC 3339 in UTC
//! (`2006-01-02T15:04:05Z`, the form client-go's `metav1.Time` writes), and
//! Go-style durations (`30s`, `1m30s`, `500ms`, `2h`) for flags and profile keys.
//!
//! No clock is read here: callers pass `now` in, so expiry is testable without sleeping.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The system clock, read once per run by the caller that needs it.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    pub fn from_system(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(after.as_secs() as i64),
            Err(before) => Self(-(before.duration().as_secs() as i64)),
        }
    }

    /// 9999-12-31T23:59:59Z, the last second RFC 3339 writes with a four-digit year:
    /// later expiries are clamped to it, so clients can always parse what we print.
    pub const MAX: Timestamp = Timestamp(253_402_300_799);

    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(whole_seconds(duration)))
    }

    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(whole_seconds(duration)))
    }

    /// Seconds from `self` until `later` (negative when `later` is earlier).
    pub fn seconds_until(self, later: Timestamp) -> i64 {
        later.0.saturating_sub(self.0)
    }

    /// Parses exactly the form [`Display`](fmt::Display) writes,
    /// `YYYY-MM-DDTHH:MM:SSZ`: what the plugin wrote itself (a Secret's annotations,
    /// docs/fleet.md#the-secret). Anything else is `None`.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = &text[range];
            digits
                .bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| digits.parse().ok())?
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        let days = days_from_civil(year, month, day);
        // Out-of-range fields would still compute a date: the round trip refuses them.
        if !(1..=12).contains(&month)
            || civil_from_days(days) != (year, month, day)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        Some(Self(days * 86_400 + hour * 3600 + minute * 60 + second))
    }
}

fn whole_seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl fmt::Display for Timestamp {
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

// Howard Hinnant's civil_from_days (http://howardhinnant.github.io/date_algorithms.html):
// proleptic Gregorian calendar, days relative to 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

// Howard Hinnant's days_from_civil, the inverse of civil_from_days.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A duration written the way kubectl and Go write them: `90s`, `1m30s`, `1.5h`, `500ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl FromStr for GoDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("invalid duration {text:?} (examples: 30s, 1m30s, 500ms, 2h)");
        if text == "0" {
            return Ok(Self(Duration::ZERO));
        }
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total = 0f64;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(invalid)?;
            let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let seconds_per_unit = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(invalid()),
            };
            rest = &rest[unit_len..];
            total += number * seconds_per_unit;
        }
        if !total.is_finite() || total > 10.0 * 365.0 * 86_400.0 {
            return Err(invalid());
        }
        Ok(Self(Duration::from_secs_f64(total)))
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if !millis.is_multiple_of(1000) {
            return write!(f, "{millis}ms");
        }
        let secs = self.0.as_secs();
        let (hours, minutes, seconds) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let mut out = String::new();
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        if minutes > 0 {
            out.push_str(&format!("{minutes}m"));
        }
        if seconds > 0 || out.is_empty() {
            out.push_str(&format!("{seconds}s"));
        }
        f.write_str(&out)
    }
}

/// A wait drawn between half and all of `step` (whole milliseconds), so that clients
/// that failed together do not retry together; `random` is any uniformly random
/// number ([`jitter_seed`]).
pub fn jittered(step: Duration, random: u64) -> Duration {
    let half = step.as_millis().min(u128::from(u64::MAX / 2)) as u64 / 2;
    Duration::from_millis(half + random % (half + 1))
}

/// A random number for [`jittered`]: std's randomly keyed hasher, so no system call
/// and nothing that can fail (jitter is a courtesy, not a safety property).
pub fn jitter_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// `1h2m`, `45s`, `expired 3m ago`-style countdown text for humans.
pub fn human_countdown(seconds: i64) -> String {
    let magnitude = seconds.unsigned_abs();
    let text = if magnitude >= 3600 {
        format!("{}h{}m", magnitude / 3600, magnitude % 3600 / 60)
    } else if magnitude >= 60 {
        format!("{}m{}s", magnitude / 60, magnitude % 60)
    } else {
        format!("{magnitude}s")
    };
    if seconds < 0 {
        format!("expired {text} ago")
    } else {
        format!("in {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_136_214_245).to_string(), "2006-01-02T15:04:05Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_what_it_writes_and_nothing_else() {
        // Known dates, not a copy of the conversion: Go's reference time, a leap day,
        // the last second RFC 3339 writes.
        assert_eq!(
            Timestamp::parse_rfc3339("2006-01-02T15:04:05Z"),
            Some(Timestamp(1_136_214_245))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2000-02-29T00:00:00Z"),
            Some(Timestamp(951_782_400))
        );
        assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59Z"), Some(Timestamp::MAX));
        for bad in [
            "",
            "2006-01-02 15:04:05Z",
            "2006-01-02T15:04:05",
            "2006-01-02T15:04:05+00:00",
            "2006-01-02T15:04:05.5Z",
            "2001-02-29T00:00:00Z",
            "2006-13-02T15:04:05Z",
            "2006-01-32T15:04:05Z",
            "2006-01-02T24:00:00Z",
            "2006-01-02T15:60:05Z",
            "+006-01-02T15:04:05Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Timestamp(i64::MAX - 1).plus(Duration::from_secs(u64::MAX)),
            Timestamp(i64::MAX)
        );
        assert_eq!(Timestamp(i64::MIN).seconds_until(Timestamp(i64::MAX)), i64::MAX);
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parses_go_durations() {
        let parse = |s: &str| s.parse::<GoDuration>().map(|d| d.0);
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["", "30", "s", "1d", "-1s", "1m30"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn displays_go_durations() {
        let show = |secs| GoDuration(Duration::from_secs(secs)).to_string();
        assert_eq!(show(0), "0s");
        assert_eq!(show(60), "1m");
        assert_eq!(show(3690), "1h1m30s");
        assert_eq!(GoDuration(Duration::from_millis(1500)).to_string(), "1500ms");
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_step() {
        let step = Duration::from_secs(4);
        assert_eq!(jittered(step, 0), Duration::from_secs(2));
        assert_eq!(jittered(step, 2000), step);
        assert_eq!(jittered(step, 2001), Duration::from_secs(2));
        for _ in 0..100 {
            let wait = jittered(step, jitter_seed());
            assert!(wait >= step / 2 && wait <= step, "{wait:?}");
        }
    }

    #[test]
    fn countdown_reads_naturally() {
        assert_eq!(human_countdown(3725), "in 1h2m");
        assert_eq!(human_countdown(61), "in 1m1s");
        assert_eq!(human_countdown(-5), "expired 5s ago");
    }
}
