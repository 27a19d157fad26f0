//! The compiled-artifact cache: each plugin is compiled once per
//! (wasm sha256, engine compatibility hash, host version) and then mapped from
//! disk with `Component::deserialize_file`.
//!
//! A compiled artifact is native code, so the cache never trusts an entry it
//! cannot verify. Every `<key>.cwasm` has a `<key>.digest` written after it,
//! holding the BLAKE3 of the key and the artifact, and the identity of the
//! file as written (device, inode, size, change and modify times). Any write,
//! truncation, `touch` or replacement of the file changes its identity (the
//! kernel sets the change time; no call sets it back), so:
//! - identity unchanged: the bytes are the ones hashed when written, and the
//!   warm path skips hashing a megabyte of artifact on every call;
//! - identity changed: the artifact is hashed again; a match (a copied or
//!   restored cache) records the new identity, a mismatch (corrupt,
//!   truncated, swapped) means the plugin is compiled again.
//!
//! Both files are written atomically (temp file in the same dir, fsync,
//! rename) in a 0700 directory.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Entries older than this are removed when a new one is written.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// Open (and create, 0700) the cache dir.
    pub fn open(dir: &Path) -> std::io::Result<ArtifactCache> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(ArtifactCache { dir: dir.to_owned() })
    }

    /// The cache key of a plugin for this engine and host build.
    pub fn key(engine: &Engine, wasm_sha256: &str) -> String {
        let mut hasher = DigestHasher(Sha256::new());
        "accounts-artifact-v1".hash(&mut hasher);
        wasm_sha256.hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn artifact_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    fn digest_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.digest"))
    }

    /// The cached component, if a verified entry exists.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let record = std::fs::read_to_string(self.digest_path(key)).ok()?;
        let (expected, identity) = parse_record(&record);
        let path = self.artifact_path(key);
        let file = std::fs::File::open(&path).ok()?;
        let now = Identity::of(&file.metadata().ok()?);
        if identity != Some(now) {
            // Mapped, not read: hashing page-cache pages costs a fraction of
            // copying them into fresh memory.
            // SAFETY: a read-only map of a file only this host writes, and
            // only by atomic rename, so its contents do not change under us.
            let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
            if entry_digest(key, &map) != expected {
                return None;
            }
            let _ = write_atomic(&self.dir, &self.digest_path(key), record_text(expected, now).as_bytes());
        }
        // SAFETY: the file was written by this host (0700 dir, atomic rename)
        // and is unchanged since its digest was taken, so it is an artifact
        // `precompile_component` produced; entries for another engine
        // configuration are rejected by wasmtime's own header check.
        unsafe { Component::deserialize_file(engine, &path) }.ok()
    }

    /// Store a compiled artifact under `key`, and prune stale entries.
    pub fn store(&self, key: &str, artifact: &[u8]) -> std::io::Result<()> {
        let path = self.artifact_path(key);
        write_atomic(&self.dir, &path, artifact)?;
        let identity = Identity::of(&std::fs::metadata(&path)?);
        write_atomic(
            &self.dir,
            &self.digest_path(key),
            record_text(&entry_digest(key, artifact), identity).as_bytes(),
        )?;
        self.prune(key);
        Ok(())
    }

    /// Every plugin or host upgrade leaves entries nobody will load again.
    /// After a compile (rare, never on the warm path) remove entries last
    /// written more than [`STALE_AFTER`] ago; one still in use is simply
    /// compiled again.
    fn prune(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let now = std::time::SystemTime::now();
        for entry in entries.flatten() {
            let path = entry.path();
            let is_entry = path.extension().is_some_and(|e| e == "cwasm" || e == "digest");
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
            if is_entry && stale && path.file_stem().is_some_and(|s| s != keep) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// The digest recorded beside an artifact. It covers the key too, so an
/// entry copied under another key (another plugin, another host version)
/// does not verify.
fn entry_digest(key: &str, artifact: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("accounts compiled-plugin cache v1");
    hasher.update(key.as_bytes());
    hasher.update(&[0]);
    hasher.update(artifact);
    hasher.finalize().to_hex().to_string()
}

/// Which file, in which state: what any change to the file would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    ctime: (i64, i64),
    mtime: (i64, i64),
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    fn to_line(self) -> String {
        let Identity { dev, ino, len, ctime, mtime } = self;
        format!("{dev} {ino} {len} {} {} {} {}", ctime.0, ctime.1, mtime.0, mtime.1)
    }

    fn parse(line: &str) -> Option<Identity> {
        let fields: Vec<&str> = line.split(' ').collect();
        let [dev, ino, len, c0, c1, m0, m1] = fields[..] else { return None };
        let (u, i) = (|f: &str| f.parse::<u64>().ok(), |f: &str| f.parse::<i64>().ok());
        Some(Identity { dev: u(dev)?, ino: u(ino)?, len: u(len)?, ctime: (i(c0)?, i(c1)?), mtime: (i(m0)?, i(m1)?) })
    }
}

/// A digest record: the artifact's digest, then the file's identity.
fn record_text(digest: &str, identity: Identity) -> String {
    format!("{digest}\n{}\n", identity.to_line())
}

/// The digest and (when present and well-formed) the identity in a record.
fn parse_record(record: &str) -> (&str, Option<Identity>) {
    let mut lines = record.lines();
    let digest = lines.next().unwrap_or("").trim();
    (digest, lines.next().and_then(Identity::parse))
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Feeds `Hash` output into sha256, giving a digest that is stable across
/// processes (std's `DefaultHasher` is not promised to be).
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only the sha256 digest is used")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_have_no_identity() {
        let id = Identity { dev: 2049, ino: u64::MAX, len: 1_240_032, ctime: (1_795_000_000, 5), mtime: (-1, 0) };
        assert_eq!(parse_record(&record_text("abc", id)), ("abc", Some(id)));
        assert_eq!(parse_record("abc\n"), ("abc", None), "a record without identity is hashed again");
        assert_eq!(parse_record("abc\n1 2 3\n"), ("abc", None));
        assert_eq!(parse_record("abc\n1 2 3 4 5 6 x\n"), ("abc", None));
        assert_eq!(parse_record(""), ("", None));
    }
}
