//! A plugin of contract 0.2.0, written against `wit/v0.2.0` directly: the
//! host must load and launch it after later contracts exist.

wit_bindgen::generate!({ path: "../../../wit/v0.2.0", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, CredentialInfo, Env, Guest, LoginState, Wall};

struct Frozen;

impl Guest for Frozen {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: "frozen020".into(),
            label: "Frozen 0.2.0".into(),
            config_dir_env: Some("FROZEN_HOME".into()),
            token_env: None,
            token_file_name: None,
            credential_file_name: None,
            token_prefixes: vec![],
            login: None,
            enroll_hint: String::new(),
            env_keys: vec!["FROZEN_HOME".into()],
        }
    }

    fn validate_token(_token: String) -> Result<(), String> {
        Err("takes no tokens".into())
    }

    fn launch_env(account: Account) -> Result<Env, String> {
        Ok(vec![("FROZEN_HOME".into(), account.config_dir)])
    }

    fn credential_status(_account: Account) -> CredentialInfo {
        CredentialInfo { state: LoginState::Missing, expires_at: None, identity: None, plan: None }
    }

    fn detect_wall(output: String, now: i64, _zone: String) -> Option<Wall> {
        output.contains("FROZEN WALL").then(|| Wall { resets_at: Some(now + 600), matched: "FROZEN WALL".into() })
    }
}

export!(Frozen);
