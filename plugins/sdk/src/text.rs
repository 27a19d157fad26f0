//! Pieces of wall-message parsing that are the same for every agent: epoch
//! numbers after a key, durations in words ("3 days 6 hours 57 minutes",
//! "34s", "1h30m"), the line around a match, and clipping to the 4 KiB a
//! wall's text may have.

/// Longest wall text a plugin hands back; the host refuses longer ones.
pub const MAX_MATCHED_BYTES: usize = 4096;

/// `text` trimmed and cut to at most [`MAX_MATCHED_BYTES`] on a character
/// boundary.
pub fn clip(text: &str) -> String {
    let text = text.trim();
    let mut end = text.len().min(MAX_MATCHED_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The integer right after `key` in `text`, skipping `"`, `:`, `=`, `|` and
/// spaces between them: finds `1750708800` in `"resets_at": 1750708800` and in
/// `limit reached|1750708800`.
pub fn number_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let rest = text[start..].trim_start_matches(['"', ':', '=', '|', ' ', '\t']);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Seconds since the epoch from a number that may be in milliseconds.
pub fn epoch_seconds(value: i64) -> i64 {
    if value > 100_000_000_000 { value / 1000 } else { value }
}

/// The seconds in a duration written in words or compact units, read from the
/// start of `text`: "3 days 6 hours 57 minutes", "2h 5m", "34s", "1.5s",
/// "90 min". Stops at the first word that is not part of a duration. `None`
/// when no amount with a unit is found.
pub fn duration_seconds(text: &str) -> Option<i64> {
    // Milliseconds, in integers: no float parsing in a plugin (it costs
    // kilobytes of wasm).
    let mut total_ms: i64 = 0;
    let mut found = false;
    let mut rest = text.trim_start();
    loop {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            break;
        }
        let Some(amount_ms) = decimal_millis(&rest[..number_len]) else {
            break;
        };
        let after = rest[number_len..].trim_start();
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let Some(scale) = unit_seconds(&after[..unit_len]) else {
            break;
        };
        total_ms = total_ms.saturating_add(amount_ms.saturating_mul(scale));
        found = true;
        rest = after[unit_len..].trim_start_matches([',', ' ']).trim_start();
        rest = rest.strip_prefix("and ").unwrap_or(rest);
    }
    // Rounded up to whole seconds.
    found.then(|| total_ms.div_euclid(1000) + i64::from(total_ms.rem_euclid(1000) != 0))
}

/// "1.5" as 1500 (thousandths); at most three decimals count.
fn decimal_millis(number: &str) -> Option<i64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut millis = 0;
    for (i, digit) in fraction.bytes().take(3).enumerate() {
        millis += i64::from(digit - b'0') * [100, 10, 1][i];
    }
    whole.checked_mul(1000)?.checked_add(millis)
}

fn unit_seconds(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => 86_400,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        _ => return None,
    })
}

/// The line of `text` that contains byte offset `at`, trimmed.
pub fn line_at(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[start..end].trim()
}

/// Where `phrase` starts in `text` when a terminal may have wrapped it: a
/// space in `phrase` matches any run of spaces and line breaks (a TUI
/// breaks a long message at the terminal's width), and the text's words
/// must otherwise be the phrase's. The last match wins.
pub fn rfind_wrapped(text: &str, phrase: &str) -> Option<usize> {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let first = *words.first()?;
    let mut found = None;
    for (start, _) in text.match_indices(first) {
        let mut rest = &text[start + first.len()..];
        let whole = words[1..].iter().all(|word| {
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
            let spaced = trimmed.len() < rest.len();
            let matched = spaced && trimmed.starts_with(word);
            if matched {
                rest = &trimmed[word.len()..];
            }
            matched
        });
        if whole {
            found = Some(start);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_after_keys() {
        assert_eq!(number_after("limit reached|1750708800", "reached"), Some(1_750_708_800));
        assert_eq!(number_after(r#"{"resets_at": 17}"#, "resets_at"), Some(17));
        assert_eq!(number_after(r#"{"resets_at": null}"#, "resets_at"), None);
        assert_eq!(number_after("nothing", "resets_at"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_seconds("3 days 6 hours 57 minutes."), Some(3 * 86_400 + 6 * 3_600 + 57 * 60));
        assert_eq!(duration_seconds("34s"), Some(34));
        assert_eq!(duration_seconds("1.5s"), Some(2));
        assert_eq!(duration_seconds("0.25 minutes"), Some(15));
        assert_eq!(duration_seconds(".5h"), Some(1800));
        assert_eq!(duration_seconds("1.2.3s"), None);
        assert_eq!(duration_seconds("1h30m"), Some(5_400));
        assert_eq!(duration_seconds("2 hours, 5 minutes and 3 seconds"), Some(7_503));
        assert_eq!(duration_seconds("90 min then more"), Some(5_400));
        assert_eq!(duration_seconds("soon"), None);
        assert_eq!(duration_seconds("5 apples"), None);
    }

    #[test]
    fn epoch_units() {
        assert_eq!(epoch_seconds(1_750_708_800), 1_750_708_800);
        assert_eq!(epoch_seconds(1_750_708_800_123), 1_750_708_800);
    }

    #[test]
    fn clip_respects_char_boundaries() {
        let long = "é".repeat(3000);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_MATCHED_BYTES);
        assert!(clipped.chars().all(|c| c == 'é'));
        assert_eq!(clip("  short \n"), "short");
    }

    #[test]
    fn lines() {
        let text = "a\nbb wall here\nc";
        assert_eq!(line_at(text, text.find("wall").unwrap()), "bb wall here");
    }

    #[test]
    fn a_phrase_wrapped_at_the_terminal_width_is_found() {
        let text = "│ You've hit your usage limit. Upgrade or try\n│ again at 3pm\n";
        assert_eq!(rfind_wrapped(text, "try again at 3pm"), None, "a border between the words is not a space");
        let wrapped = "You've hit your usage\nlimit. Try again at 3pm";
        assert_eq!(rfind_wrapped(wrapped, "hit your usage limit"), Some(7));
        assert_eq!(rfind_wrapped("hit your usagelimit", "hit your usage limit"), None);
        assert_eq!(rfind_wrapped("a b a  b", "a b"), Some(4));
    }
}
