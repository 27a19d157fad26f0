//! Agent output as the messages an agent printed, and the pick of the one
//! wall among several.
//!
//! Agents print their limit messages as whole lines in a terminal, and
//! inside JSON strings in their machine modes (`claude -p --output-format
//! json` puts it in `"result":"..."`, `codex exec --json` in
//! `"error":{"message":"..."}`). [`messages`] turns both into the same
//! plain messages, so a plugin matches one shape. [`starts_with`] matches
//! a message by where it starts, as the agent prints it, not a phrase
//! anywhere in a sentence: "Done! You've hit your coverage goal" is agent
//! prose, "You've hit your weekly limit" is a wall.
//!
//! [`Walls`] keeps the best of several walls seen in one piece of output:
//! the most certain reset (an instant or a time with a zone over a time
//! read in the host's zone), then the earliest one after which the account
//! works again, then the newest.

use crate::clock::{Precision, Reset};
use crate::json::{self, Value};
use crate::spec::Wall;

/// The messages in `output`, in order: each line, except that a line
/// holding a JSON object gives the text before the object (when there is
/// any) and then every string inside it, decoded. A line may be a message
/// of several lines' worth when a string holds line breaks; those are kept
/// as separate messages.
pub fn messages(output: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in output.lines() {
        match json_in(line) {
            Some((before, value)) => {
                if !before.trim().is_empty() {
                    out.push(before.trim().to_owned());
                }
                let mut strings = Vec::new();
                strings_in(&value, &mut strings);
                out.extend(strings.iter().flat_map(|s| s.lines()).map(str::to_owned));
            }
            None => out.push(line.to_owned()),
        }
    }
    out
}

/// The text before a JSON object that runs to the end of `line`, and the
/// object: `429: {"error":...}` gives `("429: ", {...})`.
pub fn json_in(line: &str) -> Option<(&str, Value)> {
    let start = line.find('{')?;
    let value = json::parse(line[start..].trim_end())?;
    Some((&line[..start], value))
}

fn strings_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_in(v, out)),
        Value::Object(members) => members.iter().for_each(|(_, v)| strings_in(v, out)),
        _ => {}
    }
}

/// Labels an agent puts before an error message (`ERROR: ...` from codex
/// exec, `API Error: ...`), matched in any case.
const ERROR_LABELS: &[&str] = &["api error:", "error:"];

/// `message` without what agents print before a message: spaces, bullets
/// and box-drawing (`■`, `⎿`, `●`, `>`, `[`), and an error label.
pub fn body(message: &str) -> &str {
    let mut rest = message;
    loop {
        rest = rest.trim_start_matches(|c: char| !(c.is_alphanumeric() || matches!(c, '$' | '\'' | '"')));
        let lower = rest.get(..12).unwrap_or(rest).to_ascii_lowercase();
        match ERROR_LABELS.iter().find(|label| lower.starts_with(*label)) {
            Some(label) => rest = &rest[label.len()..],
            None => return rest,
        }
    }
}

/// Whether `message` starts with `phrase` once [`body`] has dropped what
/// comes before a message. Curly apostrophes count as straight ones.
pub fn starts_with(message: &str, phrase: &str) -> bool {
    let body = body(message);
    if !body.contains('\u{2019}') {
        return body.starts_with(phrase);
    }
    body.replace('\u{2019}', "'").starts_with(phrase)
}

/// The best wall among those offered; see the module doc.
#[derive(Debug, Default)]
pub struct Walls {
    best: Option<(Option<Reset>, Wall)>,
}

impl Walls {
    pub fn new() -> Walls {
        Walls::default()
    }

    /// A wall with the message `matched` and, when it says, one reset.
    /// Offer a message with several resets once per reset.
    pub fn offer(&mut self, reset: Option<Reset>, matched: &str) {
        let better = match &self.best {
            None => true,
            Some((held, _)) => rank(reset) >= rank(*held),
        };
        if better {
            self.best = Some((reset, Wall::new(reset.map(|r| r.at), matched)));
        }
    }

    /// Offer every reset in `resets`, or the wall without one when empty.
    pub fn offer_all(&mut self, resets: &[Reset], matched: &str) {
        if resets.is_empty() {
            self.offer(None, matched);
        }
        for reset in resets {
            self.offer(Some(*reset), matched);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.best.is_none()
    }

    pub fn best(self) -> Option<Wall> {
        self.best.map(|(_, wall)| wall)
    }
}

/// Greater is better: a reset over none, a certain one over a zoneless
/// one, an earlier one over a later one. Equal ranks go to the newer wall.
fn rank(reset: Option<Reset>) -> (u8, Precision, i64) {
    match reset {
        None => (0, Precision::Zoneless, 0),
        Some(r) => (1, r.precision, -r.at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_messages() {
        let line = r#"{"type":"result","result":"You've hit your weekly limit · resets Dec 7, 9am (Europe/Paris)","is_error":true}"#;
        let m = messages(line);
        assert!(m.contains(&"You've hit your weekly limit · resets Dec 7, 9am (Europe/Paris)".to_owned()), "{m:?}");
        let m = messages("429: {\"error\":{\"message\":\"a\\nb\"}}\nplain");
        assert_eq!(m, ["429:", "a", "b", "plain"]);
        assert_eq!(messages("not {json"), ["not {json"]);
    }

    #[test]
    fn bodies_drop_bullets_and_error_labels() {
        assert_eq!(body("■ You've hit"), "You've hit");
        assert_eq!(body("  ⎿  You've hit"), "You've hit");
        assert_eq!(body("ERROR: You've hit"), "You've hit");
        assert_eq!(body("[API Error: You have exhausted]"), "You have exhausted]");
        assert!(starts_with("● You\u{2019}ve hit your limit", "You've hit your "));
        assert!(!starts_with("Done! You've hit your coverage goal", "You've hit your "));
    }

    #[test]
    fn the_most_certain_then_earliest_reset_wins() {
        let exact = |at| Some(Reset { at, precision: Precision::Instant });
        let zoneless = |at| Some(Reset { at, precision: Precision::Zoneless });
        let mut walls = Walls::new();
        walls.offer(exact(100), "zoned");
        walls.offer(zoneless(50), "zoneless, newer");
        walls.offer(None, "no reset, newest");
        assert_eq!(walls.best(), Some(Wall::new(Some(100), "zoned")));

        let mut walls = Walls::new();
        walls.offer(exact(300), "pool");
        walls.offer(exact(200), "own plan");
        walls.offer(exact(200), "own plan again");
        assert_eq!(walls.best(), Some(Wall::new(Some(200), "own plan again")));

        let mut walls = Walls::new();
        walls.offer(None, "first");
        walls.offer(None, "second");
        assert_eq!(walls.best().unwrap().matched, "second");
        assert!(Walls::new().best().is_none());
    }
}
