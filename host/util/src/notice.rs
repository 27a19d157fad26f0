//! Everything `accounts` says on stderr goes through here. Messages often
//! carry text from a plugin or an agent (an error string, a wall message, a
//! file name), so every line has its control characters escaped on the way
//! out: nothing we print can move the cursor, clear the screen or write the
//! clipboard.

use std::fmt::Display;

use crate::untrusted::escape_controls;

/// `accounts: error: ...`
pub fn error(message: impl Display) {
    say("error: ", message);
}

/// `accounts: warning: ...`
pub fn warn(message: impl Display) {
    say("warning: ", message);
}

/// `accounts: ...`: what `exec` and friends are doing.
pub fn note(message: impl Display) {
    say("", message);
}

/// One line a plugin wrote to its stderr (shown with `--verbose`).
pub fn plugin_line(kind: &str, line: &str) {
    eprintln!("plugin {kind}: {}", escape_controls(line));
}

fn say(label: &str, message: impl Display) {
    eprintln!("accounts: {label}{}", escape_controls(&message.to_string()));
}
