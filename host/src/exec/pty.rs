//! A pseudo-terminal for a watched child whose output would otherwise go to
//! our terminal: the agent still sees a terminal (colours, TUI, line
//! editing) while every byte it writes passes through us.
//!
//! The pty starts with our terminal's settings and size; while it runs, our
//! own terminal is in raw mode so keystrokes (Ctrl-C included) reach the
//! agent's line discipline unchanged, as `script(1)` does.

use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{self, OptionalActions, Termios};

/// The master side of a pseudo-terminal.
pub struct Pty {
    master: OwnedFd,
}

impl Pty {
    /// A new pty with our terminal's settings and window size, when we have
    /// a terminal.
    pub fn open() -> std::io::Result<Pty> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let pty = Pty { master };
        pty.copy_window_size();
        Ok(pty)
    }

    /// The child's side: a terminal with our terminal's settings.
    pub fn open_slave(&self) -> std::io::Result<File> {
        let name = rustix::pty::ptsname(&self.master, Vec::new())?;
        let slave = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
        if let Some(settings) = our_terminal().and_then(|t| termios::tcgetattr(t).ok()) {
            let _ = termios::tcsetattr(&slave, OptionalActions::Now, &settings);
        }
        Ok(File::from(slave))
    }

    /// A handle on the master: read the child's output from it, write
    /// keystrokes to it.
    pub fn handle(&self) -> std::io::Result<File> {
        Ok(File::from(self.master.try_clone()?))
    }

    /// Give the pty a window size of its own (no terminal of ours to copy).
    pub fn set_window_size(&self, rows: u16, columns: u16) {
        let size = termios::Winsize { ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0 };
        let _ = termios::tcsetwinsize(&self.master, size);
    }

    /// Give the pty our terminal's window size (at start and on SIGWINCH).
    /// The child's terminal size, rows and columns (0 when it has none).
    pub fn size(&self) -> (u16, u16) {
        termios::tcgetwinsize(&self.master).map_or((0, 0), |w| (w.ws_row, w.ws_col))
    }

    pub fn copy_window_size(&self) {
        if let Some(size) = our_terminal().and_then(|t| termios::tcgetwinsize(t).ok()) {
            let _ = termios::tcsetwinsize(&self.master, size);
        }
    }
}

/// Our terminal, when stdout is one (pty mode is only chosen then).
fn our_terminal() -> Option<std::io::Stdout> {
    let stdout = std::io::stdout();
    stdout.is_terminal().then_some(stdout)
}

/// What was typed on our terminal before it went raw: whole lines, and
/// whether an end-of-file (Ctrl-D, or what `script` sends when its own
/// stdin ends) was among it.
#[derive(Default)]
pub struct Typeahead {
    bytes: Vec<u8>,
    eof: bool,
}

/// Read what is waiting on our terminal while it is still in canonical
/// mode. Left there, an end-of-file would turn into a NUL byte the moment
/// the terminal goes raw (the line discipline keeps it as a 0 in its
/// buffer), and reach the agent as a stray `^@`.
pub fn read_typeahead() -> Typeahead {
    use std::io::Read;
    let mut typeahead = Typeahead::default();
    let stdin = std::io::stdin();
    let ready = || {
        let mut fds = [rustix::event::PollFd::new(&stdin, rustix::event::PollFlags::IN)];
        matches!(rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())), Ok(1))
    };
    let mut buf = [0u8; 4096];
    // A bound, in case a writer keeps the terminal busy.
    for _ in 0..64 {
        if !ready() {
            break;
        }
        match stdin.lock().read(&mut buf) {
            Ok(0) => typeahead.eof = true,
            Ok(n) => typeahead.bytes.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    typeahead
}

impl Typeahead {
    /// Type it into the agent's terminal: the bytes, then its own
    /// end-of-file character when one was typed.
    pub fn send_to(&self, pty: &File) {
        use std::io::Write;
        let mut pty = pty;
        let _ = pty.write_all(&self.bytes);
        if self.eof {
            let eof = termios::tcgetattr(pty).map_or(4, |t| t.special_codes[termios::SpecialCodeIndex::VEOF]);
            let _ = pty.write_all(&[eof]);
        }
    }
}

/// Our stdin in raw mode until dropped, when stdin is a terminal.
pub struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, saved);
        }
    }
}
