//! Did a login write anything? The regular files of a config dir before and
//! after, compared by size, modification time and inode (what `make` and
//! `rsync` trust). Symlinks are not followed or counted: a login that only
//! points a link at another account's credentials has not logged in, and
//! following one would read another account's dir.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bounds, so a config dir the size of a home dir cannot stall a login.
const MAX_DEPTH: usize = 12;
const MAX_FILES: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

/// The regular files under a dir, relative to it.
#[derive(Debug, Default)]
pub struct Snapshot {
    files: BTreeMap<PathBuf, Stamp>,
}

impl Snapshot {
    /// Snapshot `dir`, leaving out `ignore` (files the host itself writes
    /// there, such as a stored token). A missing dir is empty.
    pub fn take(dir: &Path, ignore: &[PathBuf]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        walk(dir, Path::new(""), 0, ignore, &mut snapshot.files);
        snapshot
    }

    /// Files new or changed in `after`, relative to the dir.
    pub fn changed(&self, after: &Snapshot) -> Vec<PathBuf> {
        after
            .files
            .iter()
            .filter(|(path, stamp)| self.files.get(*path) != Some(stamp))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

fn walk(dir: &Path, rel: &Path, depth: usize, ignore: &[PathBuf], files: &mut BTreeMap<PathBuf, Stamp>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if files.len() >= MAX_FILES {
            return;
        }
        let path = entry.path();
        let rel = rel.join(entry.file_name());
        // DirEntry::metadata does not follow symlinks.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() && depth < MAX_DEPTH {
            walk(&path, &rel, depth + 1, ignore, files);
        } else if meta.is_file() && !ignore.contains(&path) {
            let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
            files.insert(rel, Stamp { len: meta.len(), mtime_ns, ino: meta.ino() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_changed_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("old"), "1").unwrap();
        std::fs::write(d.join("sub/same"), "x").unwrap();
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        let token = d.join(".token");
        let before = Snapshot::take(d, std::slice::from_ref(&token));

        std::fs::write(d.join("old"), "22").unwrap();
        std::fs::write(d.join("sub/new"), "n").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.join("link")).unwrap();
        std::fs::write(&token, "t").unwrap();
        let after = Snapshot::take(d, &[token]);
        assert_eq!(before.changed(&after), vec![PathBuf::from("old"), PathBuf::from("sub/new")]);
        assert!(after.changed(&Snapshot::take(d, &[d.join(".token")])).is_empty());
    }

    #[test]
    fn a_replaced_file_counts_even_with_the_same_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("creds");
        std::fs::write(&f, "aaaa").unwrap();
        let before = Snapshot::take(dir.path(), &[]);
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, "bbbb").unwrap();
        std::fs::File::options().write(true).open(&tmp).unwrap().set_modified(mtime).unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        assert_eq!(before.changed(&Snapshot::take(dir.path(), &[])), vec![PathBuf::from("creds")]);
    }
}
