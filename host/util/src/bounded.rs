//! Reading a file we were pointed at, safely: only a regular file, only up
//! to a size that fits its purpose. A FIFO, a device (`/dev/zero`), a
//! directory or a huge file would otherwise hang the call or read until
//! memory runs out.
//!
//! The file is opened with `O_NONBLOCK`, so opening a FIFO returns at once
//! instead of waiting for a writer, and checked with `fstat` on the open
//! descriptor (not the path), so a file swapped in between cannot slip past.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Caps for the files `accounts` reads, by purpose.
pub const ROSTER_CAP: u64 = 4 << 20;
pub const TOKEN_FILE_CAP: u64 = 64 << 10;
pub const STATE_FILE_CAP: u64 = 64 << 20;
pub const PLUGIN_CAP: u64 = 64 << 20;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    NotFound,
    /// Not a regular file: what it is instead ("a FIFO", "a directory", ...).
    NotRegular(&'static str),
    TooLarge {
        size: u64,
        cap: u64,
    },
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("no such file"),
            ReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge { size, cap } => {
                write!(f, "it is {} bytes, over the limit of {} for this file", size, human(*cap))
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound)
    }
}

/// Read all of the regular file at `path`, refusing anything else and
/// anything over `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let mut file = open_regular(path)?;
    let size = file.metadata().map_err(ReadError::Io)?.len();
    if size > cap {
        return Err(ReadError::TooLarge { size, cap });
    }
    // The file may grow after the fstat: read one byte past the cap to see.
    let mut bytes = Vec::with_capacity(size as usize);
    (&mut file).take(cap + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, cap });
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    String::from_utf8(read(path, cap)?)
        .map_err(|_| ReadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")))
}

/// Open `path` for reading if it is a regular file (following symlinks).
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32 | rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::NotFound,
            _ => ReadError::Io(e),
        })?;
    let kind = file.metadata().map_err(ReadError::Io)?.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(describe(&kind)));
    }
    Ok(file)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// `64 KiB`, `4 MiB`.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"hello");
        assert!(matches!(read(&path, 4), Err(ReadError::TooLarge { size: 5, cap: 4 })));
        assert!(read(&dir.path().join("missing"), 5).unwrap_err().is_not_found());
    }

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR, 0).unwrap();
        assert_eq!(read(&fifo, 10).unwrap_err().to_string(), "it is a FIFO, not a regular file");
        let err = read(Path::new("/dev/zero"), 10).unwrap_err().to_string();
        assert_eq!(err, "it is a character device, not a regular file");
        assert!(read(dir.path(), 10).unwrap_err().to_string().contains("a directory"));
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&link, 10).unwrap_err().to_string().contains("character device"));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(64 << 10), "64 KiB");
        assert_eq!(human(4 << 20), "4 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
