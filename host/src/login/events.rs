//! Finding what an operator needs in a login command's output: the URL to
//! open and the one-time code to enter there. Pure: bytes in, events out.
//!
//! The two shapes agents' logins print (the built-in plugins' agents, from
//! their bundles): a URL on a `visit: <url>` line, then a prompt to paste a
//! code; or a device flow, `Open this link ...` / `<url>` / `Enter this
//! one-time code (expires in 15 minutes)` / `<code>`, coloured. So: every
//! `http(s)://` word is a URL; a code is a word like `ABCD-12345` on a line
//! that mentions a code or on one of the next lines.

use serde::Serialize;

/// One URL (and its one-time code, once seen) to show the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlEvent {
    pub event: &'static str,
    pub url: Option<String>,
    pub code: Option<String>,
}

/// Longest line kept; a login prints short lines, a longer one is cut.
const MAX_LINE: usize = 16 << 10;
/// How many lines after "code" a code may stand on.
const CODE_WINDOW: u8 = 3;

/// Reads a login's output as it comes and says what to show.
#[derive(Default)]
pub struct Scanner {
    line: Vec<u8>,
    last_url: Option<String>,
    /// Lines left in which a code may appear.
    code_window: u8,
    emitted: Vec<(Option<String>, Option<String>)>,
}

impl Scanner {
    /// Feed output; get the events its complete lines give.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<UrlEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                self.scan_line(&String::from_utf8_lossy(&line), &mut events);
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
        events
    }

    /// The last line when the output ends without a newline.
    pub fn finish(&mut self) -> Vec<UrlEvent> {
        let mut events = Vec::new();
        let line = std::mem::take(&mut self.line);
        self.scan_line(&String::from_utf8_lossy(&line), &mut events);
        events
    }

    fn scan_line(&mut self, raw: &str, events: &mut Vec<UrlEvent>) {
        let line = strip_escapes(raw);
        // A URL inside an error report is where the agent failed to reach,
        // not a page for the operator: codex 0.171 offline prints `Error
        // logging in: error sending request for url (https://.../usercode)`.
        if !reports_an_error(&line) {
            for url in urls(&line) {
                self.last_url = Some(url);
                self.emit(None, events);
            }
        }
        let mentions_code = line.to_ascii_lowercase().contains("code");
        if mentions_code {
            self.code_window = CODE_WINDOW + 1;
        }
        if self.code_window > 0 {
            self.code_window -= 1;
            if let Some(code) = line.split_whitespace().map(trim_punctuation).find(|w| is_code(w)) {
                self.code_window = 0;
                self.emit(Some(code.to_owned()), events);
            }
        }
    }

    fn emit(&mut self, code: Option<String>, events: &mut Vec<UrlEvent>) {
        let key = (self.last_url.clone(), code.clone());
        if !self.emitted.contains(&key) {
            self.emitted.push(key);
            events.push(UrlEvent { event: "url", url: self.last_url.clone(), code });
        }
    }
}

/// Whether the line is an error report: it says `error` or `failed`
/// before its first URL.
fn reports_an_error(line: &str) -> bool {
    let before_url = line.find("http://").or_else(|| line.find("https://")).map_or(line, |at| &line[..at]);
    let before_url = before_url.to_ascii_lowercase();
    ["error", "failed", "failure"].iter().any(|word| before_url.contains(word))
}

/// The text of a terminal line without its escape sequences. A hyperlink
/// (OSC 8) keeps its target, as a word, in front of its text.
fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            if !c.is_control() {
                out.push(c);
            }
            continue;
        }
        match chars.next() {
            // CSI: parameters, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \.
            Some(']') => {
                let mut body = String::new();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        chars.next_if_eq(&'\\');
                        break;
                    }
                    body.push(c);
                }
                let target = body.strip_prefix("8;").and_then(|rest| rest.split_once(';')).map(|(_, t)| t);
                if let Some(target) = target.filter(|t| !t.is_empty()) {
                    out.push_str(&format!(" {target} "));
                }
            }
            _ => {}
        }
    }
    out
}

fn urls(line: &str) -> Vec<String> {
    line.split_whitespace()
        .filter_map(|w| w.find("https://").or_else(|| w.find("http://")).map(|at| &w[at..]))
        .map(trim_punctuation)
        .filter(|u| u.len() > "https://".len())
        .map(str::to_owned)
        .collect()
}

fn trim_punctuation(word: &str) -> &str {
    word.trim_end_matches(['.', ',', ';', ':', ')', ']', '}', '>', '"', '\'', '!', '?'])
        .trim_start_matches(['(', '[', '{', '<', '"', '\''])
}

/// A one-time code: groups of capitals and digits joined by `-`, with
/// letters in it (`ABCD-12345`), not a date or a number.
fn is_code(word: &str) -> bool {
    let groups: Vec<&str> = word.split('-').collect();
    groups.len() >= 2
        && word.len() <= 32
        && groups.iter().all(|g| g.len() >= 3 && g.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        && word.chars().any(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(output: &str) -> Vec<(Option<String>, Option<String>)> {
        let mut scanner = Scanner::default();
        let mut events = scanner.feed(output.as_bytes());
        events.extend(scanner.finish());
        events.into_iter().map(|e| (e.url, e.code)).collect()
    }

    fn pair(url: &str, code: Option<&str>) -> (Option<String>, Option<String>) {
        (Some(url.to_owned()), code.map(str::to_owned))
    }

    #[test]
    fn a_coloured_device_code_flow() {
        let out = "Follow these steps to sign in using device code authorization:\n\n\
                   1. Open this link in your browser and sign in to your account\n   \
                   \u{1b}[94mhttps://auth.example.com/device\u{1b}[0m\n\n\
                   2. Enter this one-time code \u{1b}[90m(expires in 15 minutes)\u{1b}[0m\n   \
                   \u{1b}[94mABCD-12345\u{1b}[0m\n";
        let url = "https://auth.example.com/device";
        assert_eq!(all(out), vec![pair(url, None), pair(url, Some("ABCD-12345"))]);
    }

    #[test]
    fn a_url_then_a_paste_prompt() {
        let out = "Opening browser to sign in\u{2026}\r\nIf the browser didn't open, visit: \
                   https://login.example.com/oauth/authorize?code=true&client_id=x&state=y.\r\nPaste code here if prompted > ";
        assert_eq!(
            all(out),
            vec![pair("https://login.example.com/oauth/authorize?code=true&client_id=x&state=y", None)]
        );
    }

    #[test]
    fn hyperlinks_and_split_chunks() {
        let mut scanner = Scanner::default();
        let link = "\u{1b}]8;;https://example.com/a\u{1b}\\click here\u{1b}]8;;\u{1b}\\\n";
        let (first, second) = link.split_at(12);
        assert!(scanner.feed(first.as_bytes()).is_empty(), "nothing before the line ends");
        let events = scanner.feed(second.as_bytes());
        assert_eq!(events[0].url.as_deref(), Some("https://example.com/a"));
        assert!(scanner.feed(b"again https://example.com/a\n").is_empty(), "each URL once");
    }

    #[test]
    fn a_url_in_an_error_is_not_for_the_operator() {
        // codex 0.171.0 `login --device-auth` with no network, as it prints it.
        let offline = "WARNING: proceeding, even though we could not create PATH aliases\n\
                       Error logging in: error sending request for url (https://auth.openai.com/api/accounts/deviceauth/usercode)\n";
        assert_eq!(all(offline), vec![]);
        assert_eq!(all("Login failed: see https://status.example.com\n"), vec![]);
        let fine = "Open https://auth.example.com/device to sign in; errors are shown below\n";
        assert_eq!(all(fine), vec![pair("https://auth.example.com/device", None)]);
    }

    #[test]
    fn what_is_not_a_code() {
        for word in ["2026-11-23", "ABC", "abcd-efgh", "12-34", "ABCD-12"] {
            assert!(!is_code(word), "{word}");
        }
        assert!(is_code("WXYZ-9876"));
        assert_eq!(all("your code is ready\nno code here: 2026-11-23\n"), vec![]);
        assert_eq!(all("code:\n\n\n\nLATE-WXYZ1\n"), vec![], "too far below");
    }
}
