//! Text that came from a plugin or from an agent's output, on its way to a
//! terminal, a JSON report or the state.
//!
//! Two dangers, two tools, used together at every boundary:
//! - [`Untrusted`]: its only way out ([`Display`], [`Serialize`]) escapes
//!   control characters visibly (`\u{1b}`), so an escape sequence in a
//!   plugin's error or an agent's wall message cannot clear the screen or
//!   write the clipboard (OSC 52) when we print it;
//! - [`Redactor`]: replaces every known token (the roster's) and anything
//!   shaped like a token (a plugin's token prefix and what follows it) with
//!   its mask, before the text is stored, printed or logged.
//!
//! The env handed to the agent never goes through either: it is not text
//! we show, and its values must arrive exactly.

use std::fmt;

use crate::secret::{Secret, mask};

/// Text from a plugin or an agent. See the module docs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Untrusted(String);

impl Untrusted {
    pub fn new(text: impl Into<String>) -> Untrusted {
        Untrusted(text.into())
    }

    /// The text as it came, for parsing; never for showing.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The text as shown: control characters escaped.
    pub fn shown(&self) -> String {
        escape_controls(&self.0)
    }
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_controls(&self.0))
    }
}

impl fmt::Debug for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", escape_controls(&self.0).replace('"', "\\\""))
    }
}

impl serde::Serialize for Untrusted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&escape_controls(&self.0))
    }
}

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls,
/// DEL, and the bidirectional overrides that reorder what a reader sees.
fn is_hazard(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every hazardous character written as an escape:
/// `\n`, `\r`, `\t`, else `\u{1b}`.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_hazard) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_hazard(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Scrubs tokens out of text: every known token, and anything that starts
/// with one of the token prefixes the plugins declared.
#[derive(Default)]
pub struct Redactor {
    secrets: Vec<String>,
    prefixes: Vec<String>,
}

/// Shortest known token scrubbed by value: shorter strings would match
/// ordinary words. (A plugin's shape check refuses such tokens anyway.)
const MIN_SECRET_BYTES: usize = 6;

/// Shortest prefix used to find token-shaped words.
const MIN_PREFIX_BYTES: usize = 3;

impl Redactor {
    pub fn new(secrets: &[Secret], prefixes: &[String]) -> Redactor {
        let mut secrets: Vec<String> =
            secrets.iter().map(|s| s.expose().to_owned()).filter(|s| s.len() >= MIN_SECRET_BYTES).collect();
        // Longest first, so a token that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let mut prefixes: Vec<String> = prefixes.iter().filter(|p| p.len() >= MIN_PREFIX_BYTES).cloned().collect();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Redactor { secrets, prefixes }
    }

    /// `text` without tokens, still untrusted.
    pub fn scrub(&self, text: &Untrusted) -> Untrusted {
        Untrusted(self.scrub_str(text.raw()))
    }

    /// `text` without tokens.
    pub fn scrub_str(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), &mask(secret, &self.prefixes));
            }
        }
        mask_shaped(&out, &self.prefixes)
    }
}

/// Characters a token is made of, for finding where a token-shaped word
/// ends.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~+/=".contains(c)
}

/// Every word that starts with one of `prefixes` (longest first, in one
/// pass: `sk-ant-oat01-x` is `sk-ant-oat01-****`, not `sk-****`) and goes
/// on with token characters becomes `prefix****`.
fn mask_shaped(text: &str, prefixes: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let Some(prefix) = prefixes.iter().find(|p| rest.starts_with(p.as_str())) else {
            let next = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..next]);
            rest = &rest[next..];
            continue;
        };
        let after = &rest[prefix.len()..];
        let tail = after.find(|c: char| !is_token_char(c)).unwrap_or(after.len());
        out.push_str(prefix);
        // "****" itself is not a token character, so a mask is never masked
        // twice into something longer.
        if tail > 0 {
            out.push_str("****");
        }
        rest = &after[tail..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_visibly_and_plain_text_is_untouched() {
        let osc52 = Untrusted::new("limit \u{1b}]52;c;ZXZpbA==\u{7}reached\u{1b}[2J\r\n\u{9b}\u{202e}x");
        assert_eq!(osc52.to_string(), "limit \\u{1b}]52;c;ZXZpbA==\\u{7}reached\\u{1b}[2J\\r\\n\\u{9b}\\u{202e}x");
        assert_eq!(Untrusted::new("résumé · 3pm (Europe/Paris)").to_string(), "résumé · 3pm (Europe/Paris)");
        let json = serde_json::to_string(&Untrusted::new("a\u{1b}b")).unwrap();
        assert_eq!(json, "\"a\\\\u{1b}b\"");
        assert_eq!(format!("{:?}", Untrusted::new("q\"\u{7}")), "\"q\\\"\\u{7}\"");
    }

    #[test]
    fn the_longest_prefix_masks_a_word_once() {
        let r = Redactor::new(&[], &["sk-".into(), "sk-ant-oat01-".into()]);
        assert_eq!(r.scrub_str("a sk-ant-oat01-XYZ b sk-proj-Q, é"), "a sk-ant-oat01-**** b sk-****, é");
    }

    #[test]
    fn known_tokens_and_token_shapes_are_masked() {
        let redactor = Redactor::new(
            &[Secret::new("sk-ant-oat01-SECRETXYZ".into()), Secret::new("plainsecret99".into())],
            &["sk-ant-oat01-".into(), "AIza".into()],
        );
        let text = "limit|1750708800 sk-ant-oat01-SECRETXYZ and AIzaOTHER-key, plainsecret99!";
        assert_eq!(redactor.scrub_str(text), "limit|1750708800 sk-ant-oat01-**** and AIza****, ****!");
        assert_eq!(redactor.scrub_str("sk-ant-oat01-"), "sk-ant-oat01-", "a bare prefix is no token");
        assert_eq!(redactor.scrub_str(&redactor.scrub_str(text)), redactor.scrub_str(text));
        let untrusted = redactor.scrub(&Untrusted::new("x sk-ant-oat01-NEW\u{1b}[0m"));
        assert_eq!(untrusted.to_string(), "x sk-ant-oat01-****\\u{1b}[0m");
    }

    #[test]
    fn short_secrets_and_prefixes_do_not_eat_words() {
        let redactor = Redactor::new(&[Secret::new("ab".into())], &["s".into()]);
        assert_eq!(redactor.scrub_str("a stable absolute"), "a stable absolute");
    }
}
