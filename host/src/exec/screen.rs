//! What an agent's TUI shows, for wall detection in pty mode. A TUI draws
//! with cursor moves and redraws only the cells that changed ("5-hour"
//! over "5-minute" may arrive as `5`, a jump, `h`, a jump, `ur`), so its
//! messages are not lines in the byte stream. The bytes go through a
//! terminal emulator (`vt100`, a screen model: no I/O), and the screen's
//! rows, when they changed, are the text the plugin sees. Pure.

use std::num::NonZeroU16;

/// Most bytes of screen text handed over at once (the contract's limit on
/// new output).
const MAX_TEXT: usize = crate::exec::feed::CHUNK;

/// The child's terminal as it looks now.
pub struct ScreenFeed {
    parser: vt100::Parser,
    shown: Vec<String>,
}

impl ScreenFeed {
    /// A screen of `rows` × `cols` (24 × 80 when the terminal has no size).
    pub fn new(rows: u16, cols: u16) -> ScreenFeed {
        let (rows, cols) = match (NonZeroU16::new(rows), NonZeroU16::new(cols)) {
            (Some(rows), Some(cols)) => (rows, cols),
            _ => (NonZeroU16::new(24).expect("24"), NonZeroU16::new(80).expect("80")),
        };
        ScreenFeed { parser: vt100::Parser::new(rows, cols, 0), shown: Vec::new() }
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        if let (Some(rows), Some(cols)) = (NonZeroU16::new(rows), NonZeroU16::new(cols)) {
            self.parser.screen_mut().set_size(rows, cols);
        }
    }

    /// The screen's text (its non-empty rows, top to bottom) when `bytes`
    /// changed what it shows; nothing when they did not (a cursor blink).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.parser.process(bytes);
        let screen = self.parser.screen();
        let rows: Vec<String> = screen.rows(0, screen.size().1.get()).map(|r| r.trim_end().to_owned()).collect();
        if rows == self.shown {
            return Vec::new();
        }
        self.shown = rows;
        let text: Vec<&str> = self.shown.iter().map(String::as_str).filter(|r| !r.trim().is_empty()).collect();
        let mut text = text.join("\n");
        if text.len() > MAX_TEXT {
            let mut start = text.len() - MAX_TEXT;
            while !text.is_char_boundary(start) {
                start += 1;
            }
            text.drain(..start);
        }
        vec![text]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_drawn_in_pieces_reads_whole() {
        let mut screen = ScreenFeed::new(24, 80);
        // As a real agent's TUI draws a message over an earlier one:
        // only the cells that changed, between cursor jumps.
        screen.push(b"\x1b[2J\x1b[14;1H     You've hit your 5-minute limit");
        let drawn = screen.push(b"\x1b[14;24Hh\x1b[25Go\x1b[26Gur limit \xc2\xb7 resets 4:41am (UTC)");
        assert_eq!(drawn.len(), 1);
        assert!(drawn[0].contains("You've hit your 5-hour limit · resets 4:41am (UTC)"), "{drawn:?}");
        assert!(screen.push(b"\x1b[?25l").is_empty(), "nothing new on the screen");
    }

    #[test]
    fn the_text_is_bounded() {
        let mut screen = ScreenFeed::new(500, 400);
        let all: Vec<u8> = (0..500).flat_map(|_| [b'x'; 399].into_iter().chain(*b"\r\n")).collect();
        let text = &screen.push(&all)[0];
        assert!(text.len() <= MAX_TEXT && text.ends_with('x'), "{}", text.len());
    }
}
