//! Where the state is kept, as the roster's `[state]` table says.

/// `[state]`: the shared backend, when there is one. No `url`: the local
/// file store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// A `postgres://` URL, never with a password in it.
    pub url: Option<String>,
    /// Which part of the database this roster's seats and walls are in:
    /// several rosters (teams) can share one database.
    pub namespace: String,
    pub connect_timeout_ms: u64,
    pub statement_timeout_ms: u64,
}

pub(crate) const DEFAULT_NAMESPACE: &str = "default";
pub(crate) const DEFAULT_DB_TIMEOUT_MS: u64 = 5000;

impl Default for StateConfig {
    fn default() -> StateConfig {
        StateConfig {
            url: None,
            namespace: DEFAULT_NAMESPACE.into(),
            connect_timeout_ms: DEFAULT_DB_TIMEOUT_MS,
            statement_timeout_ms: DEFAULT_DB_TIMEOUT_MS,
        }
    }
}
