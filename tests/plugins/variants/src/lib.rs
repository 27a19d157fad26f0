//! Variants of a plugin that is wrong in what it is: the host must refuse
//! each at load time, before any call that matters. Built with one feature.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::accounts::auth::account_auth::{Account, AgentSpec, Guest, Wall};

struct Variant;

impl Guest for Variant {
    fn spec() -> AgentSpec {
        while cfg!(feature = "spin-spec") {
            std::hint::spin_loop();
        }
        let label = if cfg!(feature = "bigspec") {
            "x".repeat(1 << 20)
        } else if cfg!(feature = "escape-spec") {
            "Variant \u{1b}[2J".into()
        } else {
            "Variant".into()
        };
        let mut env_keys = vec!["VARIANT_HOME".to_owned()];
        if cfg!(feature = "denied-key") {
            env_keys.push("PATH".into());
        }
        AgentSpec {
            kind: "variant".into(),
            label,
            config_dir_env: Some("VARIANT_HOME".into()),
            token_env: None,
            token_file_name: None,
            credential_file_name: None,
            token_prefix: String::new(),
            enroll_methods: vec![],
            enroll_hint: String::new(),
            env_keys,
        }
    }

    fn validate_token(_token: String) -> bool {
        true
    }

    fn env_overrides(config_dir: String, _token: Option<String>) -> Vec<(String, String)> {
        vec![("VARIANT_HOME".into(), config_dir)]
    }

    fn launch_env(account: Account) -> Result<Vec<(String, String)>, String> {
        #[cfg(feature = "sockets")]
        if std::net::TcpStream::connect("127.0.0.1:9").is_ok() {
            return Err("connected".into());
        }
        Ok(Self::env_overrides(account.config_dir, None))
    }

    fn detect_wall(_output: String, _now: i64, _zone: String) -> Option<Wall> {
        None
    }
}

// Exported only for wasm: natively the WIT export names are not valid
// linker symbols.
#[cfg(target_arch = "wasm32")]
export!(Variant);
