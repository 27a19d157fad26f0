//! A third-party plugin for a made-up agent, "acme": what an outside author
//! ships without touching the host. The tests load it from the plugin dir.

wit_bindgen::generate!({ path: "../../../wit", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

struct Acme;

impl Guest for Acme {
    fn spec() -> AgentSpec {
        AgentSpec {
            kind: "acme".into(),
            label: "Acme Agent".into(),
            config_dir_env: Some("ACME_HOME".into()),
            token_env: Some("ACME_TOKEN".into()),
            token_file_name: None,
            credential_file_name: Some("session".into()),
            token_prefix: "acme-".into(),
            enroll_methods: vec!["token".into()],
            enroll_hint: "put an acme- token in token_file".into(),
            env_keys: vec!["ACME_HOME".into(), "ACME_TOKEN".into()],
        }
    }

    fn validate_token(token: String) -> bool {
        token.starts_with("acme-") && !token.contains(char::is_whitespace)
    }

    fn env_overrides(config_dir: String, token: Option<String>) -> Vec<(String, String)> {
        let mut env = vec![("ACME_HOME".to_owned(), config_dir)];
        env.extend(token.map(|t| ("ACME_TOKEN".to_owned(), t)));
        env
    }

    fn launch_env(account: Account) -> Result<Vec<(String, String)>, String> {
        // A `session` file in the config dir means a live login.
        let live = std::fs::metadata("/config/session").is_ok();
        let token = if live { None } else { account.token };
        Ok(Self::env_overrides(account.config_dir, token))
    }

    fn detect_wall(output: String, now: i64, _zone: String) -> Option<Wall> {
        output.contains("ACME QUOTA").then(|| Wall { resets_at: Some(now + 60), matched: "ACME QUOTA".into() })
    }
}

// Exported only for wasm: natively (unit tests) the WIT export names are not
// valid linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Acme);
