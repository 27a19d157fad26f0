//! A small file that is rewritten on every call and must survive the writer
//! being killed at any instant: two slot files written in turn, each a
//! header (generation, length, checksum) and a body. A write goes to the
//! slot that does not hold the newest copy, in place (no temp file, no
//! rename, no fsync), so the newest complete copy is never touched while
//! the next one is written. A reader takes the valid slot with the highest
//! generation; a slot that was being written when its writer died fails its
//! checksum and is passed over.
//!
//! Why in place: replacing a file by rename makes ext4 flush the new file's
//! data (its `auto_da_alloc`), about half a millisecond per launch here, and
//! removing the old file first to avoid that opens a window with no file at
//! all. A write in place, never truncating to zero, triggers neither.
//!
//! Without fsync, a power cut can leave both slots stale or torn; the data
//! kept here (leases) is void after a reboot anyway, since every holder died.

use std::io::Write as _;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bounded::{self, ReadError};

const MAGIC: &str = "accounts-slot";
/// The first byte of a copy prepared but not committed (in place of the
/// magic's first byte).
const PENDING: u8 = b'~';

/// The two slot files of one piece of data.
pub(crate) struct Slots {
    paths: [PathBuf; 2],
}

/// What a read found: the newest valid body and its slot, if any.
#[derive(Debug)]
pub(crate) struct Newest {
    pub body: Option<Vec<u8>>,
    generation: u64,
    slot: Option<usize>,
}

impl Newest {
    /// Whether no slot file exists at all (as opposed to slots that hold
    /// nothing valid).
    pub(crate) fn is_fresh(&self) -> bool {
        self.slot.is_none() && self.generation == 0
    }
}

/// A slot file that is neither valid, nor what a crash leaves behind.
#[derive(Debug)]
pub(crate) struct Corrupt {
    pub path: PathBuf,
    pub detail: String,
}

impl Slots {
    /// Slots `<dir>/<stem>.0` and `<dir>/<stem>.1`.
    pub(crate) fn new(dir: &Path, stem: &str) -> Slots {
        Slots { paths: [dir.join(format!("{stem}.0")), dir.join(format!("{stem}.1"))] }
    }

    pub(crate) fn paths(&self) -> &[PathBuf; 2] {
        &self.paths
    }

    /// The newest valid copy. Missing slots and what a killed writer leaves
    /// (a slot cut short, or one half rewritten while the other holds the
    /// newest copy) are passed over. With no valid copy at all, only a
    /// first write cut short, or files older than this boot (a power cut:
    /// the leases died with their holders), mean "nothing held"; anything
    /// else is damage that would silently free every seat, so it is an
    /// error naming the file.
    pub(crate) fn read(&self) -> Result<Newest, Corrupt> {
        let mut newest = Newest { body: None, generation: 0, slot: None };
        let mut any_file = false;
        let mut damaged: Option<Corrupt> = None;
        for (slot, path) in self.paths.iter().enumerate() {
            let bytes = match bounded::read(path, bounded::STATE_FILE_CAP) {
                Ok(bytes) => bytes,
                Err(ReadError::NotFound) => continue,
                Err(e) => return Err(Corrupt { path: path.clone(), detail: e.to_string() }),
            };
            any_file = true;
            match decode(&bytes) {
                Decoded::Valid { generation, body } if newest.slot.is_none() || generation > newest.generation => {
                    newest = Newest { body: Some(body.to_vec()), generation, slot: Some(slot) };
                }
                Decoded::Valid { .. } | Decoded::CutShort => {}
                Decoded::Damaged(detail) => {
                    if damaged.is_none() && !older_than_this_boot(path) {
                        damaged = Some(Corrupt { path: path.clone(), detail });
                    }
                }
                Decoded::Foreign(detail) => return Err(Corrupt { path: path.clone(), detail }),
            }
        }
        if any_file && newest.slot.is_none() {
            if let Some(corrupt) = damaged {
                return Err(corrupt);
            }
            // A first write cut short, or a power cut: nothing is held.
            // Generation 1 marks "not fresh".
            newest.generation = 1;
        }
        Ok(newest)
    }

    /// Write `body` as the copy after `after` (the result of the read made
    /// under the same lock), into the other slot.
    #[cfg(test)]
    pub(crate) fn write(&self, after: &Newest, body: &[u8]) -> std::io::Result<()> {
        self.prepare(after, body)?.commit()
    }

    /// Write `body` as the copy after `after` but do not make it the
    /// newest yet: every byte that needs disk space is written, with the
    /// header marked pending; [`Prepared::commit`] then rewrites one byte
    /// in place. So a full disk fails here, while the caller can still say
    /// nothing happened.
    pub(crate) fn prepare(&self, after: &Newest, body: &[u8]) -> std::io::Result<Prepared> {
        let generation = after.generation.checked_add(1).ok_or_else(|| std::io::Error::other("generation overflow"))?;
        let slot = after.slot.map_or(0, |s| 1 - s);
        let mut bytes = encode(generation, body);
        bytes[0] = PENDING;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&self.paths[slot])?;
        file.write_all_at(&bytes, 0)?;
        // A longer older copy leaves bytes past the end; the header's length
        // ignores them, and trimming never truncates to zero.
        if file.metadata()?.len() > bytes.len() as u64 {
            file.set_len(bytes.len() as u64)?;
        }
        Ok(Prepared { file })
    }
}

/// A copy written but not yet the newest (see [`Slots::prepare`]); dropped
/// without a commit, it is passed over as a write cut short.
pub(crate) struct Prepared {
    file: std::fs::File,
}

impl Prepared {
    /// Make the prepared copy the newest: its first byte, in place.
    pub(crate) fn commit(self) -> std::io::Result<()> {
        self.file.write_all_at(&MAGIC.as_bytes()[..1], 0)
    }
}

/// `accounts-slot <generation> <length> <blake3 of body>\n<body>`.
fn encode(generation: u64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 100);
    let _ = writeln!(bytes, "{MAGIC} {generation} {} {}", body.len(), blake3::hash(body).to_hex());
    bytes.extend_from_slice(body);
    bytes
}

enum Decoded<'a> {
    Valid {
        generation: u64,
        body: &'a [u8],
    },
    /// A prefix of a write: what a writer killed mid-write leaves in a
    /// slot that held nothing before.
    CutShort,
    /// Whole but wrong: a half-rewritten slot (crash residue when the other
    /// slot is valid), or damage.
    Damaged(String),
    /// Not a slot file at all.
    Foreign(String),
}

/// Generations beyond this are not ones a writer reaches (one per call).
const MAX_GENERATION: u64 = 1 << 62;

fn decode(bytes: &[u8]) -> Decoded<'_> {
    // Nothing, or a copy never committed: what a killed writer leaves.
    if bytes.is_empty() || bytes[0] == PENDING {
        return Decoded::CutShort;
    }
    if bytes.iter().all(|&b| b == 0) {
        return Decoded::Damaged("it holds only zero bytes".into());
    }
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        return cut_short_or_foreign(bytes);
    };
    let header = String::from_utf8_lossy(&bytes[..newline]);
    let fields: Vec<&str> = header.split(' ').collect();
    let [magic, generation, length, digest] = fields[..] else { return cut_short_or_foreign(bytes) };
    if magic != MAGIC {
        return cut_short_or_foreign(bytes);
    }
    let (Ok(generation), Ok(length)) = (generation.parse::<u64>(), length.parse::<usize>()) else {
        return Decoded::Damaged("its header does not parse".into());
    };
    if generation > MAX_GENERATION {
        return Decoded::Foreign(format!("its generation {generation} is out of range"));
    }
    let body = &bytes[newline + 1..];
    if body.len() < length {
        return Decoded::CutShort;
    }
    if blake3::hash(&body[..length]).to_hex().as_str() != digest {
        return Decoded::Damaged("its checksum does not match its contents".into());
    }
    Decoded::Valid { generation, body: &body[..length] }
}

/// A header cut short is a prefix of a write; anything else is not ours.
fn cut_short_or_foreign(bytes: &[u8]) -> Decoded<'_> {
    let head = &bytes[..bytes.len().min(MAGIC.len())];
    if MAGIC.as_bytes().starts_with(head) && !bytes.contains(&b'\n') {
        Decoded::CutShort
    } else {
        Decoded::Foreign("it is not a slot file written by accounts".into())
    }
}

/// Whether `path` was last written before the machine booted: leases in it
/// died with their holders.
fn older_than_this_boot(path: &Path) -> bool {
    let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) else { return false };
    let Ok(stat) = bounded::read_text(Path::new("/proc/stat"), 1 << 20) else { return false };
    let boot = stat.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok());
    boot.is_some_and(|boot| modified < std::time::UNIX_EPOCH + std::time::Duration::from_secs(boot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_alternate_and_the_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(dir.path(), "x");
        let fresh = slots.read().unwrap();
        assert!(fresh.is_fresh() && fresh.body.is_none());
        slots.write(&fresh, b"one").unwrap();
        let first = slots.read().unwrap();
        assert_eq!(first.body.as_deref(), Some(&b"one"[..]));
        slots.write(&first, b"second, longer").unwrap();
        let second = slots.read().unwrap();
        assert_eq!(second.body.as_deref(), Some(&b"second, longer"[..]));
        slots.write(&second, b"3").unwrap();
        assert_eq!(slots.read().unwrap().body.as_deref(), Some(&b"3"[..]));
        assert!(slots.paths().iter().all(|p| p.exists()));
    }

    #[test]
    fn a_write_cut_short_leaves_the_previous_copy() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(dir.path(), "x");
        slots.write(&slots.read().unwrap(), b"kept").unwrap();
        let full = encode(2, b"the next copy");
        for cut in 0..full.len() {
            std::fs::write(&slots.paths()[1], &full[..cut]).unwrap();
            assert_eq!(slots.read().unwrap().body.as_deref(), Some(&b"kept"[..]), "cut at {cut}");
        }
        // Trailing bytes of an older, longer copy are ignored.
        let mut longer = full.clone();
        longer.extend_from_slice(b"stale tail");
        std::fs::write(&slots.paths()[1], &longer).unwrap();
        assert_eq!(slots.read().unwrap().body.as_deref(), Some(&b"the next copy"[..]));
    }

    #[test]
    fn a_first_write_cut_short_holds_nothing_and_foreign_files_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(dir.path(), "x");
        let full = encode(1, b"the first copy");
        for cut in 0..full.len() {
            std::fs::write(&slots.paths()[0], &full[..cut]).unwrap();
            let read = slots.read().unwrap();
            assert!(read.body.is_none() && !read.is_fresh(), "cut at {cut}");
        }
        std::fs::write(&slots.paths()[1], b"{\"version\": 2}").unwrap();
        let err = slots.read().unwrap_err();
        assert_eq!(err.path, slots.paths()[1]);
    }

    #[test]
    fn damage_with_no_valid_copy_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(dir.path(), "x");
        let good = encode(7, b"leases");
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        for (bad, detail) in [(flipped, "checksum"), (vec![0u8; good.len()], "zero bytes")] {
            std::fs::write(&slots.paths()[0], &bad).unwrap();
            let err = slots.read().unwrap_err();
            assert_eq!(err.path, slots.paths()[0]);
            assert!(err.detail.contains(detail), "{}", err.detail);
        }
        // Beside a valid copy, a half-rewritten slot is what a killed writer
        // leaves: passed over.
        std::fs::write(&slots.paths()[1], &good).unwrap();
        assert_eq!(slots.read().unwrap().body.as_deref(), Some(&b"leases"[..]));
    }

    #[test]
    fn a_generation_out_of_range_is_refused_not_overflowed() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(dir.path(), "x");
        std::fs::write(&slots.paths()[0], encode(u64::MAX, b"x")).unwrap();
        assert!(slots.read().unwrap_err().detail.contains("out of range"));
        let at_max = Newest { body: None, generation: u64::MAX, slot: Some(0) };
        assert!(slots.write(&at_max, b"y").is_err());
    }

    #[test]
    fn a_prepared_copy_counts_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(dir.path(), "x");
        // The first copy ever, prepared and dropped: nothing is held.
        drop(slots.prepare(&slots.read().unwrap(), b"never told").unwrap());
        let read = slots.read().unwrap();
        assert!(read.body.is_none() && !read.is_fresh());
        slots.write(&read, b"kept").unwrap();
        let kept = slots.read().unwrap();
        let prepared = slots.prepare(&kept, b"next").unwrap();
        assert_eq!(slots.read().unwrap().body.as_deref(), Some(&b"kept"[..]), "not yet committed");
        prepared.commit().unwrap();
        assert_eq!(slots.read().unwrap().body.as_deref(), Some(&b"next"[..]));
    }
}
