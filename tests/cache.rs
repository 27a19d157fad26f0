//! The compiled-plugin cache never trusts an entry it cannot verify: a
//! corrupt, truncated or foreign entry is recompiled, and the plugin loads
//! correctly every time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    found.sort();
    found
}

fn inspect(fx: &Fixture, cache: &Path, kind: &str) -> serde_json::Value {
    let out = fx.cmd(&["plugins", "inspect", kind, "--json"]).env("ACCOUNTS_CACHE_DIR", cache).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bad_entries_are_recompiled_never_trusted() {
    let fx = Fixture::new("");
    let cache = fx.path("cache");
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude");
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    let claude = entries(&cache).pop().expect("one compiled entry");
    let good = std::fs::read(&claude).unwrap();
    assert_eq!(inspect(&fx, &cache, "codex")["kind"], "codex");
    let codex = entries(&cache).into_iter().find(|p| *p != claude).unwrap();

    // Corrupt: flip bytes in the middle of the code.
    let mut corrupt = good.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0xFF;
    }
    std::fs::write(&claude, &corrupt).unwrap();
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude");
    assert_eq!(std::fs::read(&claude).unwrap(), good, "the entry was rewritten");

    // Truncated.
    std::fs::write(&claude, &good[..good.len() / 3]).unwrap();
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude");
    assert_eq!(std::fs::read(&claude).unwrap(), good);

    // Foreign: another plugin's artifact and digest under this key, as a
    // stale entry from another build would be.
    std::fs::copy(&codex, &claude).unwrap();
    std::fs::copy(codex.with_extension("digest"), claude.with_extension("digest")).unwrap();
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude", "the foreign entry was not trusted");
    assert_eq!(std::fs::read(&claude).unwrap(), good);

    // Not a compiled artifact at all, with a digest that matches nothing.
    std::fs::write(&claude, b"\x7fELF garbage").unwrap();
    std::fs::write(claude.with_extension("digest"), "0".repeat(64)).unwrap();
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude");
}

#[test]
fn a_copied_cache_is_hashed_again_and_kept() {
    use std::os::unix::fs::MetadataExt;
    let fx = Fixture::new("");
    let cache = fx.path("cache");
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude");
    // Copy the whole cache: same bytes, new files (new inodes and times).
    let copy = fx.path("copy");
    make_private_dir(&copy);
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let artifact = entries(&copy).pop().unwrap();
    let digest = artifact.with_extension("digest");
    let ino = std::fs::metadata(&artifact).unwrap().ino();
    let record = std::fs::read_to_string(&digest).unwrap();
    assert_eq!(inspect(&fx, &copy, "claude")["kind"], "claude");
    assert_eq!(std::fs::metadata(&artifact).unwrap().ino(), ino, "the verified copy was kept, not recompiled");
    assert_ne!(std::fs::read_to_string(&digest).unwrap(), record, "its new identity was recorded");
}

#[test]
fn an_unwritable_cache_still_works() {
    let fx = Fixture::new("");
    let blocked = fx.write("not-a-dir", "file in the way");
    assert_eq!(inspect(&fx, &blocked.join("cache"), "gemini")["kind"], "gemini");
}

#[test]
fn stale_entries_are_pruned_after_a_compile() {
    let fx = Fixture::new("");
    let cache = fx.path("cache");
    make_private_dir(&cache);
    let stale = fx.write("cache/0000.cwasm", "old artifact");
    let stale_digest = fx.write("cache/0000.digest", "old digest");
    let recent = fx.write("cache/1111.cwasm", "recent artifact");
    let other = fx.write("cache/notes.txt", "not ours to delete");
    for path in [&stale, &stale_digest, &other] {
        assert!(Command::new("touch").args(["-d", "40 days ago"]).arg(path).status().unwrap().success());
    }
    assert_eq!(inspect(&fx, &cache, "claude")["kind"], "claude");
    assert!(!stale.exists() && !stale_digest.exists(), "stale entries removed");
    assert!(recent.exists() && other.exists(), "recent entries and other files kept");
}

#[test]
fn the_recorded_spec_is_used_only_while_it_verifies() {
    let fx = Fixture::new("");
    let cache = fx.path("cache");
    let first = inspect(&fx, &cache, "claude");
    let record_path = entries(&cache).pop().unwrap().with_extension("digest");
    let record = std::fs::read_to_string(&record_path).unwrap();
    let spec_line = record.lines().nth(2).expect("the record keeps the spec");
    let var = first["config_dir_env"].as_str().unwrap();
    assert!(spec_line.contains(var), "{spec_line}");
    // A warm load answers from the record: the same spec, record unchanged.
    assert_eq!(inspect(&fx, &cache, "claude"), first);
    assert_eq!(std::fs::read_to_string(&record_path).unwrap(), record);

    // A damaged spec is never used: the plugin is asked again and the record
    // repaired, where trusting it would set the wrong variable.
    std::fs::write(&record_path, record.replace(var, "WRONG_VARIABLE")).unwrap();
    assert_eq!(inspect(&fx, &cache, "claude"), first);
    assert_eq!(std::fs::read_to_string(&record_path).unwrap(), record);

    // A record from an older host, without a spec, gains one.
    let old: String = record.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&record_path, old).unwrap();
    assert_eq!(inspect(&fx, &cache, "claude"), first);
    assert_eq!(std::fs::read_to_string(&record_path).unwrap(), record);
}
