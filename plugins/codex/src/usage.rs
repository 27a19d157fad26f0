//! Codex's usage readings, from the account's own session logs: after
//! every turn codex 0.171.0 appends to its rollout
//! (`CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`) a
//! `{"type":"event_msg","payload":{"type":"token_count",...,"rate_limits":
//! {"limit_id":"codex","primary":{"used_percent":72.5,"window_minutes":300,
//! "resets_at":1796352803},"secondary":{...}}}}` line, from the API's
//! `x-codex-primary-*` / `x-codex-secondary-*` headers (seen against a
//! stand-in API). The newest rollout's last such line is the account's
//! usage; nothing is printed to parse.

use accounts_plugin::{Usage, conversation, json};

/// How much of the newest rollout's end is read: token-count lines are
/// under 1 KiB, and one comes after every turn.
const TAIL_BYTES: usize = 256 * 1024;

pub(crate) fn read() -> Vec<Usage> {
    let Some(rollout) = conversation::newest_file("sessions", 3, None, |path| {
        let name = path.rsplit('/').next().unwrap_or(path);
        name.starts_with("rollout-") && name.ends_with(".jsonl")
    }) else {
        return Vec::new();
    };
    let Some(tail) = conversation::tail(&rollout, TAIL_BYTES) else { return Vec::new() };
    tail.lines()
        .rev()
        .filter(|line| line.contains("\"rate_limits\""))
        .find_map(|line| {
            let record = json::parse(line)?;
            let payload = &record["payload"];
            (json::str(payload, &["type"]) == Some("token_count")).then(|| from_rate_limits(&payload["rate_limits"]))
        })
        .unwrap_or_default()
}

/// `primary` and `secondary`, each named by its window's length (`5h`,
/// `7d`), prefixed by the limit's id when it is not codex's own.
fn from_rate_limits(limits: &json::Value) -> Vec<Usage> {
    let prefix = match json::str(limits, &["limit_id"]) {
        Some("codex") | None => String::new(),
        Some(id) => format!("{}-", id.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_")),
    };
    ["primary", "secondary"]
        .iter()
        .filter_map(|key| {
            let window = &limits[key];
            let used = window["used_percent"].as_f64()? / 100.0;
            let name = format!("{prefix}{}", window_name(window["window_minutes"].as_i64()?)?);
            Some(Usage::new(&name, used, window["resets_at"].as_i64()))
        })
        .collect()
}

/// 300 minutes is `5h`, 10080 is `7d`, 45 is `45m`.
fn window_name(minutes: i64) -> Option<String> {
    match minutes {
        m if m <= 0 => None,
        m if m % 1_440 == 0 => Some(format!("{}d", m / 1_440)),
        m if m % 60 == 0 => Some(format!("{}h", m / 60)),
        m => Some(format!("{m}m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_count_line_gives_both_windows() {
        // As codex 0.171.0 wrote it against the stand-in.
        let line = r#"{"timestamp":"2026-12-04T01:53:31.202Z","ordinal":17,"type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"limit_id":"codex","limit_name":null,"primary":{"used_percent":72.5,"window_minutes":300,"resets_at":1796352803},"secondary":{"used_percent":40.0,"window_minutes":10080,"resets_at":1796781203},"credits":null,"individual_limit":null,"spend_control_reached":null,"plan_type":null,"rate_limit_reached_type":null}}}"#;
        let record = json::parse(line).unwrap();
        assert_eq!(
            from_rate_limits(&record["payload"]["rate_limits"]),
            [Usage::new("5h", 0.725, Some(1_796_352_803)), Usage::new("7d", 0.4, Some(1_796_781_203))]
        );
        assert_eq!(window_name(45).as_deref(), Some("45m"));
        assert_eq!(window_name(0), None);
    }
}
