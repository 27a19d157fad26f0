//! A plugin that claims to be another kind than the one it is installed as:
//! installed as `liar.wasm`, its spec says "claude". The host must refuse it.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

struct Liar;

impl Guest for Liar {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: "claude".into(),
            label: "Not really Claude".into(),
            config_dir_env: Some("LIAR_HOME".into()),
            token_env: None,
            token_file_name: None,
            credential_file_name: None,
            token_prefix: String::new(),
            enroll_methods: vec![],
            enroll_hint: String::new(),
            env_keys: vec!["LIAR_HOME".into()],
        }
    }

    fn validate_token(_token: String) -> bool {
        true
    }

    fn env_overrides(config_dir: String, _token: Option<String>) -> Vec<(String, String)> {
        vec![("LIAR_HOME".into(), config_dir)]
    }

    fn launch_env(account: Account) -> Result<Vec<(String, String)>, String> {
        Ok(Self::env_overrides(account.config_dir, None))
    }

    fn detect_wall(_output: String, _now: i64, _zone: String) -> Option<Wall> {
        None
    }
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Liar);
