//! Identical code folding at link time, for the `accounts` binary.
//!
//! Split into crates, the host instantiates the same generic functions (a
//! sort of `Vec<String>`, a drop of a `Vec<Lease>`) once per crate that uses
//! them, under symbols that differ by crate, and fat LTO keeps every copy:
//! the split cost 65 KB. LLD's `--icf=all` folds functions whose machine
//! code is identical, those copies and more: 209 KB off the release binary
//! (24,179,144 -> 23,969,832 bytes). Rust promises no distinct addresses for
//! distinct functions, so folding is sound for Rust code.
//!
//! Only on x86_64 Linux, where rustc links with its own LLD by default; set
//! `ACCOUNTS_NO_ICF=1` to build with a linker that lacks `--icf` (GNU ld).

fn main() {
    println!("cargo:rerun-if-env-changed=ACCOUNTS_NO_ICF");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-linux-gnu" && std::env::var_os("ACCOUNTS_NO_ICF").is_none() {
        println!("cargo:rustc-link-arg-bins=-Wl,--icf=all");
    }
}
