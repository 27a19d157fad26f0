//! How a failed plugin call is worded: which limit it broke, in words a
//! user can act on.

use wasmtime::Trap;

use super::sandbox::Limits;

pub(crate) fn describe_failure(what: &str, error: &wasmtime::Error, limits: &Limits, memory_hit: bool) -> String {
    if memory_hit {
        return format!("{what} exceeded the memory limit of {} MiB", limits.memory_bytes >> 20);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            format!("{what} ran past the deadline of {} ms and was stopped", limits.deadline.as_millis())
        }
        Some(Trap::StackOverflow) => {
            format!("{what} overflowed the wasm stack (unbounded recursion?)")
        }
        Some(trap) => {
            format!("{what} trapped ({trap}); run with --verbose to see the plugin's stderr")
        }
        None => format!("{what} failed: {}", one_line(error)),
    }
}

pub(crate) fn one_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// A call still waiting in the host at its deadline.
pub(crate) fn abandoned(what: &str, limits: &Limits) -> String {
    format!(
        "{what} ran past the deadline of {} ms while waiting in the host (a sleep, a poll, or a file that blocks, \
         such as a FIFO) and was abandoned",
        limits.deadline.as_millis()
    )
}

/// Host code panicked during a call.
pub(crate) fn host_panic(what: &str, message: &str) -> String {
    format!("{what} made the host's WASI layer panic ({message}); the plugin was stopped")
}
