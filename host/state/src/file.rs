//! The local state backend, in a 0700 directory:
//! - `state.json`: walls, which must survive a crash (a weekly limit can last
//!   days), with the usage readings and logins the agents reported. Replaced
//!   with fsync (temp file, rename), and only when one of those changes.
//! - `leases.0` / `leases.1`: leases and last-lease times, which every
//!   launch changes. Written in turn, in place, with a checksum and no fsync
//!   (see [`Slots`]): a writer killed at any instant leaves the previous
//!   copy whole, and a launch pays neither an fsync nor ext4's flush on a
//!   replacing rename. After a power cut the leases are void anyway (every
//!   holder died), so what a power cut leaves of them reads as no leases.
//! - `leases.json`: where format 2 kept the leases. It is read until the
//!   first write, then replaced by a marker of format 3, so an older
//!   `accounts` refuses this state dir instead of missing every lease.
//!
//! Every read and change holds an exclusive `flock` on the state directory
//! itself (the kernel drops it when a holder dies, even by SIGKILL). A lock
//! file could be deleted while held, letting a second writer lock a new one;
//! a directory that still holds the state cannot be removed from under us.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::StateStore;
use super::StoreError;
use super::model::{IdentityRecord, Lease, State, UsageRecord, WallRecord};
use super::slots::{Newest, Slots};
use crate::bounded::{self, ReadError};

type Result<T, E = StoreError> = std::result::Result<T, E>;

const STATE_FILE: &str = "state.json";
/// The one temp file: durable writes happen under the lock, so one name
/// serves, and a copy left by a killed writer is replaced by the next.
const STATE_TEMP: &str = "state.json.tmp";
const LEASES_STEM: &str = "leases";
const OLD_LEASES_FILE: &str = "leases.json";

/// Format 3: leases in slots. Format 2 kept them in `leases.json`, format 1
/// inside `state.json`; both are still read.
const FORMAT: u32 = 3;
/// Format 4 of `state.json` adds usage readings and logins (the lease
/// slots stay at 3): an older `accounts` refuses it rather than drop them.
const STATE_FORMAT: u32 = 4;
const FORMAT_LEASES_FILE: u32 = 2;
const FORMAT_WITH_LEASES_IN_STATE: u32 = 1;

/// `state.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    walls: Vec<WallRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    usage: Vec<UsageRecord>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    identities: BTreeMap<String, IdentityRecord>,
    // Format 1 only.
    #[serde(default, skip_serializing)]
    leases: Vec<Lease>,
    #[serde(default, skip_serializing)]
    last_leased: BTreeMap<String, i64>,
}

/// The body of a lease slot, and format 2's `leases.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeasesFile {
    version: u32,
    #[serde(default)]
    leases: Vec<Lease>,
    #[serde(default)]
    last_leased: BTreeMap<String, i64>,
}

/// The state as read, and what the next write must also do.
struct Loaded {
    state: State,
    /// The lease slots as read, to write the next copy after them.
    slots: Newest,
    /// `state.json` is format 1 or 2: rewrite it as format 3.
    old_state_file: bool,
}

pub struct FileStore {
    dir: PathBuf,
    slots: Slots,
}

impl FileStore {
    /// Open the store in `dir`, creating it (0700) when missing. An
    /// existing dir must already be private and this user's
    /// (`private_dir`): it is never chmod-ed, since it may be one other
    /// people rely on (`--state-dir /tmp`).
    pub fn open(dir: &Path) -> Result<FileStore> {
        crate::private_dir::ensure(dir, "the state dir", "--state-dir (or ACCOUNTS_STATE_DIR)")
            .map_err(|e| StoreError::Failed(anyhow::Error::new(e)))?;
        Ok(FileStore { dir: dir.to_owned(), slots: Slots::new(dir, LEASES_STEM) })
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Lock the state dir. Files are then read and written by path, so the
    /// locked dir must still be the one at the path: a dir replaced while
    /// we waited (moved aside, made anew) is locked again at its new self,
    /// or a waiter would hold the old one's lock and write the new one's
    /// files beside a holder of the new lock.
    fn lock(&self) -> Result<File> {
        use std::os::unix::fs::MetadataExt;
        let identity = |m: &std::fs::Metadata| (m.dev(), m.ino());
        for _ in 0..8 {
            let dir =
                File::open(&self.dir).with_context(|| format!("cannot open the state dir {}", self.dir.display()))?;
            super::lock_wait::lock(&dir, &self.dir).map_err(|e| StoreError::Failed(anyhow::anyhow!(e)))?;
            let locked = dir.metadata().with_context(|| format!("cannot read the state dir {}", self.dir.display()))?;
            match std::fs::metadata(&self.dir) {
                Ok(now) if identity(&now) == identity(&locked) => return Ok(dir),
                // Replaced (or gone) meanwhile: start again at the path.
                _ => continue,
            }
        }
        Err(StoreError::Failed(anyhow::anyhow!(
            "the state dir {} keeps being replaced while accounts locks it; stop whatever is moving it",
            self.dir.display()
        )))
    }

    fn read(&self) -> Result<Loaded> {
        let state_file: Option<StateFile> = read_json(
            &self.state_path(),
            |f: &StateFile| f.version,
            &[FORMAT_WITH_LEASES_IN_STATE, FORMAT_LEASES_FILE, FORMAT, STATE_FORMAT],
        )?;
        let slots = self.slots.read().map_err(|c| corrupt(&c.path, &c.detail))?;
        let old_state_file = state_file.as_ref().is_some_and(|f| f.version < FORMAT);
        let (walls, usage, identities, format_1_leases, format_1_last_leased) = match state_file {
            Some(f) => (f.walls, f.usage, f.identities, f.leases, f.last_leased),
            None => Default::default(),
        };
        let leases_file: Option<LeasesFile> = match &slots.body {
            Some(body) => Some(parse_leases(self.slots.paths()[0].as_path(), body)?),
            // Until the first slot is written, the leases are where an older
            // format kept them.
            None if slots.is_fresh() => {
                read_json(&self.dir.join(OLD_LEASES_FILE), |f: &LeasesFile| f.version, &[FORMAT_LEASES_FILE, FORMAT])?
                    .filter(|f| f.version == FORMAT_LEASES_FILE)
            }
            None => None,
        };
        let (leases, last_leased) = match leases_file {
            Some(f) => (f.leases, f.last_leased),
            None => (format_1_leases, format_1_last_leased),
        };
        Ok(Loaded { state: State { leases, walls, last_leased, usage, identities }, slots, old_state_file })
    }

    /// Write what changed from `before` to `state`, all of it needing disk
    /// space, without making it current yet; see [`Prepared`].
    fn prepare(&self, state: &State, before: &Loaded) -> Result<Prepared> {
        let leases_changed = state.leases != before.state.leases || state.last_leased != before.state.last_leased;
        let mut prepared = Prepared { leases: None, walls: None, mark_old_leases_file: false };
        if leases_changed || before.slots.is_fresh() && before.old_state_file {
            let file =
                LeasesFile { version: FORMAT, leases: state.leases.clone(), last_leased: state.last_leased.clone() };
            let slot = self
                .slots
                .prepare(&before.slots, &encode(&file)?)
                .with_context(|| format!("cannot write the lease file {}", self.slots.paths()[0].display()))?;
            prepared.leases = Some(slot);
            prepared.mark_old_leases_file = before.slots.is_fresh();
        }
        let durable_changed = state.walls != before.state.walls
            || state.usage != before.state.usage
            || state.identities != before.state.identities;
        if durable_changed || before.old_state_file {
            let file = StateFile {
                version: STATE_FORMAT,
                walls: state.walls.clone(),
                usage: state.usage.clone(),
                identities: state.identities.clone(),
                leases: Vec::new(),
                last_leased: BTreeMap::new(),
            };
            let path = self.state_path();
            self.write_temp(&path, &encode(&file)?)?;
            prepared.walls = Some(path);
        }
        Ok(prepared)
    }

    /// Make a prepared write current: the walls file renamed into place
    /// (durable), then the lease copy's one byte.
    fn commit(&self, prepared: Prepared) -> Result<()> {
        if let Some(path) = &prepared.walls {
            std::fs::rename(self.dir.join(STATE_TEMP), path)
                .with_context(|| format!("cannot write the state file {}", path.display()))?;
            self.remove_old_temp_files();
        }
        if let Some(slot) = prepared.leases {
            slot.commit()
                .with_context(|| format!("cannot write the lease file {}", self.slots.paths()[0].display()))?;
        }
        if prepared.mark_old_leases_file {
            self.mark_old_leases_file()?;
        }
        Ok(())
    }

    /// Replace `leases.json` with a format-3 marker: an older `accounts`
    /// reading it refuses the state dir by its version.
    fn mark_old_leases_file(&self) -> Result<()> {
        let marker = serde_json::json!({
            "version": FORMAT,
            "note": "the leases are in leases.0 and leases.1; this accounts is newer than the one reading this file"
        });
        let mut bytes = marker.to_string().into_bytes();
        bytes.push(b'\n');
        self.replace_durably(&self.dir.join(OLD_LEASES_FILE), &bytes)
    }

    /// Write `bytes` to the temp file, fsync, rename over `path`.
    fn replace_durably(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.write_temp(path, bytes)?;
        std::fs::rename(self.dir.join(STATE_TEMP), path)
            .with_context(|| format!("cannot write the state file {}", path.display()))?;
        self.remove_old_temp_files();
        Ok(())
    }

    /// Write `bytes` to the temp file that will replace `path`, and fsync
    /// it. Under the lock, so the one temp name is never used by two
    /// writers at once.
    fn write_temp(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let temp = self.dir.join(STATE_TEMP);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        write().with_context(|| format!("cannot write the state file {}", path.display()))?;
        Ok(())
    }

    /// The temp file a writer killed mid-write left (one unlink, done at
    /// every change).
    fn remove_stale_temp_file(&self) {
        let _ = std::fs::remove_file(self.dir.join(STATE_TEMP));
    }

    /// Temp files of earlier versions (`.tmp-<random>`), looked for only
    /// when the walls are written: rare, so the directory scan costs no
    /// launch anything.
    fn remove_old_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.starts_with(".tmp-")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A change written but not yet current: a lease copy marked pending, a
/// walls file in the temp file. Dropped without [`FileStore::commit`], the
/// state is as it was (the pending copy is passed over, the temp file
/// removed by the next call).
struct Prepared {
    leases: Option<super::slots::Prepared>,
    /// The walls file the temp file replaces.
    walls: Option<PathBuf>,
    mark_old_leases_file: bool,
}

impl StateStore for FileStore {
    fn update<R, E: From<StoreError>>(&self, change: impl FnOnce(&mut State) -> Result<R, E>) -> Result<R, E> {
        self.update_and_publish(change, |_| Ok(()))
    }

    /// Everything that needs disk space is written before `publish`, and
    /// made current after it: a full disk fails before anything reaches
    /// the caller, and a failed publish leaves the state as it was.
    fn update_and_publish<R, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut State) -> Result<R, E>,
        publish: impl FnOnce(&R) -> Result<(), E>,
    ) -> Result<R, E> {
        let _lock = self.lock()?;
        let before = self.read()?;
        let mut state = before.state.clone();
        let result = change(&mut state)?;
        let prepared = match self.prepare(&state, &before) {
            Ok(prepared) => prepared,
            Err(e) => {
                self.remove_stale_temp_file();
                return Err(e.into());
            }
        };
        if let Err(e) = publish(&result) {
            drop(prepared);
            self.remove_stale_temp_file();
            return Err(e);
        }
        self.commit(prepared)?;
        self.remove_stale_temp_file();
        Ok(result)
    }

    fn now(&self) -> i64 {
        crate::clock::now()
    }
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>> {
    // Rendered in memory first: one write call, not one per JSON token.
    let mut bytes = serde_json::to_vec_pretty(value).context("cannot encode the state")?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn parse_leases(path: &Path, body: &[u8]) -> Result<LeasesFile> {
    let file: LeasesFile = serde_json::from_slice(body).map_err(|e| corrupt(path, &e.to_string()))?;
    if file.version != FORMAT {
        return Err(corrupt(path, &format!("it has format version {}; this accounts writes {FORMAT}", file.version)));
    }
    Ok(file)
}

/// Read and parse one JSON state file; `None` when it does not exist. A
/// format version not in `known` is an error.
fn read_json<T: DeserializeOwned>(path: &Path, version: fn(&T) -> u32, known: &[u32]) -> Result<Option<T>> {
    let bytes = match bounded::read(path, bounded::STATE_FILE_CAP) {
        Ok(bytes) => bytes,
        Err(ReadError::NotFound) => return Ok(None),
        Err(e) => {
            return Err(StoreError::Failed(anyhow::anyhow!("cannot read the state file {}: {e}", path.display())));
        }
    };
    let value: T = serde_json::from_slice(&bytes).map_err(|e| corrupt(path, &e.to_string()))?;
    let found = version(&value);
    if !known.contains(&found) {
        let known: Vec<String> = known.iter().map(u32::to_string).collect();
        return Err(corrupt(
            path,
            &format!(
                "it has format version {found}; this accounts reads version{} {}",
                if known.len() > 1 { "s" } else { "" },
                known.join(", ")
            ),
        ));
    }
    Ok(Some(value))
}

fn corrupt(path: &Path, detail: &str) -> StoreError {
    StoreError::Failed(anyhow::anyhow!(
        "the state file {} is corrupt ({detail}); it was left untouched. To recover, move it aside \
         (mv {0} {0}.bad): leases and walls then start empty, and running workers re-lease on their next launch",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A temp dir that is private, as a state dir must be (tempfile makes
    /// them with the umask's mode).
    fn private_tempdir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }
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
        store.change(change).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn slot_paths(store: &FileStore) -> [PathBuf; 2] {
        store.slots.paths().clone()
    }

    fn json(path: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn round_trip_with_private_modes() {
        let dir = private_tempdir();
        let state_dir = dir.path().join("s");
        let store = FileStore::open(&state_dir).unwrap();
        edit(&store, |s| {
            s.put_lease(lease("w"));
            s.put_wall(wall());
        });
        edit(&store, |s| s.put_lease(lease("v")));
        assert_eq!(mode(&state_dir), 0o700);
        let [a, b] = slot_paths(&store);
        for file in [store.state_path(), a, b, state_dir.join(OLD_LEASES_FILE)] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        let seen = store.change(|s| s.clone()).unwrap();
        assert_eq!(seen.leases, [lease("w"), lease("v")]);
        assert_eq!(seen.walls, [wall()]);
        assert_eq!(seen.last_leased["a"], 5);
        let names: std::collections::BTreeSet<String> =
            std::fs::read_dir(&state_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, ["leases.0", "leases.1", "leases.json", "state.json"].map(String::from).into());
    }

    #[test]
    fn a_lease_change_leaves_the_walls_file_alone() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        edit(&store, |s| s.put_wall(wall()));
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let walls_file = inode(&store.state_path());
        edit(&store, |s| s.put_lease(lease("w")));
        edit(&store, |s| s.put_lease(lease("v")));
        assert_eq!(inode(&store.state_path()), walls_file, "state.json was replaced for a lease");
        let [a, b] = slot_paths(&store);
        let slots = (inode(&a), inode(&b));
        edit(&store, |s| s.put_lease(lease("u")));
        assert_eq!((inode(&a), inode(&b)), slots, "lease slots are written in place");
        edit(&store, |s| s.put_wall(WallRecord { until: 60, ..wall() }));
        assert_ne!(inode(&store.state_path()), walls_file);
    }

    #[test]
    fn older_formats_are_read_and_migrated() {
        let format_1 = serde_json::json!({
            "version": 1, "leases": [lease("w")], "walls": [wall()], "last_leased": {"a": 5}
        });
        let format_2 = serde_json::json!({"version": 2, "leases": [lease("w")], "last_leased": {"a": 5}});
        for (state_json, leases_json) in [
            (Some(format_1), None),
            (Some(serde_json::json!({"version": 2, "walls": [wall()]})), Some(format_2.clone())),
            (None, Some(format_2)),
        ] {
            let dir = private_tempdir();
            let store = FileStore::open(dir.path()).unwrap();
            if let Some(v) = &state_json {
                std::fs::write(store.state_path(), v.to_string()).unwrap();
            }
            if let Some(v) = &leases_json {
                std::fs::write(dir.path().join(OLD_LEASES_FILE), v.to_string()).unwrap();
            }
            let seen = store.change(|s| s.clone()).unwrap();
            assert_eq!(seen.leases, vec![lease("w")]);
            assert_eq!(seen.walls, if state_json.is_some() { vec![wall()] } else { vec![] });
            edit(&store, |s| s.put_lease(lease("v")));
            let seen = store.change(|s| s.clone()).unwrap();
            assert_eq!(seen.leases, vec![lease("w"), lease("v")]);
            assert_eq!(json(&dir.path().join(OLD_LEASES_FILE))["version"], 3, "an older accounts refuses it");
            if state_json.is_some() {
                assert_eq!(json(&store.state_path()), serde_json::json!({"version": 4, "walls": [wall()]}));
            }
        }
    }

    #[test]
    fn what_a_crash_or_a_power_cut_leaves_of_a_slot_is_passed_over() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        edit(&store, |s| s.put_wall(wall()));
        edit(&store, |s| s.put_lease(lease("w")));
        let [a, b] = slot_paths(&store);
        // The next write goes to the other slot; cut it short.
        let (written, other) = if a.exists() { (a, b) } else { (b, a) };
        std::fs::write(&other, b"accounts-slot 2 400 abc\n{\"version\": 3, \"lea").unwrap();
        let seen = store.change(|s| s.clone()).unwrap();
        assert_eq!(seen.leases, [lease("w")], "the previous copy is kept");
        std::fs::write(&written, [0u8; 512]).unwrap();
        // No valid slot, written since this boot: damage, not a crash.
        let err = store.change(|s| s.clone()).unwrap_err().to_string();
        assert!(err.contains("is corrupt") && err.contains("zero bytes"), "{err}");
        // The same from before this boot is what a power cut leaves: its
        // leases died with their holders.
        let before_boot = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        for path in [&written, &other] {
            std::fs::File::options().write(true).open(path).unwrap().set_modified(before_boot).unwrap();
        }
        let seen = store.change(|s| s.clone()).unwrap();
        assert!(seen.leases.is_empty(), "no valid slot after a power cut");
        assert_eq!(seen.walls, [wall()], "walls are kept");
    }

    #[test]
    fn corrupt_or_unknown_files_are_errors_and_left_alone() {
        let cases: [(&str, &[u8], &str); 4] = [
            (STATE_FILE, b"{ not json", "is corrupt"),
            ("leases.0", b"{\"version\":2,\"leases\":[", "not a slot file written by accounts"),
            (STATE_FILE, b"{\"version\":5}", "format version 5; this accounts reads versions 1, 2, 3, 4"),
            (OLD_LEASES_FILE, b"{\"version\":1}", "format version 1; this accounts reads versions 2, 3"),
        ];
        for (file, bytes, expected) in cases {
            let dir = private_tempdir();
            let store = FileStore::open(dir.path()).unwrap();
            let path = dir.path().join(file);
            std::fs::write(&path, bytes).unwrap();
            let err = store.change(|s| s.walls.pop()).unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains(&path.display().to_string()) && err.contains("mv "),
                "{err}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }

    #[test]
    fn state_files_that_are_not_regular_files_are_errors() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("leases.0")).unwrap();
        let err = store.change(|s| s.walls.pop()).unwrap_err().to_string();
        assert!(err.contains("leases.0") && err.contains("character device"), "{err}");
    }

    #[test]
    fn failed_change_writes_nothing() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let r: Result<(), StoreError> = store.update(|s| {
            s.put_lease(lease("w"));
            Err(StoreError::Setup("no".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn temp_files_left_by_killed_writers_are_removed() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join(STATE_TEMP), b"half").unwrap();
        std::fs::write(dir.path().join(".tmp-Ab12"), b"older").unwrap();
        edit(&store, |s| s.put_lease(lease("w")));
        assert!(!dir.path().join(STATE_TEMP).exists());
        edit(&store, |s| s.put_wall(wall()));
        assert!(!dir.path().join(".tmp-Ab12").exists());
    }

    #[test]
    fn the_lock_is_on_the_directory() {
        let dir = private_tempdir();
        let store = FileStore::open(dir.path()).unwrap();
        let held = store.lock().unwrap();
        let other = File::open(dir.path()).unwrap();
        assert!(matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(held);
        other.try_lock().unwrap();
    }
}
