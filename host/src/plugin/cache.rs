//! The compiled-artifact cache: each plugin is compiled once per
//! (wasm sha256, engine compatibility hash, host version) and then mapped from
//! disk with `Component::deserialize_file`.
//!
//! A compiled artifact is native code, so the cache never trusts an entry it
//! cannot verify: every `<key>.cwasm` has a `<key>.digest` (BLAKE3 of the key
//! and the artifact) written after it,
//! and an entry whose digest does not match (corrupt, truncated, swapped) is
//! recompiled. Both files are written atomically (temp file in the same dir,
//! fsync, rename) in a 0700 directory.

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
        let expected = std::fs::read_to_string(self.digest_path(key)).ok()?;
        let path = self.artifact_path(key);
        // Mapped, not read: hashing page-cache pages costs a fraction of
        // copying them into fresh memory.
        let file = std::fs::File::open(&path).ok()?;
        // SAFETY: a read-only map of a file only this host writes, and only by
        // atomic rename, so its contents do not change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        if entry_digest(key, &map) != expected.trim() {
            return None;
        }
        drop(map);
        // SAFETY: the file was written by this host (0700 dir, atomic rename)
        // and its digest matches what we recorded after writing it, so it is
        // an artifact `precompile_component` produced; entries for another
        // engine configuration are rejected by wasmtime's own header check.
        unsafe { Component::deserialize_file(engine, &path) }.ok()
    }

    /// Store a compiled artifact under `key`, and prune stale entries.
    pub fn store(&self, key: &str, artifact: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.dir, &self.artifact_path(key), artifact)?;
        write_atomic(&self.dir, &self.digest_path(key), entry_digest(key, artifact).as_bytes())?;
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
