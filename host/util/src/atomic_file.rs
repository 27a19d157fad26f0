//! Replacing a small file: write a temp file (0600, random name) in the same
//! directory, fsync it, then rename it into place, so the file holds the old
//! bytes or the new ones, never a mix. For files written without a lock
//! (the compiled-plugin cache); the state has its own writers.

use std::io::Write;
use std::path::Path;

/// Replace `path` (in `dir`) with `bytes`, written in one call.
pub fn replace(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // tempfile creates the file 0600 (O_EXCL, random name).
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // The directory is not fsynced: a rename lost to a power cut leaves the
    // previous, whole file.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_whole_files_0600_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        for bytes in [&b"one"[..], &b"second"[..]] {
            replace(dir.path(), &path, bytes).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
