//! Conversations an agent keeps in its config dir, for a rotation that
//! carries them to the next account: what the host asks for ([`Query`]),
//! what the plugin answers ([`Conversation`]), and bounded helpers to find
//! the newest file of a conversation below the config mount.

use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::json::config_path;

/// Which conversation the host is looking for; each field that is set
/// narrows the search, and the newest match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The agent's id for it, when known.
    pub id: Option<String>,
    /// The working directory it ran in, a host path.
    pub cwd: Option<String>,
    /// Only one written at or after this instant (seconds since the epoch).
    pub since: Option<i64>,
    /// The run's recent output, where the agent may print its session id.
    pub output: String,
}

/// A conversation found in the config dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The id the agent's resume flag takes.
    pub id: String,
    /// Its files, relative to the config dir.
    pub files: Vec<String>,
    /// The working directory it ran in, when the files say.
    pub cwd: Option<String>,
    /// The login the agent ties it to (an account id), when it does.
    pub bound_to: Option<String>,
}

impl Conversation {
    /// A conversation `id` made of `files`.
    pub fn new(id: &str, files: Vec<String>) -> Conversation {
        Conversation { id: id.to_owned(), files, cwd: None, bound_to: None }
    }
}

/// Most entries a search below the config mount looks at: a config dir
/// with years of conversations stays well within a call's deadline.
pub const MAX_ENTRIES: usize = 20_000;

/// When the file at `relative` (below the config mount) was last written,
/// seconds since the epoch.
pub fn modified_at(relative: &str) -> Option<i64> {
    let meta = std::fs::symlink_metadata(config_path(relative)).ok()?;
    let at = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(at.as_secs()).ok()
}

/// The newest regular file below the config dir's `dir` (at most `depth`
/// directories down) whose relative path `accept` takes and that was
/// written at or after `since`; its path relative to the config dir.
/// Symlinks are not followed; at most [`MAX_ENTRIES`] entries are read.
pub fn newest_file(dir: &str, depth: usize, since: Option<i64>, accept: impl Fn(&str) -> bool) -> Option<String> {
    let mut best: Option<(i64, String)> = None;
    let mut seen = 0;
    let mut pending = vec![(dir.trim_end_matches('/').to_owned(), 0)];
    while let Some((rel, level)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(config_path(&rel)) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return best.map(|(_, path)| path);
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && level < depth {
                pending.push((child, level + 1));
            } else if kind.is_file() && accept(&child) {
                let Some(at) = modified_at(&child) else { continue };
                if since.is_none_or(|s| at >= s) && best.as_ref().is_none_or(|(b, _)| at > *b) {
                    best = Some((at, child));
                }
            }
        }
    }
    best.map(|(_, path)| path)
}

/// Every regular file below the config dir's `dir` (at most `depth`
/// directories down), relative to the config dir; none when `dir` is not
/// there. Symlinks are not followed; at most [`MAX_ENTRIES`] are read.
pub fn files_below(dir: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.trim_end_matches('/').to_owned(), 0)];
    while let Some((rel, level)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(config_path(&rel)) else { continue };
        for entry in entries.flatten().take(MAX_ENTRIES) {
            let (Some(name), Ok(kind)) = (entry.file_name().to_str().map(str::to_owned), entry.file_type()) else {
                continue;
            };
            let child = format!("{rel}/{name}");
            if kind.is_dir() && level < depth {
                pending.push((child, level + 1));
            } else if kind.is_file() && found.len() < MAX_ENTRIES {
                found.push(child);
            }
        }
    }
    found.sort();
    found
}

/// The first line of the file at `relative`, read no further than
/// `max_bytes`.
pub fn first_line(relative: &str, max_bytes: usize) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(config_path(relative)).ok()?;
    let mut head = Vec::new();
    file.take(max_bytes as u64).read_to_end(&mut head).ok()?;
    let line = head.split(|b| *b == b'\n').next()?;
    String::from_utf8(line.to_vec()).ok()
}

/// The complete lines in the last `max_bytes` of the file at `relative`
/// (the first, cut, line left out unless the read began at the file's
/// start); `None` when it cannot be read. A session log that grows for
/// hours is read from its end, never whole.
pub fn tail(relative: &str, max_bytes: usize) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(config_path(relative)).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(max_bytes as u64);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(max_bytes as u64).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let whole = if start == 0 { &text[..] } else { text.split_once('\n').map_or("", |(_, rest)| rest) };
    Some(whole.to_owned())
}

/// The file name of `relative` without its extension: `a/b/<id>.jsonl`
/// gives `<id>`.
pub fn stem(relative: &str) -> Option<&str> {
    Path::new(relative).file_stem()?.to_str()
}

/// A session id the agent printed: the last `"key":"<value>"` in `output`
/// whose value looks like an id (letters, digits, `-`, `_`).
pub fn id_in_output(output: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\":\"");
    let at = output.rfind(&needle)? + needle.len();
    let value: String =
        output[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (output[at + value.len()..].starts_with('"') && !value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_an_agent_printed_is_found() {
        let out = r#"{"type":"system","session_id":"1b2c-3d"} {"type":"result","session_id":"9f8e-7d","x":1}"#;
        assert_eq!(id_in_output(out, "session_id").as_deref(), Some("9f8e-7d"));
        assert_eq!(id_in_output(r#""session_id":"a b""#, "session_id"), None);
        assert_eq!(stem("projects/-x/abc.jsonl"), Some("abc"));
    }

    #[test]
    fn the_newest_file_is_found_below_a_fixture_config_dir() {
        let dir = std::env::temp_dir().join(format!("sdk-conv-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("p/q")).unwrap();
        std::fs::write(dir.join("p/old.jsonl"), "x").unwrap();
        std::fs::write(dir.join("p/q/new.jsonl"), "first line\nsecond").unwrap();
        std::fs::write(dir.join("p/q/other.txt"), "x").unwrap();
        let old = std::fs::File::options().write(true).open(dir.join("p/old.jsonl")).unwrap();
        old.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1_000)).unwrap();
        // SAFETY: no other test of the SDK reads or writes the environment
        // (this is the one test that points the SDK at a fixture dir).
        unsafe { std::env::set_var("ACCOUNTS_PLUGIN_CONFIG_ROOT", &dir) };
        let found = newest_file("p", 2, None, |p| p.ends_with(".jsonl"));
        assert_eq!(found.as_deref(), Some("p/q/new.jsonl"));
        assert_eq!(newest_file("p", 0, None, |p| p.ends_with(".jsonl")).as_deref(), Some("p/old.jsonl"));
        assert_eq!(newest_file("p", 0, Some(2_000), |p| p.ends_with(".jsonl")), None);
        assert_eq!(first_line("p/q/new.jsonl", 5).as_deref(), Some("first"));
        assert_eq!(tail("p/q/new.jsonl", 100).as_deref(), Some("first line\nsecond"), "read from the start: whole");
        assert_eq!(tail("p/q/new.jsonl", 9).as_deref(), Some("second"), "the cut first line is left out");
        assert_eq!(tail("p/missing", 9), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
