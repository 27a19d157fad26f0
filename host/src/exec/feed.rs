//! Turning an agent's raw output into the text handed to the plugin's
//! `detect-wall`. Pure: bytes in, bounded pieces of text out.
//!
//! What the plugin receives, in each call (documented in the README and the
//! WIT):
//! - the context: the last complete lines already seen, up to
//!   [`CONTEXT_LINES`] lines and [`CONTEXT_BYTES`] bytes, so a message an
//!   agent prints over several lines (or several writes) is seen whole;
//! - then the new output: complete lines in pieces of at most [`CHUNK`]
//!   bytes (a longer line is cut with an [`OVERLAP`], so a message
//!   straddling a cut is whole in one piece), or the unfinished last line
//!   (TUIs often print a status line with no newline), which is kept, up to
//!   [`TAIL`] bytes, and handed over again with what follows it.
//!
//! Terminal escape sequences are removed and carriage returns become line
//! breaks, so a coloured or redrawn message reads as plain text. Invalid
//! UTF-8 becomes U+FFFD; the contract's strings are UTF-8.

use std::collections::VecDeque;

/// Most bytes of new output handed to one `detect-wall` call.
pub const CHUNK: usize = 16 * 1024;
/// Most complete lines of earlier output handed over as context.
pub const CONTEXT_LINES: usize = 16;
/// Most bytes of earlier output handed over as context.
pub const CONTEXT_BYTES: usize = 4 * 1024;
/// Bytes repeated between two pieces of one long line.
pub const OVERLAP: usize = 1024;
/// Most bytes of an unfinished line kept for the next read.
pub const TAIL: usize = 4 * 1024;

/// Output as it arrives, cut into text for wall detection.
#[derive(Default)]
pub struct WallFeed {
    tail: Vec<u8>,
    /// Recent complete lines, as plain text, newest last.
    context: VecDeque<String>,
    context_bytes: usize,
}

impl WallFeed {
    /// The pieces of text to check now that `bytes` arrived, each after the
    /// context of the lines before it.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut data = std::mem::take(&mut self.tail);
        data.extend_from_slice(bytes);
        let line_end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let (lines, unfinished) = data.split_at(line_end);
        let mut complete = Vec::new();
        cut(lines, &mut complete);
        let mut partial = Vec::new();
        cut(unfinished, &mut partial);
        let mut pieces = Vec::new();
        for piece in complete {
            let text = plain_text(piece);
            if !text.trim().is_empty() {
                pieces.push(self.with_context(&text));
                self.remember(&text);
            }
        }
        for piece in partial {
            let text = plain_text(piece);
            if !text.trim().is_empty() {
                pieces.push(self.with_context(&text));
            }
        }
        self.tail = unfinished[unfinished.len().saturating_sub(TAIL)..].to_vec();
        pieces
    }

    /// Drop the context and the unfinished line: after a wall was acted on,
    /// its message must not be reported again.
    pub fn forget(&mut self) {
        *self = WallFeed::default();
    }

    fn with_context(&self, text: &str) -> String {
        let mut out = String::with_capacity(self.context_bytes + text.len());
        for line in &self.context {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(text);
        out
    }

    /// Keep the non-blank lines of `text` as context, within its bounds.
    fn remember(&mut self, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = clip(line, CONTEXT_BYTES);
            self.context_bytes += line.len() + 1;
            self.context.push_back(line.to_owned());
        }
        while self.context.len() > CONTEXT_LINES || self.context_bytes > CONTEXT_BYTES {
            let Some(old) = self.context.pop_front() else { break };
            self.context_bytes -= old.len() + 1;
        }
    }
}

/// The last `max` bytes of `line`, on a character boundary.
fn clip(line: &str, max: usize) -> &str {
    let mut start = line.len().saturating_sub(max);
    while !line.is_char_boundary(start) {
        start += 1;
    }
    &line[start..]
}

/// Cut `bytes` into pieces of at most `CHUNK` bytes, at line ends where the
/// lines allow it, else with `OVERLAP` bytes repeated.
fn cut<'a>(mut bytes: &'a [u8], pieces: &mut Vec<&'a [u8]>) {
    while bytes.len() > CHUNK {
        match bytes[..CHUNK].iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                pieces.push(&bytes[..=i]);
                bytes = &bytes[i + 1..];
            }
            None => {
                pieces.push(&bytes[..CHUNK]);
                bytes = &bytes[CHUNK - OVERLAP..];
            }
        }
    }
    if !bytes.is_empty() {
        pieces.push(bytes);
    }
}

/// `bytes` as text without terminal escape sequences, `\r` as a line break.
pub fn plain_text(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x1b => i = skip_escape(bytes, i),
            b'\r' => {
                // "\r\n" is one line break; a lone "\r" (a redraw) is one too.
                if bytes.get(i + 1) != Some(&b'\n') {
                    out.push(b'\n');
                }
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The index just after the escape sequence that starts at `start`:
/// CSI (`ESC [ … final`), OSC/DCS/APC (`ESC ] … BEL` or `ESC \`), or a
/// two-byte `ESC x`.
fn skip_escape(bytes: &[u8], start: usize) -> usize {
    let Some(&kind) = bytes.get(start + 1) else {
        return bytes.len();
    };
    let body = start + 2;
    match kind {
        b'[' => bytes[body..].iter().position(|b| (0x40..=0x7e).contains(b)).map_or(bytes.len(), |p| body + p + 1),
        b']' | b'P' | b'_' | b'^' => {
            let mut i = body;
            while i < bytes.len() {
                match bytes[i] {
                    0x07 => return i + 1,
                    0x1b if bytes.get(i + 1) == Some(&b'\\') => return i + 2,
                    _ => i += 1,
                }
            }
            bytes.len()
        }
        _ => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_and_carriage_returns_become_plain_text() {
        let colored = b"\x1b[1;31m5-hour limit reached\x1b[0m \xe2\x88\x99 resets 3pm\r\n";
        assert_eq!(plain_text(colored), "5-hour limit reached ∙ resets 3pm\n");
        assert_eq!(plain_text(b"\x1b]0;title\x07a\rb"), "a\nb");
        assert_eq!(plain_text(b"\x1b]8;;http://x\x1b\\link"), "link");
        assert_eq!(plain_text(b"a\x1b7b\x1b"), "ab");
        assert_eq!(plain_text(b"bad \xff utf8"), "bad \u{fffd} utf8");
    }

    #[test]
    fn an_unfinished_line_is_checked_now_and_again_when_it_completes() {
        let mut feed = WallFeed::default();
        assert_eq!(feed.push(b"hello\nlimit rea"), ["hello\n", "hello\nlimit rea"]);
        assert_eq!(feed.push(b"ched | resets 3pm"), ["hello\nlimit reached | resets 3pm"]);
        assert_eq!(
            feed.push(b"\nnext"),
            ["hello\nlimit reached | resets 3pm\n", "hello\nlimit reached | resets 3pm\nnext"]
        );
    }

    #[test]
    fn a_message_over_two_lines_and_two_writes_is_seen_whole() {
        let mut feed = WallFeed::default();
        feed.push(b"Usage limit reached for all Pro models.\n");
        let pieces = feed.push(b"Access resets at 3:45 PM PST.\n");
        assert_eq!(pieces, ["Usage limit reached for all Pro models.\nAccess resets at 3:45 PM PST.\n"]);
        feed.forget();
        assert_eq!(feed.push(b"after\n"), ["after\n"], "a wall acted on is not handed over again");
    }

    #[test]
    fn the_context_is_bounded() {
        let mut feed = WallFeed::default();
        for i in 0..100 {
            feed.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(feed.context.len(), CONTEXT_LINES);
        assert_eq!(feed.context.front().map(String::as_str), Some("line 84"));
        feed.push(&[b'y'; 3 * CONTEXT_BYTES]);
        feed.push(b"\n");
        feed.push(&[b'z'; CONTEXT_BYTES / 2]);
        feed.push(b"\n");
        assert!(feed.context_bytes <= CONTEXT_BYTES && feed.context.len() == 1, "{}", feed.context.len());
        let piece = &feed.push(b"new\n")[0];
        assert!(piece.len() <= CONTEXT_BYTES + 4 && piece.ends_with("new\n"));
    }

    #[test]
    fn the_kept_tail_is_bounded() {
        let mut feed = WallFeed::default();
        feed.push(&vec![b'x'; 100_000]);
        assert_eq!(feed.tail.len(), TAIL);
        feed.push(b"\n");
        assert!(feed.tail.is_empty());
    }

    #[test]
    fn a_message_across_a_hard_cut_is_whole_in_one_piece() {
        let message = b"agent usage limit reached|1750708800";
        let mut line = vec![b'.'; CHUNK - 20];
        line.extend_from_slice(message);
        line.extend_from_slice(&vec![b'.'; 5000]);
        line.push(b'\n');
        let pieces = WallFeed::default().push(&line);
        assert!(pieces.iter().all(|p| p.len() <= CHUNK));
        assert!(pieces.iter().any(|p| p.contains("agent usage limit reached|1750708800")));
    }

    proptest! {
        /// However the output is split into reads, every line shows up whole
        /// in some piece, and no piece is over the bound.
        #[test]
        fn every_line_is_seen_whole(
            lines in prop::collection::vec("[a-z |0-9]{0,60}", 1..40),
            cuts in prop::collection::vec(0usize..2000, 0..10),
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort();
            let mut feed = WallFeed::default();
            let mut seen = Vec::new();
            let mut start = 0;
            for end in cuts.into_iter().chain([bytes.len()]) {
                seen.extend(feed.push(&bytes[start..end]));
                start = end;
            }
            prop_assert!(seen.iter().all(|p| p.len() <= CHUNK));
            for line in lines.iter().filter(|l| !l.trim().is_empty()) {
                prop_assert!(seen.iter().any(|p| p.lines().any(|l| l == line)), "{line:?} not seen whole");
            }
        }
    }
}
