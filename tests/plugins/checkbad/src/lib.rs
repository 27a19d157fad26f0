//! A plugin with one defect per feature (see Cargo.toml); without features
//! it passes every check.

use accounts_plugin::{Account, Agent, CredentialStatus, Env, LoginState, Spec, Wall, json};

struct Bad;

impl Agent for Bad {
    fn spec() -> Spec {
        let spec = Spec::new("checkbad", "Check Bad").config_dir_env("BAD_HOME").token_env("BAD_TOKEN");
        let spec = spec.token_prefixes(["bad-"]);
        if cfg!(feature = "denied-key") { spec.also_sets(["LD_PRELOAD"]) } else { spec }
    }

    fn validate_token(token: &str) -> Result<(), String> {
        if cfg!(feature = "accepts-empty") {
            return Ok(());
        }
        accounts_plugin::token_shape(&Self::spec(), token)
    }

    // A live login is a `login.json` in the config dir.
    fn credential_status(_account: &Account) -> CredentialStatus {
        match json::config_file_exists("login.json") {
            true => CredentialStatus::new(LoginState::Live),
            false => CredentialStatus::missing(),
        }
    }

    fn launch_env(account: &Account) -> Result<Env, String> {
        let login = Self::credential_status(account).state == LoginState::Live;
        let with_token = cfg!(feature = "token-shadows-login") || !login;
        let env = Env::standard(&Self::spec(), account, with_token);
        Ok(if cfg!(feature = "undeclared-key") { env.set("BAD_EXTRA", "1") } else { env })
    }

    fn detect_wall(output: &str, now: i64, _zone: &str) -> Option<Wall> {
        (cfg!(feature = "eager-wall") || output.contains("BAD LIMIT")).then(|| Wall::new(Some(now + 60), output))
    }

    fn resume_argv(argv: &[String], id: &str, prompt: &str) -> Result<Vec<String>, String> {
        let (program, rest) = argv.split_first().ok_or("empty")?;
        let kept = if cfg!(feature = "prompt-twice") { rest.to_vec() } else { Vec::new() };
        Ok([vec![program.clone()], kept, vec!["--resume".into(), id.into(), prompt.into()]].concat())
    }
}

accounts_plugin::export!(Bad);
