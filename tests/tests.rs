//! Every integration test, in one binary: wasmtime and the host are linked
//! once, not once per file (ripgrep's layout). Each module is one area;
//! `support` is the shared harness (the real binary, fixtures, plugins
//! built from source, a throwaway PostgreSQL).
//!
//! One area: `cargo test --test tests crash::`; one test by name as usual.

mod support;

mod agents;
mod architecture;
mod cache;
mod crash;
mod exec;
mod fleet;
mod foundation;
mod hostile;
mod lifecycle;
mod quoting;
mod readme;
mod reliability;
mod sdk;
mod seats;
mod secrets;
