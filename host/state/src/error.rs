//! What can go wrong keeping the state, in the store's own terms; the CLI
//! decides what each means for an exit code.

/// A store that could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A setting the user must fix (a state URL that cannot be used).
    #[error("{0}")]
    Setup(String),
    /// The state could not be read or written: I/O, damage, a server that
    /// is down or does not answer. The message names the file or server.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}
