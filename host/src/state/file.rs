//! The local state backend, in a 0700 directory:
//! - `state.json`: walls, which must survive a crash (a weekly limit can last
//!   days). Replaced with fsync, and only when the walls change.
//! - `leases.json`: leases and last-lease times. Every launch changes it, and
//!   a crash voids it anyway (every holder is gone after a reboot; a lease of
//!   a process that died is dropped at the next call), so it is replaced
//!   without an fsync and without ext4's flush on rename (see
//!   [`Durability::Volatile`]): about 1.4 ms less per launch on this disk.
//!   What a crash can leave of it (no file, an empty or zero-filled one)
//!   reads as no leases.
//! - `state.lock`: every change takes an exclusive `flock` on it (std's
//!   `File::lock`; the kernel drops it when a holder dies, even by SIGKILL),
//!   reads both files, edits, and replaces what changed (temp file, rename),
//!   so a reader, always under the lock, sees whole files. Locking a separate
//!   file, never a data file, keeps the lock valid across the renames.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StateStore;
use super::model::{Lease, State, WallRecord};
use crate::atomic_file::{self, Durability};
use crate::error::{Error, Result};

const STATE_FILE: &str = "state.json";
const LEASES_FILE: &str = "leases.json";
const LOCK_FILE: &str = "state.lock";

/// The format version of both files. Version 1 kept everything in
/// `state.json`; it is still read, and its leases move to `leases.json` at
/// the next change.
const FORMAT: u32 = 2;
const FORMAT_WITH_LEASES_IN_STATE: u32 = 1;

/// `state.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    walls: Vec<WallRecord>,
    // Format 1 only.
    #[serde(default, skip_serializing)]
    leases: Vec<Lease>,
    #[serde(default, skip_serializing)]
    last_leased: BTreeMap<String, i64>,
}

/// `leases.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeasesFile {
    version: u32,
    #[serde(default)]
    leases: Vec<Lease>,
    #[serde(default)]
    last_leased: BTreeMap<String, i64>,
}

/// The state as read, and whether `state.json` is in the old format (so
/// the next change rewrites it without its leases).
struct Loaded {
    state: State,
    old_format: bool,
}

pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Open the store in `dir`, creating it (0700) when missing and
    /// tightening its mode when it is looser.
    pub fn open(dir: &Path) -> Result<FileStore> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the state dir {}", dir.display()))?;
        let meta = std::fs::metadata(dir).with_context(|| format!("cannot read the state dir {}", dir.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make the state dir {} private (0700)", dir.display()))?;
        }
        Ok(FileStore { dir: dir.to_owned() })
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn leases_path(&self) -> PathBuf {
        self.dir.join(LEASES_FILE)
    }

    fn lock(&self) -> Result<File> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(file)
    }

    fn read(&self) -> Result<Loaded> {
        let state_file: Option<StateFile> =
            read_json(&self.state_path(), |f: &StateFile| f.version, &[FORMAT_WITH_LEASES_IN_STATE, FORMAT])?;
        let leases_file: Option<LeasesFile> = read_json(&self.leases_path(), |f: &LeasesFile| f.version, &[FORMAT])?;
        let old_format = state_file.as_ref().is_some_and(|f| f.version == FORMAT_WITH_LEASES_IN_STATE);
        let (walls, old_leases, old_last_leased) = match state_file {
            Some(f) => (f.walls, f.leases, f.last_leased),
            None => Default::default(),
        };
        // A leases file beside an old-format state file is newer than the
        // leases inside it: a migration was cut short between the writes.
        let (leases, last_leased) = match leases_file {
            Some(f) => (f.leases, f.last_leased),
            None => (old_leases, old_last_leased),
        };
        Ok(Loaded { state: State { leases, walls, last_leased }, old_format })
    }

    fn write(&self, state: &State, before: &Loaded) -> Result<()> {
        let leases_changed = state.leases != before.state.leases || state.last_leased != before.state.last_leased;
        if leases_changed || before.old_format {
            let file =
                LeasesFile { version: FORMAT, leases: state.leases.clone(), last_leased: state.last_leased.clone() };
            self.replace(&self.leases_path(), &file, Durability::Volatile)?;
        }
        if state.walls != before.state.walls || before.old_format {
            let file = StateFile {
                version: FORMAT,
                walls: state.walls.clone(),
                leases: Vec::new(),
                last_leased: BTreeMap::new(),
            };
            self.replace(&self.state_path(), &file, Durability::Durable)?;
        }
        Ok(())
    }

    fn replace(&self, path: &Path, value: &impl Serialize, durability: Durability) -> Result<()> {
        // Rendered in memory first: one write call, not one per JSON token.
        let mut bytes = serde_json::to_vec_pretty(value).context("cannot encode the state")?;
        bytes.push(b'\n');
        atomic_file::replace(&self.dir, path, &bytes, durability)
            .with_context(|| format!("cannot write the state file {}", path.display()))?;
        Ok(())
    }
}

impl StateStore for FileStore {
    fn update<R>(&self, change: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
        let _lock = self.lock()?;
        let before = self.read()?;
        let mut state = before.state.clone();
        let result = change(&mut state)?;
        self.write(&state, &before)?;
        Ok(result)
    }
}

/// Read and parse one state file; `None` when it does not exist, or when it
/// holds only what a crash during a volatile write leaves. A format version
/// not in `known` is an error.
fn read_json<T: DeserializeOwned>(path: &Path, version: fn(&T) -> u32, known: &[u32]) -> Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("cannot read the state file {}: {e}", path.display()).into()),
    };
    if path.ends_with(LEASES_FILE) && atomic_file::is_crash_residue(&bytes) {
        return Ok(None);
    }
    let value: T = serde_json::from_slice(&bytes).map_err(|e| corrupt(path, &e.to_string()))?;
    let found = version(&value);
    if !known.contains(&found) {
        let known: Vec<String> = known.iter().map(u32::to_string).collect();
        return Err(corrupt(
            path,
            &format!(
                "it has format version {found}; this accounts reads version{} {}",
                if known.len() > 1 { "s" } else { "" },
                known.join(" and ")
            ),
        ));
    }
    Ok(Some(value))
}

fn corrupt(path: &Path, detail: &str) -> Error {
    Error::Other(anyhow::anyhow!(
        "the state file {} is corrupt ({detail}); it was left untouched. To recover, move it aside \
         (mv {0} {0}.bad): leases and walls then start empty, and running workers re-lease on their next launch",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::holder::Holder;

    fn lease(worker: &str) -> Lease {
        Lease {
            account: "a".into(),
            worker: worker.into(),
            host: "h".into(),
            holder: Holder { pid: 1, start: Some(1) },
            acquired_at: 5,
            expires_at: 9,
        }
    }

    fn wall() -> WallRecord {
        WallRecord { account: "a".into(), until: 50, since: 5, reason: None }
    }

    fn edit(store: &FileStore, change: impl FnOnce(&mut State)) {
        store
            .update(|s| {
                change(s);
                Ok(())
            })
            .unwrap();
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn round_trip_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("s");
        let store = FileStore::open(&state_dir).unwrap();
        store
            .update(|s| {
                s.put_lease(lease("w"));
                s.put_wall(wall());
                Ok(())
            })
            .unwrap();
        assert_eq!(mode(&state_dir), 0o700);
        for file in [store.state_path(), store.leases_path(), state_dir.join(LOCK_FILE)] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        let seen = store.update(|s| Ok(s.clone())).unwrap();
        assert_eq!(seen.leases, [lease("w")]);
        assert_eq!(seen.walls, [wall()]);
        assert_eq!(seen.last_leased["a"], 5);
    }

    #[test]
    fn a_lease_change_leaves_the_walls_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        edit(&store, |s| s.put_wall(wall()));
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let walls_file = inode(&store.state_path());
        edit(&store, |s| s.put_lease(lease("w")));
        assert_eq!(inode(&store.state_path()), walls_file, "state.json was replaced for a lease");
        let leases_file = inode(&store.leases_path());
        edit(&store, |s| s.put_wall(WallRecord { until: 60, ..wall() }));
        assert_eq!(inode(&store.leases_path()), leases_file, "leases.json was replaced for a wall");
        assert_ne!(inode(&store.state_path()), walls_file);
    }

    #[test]
    fn format_1_is_read_and_its_leases_move_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let old = serde_json::json!({
            "version": 1, "leases": [lease("w")], "walls": [wall()], "last_leased": {"a": 5}
        });
        std::fs::write(store.state_path(), old.to_string()).unwrap();
        let seen = store.update(|s| Ok(s.clone())).unwrap();
        assert_eq!((seen.leases, seen.walls), (vec![lease("w")], vec![wall()]));
        let state: serde_json::Value = serde_json::from_slice(&std::fs::read(store.state_path()).unwrap()).unwrap();
        assert_eq!(state, serde_json::json!({"version": 2, "walls": [wall()]}));
        let leases: serde_json::Value = serde_json::from_slice(&std::fs::read(store.leases_path()).unwrap()).unwrap();
        assert_eq!(leases, serde_json::json!({"version": 2, "leases": [lease("w")], "last_leased": {"a": 5}}));
    }

    #[test]
    fn what_a_crash_leaves_of_the_leases_file_reads_as_no_leases() {
        for residue in [&b""[..], &[0u8; 512][..]] {
            let dir = tempfile::tempdir().unwrap();
            let store = FileStore::open(dir.path()).unwrap();
            edit(&store, |s| s.put_wall(wall()));
            std::fs::write(store.leases_path(), residue).unwrap();
            let seen = store.update(|s| Ok(s.clone())).unwrap();
            assert!(seen.leases.is_empty());
            assert_eq!(seen.walls, [wall()], "walls are kept");
        }
    }

    #[test]
    fn corrupt_or_unknown_files_are_errors_and_left_alone() {
        let cases: [(&str, &[u8], &str); 4] = [
            (STATE_FILE, b"{ not json", "is corrupt"),
            (LEASES_FILE, b"{\"version\":2,\"leases\":[", "is corrupt"),
            (STATE_FILE, b"{\"version\":3}", "format version 3; this accounts reads versions 1 and 2"),
            (LEASES_FILE, b"{\"version\":1}", "format version 1; this accounts reads version 2"),
        ];
        for (file, bytes, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let store = FileStore::open(dir.path()).unwrap();
            let path = dir.path().join(file);
            std::fs::write(&path, bytes).unwrap();
            let err = store.update(|s| Ok(s.walls.pop())).unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains(&path.display().to_string()) && err.contains("mv "),
                "{err}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }

    #[test]
    fn failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let r: Result<()> = store.update(|s| {
            s.put_lease(lease("w"));
            Err(crate::error::usage("no"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the lock file");
    }
}
