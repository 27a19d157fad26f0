//! Changing `roster.toml` for the user (`add`, `remove`, `enroll`,
//! `forget`) while keeping its comments and layout: a format-preserving
//! editor (toml_edit). Every change is checked by parsing the result as a
//! roster before anything is written, and written atomically, so a failed
//! change leaves the file exactly as it was.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, value};

use crate::bounded;
use crate::error::{Error, Result, usage};
use crate::roster::Roster;

/// What `accounts add` writes for a new account.
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub agent: &'a str,
    /// As written in the roster: absolute, or relative to its dir.
    pub config_dir: &'a str,
    pub seats: Option<u32>,
    pub priority: Option<i64>,
    pub token_file: Option<&'a str>,
    pub token_env: Option<&'a str>,
}

/// A roster file opened for editing, locked against other `accounts`
/// edits until dropped.
pub struct RosterFile {
    path: PathBuf,
    doc: DocumentMut,
    exists: bool,
    /// The roster as it was opened, validated; `None` when there was none.
    current: Option<Roster>,
    _lock: std::fs::File,
}

/// The header of a roster `accounts add` creates.
const NEW_ROSTER: &str = "# Accounts for `accounts` (see its README). Edit by hand or with\n\
                          # `accounts add` / `accounts remove`; comments are kept.\n";

impl RosterFile {
    /// The roster at `path`, or a new empty one when there is none (it is
    /// created on save). A roster that does not parse is an error, showing
    /// the parse error.
    pub fn open(path: &Path) -> Result<RosterFile> {
        let lock = lock_beside(path)?;
        remove_killed_edits(parent(path));
        let (text, exists) = match bounded::read_text(path, bounded::ROSTER_CAP) {
            Ok(text) => (text, true),
            Err(e) if e.is_not_found() => (String::new(), false),
            Err(e) => return Err(usage(format!("{}: cannot read the roster: {e}", path.display()))),
        };
        // The same validation as every other command first, for its clear,
        // positioned errors.
        let current = if exists { Some(Roster::parse(path, &text, home().as_deref())?) } else { None };
        let doc: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| usage(format!("{}: {}", path.display(), e.message().trim())))?;
        Ok(RosterFile { path: path.to_owned(), doc, exists, current, _lock: lock })
    }

    /// The roster as it was opened; `None` when there was none.
    pub fn current(&self) -> Option<&Roster> {
        self.current.as_ref()
    }

    /// Append an `[[account]]` table. A roster this creates gets the
    /// account's kind as its `default_agent`, so a second kind added later
    /// leaves `launch-env` and `exec` as they were.
    pub fn add_account(&mut self, account: &NewAccount<'_>) {
        if !self.exists && !self.doc.contains_key("default_agent") {
            self.doc["default_agent"] = value(account.agent);
        }
        let mut table = Table::new();
        table["name"] = value(account.name);
        table["agent"] = value(account.agent);
        table["config_dir"] = value(account.config_dir);
        if let Some(seats) = account.seats {
            table["seats"] = value(i64::from(seats));
        }
        if let Some(priority) = account.priority {
            table["priority"] = value(priority);
        }
        if let Some(file) = account.token_file {
            table["token_file"] = value(file);
        }
        if let Some(var) = account.token_env {
            table["token_env"] = value(var);
        }
        let accounts = self.doc.entry("account").or_insert(Item::ArrayOfTables(Default::default()));
        if let Some(array) = accounts.as_array_of_tables_mut() {
            array.push(table);
        }
    }

    /// Remove the account `name`; whether it was there.
    pub fn remove_account(&mut self, name: &str) -> bool {
        let Some(array) = self.doc.get_mut("account").and_then(Item::as_array_of_tables_mut) else { return false };
        let before = array.len();
        array.retain(|t| t.get("name").and_then(Item::as_str) != Some(name));
        before != array.len()
    }

    /// Bind `place` (`("path", DIR)` or `("remote", URL)`) to `target`
    /// (`("account", NAME)` or `("agent", KIND)`), replacing the binding of
    /// the same place (`same`: the index among the opened roster's
    /// bindings, found by the caller). Whether one was replaced.
    pub fn bind(&mut self, place: (&str, &str), target: (&str, &str), same: Option<usize>) -> bool {
        if let Some(i) = same {
            self.unbind(i);
        }
        let mut table = Table::new();
        table[place.0] = value(place.1);
        table[target.0] = value(target.1);
        let binds = self.doc.entry("bind").or_insert(Item::ArrayOfTables(Default::default()));
        if let Some(array) = binds.as_array_of_tables_mut() {
            array.push(table);
        }
        same.is_some()
    }

    /// Remove the `i`-th `[[bind]]` (in the order the roster lists them).
    pub fn unbind(&mut self, i: usize) {
        if let Some(array) = self.doc.get_mut("bind").and_then(Item::as_array_of_tables_mut) {
            array.remove(i);
            if array.is_empty() {
                self.doc.remove("bind");
            }
        }
    }

    /// Set (or, with `None`, remove) the account's `token_file`.
    pub fn set_token_file(&mut self, name: &str, file: Option<&str>) {
        let Some(array) = self.doc.get_mut("account").and_then(Item::as_array_of_tables_mut) else { return };
        for table in array.iter_mut().filter(|t| t.get("name").and_then(Item::as_str) == Some(name)) {
            match file {
                Some(file) => table["token_file"] = value(file),
                None => {
                    table.remove("token_file");
                }
            }
        }
    }

    /// Check the edited roster parses, then write it atomically (keeping
    /// the file's mode), creating its directory when the roster is new.
    pub fn save(&self) -> Result<Roster> {
        // A comment-only document keeps its comments after the tables, so a
        // new roster's header is put in front here.
        let text = if self.exists { self.doc.to_string() } else { format!("{NEW_ROSTER}\n{}", self.doc) };
        let roster = Roster::parse(&self.path, &text, home().as_deref())?;
        // A roster that is a symlink (into a dotfiles repo, say) is edited
        // where it points: replacing the link by a file would leave the
        // file it names without the edit.
        let target = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_symlink() => std::fs::canonicalize(&self.path).map_err(|e| {
                usage(format!("{} is a symlink that cannot be followed ({e}); fix the link", self.path.display()))
            })?,
            _ => self.path.clone(),
        };
        let dir = parent(&target);
        if self.exists {
            // The mode bits too: root passes access(2) on any file, but a
            // roster made read-only says "do not edit me" to root as well.
            let read_only = std::fs::metadata(&self.path).is_ok_and(|m| m.permissions().readonly());
            if read_only || rustix::fs::access(&self.path, rustix::fs::Access::WRITE_OK).is_err() {
                return Err(usage(format!(
                    "{} is read-only; make it writable (chmod u+w) or edit it by hand",
                    self.path.display()
                )));
            }
        } else {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Other(anyhow::anyhow!("cannot create {}: {e}", dir.display())))?;
        }
        let mode = std::fs::metadata(&self.path).map_or(0o644, |m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o7777
        });
        let mut tmp = tempfile::Builder::new()
            .prefix(".roster-")
            .rand_bytes(6)
            .tempfile_in(dir)
            .map_err(|e| Error::Other(anyhow::anyhow!("cannot write next to {}: {e}", self.path.display())))?;
        let written = (|| -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::PermissionsExt;
            tmp.write_all(text.as_bytes())?;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
            tmp.as_file().sync_all()
        })();
        written.map_err(|e| Error::Other(anyhow::anyhow!("cannot write {}: {e}", self.path.display())))?;
        tmp.persist(&target)
            .map_err(|e| Error::Other(anyhow::anyhow!("cannot write {}: {}", self.path.display(), e.error)))?;
        Ok(roster)
    }
}

/// Temp files of edits killed before their rename (`.roster-` and six
/// random characters, from `save`). Under the lock no edit is under way,
/// so every one of them is residue.
fn remove_killed_edits(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(".roster-")) else { continue };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The directory a file is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Two edits at once (`accounts add` in two terminals) must not lose one:
/// each holds an exclusive lock from reading the roster to replacing it.
/// The lock is a file of its own beside the roster (`.roster.toml.lock`),
/// not the roster's directory: the state dir may be that same directory,
/// and the store locks the directory itself, so locking it here too would
/// wait on ourselves. The roster's directory is created when missing, so
/// the first edits of a new roster are serialised as well.
fn lock_beside(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = parent(path);
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot create the roster's directory {}: {e}", dir.display())))?;
    let name = path.file_name().map_or_else(|| "roster".into(), |n| n.to_string_lossy().into_owned());
    let lock_path = dir.join(format!(".{name}.lock"));
    let handle = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        // A FIFO planted at the path must not hang us (no reader: ENXIO).
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32 | rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&lock_path)
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot open the roster's lock {}: {e}", lock_path.display())))?;
    handle.lock().map_err(|e| Error::Other(anyhow::anyhow!("cannot lock {}: {e}", lock_path.display())))?;
    Ok(handle)
}

fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.home_dir().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROSTER: &str = "# my accounts\ndefault_agent = \"alpha\" # the usual one\n\n\
                          [[account]]\n# the first\nname = \"a\"\nagent = \"alpha\"\nconfig_dir = \"d/a\"\n";

    fn account<'a>(name: &'a str) -> NewAccount<'a> {
        NewAccount {
            name,
            agent: "alpha",
            config_dir: "/abs/b",
            seats: Some(2),
            priority: None,
            token_file: None,
            token_env: None,
        }
    }

    #[test]
    fn edits_keep_comments_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(&path, ROSTER).unwrap();
        let mut file = RosterFile::open(&path).unwrap();
        file.add_account(&account("b"));
        let roster = file.save().unwrap();
        drop(file);
        assert_eq!(roster.accounts.len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(ROSTER), "{text}");
        assert!(
            text.ends_with("[[account]]\nname = \"b\"\nagent = \"alpha\"\nconfig_dir = \"/abs/b\"\nseats = 2\n"),
            "{text}"
        );

        let mut file = RosterFile::open(&path).unwrap();
        file.set_token_file("b", Some("/t/b"));
        file.save().unwrap();
        drop(file);
        assert!(std::fs::read_to_string(&path).unwrap().contains("token_file = \"/t/b\""));
        let mut file = RosterFile::open(&path).unwrap();
        assert!(file.remove_account("b"));
        assert!(!file.remove_account("zz"));
        file.save().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ROSTER);
    }

    #[test]
    fn an_invalid_result_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(&path, ROSTER).unwrap();
        let mut file = RosterFile::open(&path).unwrap();
        file.add_account(&account("a"));
        let err = file.save().unwrap_err().to_string();
        drop(file);
        assert!(err.contains("duplicate account name \"a\""), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), ROSTER);
        std::fs::write(&path, "[[account]\n").unwrap();
        assert!(RosterFile::open(&path).is_err());
    }

    #[test]
    fn a_missing_roster_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/roster.toml");
        let mut file = RosterFile::open(&path).unwrap();
        file.add_account(&account("b"));
        let roster = file.save().unwrap();
        drop(file);
        assert_eq!(roster.default_agent.as_deref(), Some("alpha"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Accounts for"), "{text}");
        // A second kind added later leaves the default as it was.
        let mut file = RosterFile::open(&path).unwrap();
        file.add_account(&NewAccount { agent: "beta", config_dir: "/abs/c", ..account("c") });
        assert_eq!(file.save().unwrap().default_agent.as_deref(), Some("alpha"));
    }
}
