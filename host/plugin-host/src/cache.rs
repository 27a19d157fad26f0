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
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::spec::Spec;
use crate::atomic_file;
use crate::bounded;

/// Largest digest record read: a digest, an identity and a spec.
const RECORD_CAP: u64 = 64 << 10;

/// Entries older than this are removed when a new one is written.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// A verified entry: the compiled plugin, and its spec when recorded.
pub(crate) struct Entry {
    pub component: Component,
    pub spec: Option<Spec>,
}

pub(crate) struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// Open the cache dir, creating it (0700) when missing. An existing one
    /// must be private and this user's: its artifacts are mapped as code,
    /// so a dir others can write is refused (and never chmod-ed).
    pub(crate) fn open(dir: &Path) -> Result<ArtifactCache, crate::private_dir::NotPrivate> {
        crate::private_dir::ensure(dir, "the cache dir", "--cache-dir (or ACCOUNTS_CACHE_DIR)")?;
        Ok(ArtifactCache { dir: dir.to_owned() })
    }

    /// The cache key of a plugin for this engine and host build.
    pub(crate) fn key(engine: &Engine, wasm_sha256: &str) -> String {
        let mut hasher = DigestHasher(blake3::Hasher::new_derive_key("accounts compiled-plugin cache key v2"));
        wasm_sha256.hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.finalize().to_hex().to_string()
    }

    pub(crate) fn artifact_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    fn digest_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.digest"))
    }

    /// The cached component, if a verified entry exists, and its spec when
    /// the entry recorded one.
    pub(crate) fn load(&self, engine: &Engine, key: &str) -> Option<Entry> {
        let text = bounded::read_text(&self.digest_path(key), RECORD_CAP).ok()?;
        let record = Record::parse(&text);
        let path = self.artifact_path(key);
        let file = bounded::open_regular(&path).ok()?;
        let now = Identity::of(&file.metadata().ok()?);
        if record.identity != Some(now) {
            // Mapped, not read: hashing page-cache pages costs a fraction of
            // copying them into fresh memory.
            // SAFETY: a read-only map of a file only this host writes, and
            // only by atomic rename, so its contents do not change under us.
            let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
            if entry_digest(key, &map) != record.digest {
                return None;
            }
            let _ = self.write_record(key, &Record { identity: Some(now), ..record });
        }
        // SAFETY: the file was written by this host (0700 dir, atomic rename)
        // and is unchanged since its digest was taken, so it is an artifact
        // `precompile_component` produced; entries for another engine
        // configuration are rejected by wasmtime's own header check.
        let component = unsafe { Component::deserialize_file(engine, &path) }.ok()?;
        Some(Entry { component, spec: record.spec.and_then(|line| spec_from_line(key, line)) })
    }

    /// Store a compiled artifact and its spec under `key`, and prune stale
    /// entries.
    pub(crate) fn store(&self, key: &str, artifact: &[u8], spec: &Spec) -> std::io::Result<()> {
        let path = self.artifact_path(key);
        write_atomic(&self.dir, &path, artifact)?;
        let digest = entry_digest(key, artifact);
        let spec = spec_line(key, spec);
        let identity = Identity::of(&std::fs::metadata(&path)?);
        self.write_record(key, &Record { digest: &digest, identity: Some(identity), spec: Some(&spec) })?;
        self.prune(key);
        Ok(())
    }

    /// Add the spec to an entry written without one (by an older host).
    pub(crate) fn store_spec(&self, key: &str, spec: &Spec) -> std::io::Result<()> {
        let text = bounded::read_text(&self.digest_path(key), RECORD_CAP).map_err(std::io::Error::other)?;
        let line = spec_line(key, spec);
        self.write_record(key, &Record { spec: Some(&line), ..Record::parse(&text) })
    }

    fn write_record(&self, key: &str, record: &Record<'_>) -> std::io::Result<()> {
        write_atomic(&self.dir, &self.digest_path(key), record.to_text().as_bytes())
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

/// A digest record: the artifact's digest; the file's identity when it was
/// last verified; and the plugin's spec, so a warm load need not run the
/// plugin to ask for it. A spec is a pure function of the plugin's bytes,
/// which the key covers.
#[derive(Debug, PartialEq, Eq)]
struct Record<'a> {
    digest: &'a str,
    identity: Option<Identity>,
    spec: Option<&'a str>,
}

impl<'a> Record<'a> {
    fn to_text(&self) -> String {
        let identity = self.identity.map(Identity::to_line).unwrap_or_default();
        format!("{}\n{identity}\n{}\n", self.digest, self.spec.unwrap_or_default())
    }

    /// Whatever of a record is well-formed; the rest is `None`.
    fn parse(text: &'a str) -> Record<'a> {
        let mut lines = text.lines();
        let digest = lines.next().unwrap_or("").trim();
        let identity = lines.next().and_then(Identity::parse);
        let spec = lines.next().filter(|line| !line.is_empty());
        Record { digest, identity, spec }
    }
}

/// The spec as a record line: its own digest (over the key and the JSON),
/// then the JSON. A spec names the variables a launch sets, so a damaged
/// one must never be used: it fails the digest and is asked for again.
fn spec_line(key: &str, spec: &Spec) -> String {
    let json = serde_json::to_string(spec).expect("a spec is plain data");
    format!("{} {json}", entry_digest(key, json.as_bytes()))
}

fn spec_from_line(key: &str, line: &str) -> Option<Spec> {
    let (digest, json) = line.split_once(' ')?;
    (entry_digest(key, json.as_bytes()) == digest).then(|| serde_json::from_str(json).ok())?
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_file::replace(dir, path, bytes)
}

/// Feeds `Hash` output into BLAKE3, giving a digest that is stable across
/// processes (std's `DefaultHasher` is not promised to be). BLAKE3, not
/// SHA-256: SHA-256 would probe the CPU for its instructions at every start
/// (on a VM each CPUID is a trap, about 4 µs), and the host builds BLAKE3
/// portable, with no probe (host/Cargo.toml).
struct DigestHasher(blake3::Hasher);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only the BLAKE3 digest is used")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_parts_are_none() {
        let id = Identity { dev: 2049, ino: u64::MAX, len: 1_240_032, ctime: (1_795_000_000, 5), mtime: (-1, 0) };
        let full = Record { digest: "abc", identity: Some(id), spec: Some("d {}") };
        assert_eq!(Record::parse(&full.to_text()), full);
        let bare = Record { digest: "abc", identity: None, spec: None };
        assert_eq!(Record::parse("abc\n"), bare, "a record without identity is hashed again");
        assert_eq!(Record::parse(&bare.to_text()), bare);
        assert_eq!(Record::parse("abc\n1 2 3\n"), bare);
        assert_eq!(Record::parse("abc\n1 2 3 4 5 6 x\n"), bare);
        assert_eq!(Record::parse(""), Record { digest: "", ..bare });
    }

    #[test]
    fn a_spec_line_is_used_only_when_its_digest_matches() {
        let spec = crate::spec::tests::spec();
        let line = spec_line("key", &spec);
        assert_eq!(spec_from_line("key", &line), Some(spec));
        assert_eq!(spec_from_line("other-key", &line), None, "the key is covered");
        assert_eq!(spec_from_line("key", &line.replace("K_HOME", "K_HOMF")), None, "one changed letter");
        assert_eq!(spec_from_line("key", "nonsense"), None);
    }
}
