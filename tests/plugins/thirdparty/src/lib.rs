//! A third-party plugin for a made-up agent, "acme", written on the SDK as
//! an outside author writes one: the reference example. The tests build it
//! out of tree and load it from the plugin dir.

use accounts_plugin::{Account, Agent, CredentialStatus, LoginState, Spec, Wall, json, text};

struct Acme;

impl Agent for Acme {
    fn spec() -> Spec {
        Spec::new("acme", "Acme Agent")
            .config_dir_env("ACME_HOME")
            .token_env("ACME_TOKEN")
            .token_prefixes(["acme-", "acmeorg-"])
            .credential_file("session.json")
            .login(["acme", "login"])
            .headless_login(["acme", "login", "--device"])
            .enroll_hint("run `accounts login <name>`, or enroll an acme- token")
    }

    // session.json: {"user": "...", "refresh": "...", "expires": <epoch s>}
    fn credential_status(account: &Account) -> CredentialStatus {
        let Some(session) = json::read_config_json("session.json") else { return CredentialStatus::missing() };
        let expires = json::int(&session, &["expires"]);
        let live = json::non_empty(&session, &["refresh"]).is_some() || expires.is_some_and(|e| e > account.now);
        CredentialStatus::new(if live { LoginState::Live } else { LoginState::Expired })
            .expires_at(expires)
            .identity(json::str(&session, &["user"]))
    }

    // "ACME QUOTA: retry in 90 seconds"; "ACME QUOTA" alone, then maybe a passing one's retry line.
    fn detect_wall(output: &str, now: i64, _zone: &str) -> Option<Wall> {
        let at = output.rfind("ACME QUOTA")?;
        let line = text::line_at(output, at);
        let reset = line.find("retry in").and_then(|i| text::duration_seconds(&line[i + 8..]));
        Some(Wall::new(reset.map(|secs| now + secs), line))
    }

    fn retrying(output: &str) -> Option<String> {
        let at = output.rfind("acme: retrying on its own")?;
        (at > output.rfind("ACME QUOTA")?).then(|| text::line_at(output, at).to_owned())
    }
}

accounts_plugin::export!(Acme);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walls() {
        let wall = Acme::detect_wall("ok\nACME QUOTA: retry in 90 seconds\n", 1000, "UTC").unwrap();
        assert_eq!((wall.resets_at, wall.matched.as_str()), (Some(1090), "ACME QUOTA: retry in 90 seconds"));
        assert_eq!(Acme::detect_wall("all good", 1000, "UTC"), None);
        assert!(Acme::retrying("ACME QUOTA\nacme: retrying on its own\n").is_some());
        assert_eq!(Acme::retrying("acme: retrying on its own\nACME QUOTA\n"), None, "a wall after it stands");
    }
}
