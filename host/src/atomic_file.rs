//! Replacing a small file: write a temp file (0600) in the same directory,
//! then rename it into place, so the file holds the old bytes or the new
//! ones, never a mix.

use std::io::Write;
use std::path::Path;

/// Whether the new bytes must survive a crash or power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync before the rename: after a crash the file holds the old bytes
    /// or the new ones.
    Durable,
    /// No fsync (it costs about a millisecond on a typical disk), and the
    /// old file is removed before the rename: ext4 flushes a file's data
    /// when a rename replaces another file (its `auto_da_alloc` safety net),
    /// which costs 0.4 ms here. Callers must hold a lock that every reader
    /// takes, so the moment without a file is never seen. A crash soon after
    /// may leave the old bytes, the new ones, no file, or an empty or
    /// zero-filled one: only for data that is void after a crash anyway.
    Volatile,
}

/// Replace `path` (in `dir`) with `bytes`, written in one call.
pub fn replace(dir: &Path, path: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    // tempfile creates the file 0600 (O_EXCL, random name).
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    match durability {
        Durability::Durable => tmp.as_file().sync_all()?,
        Durability::Volatile => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        },
    }
    // The directory is not fsynced: a rename lost to a power cut leaves the
    // previous, whole file.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What a crash during a [`Durability::Volatile`] replace can leave behind:
/// an empty file, or one whose blocks were allocated but never written.
pub fn is_crash_residue(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_whole_files_0600_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        for (bytes, durability) in [(&b"one"[..], Durability::Durable), (&b"second"[..], Durability::Volatile)] {
            replace(dir.path(), &path, bytes, durability).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn crash_residue_is_empty_or_zero_filled() {
        assert!(is_crash_residue(b""));
        assert!(is_crash_residue(&[0; 300]));
        assert!(!is_crash_residue(b"{"));
        assert!(!is_crash_residue(&[0, 0, b'{']));
    }
}
