//! Reset times written as wall-clock times: "3pm", "2:50am (America/New_York)",
//! "3:45 PM PST", "3:45 PM GMT+9", "Oct 6, 10am (Asia/Seoul)",
//! "Aug 8th, 2026 12:30 PM", "Jan 2, 2028, 3pm".
//!
//! Each resolves to the next matching instant after `now`, in the zone the
//! message names, else in the host's local zone (passed in by the host: the
//! sandbox has no zone of its own). Fixed offsets (GMT+9, PST) are computed
//! here; the rules of named zones (Europe/Paris) come from the host's
//! time-zone database through the contract's `time-zones` import.
//!
//! Whatever follows a time (JSON's `","type":...`, a full stop, a closing
//! parenthesis, a `·`) ends it: words are runs of the characters a date,
//! time or zone is written with, so `PM."}` reads as `PM` and
//! `(Europe/Paris)","type"` as `Europe/Paris`.

use crate::civil::{Date, Time};
use crate::zones;

/// A reset read from a message, and how sure we are of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// Seconds since the Unix epoch.
    pub at: i64,
    pub precision: Precision,
}

/// How a reset was written, least certain first: a wall-clock time with no
/// zone depends on the agent's zone being ours; a zone, an offset or a
/// duration does not, but is rounded to the minute; an epoch number is the
/// instant itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// A clock time read in the host's zone ("3pm", "3:28 PM").
    Zoneless,
    /// A clock time in a zone the message names, or a duration from now.
    Minute,
    /// An epoch number.
    Instant,
}

/// The reset written after `keyword` (lower case, matched in any case) in
/// `line`: a duration ("in 3 days 6 hours 57 minutes") or a clock time
/// ("at 3:28 PM", "3pm (Europe/Paris)"). The first occurrence of `keyword`
/// that is followed by a reset counts.
pub fn reset_after(line: &str, keyword: &str, now: i64, local_zone: &str) -> Option<i64> {
    resets_after(line, keyword, now, local_zone).first().map(|r| r.at)
}

/// Every reset written after an occurrence of `keyword` in `line`, in
/// order: "resets Jan 1, 12am (UTC) · your 5-hour limit resets 3pm" gives
/// two.
pub fn resets_after(line: &str, keyword: &str, now: i64, local_zone: &str) -> Vec<Reset> {
    // ASCII lower-casing keeps byte offsets, so offsets index `line` too.
    let lower = line.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(keyword) {
        let after = from + at + keyword.len();
        from = after;
        let rest = line[after..].trim_start();
        let reset = match rest.strip_prefix("in ") {
            Some(duration) => crate::text::duration_seconds(duration)
                .map(|secs| Reset { at: now + secs, precision: Precision::Minute }),
            None => reset_at_with_precision(rest.strip_prefix("at ").unwrap_or(rest), now, local_zone),
        };
        found.extend(reset);
    }
    found
}

/// Words looked at after the keyword; a reset time never needs more.
const MAX_WORDS: usize = 8;

/// A zone a reset time is read in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Zone {
    /// Seconds east of UTC.
    Fixed(i64),
    /// An IANA name, resolved by the host.
    Named(String),
}

/// The next instant after `now` (epoch seconds) matching the clock time at
/// the start of `text`, or `None` when `text` does not start with one, names
/// an impossible time, or names a full date that has already passed.
pub fn reset_at(text: &str, now: i64, local_zone: &str) -> Option<i64> {
    reset_at_with_precision(text, now, local_zone).map(|r| r.at)
}

/// [`reset_at`], saying whether the zone was named.
pub fn reset_at_with_precision(text: &str, now: i64, local_zone: &str) -> Option<Reset> {
    let words = words(text);
    let mut at = 0;
    let day = month_day(&words, &mut at);
    if words.get(at).is_some_and(|w| w.eq_ignore_ascii_case("at")) {
        at += 1;
    }
    let time = clock_time(&words, &mut at)?;
    let (zone, precision) = match words.get(at).and_then(|w| named_zone(w)) {
        Some(zone) => (zone, Precision::Minute),
        None => (local(local_zone, now), Precision::Zoneless),
    };
    resolve(day, time, &zone, now).map(|at| Reset { at, precision })
}

/// The first [`MAX_WORDS`] words of `text`: runs of letters, digits and the
/// marks dates, times and zones are written with (`:` in 3:28, `/` in
/// Europe/Paris, `+` and `-` in GMT+9 and UTC-03:30, `_` in
/// America/New_York). Anything else (spaces, quotes, brackets, commas, full
/// stops, `·`, a narrow no-break space) separates words.
fn words(text: &str) -> Vec<&str> {
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, ':' | '/' | '+' | '-' | '_' | '\u{2212}');
    text.split(|c: char| !is_word(c)).filter(|w| !w.is_empty()).take(MAX_WORDS).collect()
}

/// The host's zone, or UTC when the host names one it cannot resolve.
fn local(name: &str, now: i64) -> Zone {
    if matches!(name, "UTC" | "Etc/UTC" | "") {
        return Zone::Fixed(0);
    }
    match zones::date_at(name, now) {
        Some(_) => Zone::Named(name.to_owned()),
        None => Zone::Fixed(0),
    }
}

/// A calendar day: month, day, and the year when the message gives one.
type MonthDay = (u8, u8, Option<i32>);

/// "Aug 8th, 2026", "Oct 6", "September 30 2027": a month name, a day with
/// an optional ordinal suffix, an optional four-digit year.
fn month_day(words: &[&str], at: &mut usize) -> Option<MonthDay> {
    let month = month_number(words.get(*at)?)?;
    let day_word = words.get(*at + 1)?;
    let digits = day_word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let day: u8 = digits.parse().ok()?;
    if !matches!(day_word[digits.len()..].to_ascii_lowercase().as_str(), "" | "st" | "nd" | "rd" | "th") {
        return None;
    }
    *at += 2;
    let year = words.get(*at).filter(|w| w.len() == 4).and_then(|w| w.parse::<i32>().ok());
    if year.is_some() {
        *at += 1;
    }
    Some((month, day, year))
}

fn month_number(word: &str) -> Option<u8> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = word.to_ascii_lowercase();
    if word.len() < 3 {
        return None;
    }
    // "Aug", "August", and "Sept" all name a month.
    let word = if word == "sept" { "sep".to_owned() } else { word };
    MONTHS.iter().position(|m| m.starts_with(&word)).map(|i| i as u8 + 1)
}

/// "3pm", "3 PM", "2:50am", "3:28 PM", "15:00", "noon", "midnight".
fn clock_time(words: &[&str], at: &mut usize) -> Option<Time> {
    let word = words.get(*at)?.to_ascii_lowercase();
    match word.as_str() {
        "noon" => return finish(at, 1, Time::new(12, 0)),
        "midnight" => return finish(at, 1, Time::new(0, 0)),
        _ => {}
    }
    let digits_end = word.find(|c: char| !(c.is_ascii_digit() || c == ':')).unwrap_or(word.len());
    let (clock, mut meridiem) = word.split_at(digits_end);
    let mut used = 1;
    if meridiem.is_empty()
        && let Some(next) = words.get(*at + 1)
        && matches!(next.to_ascii_lowercase().as_str(), "am" | "pm")
    {
        meridiem = next;
        used = 2;
    }
    let (hour, minute) = match clock.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?),
        // A bare number is a count or a date, not a time, unless am/pm follows.
        None if !meridiem.is_empty() => (clock.parse::<u8>().ok()?, 0),
        _ => return None,
    };
    let hour = match meridiem.to_ascii_lowercase().as_str() {
        "" if hour <= 23 => hour,
        "am" if (1..=12).contains(&hour) => hour % 12,
        "pm" if (1..=12).contains(&hour) => hour % 12 + 12,
        _ => return None,
    };
    finish(at, used, Time::new(hour, minute))
}

fn finish(at: &mut usize, used: usize, time: Option<Time>) -> Option<Time> {
    let time = time?;
    *at += used;
    Some(time)
}

/// A zone the message names: an IANA name ("Europe/Paris"), UTC/GMT, an
/// offset from them ("GMT+9", "UTC-03:30": what `Intl` prints for a zone
/// without an abbreviation), or a common abbreviation. Abbreviations that
/// say whether daylight time is on (PST, PDT) are fixed offsets; generic
/// ones (PT) follow the region's rules.
fn named_zone(word: &str) -> Option<Zone> {
    if word.contains('/') {
        return Some(Zone::Named(word.to_owned()));
    }
    if let Some(offset) = gmt_offset(word) {
        return Some(Zone::Fixed(offset));
    }
    let fixed = |hours: i64| Some(Zone::Fixed(hours * 3600));
    let named = |name: &str| Some(Zone::Named(name.to_owned()));
    match word.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "Z" => fixed(0),
        "EDT" => fixed(-4),
        "EST" | "CDT" => fixed(-5),
        "CST" | "MDT" => fixed(-6),
        "MST" | "PDT" => fixed(-7),
        "PST" | "AKDT" => fixed(-8),
        "AKST" => fixed(-9),
        "HST" => fixed(-10),
        "CET" | "BST" => fixed(1),
        "CEST" | "EET" => fixed(2),
        "EEST" => fixed(3),
        "JST" | "KST" => fixed(9),
        "AEST" => fixed(10),
        "AEDT" => fixed(11),
        "ET" => named("America/New_York"),
        "CT" => named("America/Chicago"),
        "MT" => named("America/Denver"),
        "PT" => named("America/Los_Angeles"),
        _ => None,
    }
}

/// "GMT+9", "GMT-3", "UTC+5:30", "GMT+05:30": seconds east of UTC.
fn gmt_offset(word: &str) -> Option<i64> {
    let upper = word.to_ascii_uppercase();
    let rest = upper.strip_prefix("GMT").or_else(|| upper.strip_prefix("UTC"))?;
    let (sign, rest) = if let Some(rest) = rest.strip_prefix('+') {
        (1, rest)
    } else {
        (-1, rest.strip_prefix('-').or_else(|| rest.strip_prefix('\u{2212}'))?)
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
        None => (rest.parse::<i64>().ok()?, 0),
    };
    (hours <= 14 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

/// The instant `date` at `time` in `zone`.
fn instant(date: Date, time: Time, zone: &Zone) -> Option<i64> {
    match zone {
        Zone::Fixed(offset) => Some(date.days() * 86_400 + time.seconds() - offset),
        Zone::Named(name) => zones::instant_of(name, date, time),
    }
}

/// Today's date in `zone`.
fn today(zone: &Zone, now: i64) -> Option<Date> {
    match zone {
        Zone::Fixed(offset) => Some(Date::from_days((now + offset).div_euclid(86_400))),
        Zone::Named(name) => zones::date_at(name, now),
    }
}

/// The first instant after `now` at `time` in `zone`, on `day` when given
/// (in its year, else the next year it comes round), else today or tomorrow.
/// A clock time skipped by a daylight-saving jump moves forward with it.
fn resolve(day: Option<MonthDay>, time: Time, zone: &Zone, now: i64) -> Option<i64> {
    let today = today(zone, now)?;
    let after_now = |t: Option<i64>| t.filter(|&t| t > now);
    match day {
        None => after_now(instant(today, time, zone)).or_else(|| instant(today.next_day(), time, zone)),
        Some((month, day, Some(year))) => after_now(instant(Date::new(year, month, day)?, time, zone)),
        // Up to four years ahead, so that Feb 29 finds its next leap year.
        Some((month, day, None)) => (today.year..=today.year + 4)
            .filter_map(|year| Date::new(year, month, day))
            .find_map(|date| after_now(instant(date, time, zone))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch seconds of an RFC 3339 instant.
    fn at(rfc3339: &str) -> i64 {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    /// 2026-11-22 12:00 UTC: 13:00 in Paris (CET), 07:00 in New York (EST).
    const NOW: &str = "2026-11-22T12:00:00Z";

    #[test]
    fn time_of_day_in_a_named_zone() {
        let now = at(NOW);
        assert_eq!(reset_at("3pm (Europe/Paris)", now, "UTC"), Some(at("2026-11-22T14:00:00Z")));
        assert_eq!(reset_at("10am (Asia/Seoul)", now, "UTC"), Some(at("2026-11-23T01:00:00Z")));
        assert_eq!(reset_at("2:50am (America/New_York)", now, "UTC"), Some(at("2026-11-23T07:50:00Z")));
    }

    #[test]
    fn a_time_already_past_today_is_tomorrow() {
        let now = at("2026-11-22T15:00:00Z"); // 16:00 in Paris
        assert_eq!(reset_at("3pm (Europe/Paris)", now, "UTC"), Some(at("2026-11-23T14:00:00Z")));
        // Exactly now is not after now.
        let now = at("2026-11-22T14:00:00Z");
        assert_eq!(reset_at("3pm (Europe/Paris)", now, "UTC"), Some(at("2026-11-23T14:00:00Z")));
    }

    #[test]
    fn without_a_zone_the_local_zone_applies() {
        let now = at(NOW);
        assert_eq!(reset_at("3:28 PM.", now, "UTC"), Some(at("2026-11-22T15:28:00Z")));
        assert_eq!(reset_at("3:28 PM.", now, "Asia/Tokyo"), Some(at("2026-11-23T06:28:00Z")));
        assert_eq!(reset_at("3pm", now, "Europe/Paris"), Some(at("2026-11-22T14:00:00Z")));
        assert_eq!(reset_at("3pm", now, "Not/AZone"), Some(at("2026-11-22T15:00:00Z")), "unknown → UTC");
    }

    #[test]
    fn abbreviated_zones() {
        let now = at(NOW);
        assert_eq!(reset_at("3:45 PM PST.", now, "Europe/Paris"), Some(at("2026-11-22T23:45:00Z")));
        assert_eq!(reset_at("3:45 PM PDT", now, "UTC"), Some(at("2026-11-22T22:45:00Z")));
        assert_eq!(reset_at("9am CDT", now, "UTC"), Some(at("2026-11-22T14:00:00Z")));
        assert_eq!(reset_at("9am EDT", now, "UTC"), Some(at("2026-11-22T13:00:00Z")));
        // Generic PT follows daylight time: November is standard time.
        assert_eq!(reset_at("3:45 PM PT", now, "UTC"), Some(at("2026-11-22T23:45:00Z")));
        assert_eq!(reset_at("15:00 UTC", now, "Asia/Tokyo"), Some(at("2026-11-22T15:00:00Z")));
        // What Intl prints for zones without an abbreviation.
        assert_eq!(reset_at("3:45 PM GMT+9.", now, "UTC"), Some(at("2026-11-23T06:45:00Z")));
        assert_eq!(reset_at("3:45 PM GMT+5:30", now, "UTC"), Some(at("2026-11-22T10:15:00Z") + 86_400));
        assert_eq!(reset_at("3:45 PM GMT-3", now, "UTC"), Some(at("2026-11-22T18:45:00Z")));
        assert_eq!(reset_at("3:45 PM GMT+15", now, "UTC"), Some(at("2026-11-22T15:45:00Z")), "not a zone");
        // ICU puts a narrow no-break space before AM/PM.
        assert_eq!(reset_at("3\u{202f}PM (Europe/Paris)", now, "UTC"), Some(at("2026-11-22T14:00:00Z")));
        assert_eq!(reset_at("Nov 27, 10\u{202f}AM (Asia/Seoul)", now, "UTC"), Some(at("2026-11-27T01:00:00Z")));
        assert_eq!(reset_at("Jan 2, 2028, 3pm (Europe/Paris)", now, "UTC"), Some(at("2028-01-02T14:00:00Z")));
    }

    #[test]
    fn day_and_time() {
        let july = at("2026-07-01T00:00:00Z");
        assert_eq!(reset_at("Aug 8th, 2026 12:30 PM.", july, "UTC"), Some(at("2026-08-08T12:30:00Z")));
        assert_eq!(reset_at("Aug 8th, 2026 at 12:30 PM", july, "UTC"), Some(at("2026-08-08T12:30:00Z")));
        assert_eq!(reset_at("August 8 2026 12:30", july, "Europe/Paris"), Some(at("2026-08-08T10:30:00Z")));
        // A full date in the past is no reset at all.
        assert_eq!(reset_at("Aug 8th, 2026 12:30 PM", at(NOW), "UTC"), None);
        // Without a year: the next time the day comes round.
        assert_eq!(reset_at("Oct 6, 10am (Asia/Seoul)", at(NOW), "UTC"), Some(at("2027-10-06T01:00:00Z")));
        assert_eq!(reset_at("Nov 23 at 9am", at(NOW), "UTC"), Some(at("2026-11-23T09:00:00Z")));
        assert_eq!(reset_at("Feb 29 noon", at(NOW), "UTC"), Some(at("2028-02-29T12:00:00Z")));
        assert_eq!(reset_at("Sept 1st midnight", at(NOW), "UTC"), Some(at("2027-09-01T00:00:00Z")));
    }

    #[test]
    fn daylight_saving_jumps() {
        // Paris springs forward 2027-03-28 02:00 → 03:00: 2:30am does not exist
        // that night and moves forward an hour, to 01:30 UTC.
        let before = at("2027-03-27T22:00:00Z");
        assert_eq!(reset_at("2:30am (Europe/Paris)", before, "UTC"), Some(at("2027-03-28T01:30:00Z")));
        // The day after, 3pm is CEST (+2).
        let after = at("2027-03-28T12:00:00Z");
        assert_eq!(reset_at("3pm (Europe/Paris)", after, "UTC"), Some(at("2027-03-28T13:00:00Z")));
    }

    #[test]
    fn reset_after_a_keyword() {
        let now = at(NOW);
        let line = "You've hit your usage limit. Try again at 3:28 PM.";
        assert_eq!(reset_after(line, "try again", now, "UTC"), Some(at("2026-11-22T15:28:00Z")));
        let line = "You've hit your usage limit. Try again in 3 days 6 hours 57 minutes.";
        assert_eq!(reset_after(line, "try again", now, "UTC"), Some(now + 3 * 86_400 + 6 * 3_600 + 57 * 60));
        assert_eq!(reset_after("limit · resets 3pm", "resets", now, "UTC"), Some(at("2026-11-22T15:00:00Z")));
        assert_eq!(reset_after("limit · resets soon", "resets", now, "UTC"), None);
        assert_eq!(reset_after("no keyword", "resets", now, "UTC"), None);
    }

    #[test]
    fn punctuation_and_json_after_a_reset_end_it() {
        let now = at(NOW);
        let json = r#"resets Dec 7, 9am (Europe/Paris)","type":"result","is_error":true}"#;
        assert_eq!(reset_after(json, "resets", now, "UTC"), Some(at("2026-12-07T08:00:00Z")));
        assert_eq!(reset_at(r#"7:33 PM."}"#, now, "UTC"), Some(at("2026-11-22T19:33:00Z")));
        assert_eq!(reset_at(r#"7:33 PM.\"}"#, now, "UTC"), Some(at("2026-11-22T19:33:00Z")));
        assert_eq!(reset_at("3pm (Europe/Paris) · progress saved", now, "UTC"), Some(at("2026-11-22T14:00:00Z")));
        assert_eq!(reset_at("3pm;", now, "UTC"), Some(at("2026-11-22T15:00:00Z")));
        assert_eq!(reset_at("[3pm]", now, "UTC"), Some(at("2026-11-22T15:00:00Z")));
    }

    #[test]
    fn every_reset_after_a_keyword_with_its_precision() {
        let now = at(NOW);
        let line = "budget · resets Jan 1, 2027, 12am (UTC) · your 5-hour limit resets 3pm";
        let resets = resets_after(line, "resets", now, "UTC");
        assert_eq!(
            resets,
            [
                Reset { at: at("2027-01-01T00:00:00Z"), precision: Precision::Minute },
                Reset { at: at("2026-11-22T15:00:00Z"), precision: Precision::Zoneless },
            ]
        );
        let resets = resets_after("resets in 5m, then resets soon", "resets", now, "UTC");
        assert_eq!(resets, [Reset { at: now + 300, precision: Precision::Minute }]);
    }

    #[test]
    fn not_clock_times() {
        let now = at(NOW);
        for text in ["", "soon", "13pm", "0am", "25:00", "3:7pm", "3 days", "12", "Aug", "Aug 40th 3pm", "3:60"] {
            assert_eq!(reset_at(text, now, "UTC"), None, "{text:?}");
        }
    }
}
