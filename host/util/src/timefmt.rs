//! Time as the user types and reads it: durations (`90m`, `1h30m`, `2 days`),
//! RFC 3339 instants, and short "in 42m" phrases. Parsing is jiff's; times
//! inside the tool are plain epoch seconds.

use jiff::{Span, SpanRelativeTo, Timestamp, Unit};

/// Seconds in a positive duration such as `90m`, `1h30m`, `2d`, `45 seconds`
/// or ISO 8601 `PT1H`. Days count as 24 hours.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    positive_total(text, Unit::Second).map(|secs| secs.ceil() as i64)
}

/// Milliseconds in a positive duration such as `500ms` or `2s`.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    positive_total(text, Unit::Millisecond).map(|ms| ms.ceil() as u64)
}

/// A positive duration as a total of `unit`, days counting as 24 hours.
fn positive_total(text: &str, unit: Unit) -> Result<f64, String> {
    let hint = "write a duration like 90m, 1h30m, 12h or 2d";
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} has no unit; {hint}"));
    }
    let span: Span = trimmed.parse().map_err(|e: jiff::Error| {
        // jiff fails "to set value for <unit>" (or says a value is out of
        // range) for a number too large for its unit; its wording is not
        // ours to show.
        let why = e.to_string();
        if why.contains("range") || why.contains("failed to set value") {
            format!("{text:?} is longer than any duration accounts takes; {hint}")
        } else {
            format!("{text:?} is not a duration; {hint}")
        }
    })?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!("{text:?}: years and months have no fixed length; write days or weeks, e.g. 30d or 4w"));
    }
    // The only error left is a total too large to hold.
    let total = span
        .total((unit, SpanRelativeTo::days_are_24_hours()))
        .map_err(|_| format!("{text:?} is longer than any duration accounts takes; {hint}"))?;
    if total <= 0.0 {
        return Err(format!("{text:?} is not a positive duration; {hint}"));
    }
    Ok(total)
}

/// Epoch seconds of an RFC 3339 instant such as `2026-11-23T15:00:00Z`.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| format!("{text:?} is not an RFC 3339 time; write e.g. 2026-11-23T15:00:00Z"))
}

/// RFC 3339 in UTC, e.g. `2026-11-23T15:00:00Z`.
pub fn format_instant(epoch: i64) -> String {
    Timestamp::from_second(epoch).map_or_else(|_| epoch.to_string(), |t| t.to_string())
}

/// A short, rounded-up length: `42s`, `42m`, `3h05m`, `5h`, `2d4h`, `2d`.
pub fn format_span(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        return format!("{secs}s");
    }
    let mins = (secs + 59) / 60;
    match mins {
        m if m < 60 => format!("{m}m"),
        m if m < 24 * 60 && m % 60 == 0 => format!("{}h", m / 60),
        m if m < 24 * 60 => format!("{}h{:02}m", m / 60, m % 60),
        m if (m % (24 * 60)) / 60 == 0 => format!("{}d", m / (24 * 60)),
        m => format!("{}d{}h", m / (24 * 60), (m % (24 * 60)) / 60),
    }
}

/// A countdown to the second: `12s`, `41m08s`, `5h39m12s`, `2d4h05m`.
pub fn format_countdown(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m{s:02}s"),
        _ => format!("{d}d{h}h{m:02}m"),
    }
}

/// `epoch` as the user reads a reset on their own clock (the system's
/// zone, `TZ` included), with the zone's abbreviation: `14:30 CET` within a
/// day of `now`, `Sat 10:00 CET` within a week, `Dec 12 10:00 CET` beyond.
pub fn format_local_short(epoch: i64, now: i64) -> String {
    format_short_in(epoch, now, &jiff::tz::TimeZone::system())
}

/// The time of day on the user's clock, to the second: `14:03:22 CET`.
pub fn format_local_clock(epoch: i64) -> String {
    Timestamp::from_second(epoch).map_or_else(
        |_| epoch.to_string(),
        |t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%H:%M:%S %Z").to_string(),
    )
}

/// [`format_local_short`] and how long until then, for messages:
/// `Thu 15:00 CET (in 5h39m)`. (`--json` keeps RFC 3339 in UTC.)
pub fn format_local_until(epoch: i64, now: i64) -> String {
    format!("{} (in {})", format_local_short(epoch, now), format_span(epoch - now))
}

fn format_short_in(epoch: i64, now: i64, zone: &jiff::tz::TimeZone) -> String {
    let Ok(at) = Timestamp::from_second(epoch) else { return epoch.to_string() };
    let pattern = match epoch - now {
        d if d < 86_400 => "%H:%M %Z",
        d if d < 7 * 86_400 => "%a %H:%M %Z",
        _ => "%b %-d %H:%M %Z",
    };
    at.to_zoned(zone.clone()).strftime(pattern).to_string()
}

/// The host's IANA zone name for plugins, `UTC` when it has none.
pub fn local_zone_name() -> String {
    jiff::tz::TimeZone::system().iana_name().unwrap_or("UTC").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_read_on_the_users_clock() {
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        let now = 1_796_000_000; // Mon 2026-11-30 00:53:20 UTC
        assert_eq!(format_short_in(now + 3_600, now, &paris), "02:53 CET");
        assert_eq!(format_short_in(now + 3 * 86_400, now, &paris), "Thu 01:53 CET");
        assert_eq!(format_short_in(now + 10 * 86_400, now, &paris), "Dec 10 01:53 CET");
        let new_york = jiff::tz::TimeZone::get("America/New_York").unwrap();
        assert_eq!(format_short_in(now + 3_600, now, &new_york), "20:53 EST");
        let summer = 1_782_000_000; // 2026-06-21
        assert_eq!(format_short_in(summer, summer - 60, &paris), "02:00 CEST");
    }

    #[test]
    fn countdowns() {
        assert_eq!(format_countdown(12), "12s");
        assert_eq!(format_countdown(41 * 60 + 8), "41m08s");
        assert_eq!(format_countdown(5 * 3600 + 39 * 60 + 12), "5h39m12s");
        assert_eq!(format_countdown(2 * 86_400 + 4 * 3600 + 5 * 60 + 59), "2d4h05m");
        assert_eq!(format_countdown(-3), "0s");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("45 seconds"), Ok(45));
        assert_eq!(parse_duration("PT1H"), Ok(3600));
        assert!(parse_duration("soon").unwrap_err().contains("90m"));
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("-5m").is_err());
        // The user's words, never the time library's.
        assert!(parse_duration("0").unwrap_err().contains("has no unit"));
        assert!(parse_duration("19998y").unwrap_err().contains("days or weeks"));
        assert!(parse_duration("2mo").unwrap_err().contains("days or weeks"));
        let huge = parse_duration("9999999999999h").unwrap_err();
        assert!(!huge.contains("jiff") && huge.contains("90m"), "{huge}");
    }

    #[test]
    fn instants() {
        assert_eq!(parse_instant("2026-11-23T15:00:00Z"), Ok(1_795_446_000));
        assert_eq!(parse_instant("2026-11-23T16:00:00+01:00"), Ok(1_795_446_000));
        assert!(parse_instant("tomorrow").is_err());
        assert_eq!(format_instant(1_795_446_000), "2026-11-23T15:00:00Z");
    }

    #[test]
    fn spans() {
        assert_eq!(format_span(5), "5s");
        assert_eq!(format_span(42 * 60), "42m");
        assert_eq!(format_span(41 * 60 + 1), "42m");
        assert_eq!(format_span(3 * 3600 + 5 * 60), "3h05m");
        assert_eq!(format_span(2 * 86_400 + 4 * 3600), "2d4h");
        assert_eq!(format_span(5 * 3600), "5h");
        assert_eq!(format_span(2 * 86_400 + 59), "2d");
    }
}
