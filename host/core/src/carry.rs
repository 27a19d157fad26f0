//! Carrying a conversation's files from one account's config dir to the
//! next one's, since plugins cannot write. The plugin only names the
//! files; every rule is the host's:
//! - a path is relative, inside the config dir, without `..`, and names no
//!   credential or token file (the caller's list: the plugin's own and the
//!   host's);
//! - only regular files are copied, and no symlink is followed, neither the
//!   file nor a directory on its way;
//! - the files together stay under a size limit;
//! - a file is never written over: one already there is used when it is
//!   the same bytes, and refused otherwise (another conversation of the
//!   same name);
//! - each file is written to a temp file beside its place and renamed
//!   there without replacing anything; a failure removes every file and
//!   directory this carry made, so both dirs are left as they were.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{CWD, RenameFlags, renameat_with};

/// What a carry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// Files copied.
    pub copied: usize,
    /// Files already in the target with the same bytes.
    pub already_there: usize,
    pub bytes: u64,
}

/// One source file, checked and opened.
struct Source {
    relative: PathBuf,
    file: File,
    len: u64,
}

/// Copy `files` (relative paths the plugin named) from `from` to `to`.
/// `protected` are the file names no conversation may include (credential
/// and token files). `Err` is one line saying why nothing was carried.
pub fn carry(
    from: &Path,
    to: &Path,
    files: &[String],
    protected: &[String],
    max_bytes: u64,
) -> Result<Carried, String> {
    let mut sources = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for name in files {
        let relative = checked_path(name, protected)?;
        let source = open_source(from, &relative)?;
        total = total.saturating_add(source.len);
        if total > max_bytes {
            return Err(format!(
                "the conversation is larger than resume.max_mib allows ({} MiB); raise it in the roster's [resume] to carry it",
                max_bytes >> 20
            ));
        }
        sources.push(source);
    }
    if sources.is_empty() {
        return Err("the plugin named no files for the conversation".into());
    }
    let mut made = Made::default();
    let mut carried = Carried { copied: 0, already_there: 0, bytes: total };
    for source in &mut sources {
        match place(to, source, &mut made) {
            Ok(true) => carried.copied += 1,
            Ok(false) => carried.already_there += 1,
            Err(why) => {
                made.undo();
                return Err(why);
            }
        }
    }
    Ok(carried)
}

/// `name` as a safe relative path, or why not.
fn checked_path(name: &str, protected: &[String]) -> Result<PathBuf, String> {
    let path = Path::new(name);
    let shown = crate::untrusted::Untrusted::new(name.to_owned());
    let plain = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!(
            "the plugin named {shown} as a conversation file, which is not a path inside the config dir"
        ));
    }
    let is_protected = protected.iter().any(|p| {
        let p = Path::new(p);
        path == p || path.file_name() == p.file_name()
    });
    if is_protected {
        return Err(format!("the plugin named {shown} as a conversation file, but it is a credential or token file"));
    }
    Ok(path.to_owned())
}

/// Open `relative` below `root` without following a symlink anywhere on
/// the way: every directory is checked, and the file is opened with
/// `O_NOFOLLOW`, then checked to be a regular file.
fn open_source(root: &Path, relative: &Path) -> Result<Source, String> {
    let mut at = root.to_owned();
    let parts: Vec<_> = relative.components().collect();
    for part in &parts[..parts.len() - 1] {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory (a symlink is never followed)", at.display())),
            Err(e) => return Err(format!("cannot read {}: {e}", at.display())),
        }
    }
    at.push(parts[parts.len() - 1]);
    let file = open_no_follow(&at).map_err(|e| match e.raw_os_error() {
        Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
            format!("{} is a symlink; a conversation file must be a regular file", at.display())
        }
        _ => format!("cannot read {}: {e}", at.display()),
    })?;
    let meta = file.metadata().map_err(|e| format!("cannot read {}: {e}", at.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", at.display()));
    }
    Ok(Source { relative: relative.to_owned(), file, len: meta.len() })
}

/// Open `path` for reading, refusing a symlink (`ELOOP`) and never waiting
/// on a FIFO.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)
}

/// What this carry created, to remove on failure (files first, then the
/// directories, deepest first).
#[derive(Default)]
struct Made {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Made {
    fn undo(&mut self) {
        for file in self.files.drain(..).rev() {
            let _ = std::fs::remove_file(file);
        }
        for dir in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Put `source` under `root`; `Ok(false)` when the same bytes are there.
fn place(root: &Path, source: &mut Source, made: &mut Made) -> Result<bool, String> {
    let target = root.join(&source.relative);
    let parent = target.parent().expect("a relative path has a parent under root");
    make_dirs(root, parent, made)?;
    match std::fs::symlink_metadata(&target) {
        Ok(_) if same_bytes(&target, source)? => return Ok(false),
        Ok(_) => {
            return Err(format!(
                "{} is already there with other contents (another conversation of the same name); \
                 it is left as it is",
                target.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot check {}: {e}", target.display())),
    }
    let mut temp = tempfile::Builder::new()
        .prefix(".accounts-carry-")
        .tempfile_in(parent)
        .map_err(|e| format!("cannot write into {}: {e}", parent.display()))?;
    copy_bounded(&mut source.file, temp.as_file_mut(), source.len)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| format!("cannot copy to {}: {e}", target.display()))?;
    // Rename without replacing: a file that appeared meanwhile is kept.
    renameat_with(CWD, temp.path(), CWD, &target, RenameFlags::NOREPLACE)
        .map_err(|e| format!("cannot put {} in place: {e}", target.display()))?;
    // The temp file is now the target; do not let its guard remove it.
    let _ = temp.into_temp_path().keep();
    made.files.push(target);
    Ok(true)
}

/// Create the directories from `root` down to `dir` (0700), never through a
/// symlink.
fn make_dirs(root: &Path, dir: &Path, made: &mut Made) -> Result<(), String> {
    let relative = dir.strip_prefix(root).expect("dir is below root");
    let mut at = root.to_owned();
    for part in relative.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => return Err(format!("{} is in the way: not a directory", at.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot check {}: {e}", at.display())),
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&at)
            .map_err(|e| format!("cannot create {}: {e}", at.display()))?;
        made.dirs.push(at.clone());
    }
    Ok(())
}

/// Copy exactly `len` bytes (the size the source was checked at).
fn copy_bounded(from: &mut File, to: &mut File, len: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut Read::by_ref(from).take(len), to)?;
    if copied != len {
        return Err(std::io::Error::other(format!("the file changed while copying ({copied} of {len} bytes)")));
    }
    to.flush()
}

/// Whether the file at `target` holds the same bytes as `source` (read
/// from the start; the source is rewound after).
fn same_bytes(target: &Path, source: &mut Source) -> Result<bool, String> {
    use std::io::Seek;
    let Ok(mut other) = open_no_follow(target) else { return Ok(false) };
    match other.metadata() {
        Ok(meta) if meta.is_file() && meta.len() == source.len => {}
        _ => return Ok(false),
    }
    let mut same = true;
    let (mut a, mut b) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    let mut left = source.len;
    while left > 0 && same {
        let n = (left as usize).min(a.len());
        let read = source.file.read_exact(&mut a[..n]).and_then(|()| other.read_exact(&mut b[..n]));
        read.map_err(|e| format!("cannot compare with {}: {e}", target.display()))?;
        same = a[..n] == b[..n];
        left -= n as u64;
    }
    source.file.rewind().map_err(|e| format!("cannot read {}: {e}", source.relative.display()))?;
    Ok(same)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let (from, to) = (root.path().join("one"), root.path().join("two"));
        std::fs::create_dir_all(from.join("projects/-w/s1")).unwrap();
        std::fs::create_dir_all(&to).unwrap();
        std::fs::write(from.join("projects/-w/s1.jsonl"), "turns\n").unwrap();
        std::fs::write(from.join("projects/-w/s1/tool.txt"), "result").unwrap();
        std::fs::write(from.join(".credentials.json"), "{}").unwrap();
        (root, from, to)
    }

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    const PROTECTED: &[&str] = &[".credentials.json", ".accounts-token"];

    fn protected() -> Vec<String> {
        files(PROTECTED)
    }

    fn all_files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_named_files_are_copied_under_the_same_paths() {
        let (_root, from, to) = dirs();
        let names = files(&["projects/-w/s1.jsonl", "projects/-w/s1/tool.txt"]);
        let carried = carry(&from, &to, &names, &protected(), 1 << 20).unwrap();
        assert_eq!(carried, Carried { copied: 2, already_there: 0, bytes: 12 });
        assert_eq!(std::fs::read_to_string(to.join("projects/-w/s1.jsonl")).unwrap(), "turns\n");
        assert_eq!(
            all_files(&to),
            files(&["projects", "projects/-w", "projects/-w/s1", "projects/-w/s1.jsonl", "projects/-w/s1/tool.txt"])
        );
        // Again: the same bytes are there, nothing is written.
        let again = carry(&from, &to, &names, &protected(), 1 << 20).unwrap();
        assert_eq!(again.already_there, 2);
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_written() {
        let (_root, from, to) = dirs();
        for (name, why) in [
            ("../one/projects/-w/s1.jsonl", "not a path inside"),
            ("/etc/passwd", "not a path inside"),
            ("", "not a path inside"),
            (".credentials.json", "credential or token file"),
            ("projects/.accounts-token", "credential or token file"),
        ] {
            let err = carry(&from, &to, &files(&["projects/-w/s1.jsonl", name]), &protected(), 1 << 20).unwrap_err();
            assert!(err.contains(why), "{name}: {err}");
            assert!(all_files(&to).is_empty(), "{name}");
        }
    }

    #[test]
    fn symlinks_are_never_followed() {
        let (_root, from, to) = dirs();
        std::os::unix::fs::symlink(from.join(".credentials.json"), from.join("projects/-w/s2.jsonl")).unwrap();
        let err = carry(&from, &to, &files(&["projects/-w/s2.jsonl"]), &protected(), 1 << 20).unwrap_err();
        assert!(err.contains("is a symlink"), "{err}");
        std::os::unix::fs::symlink(from.join("projects/-w"), from.join("linked")).unwrap();
        let err = carry(&from, &to, &files(&["linked/s1.jsonl"]), &protected(), 1 << 20).unwrap_err();
        assert!(err.contains("not a directory (a symlink is never followed)"), "{err}");
        assert!(all_files(&to).is_empty());
    }

    #[test]
    fn too_large_a_conversation_is_refused() {
        let (_root, from, to) = dirs();
        let err = carry(&from, &to, &files(&["projects/-w/s1.jsonl", "projects/-w/s1/tool.txt"]), &protected(), 8)
            .unwrap_err();
        assert!(err.contains("resume.max_mib"), "{err}");
        assert!(all_files(&to).is_empty());
    }

    #[test]
    fn a_different_file_of_the_same_name_is_left_and_the_carry_undone() {
        let (_root, from, to) = dirs();
        std::fs::create_dir_all(to.join("projects/-w/s1")).unwrap();
        std::fs::write(to.join("projects/-w/s1/tool.txt"), "another conversation").unwrap();
        let names = files(&["projects/-w/s1.jsonl", "projects/-w/s1/tool.txt"]);
        let err = carry(&from, &to, &names, &protected(), 1 << 20).unwrap_err();
        assert!(err.contains("already there with other contents"), "{err}");
        // The first file, copied before the clash, is gone again.
        assert_eq!(all_files(&to), files(&["projects", "projects/-w", "projects/-w/s1", "projects/-w/s1/tool.txt"]));
        assert_eq!(std::fs::read_to_string(to.join("projects/-w/s1/tool.txt")).unwrap(), "another conversation");
    }

    #[test]
    fn a_read_only_target_fails_cleanly() {
        use std::os::unix::fs::PermissionsExt;
        let (_root, from, to) = dirs();
        // A directory nobody can write into, root included.
        let err =
            carry(&from, Path::new("/proc/self/fdinfo"), &files(&["projects/-w/s1.jsonl"]), &protected(), 1 << 20);
        assert!(err.unwrap_err().contains("cannot create /proc/self/fdinfo/projects"));
        // A mode that forbids it (root writes through modes).
        if !rustix::process::geteuid().is_root() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o500)).unwrap();
            let err = carry(&from, &to, &files(&["projects/-w/s1.jsonl"]), &protected(), 1 << 20).unwrap_err();
            assert!(err.contains("cannot create"), "{err}");
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert!(all_files(&to).is_empty());
        }
    }
}
