//! Claude's usage readings, in the three places Claude reports them
//! (claude-code 2.1.332, from its bundle and seen against a stand-in API
//! that sends Anthropic's `anthropic-ratelimit-unified-*` headers):
//! - stream-json (`-p --output-format stream-json --verbose`): a
//!   `{"type":"rate_limit_event","rate_limit_info":{...}}` line after each
//!   response, whose `unifiedWindows` gives every window's `utilization`
//!   (0–1) and `resetsAt` (epoch seconds), e.g. `"seven_day":
//!   {"utilization":0.96,"resetsAt":1796608216,"status":"allowed_warning"}`;
//!   without it, the event's own `rateLimitType`, `utilization`, `resetsAt`;
//! - the status-line command's stdin (`accounts statusline`):
//!   `"rate_limits":{"five_hour":{"used_percentage":40,"resets_at":...}}`,
//!   the percentage 0–100;
//! - the interactive warning: "You've used 91% of your weekly limit ·
//!   resets Sat 10am", or "Over 90% of your weekly limit used".

use accounts_plugin::messages;
use accounts_plugin::{Usage, clock, json, text};

/// Claude's window keys and the short names we keep them under (Claude's
/// own header names where it has one: `5h`, `7d`, `7d_oi`), with the name
/// its warnings give the limit.
const WINDOWS: [(&str, &str, &str); 6] = [
    ("five_hour", "5h", "5-hour limit"),
    ("seven_day", "7d", "weekly limit"),
    ("seven_day_opus", "7d_opus", "Opus limit"),
    ("seven_day_sonnet", "7d_sonnet", "Sonnet limit"),
    ("seven_day_overage_included", "7d_oi", "Fable limit"),
    ("overage", "overage", "usage credit limit"),
];

/// The readings in `output`, in the order printed.
pub(crate) fn detect(output: &str, now: i64, zone: &str) -> Vec<Usage> {
    // A status line's JSON may come pretty-printed: try it whole first.
    if let Some(whole) = json::parse(output.trim()) {
        let found = from_status_line(&whole);
        if !found.is_empty() {
            return found;
        }
    }
    let mut found = Vec::new();
    for line in output.lines() {
        if let Some((_, value)) = messages::json_in(line) {
            if json::str(&value, &["type"]) == Some("rate_limit_event") {
                found.extend(from_event(&value["rate_limit_info"]));
                continue;
            }
            let status = from_status_line(&value);
            if !status.is_empty() {
                found.extend(status);
                continue;
            }
        }
        for message in messages::messages(line) {
            found.extend(from_warning(&message, now, zone));
        }
    }
    found
}

fn short_name(key: &str) -> Option<&'static str> {
    WINDOWS.iter().find(|(k, _, _)| *k == key).map(|(_, short, _)| *short)
}

/// A `rate_limit_info`: each window of `unifiedWindows`, else the one the
/// event is about.
fn from_event(info: &json::Value) -> Vec<Usage> {
    let reading = |key: &str, window: &json::Value| {
        let used = window["utilization"].as_f64()?;
        let resets_at = window["resetsAt"].as_i64().map(text::epoch_seconds);
        Some(Usage::new(short_name(key)?, used, resets_at))
    };
    if let json::Value::Object(windows) = &info["unifiedWindows"] {
        return windows.iter().filter_map(|(key, window)| reading(key, window)).collect();
    }
    json::str(info, &["rateLimitType"]).and_then(|key| reading(key, info)).into_iter().collect()
}

/// The status line's `rate_limits`: `used_percentage` out of 100.
fn from_status_line(value: &json::Value) -> Vec<Usage> {
    let json::Value::Object(windows) = &value["rate_limits"] else { return Vec::new() };
    windows
        .iter()
        .filter_map(|(key, window)| {
            let used = window["used_percentage"].as_f64()? / 100.0;
            Some(Usage::new(short_name(key)?, used, window["resets_at"].as_i64().map(text::epoch_seconds)))
        })
        .collect()
}

/// "You've used 91% of your weekly limit · resets Sat 10am" (the reset is
/// in the named zone, else the host's), or "Over 90% of your weekly limit
/// used" (at least that much).
fn from_warning(message: &str, now: i64, zone: &str) -> Option<Usage> {
    let body = messages::body(message).replace('\u{2019}', "'");
    let (percent, rest) = if let Some(rest) = body.strip_prefix("You've used ") {
        rest.split_once("% of your ")?
    } else {
        body.strip_prefix("Over ")?.split_once("% of your ")?
    };
    let used: f64 = percent.parse().ok().filter(|p: &f64| (0.0..=100.0).contains(p))?;
    let (_, short, _) = WINDOWS.iter().find(|(_, _, name)| rest.starts_with(name))?;
    Some(Usage::new(short, used / 100.0, clock::reset_after(&body, "resets", now, zone)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What claude-code 2.1.332 printed in stream-json against the stand-in
    /// (headers `-5h-utilization: 0.4`, `-7d-utilization: 0.96`, ...).
    const EVENT: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","resetsAt":1796608216,"rateLimitType":"seven_day","utilization":0.96,"isUsingOverage":false,"surpassedThreshold":0.95,"unifiedWindows":{"five_hour":{"utilization":0.4,"resetsAt":1796352616,"status":"allowed"},"seven_day":{"utilization":0.96,"resetsAt":1796608216,"status":"allowed_warning","surpassedThreshold":0.95}}},"uuid":"f89a5037-d6b8-49ad-a5d7-b472ae6e2d53","session_id":"e969e74a-dd32-4b20-8ae1-d09be26fafeb"}"#;

    #[test]
    fn a_stream_json_event_gives_every_window() {
        let found = detect(&format!("{{\"type\":\"assistant\"}}\n{EVENT}\n"), 0, "UTC");
        assert_eq!(found, [Usage::new("5h", 0.4, Some(1_796_352_616)), Usage::new("7d", 0.96, Some(1_796_608_216))]);
        let older = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","resetsAt":9,"rateLimitType":"seven_day_opus","utilization":0.8}}"#;
        assert_eq!(detect(older, 0, "UTC"), [Usage::new("7d_opus", 0.8, Some(9))]);
    }

    #[test]
    fn the_status_line_gives_percentages() {
        let stdin = "{\n  \"model\": {\"id\": \"x\"},\n  \"rate_limits\": {\"five_hour\": {\"used_percentage\": 40, \"resets_at\": 100}, \"seven_day\": {\"used_percentage\": 91.5, \"resets_at\": 200}}\n}";
        assert_eq!(detect(stdin, 0, "UTC"), [Usage::new("5h", 0.4, Some(100)), Usage::new("7d", 0.915, Some(200))]);
    }

    #[test]
    fn warnings_give_a_reading_and_prose_does_not() {
        let now = 1_796_000_000; // Mon 2026-11-30 00:53 UTC
        let found = detect("  ⎿  You've used 91% of your weekly limit · resets 10am (UTC)", now, "UTC");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].window.as_str(), found[0].used), ("7d", 0.91));
        assert!(found[0].resets_at.is_some_and(|at| at > now && at - now <= 86_400), "{found:?}");
        assert_eq!(detect("Over 90% of your 5-hour limit used", now, "UTC"), [Usage::new("5h", 0.9, None)]);
        for prose in [
            "I think you've used 91% of your weekly limit",
            "You've used 91% of your patience",
            "Approaching weekly limit",
            "You've used 900% of your weekly limit",
        ] {
            assert_eq!(detect(prose, now, "UTC"), [], "{prose}");
        }
    }
}
