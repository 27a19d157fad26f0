//! The host's wall clock, read in this one place so that it can be shifted:
//! with `ACCOUNTS_CLOCK_SKEW=+1h` (or `-30m`) a process believes its clock
//! is that far off, for walls, leases, credential expiry and the time
//! plugins are given. It exists to rehearse a host with a wrong clock (the
//! fleet's clock test does): on Linux `accounts` is a static binary, out of
//! reach of LD_PRELOAD tools such as faketime.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub const SKEW_VAR: &str = "ACCOUNTS_CLOCK_SKEW";

static SKEW_SECONDS: OnceLock<i64> = OnceLock::new();

/// Read `ACCOUNTS_CLOCK_SKEW` once, before anything reads the clock. A bad
/// value is an error for the caller to report; unset or empty is no skew.
pub fn init_from_env() -> Result<(), String> {
    let skew = match std::env::var(SKEW_VAR) {
        Err(std::env::VarError::NotPresent) => 0,
        Err(std::env::VarError::NotUnicode(_)) => return Err(format!("{SKEW_VAR} is not UTF-8; {HINT}")),
        Ok(text) => parse_skew(&text)?,
    };
    let _ = SKEW_SECONDS.set(skew);
    Ok(())
}

const HINT: &str = "set it to a signed duration such as +1h or -30m, or unset it";

/// `+1h`, `-30m`, `90s` (no sign: ahead) as seconds; empty is none.
pub fn parse_skew(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    let (sign, duration) = match text.as_bytes()[0] {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let secs = crate::timefmt::parse_duration(duration)
        .map_err(|_| format!("{SKEW_VAR}={text:?} is not a clock skew; {HINT}"))?;
    if secs > MAX_SKEW_SECS {
        return Err(format!("{SKEW_VAR}={text:?} is more than a year; rehearse a wrong clock within 366d"));
    }
    Ok(sign * secs)
}

/// The largest skew taken: a clock further off is not one to rehearse.
const MAX_SKEW_SECS: i64 = 366 * 86_400;

/// Seconds since the epoch, with their fraction (the fleet store measures
/// its offset from the server's clock in these).
pub fn now_precise() -> f64 {
    let local = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    local + *SKEW_SECONDS.get().unwrap_or(&0) as f64
}

/// Whole seconds since the epoch.
pub fn now() -> i64 {
    now_precise().floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skew_beyond_a_year_is_refused() {
        assert_eq!(parse_skew("-366d"), Ok(-366 * 86_400));
        assert!(parse_skew("+7304484d").unwrap_err().contains("more than a year"));
    }

    #[test]
    fn skews_are_signed_durations() {
        assert_eq!(parse_skew("+1h"), Ok(3600));
        assert_eq!(parse_skew("-30m"), Ok(-1800));
        assert_eq!(parse_skew(" 90s "), Ok(90));
        assert_eq!(parse_skew(""), Ok(0));
        for bad in ["+", "-x", "1 fortnight", "--1h", "-0s"] {
            let err = parse_skew(bad).unwrap_err();
            assert!(err.contains(SKEW_VAR) && err.contains("+1h or -30m"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_clock_is_the_system_clock_without_a_skew() {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now() - system).abs() <= 1);
    }
}
