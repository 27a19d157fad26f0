//! Turning an agent's raw output into the text handed to the plugin's
//! `detect-wall`. Pure: bytes in, bounded pieces of text out.
//!
//! - Complete lines go in pieces of at most [`CHUNK`] bytes; a longer line is
//!   cut with an [`OVERLAP`], so a message straddling a cut is whole in one
//!   piece.
//! - The unfinished last line is handed over too (TUIs often print a status
//!   line with no newline) and kept, up to [`TAIL`] bytes, to be handed over
//!   again with what follows it: a message split across two reads is seen
//!   once it is complete.
//! - Terminal escape sequences are removed and carriage returns become line
//!   breaks, so a coloured or redrawn message reads as plain text.
//! - Invalid UTF-8 becomes U+FFFD; the contract's strings are UTF-8.

/// Most bytes of output handed to one `detect-wall` call.
pub const CHUNK: usize = 16 * 1024;
/// Bytes repeated between two pieces of one long line.
pub const OVERLAP: usize = 1024;
/// Most bytes of an unfinished line kept for the next read.
pub const TAIL: usize = 4 * 1024;

/// Output as it arrives, cut into text for wall detection.
#[derive(Default)]
pub struct WallFeed {
    tail: Vec<u8>,
}

impl WallFeed {
    /// The pieces of text to check now that `bytes` arrived.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut data = std::mem::take(&mut self.tail);
        data.extend_from_slice(bytes);
        let line_end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let (lines, unfinished) = data.split_at(line_end);
        let mut pieces = Vec::new();
        cut(lines, &mut pieces);
        cut(unfinished, &mut pieces);
        self.tail = unfinished[unfinished.len().saturating_sub(TAIL)..].to_vec();
        pieces.into_iter().map(plain_text).filter(|t| !t.trim().is_empty()).collect()
    }
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
        assert_eq!(feed.push(b"hello\nlimit rea"), ["hello\n", "limit rea"]);
        assert_eq!(feed.push(b"ched | resets 3pm"), ["limit reached | resets 3pm"]);
        assert_eq!(feed.push(b"\nnext"), ["limit reached | resets 3pm\n", "next"]);
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
