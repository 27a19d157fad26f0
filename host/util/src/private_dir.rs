//! The one rule for the directories `accounts` keeps its own files in (the
//! state dir, the compiled-plugin cache): created private (0700) when
//! missing, and an existing one is used only when it already is private and
//! this user's. An existing directory is never changed: `--state-dir /tmp`
//! or `ACCOUNTS_STATE_DIR=~` must not chmod a directory other people rely
//! on; it is refused with the fix instead.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Why a directory cannot be used, worded for the user.
#[derive(Debug)]
pub struct NotPrivate(pub String);

impl std::fmt::Display for NotPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotPrivate {}

/// Make sure `dir` is a private directory of this user. `what` names it
/// ("the state dir") and `elsewhere` says how to pick another
/// ("--state-dir DIR").
pub fn ensure(dir: &Path, what: &str, elsewhere: &str) -> Result<(), NotPrivate> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(dir, what),
        Err(e) => Err(NotPrivate(format!("cannot use {what} {}: {e}", dir.display()))),
        Ok(_) => check(dir, what, elsewhere),
    }
}

/// Create `dir` and its missing parents, each 0700 whatever the umask (a
/// parent that exists is left as it is).
fn create(dir: &Path, what: &str) -> Result<(), NotPrivate> {
    let cannot = |e: std::io::Error| NotPrivate(format!("cannot create {what} {}: {e}", dir.display()));
    let mut missing = vec![dir];
    let mut parent = dir.parent();
    while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_err()) {
        missing.push(p);
        parent = p.parent();
    }
    for path in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            // Created by us: ours to make private, whatever the umask.
            Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(cannot)?,
            // Another process made it first: it must pass the same check.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cannot(e)),
        }
    }
    check(dir, what, "another path")
}

/// An existing `dir` (followed through symlinks) is a directory of this
/// user's with no permission for anyone else.
fn check(dir: &Path, what: &str, elsewhere: &str) -> Result<(), NotPrivate> {
    let meta = std::fs::metadata(dir).map_err(|e| NotPrivate(format!("cannot use {what} {}: {e}", dir.display())))?;
    let shown = dir.display();
    if !meta.is_dir() {
        return Err(NotPrivate(format!("{what} {shown} is not a directory; point {elsewhere} at a directory")));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(NotPrivate(format!(
            "{what} {shown} belongs to uid {}, not to this user (uid {me}); files written here would be ones its \
             owner cannot read. Run accounts as that user, or give this user its own {elsewhere}",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(NotPrivate(format!(
            "{what} {shown} is open to other users (mode {mode:o}); accounts keeps its files only in a private \
             directory and will not change one it did not create. If it is yours alone, run `chmod 700 {shown}`; \
             otherwise point {elsewhere} at a directory of its own"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_missing_dir_and_its_parents_are_created_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/c");
        ensure(&dir, "the state dir", "--state-dir DIR").unwrap();
        for p in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&root.path().join(p)), 0o700, "{p}");
        }
        ensure(&dir, "the state dir", "--state-dir DIR").unwrap();
    }

    #[test]
    fn an_existing_open_dir_is_refused_and_left_as_it_was() {
        let root = tempfile::tempdir().unwrap();
        for open in [0o1777, 0o755, 0o710] {
            std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(open)).unwrap();
            let e = ensure(root.path(), "the state dir", "--state-dir DIR").unwrap_err().to_string();
            assert!(
                e.contains(&format!("mode {open:o}")) && e.contains("chmod 700") && e.contains("--state-dir"),
                "{e}"
            );
            assert_eq!(mode(root.path()), open, "left as it was");
        }
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        ensure(root.path(), "the state dir", "--state-dir DIR").unwrap();
    }

    #[test]
    fn a_file_is_not_a_dir() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, "").unwrap();
        let e = ensure(&file, "the cache dir", "--cache-dir DIR").unwrap_err().to_string();
        assert!(e.contains("is not a directory"), "{e}");
    }
}
