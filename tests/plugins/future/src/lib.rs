//! A plugin from the future: `accounts:auth@0.9.0`.

wit_bindgen::generate!({ path: "wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, CredentialInfo, Guest, LoginState, Wall};

struct Future;

impl Guest for Future {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: "future".into(),
            label: "Future".into(),
            config_dir_env: None,
            token_env: None,
            token_file_name: None,
            credential_file_name: None,
            token_prefixes: vec![],
            login: None,
            enroll_hint: String::new(),
            env_keys: vec![],
        }
    }

    fn validate_token(_token: String) -> Result<(), String> {
        Ok(())
    }

    fn launch_env(_account: Account) -> Result<Vec<(String, String)>, String> {
        Ok(vec![])
    }

    fn credential_status(_account: Account) -> CredentialInfo {
        CredentialInfo { state: LoginState::Missing, expires_at: None, identity: None, plan: None }
    }

    fn detect_wall(_output: String, _now: i64, _zone: String) -> Option<Wall> {
        None
    }
}

#[cfg(target_arch = "wasm32")]
export!(Future);
