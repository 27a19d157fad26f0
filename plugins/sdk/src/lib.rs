//! Write an agent plugin for [`accounts`](https://github.com/accounts-rs/accounts):
//! the glue that tells the host how one coding agent selects an account,
//! what its tokens look like, whether an account is logged in, and what its
//! usage-limit message says.
//!
//! A plugin is a type that implements [`Agent`], exported with
//! [`export!`](crate::export), built for `wasm32-wasip2`:
//!
//! ```
//! use accounts_plugin::{Agent, Spec, Wall, text};
//!
//! struct Acme;
//!
//! impl Agent for Acme {
//!     fn spec() -> Spec {
//!         Spec::new("acme", "Acme Agent")
//!             .config_dir_env("ACME_HOME")
//!             .token_env("ACME_TOKEN")
//!             .token_prefixes(["acme-"])
//!             .login(["acme", "login"])
//!             .enroll_hint("run `ACME_HOME=<config_dir> acme login`")
//!     }
//!
//!     fn detect_wall(output: &str, now: i64, _zone: &str) -> Option<Wall> {
//!         let at = output.rfind("ACME QUOTA")?;
//!         let reset = text::number_after(&output[at..], "retry in").map(|secs| now + secs);
//!         Some(Wall::new(reset, text::line_at(output, at)))
//!     }
//! }
//!
//! accounts_plugin::export!(Acme);
//! ```
//!
//! What the trait's defaults do, and what each method must promise, is in
//! [`Agent`]. The helpers for the usual chores are [`json`] (credential
//! files, JWT expiry), [`text`] (numbers and durations in messages),
//! [`clock`] (reset times such as "3pm (Europe/Paris)", with the host's
//! time-zone rules), and [`messages`] (output as messages, JSON strings
//! included; matching a message by how it starts; the best of several
//! walls). Usage readings ([`Usage`]) keep new work off an account before
//! its wall: [`Agent::detect_usage`] finds them in output,
//! [`Agent::read_usage`] in the config dir. The contract itself, `wit/account-auth.wit`, is
//! `accounts:auth@0.3.0`.

extern crate self as accounts_plugin;

pub mod argv;
pub mod civil;
pub mod clock;
pub mod conversation;
#[cfg(all(feature = "corpus", not(target_arch = "wasm32")))]
pub mod corpus;
pub mod json;
pub mod messages;
mod spec;
pub mod text;
mod zones;

pub use conversation::{Conversation, Query};
pub use spec::{Account, CredentialStatus, Env, LoginState, Spec, Usage, Wall, check_token_shape as token_shape};

/// The agent a plugin serves. Implement [`Agent::spec`]; the rest have
/// defaults that fit most agents.
pub trait Agent {
    /// What the plugin is: its kind (the roster's `agent = "..."`), the
    /// variables it sets, its token prefixes, its login commands. Constant.
    fn spec() -> Spec;

    /// A cheap shape check of a static token (never contacts anything).
    /// `Err` is the reason shown to the user; never echo the token.
    ///
    /// Default: not blank, no whitespace, and one of the spec's token
    /// prefixes followed by at least one character (any token when the
    /// spec has no prefixes).
    fn validate_token(token: &str) -> Result<(), String> {
        spec::check_token_shape(&Self::spec(), token)
    }

    /// What the account's files (read-only under [`json::CONFIG_MOUNT`])
    /// say about its login: live (usable or refreshable), expired, or
    /// missing, with its expiry, identity and plan when the files say.
    ///
    /// Default: [`CredentialStatus::missing`].
    fn credential_status(account: &Account) -> CredentialStatus {
        let _ = account;
        CredentialStatus::missing()
    }

    /// The env to launch the agent on `account` with. Only variables the
    /// spec declares; `Err` says why the account cannot be launched.
    ///
    /// Default: the config-dir variable, plus the token variable with the
    /// account's static token only when [`Agent::credential_status`] finds
    /// no live login (agents let a token variable shadow their login).
    fn launch_env(account: &Account) -> Result<Env, String> {
        let login = Self::credential_status(account).state == LoginState::Live;
        Ok(Env::standard(&Self::spec(), account, !login))
    }

    /// The agent's usage-limit message in `output` (recent output as plain
    /// text: earlier lines as context, then new ones; see the contract), or
    /// `None`. Resolve a clock time printed without a zone in the host's
    /// `zone` ([`clock::reset_after`] does). Must be `None` for ordinary
    /// output, warnings and capacity messages.
    ///
    /// Default: never a wall.
    fn detect_wall(output: &str, now: i64, zone: &str) -> Option<Wall> {
        let _ = (output, now, zone);
        None
    }

    /// The usage readings in `output` (the same text as
    /// [`Agent::detect_wall`] sees), in the order printed: a warning such
    /// as "You've used 91% of your weekly limit", a rate-limit event with
    /// each window's utilisation. Name each window the same every time.
    ///
    /// Default: none.
    fn detect_usage(output: &str, now: i64, zone: &str) -> Vec<Usage> {
        let _ = (output, now, zone);
        Vec::new()
    }

    /// The line in `output` saying the agent retries by itself after a
    /// wall it reported without a reset (a passing rate limit, not a usage
    /// wall): the host then withdraws that wall. Only when it comes after
    /// the wall's own line; `None` for anything else.
    ///
    /// Default: never.
    fn retrying(output: &str) -> Option<String> {
        let _ = output;
        None
    }

    /// The usage readings the agent left in `account`'s config dir
    /// (read-only under [`json::CONFIG_MOUNT`]), e.g. in its session logs.
    /// Read a bounded amount: the newest file's tail
    /// ([`conversation::newest_file`], [`conversation::tail`]).
    ///
    /// Default: none.
    fn read_usage(account: &Account) -> Vec<Usage> {
        let _ = account;
        Vec::new()
    }

    /// The conversation in `account`'s config dir (read-only under
    /// [`json::CONFIG_MOUNT`]) that `query` describes, newest first
    /// ([`conversation::newest_file`] finds it). Name every file the agent
    /// needs to resume it, and no credential.
    ///
    /// Default: none (the agent keeps nothing the host can carry, and a
    /// rotation restarts it afresh).
    fn find_conversation(account: &Account, query: &Query) -> Option<Conversation> {
        let _ = (account, query);
        None
    }

    /// The argv (program first) that resumes conversation `id`, from the
    /// argv the run was started with: the original prompt is not sent
    /// again, `prompt` is asked instead ([`argv`] parses and rebuilds a
    /// command line). `Err` says why this argv cannot be resumed.
    ///
    /// Default: this agent cannot resume a conversation.
    fn resume_argv(argv: &[String], id: &str, prompt: &str) -> Result<Vec<String>, String> {
        let _ = (argv, id, prompt);
        Err(format!("{} cannot resume a conversation", Self::spec().label))
    }
}

/// Export `$agent` (a type implementing [`Agent`]) as the plugin's
/// component. Put it once at the top level of the plugin crate; it does
/// nothing in native builds, so the crate's unit tests run as usual.
#[macro_export]
macro_rules! export {
    ($agent:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct AccountsPluginExports;
            impl $crate::__private::Guest for AccountsPluginExports {
                fn spec() -> $crate::__private::AgentSpec {
                    $crate::__private::spec::<$agent>()
                }
                fn validate_token(token: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                    <$agent as $crate::Agent>::validate_token(&token)
                }
                fn launch_env(
                    account: $crate::__private::WitAccount,
                ) -> ::core::result::Result<$crate::__private::WitEnv, ::std::string::String> {
                    $crate::__private::launch_env::<$agent>(account)
                }
                fn credential_status(account: $crate::__private::WitAccount) -> $crate::__private::WitStatus {
                    $crate::__private::credential_status::<$agent>(account)
                }
                fn observe(
                    output: ::std::string::String,
                    now: i64,
                    zone: ::std::string::String,
                ) -> ::std::vec::Vec<$crate::__private::WitObservation> {
                    $crate::__private::observe::<$agent>(&output, now, &zone)
                }
                fn read_usage(account: $crate::__private::WitAccount) -> ::std::vec::Vec<$crate::__private::WitUsage> {
                    $crate::__private::read_usage::<$agent>(account)
                }
                fn find_conversation(
                    account: $crate::__private::WitAccount,
                    query: $crate::__private::WitQuery,
                ) -> ::core::option::Option<$crate::__private::WitConversation> {
                    $crate::__private::find_conversation::<$agent>(account, query)
                }
                fn resume_argv(
                    argv: ::std::vec::Vec<::std::string::String>,
                    id: ::std::string::String,
                    prompt: ::std::string::String,
                ) -> ::core::result::Result<::std::vec::Vec<::std::string::String>, ::std::string::String> {
                    <$agent as $crate::Agent>::resume_argv(&argv, &id, &prompt)
                }
            }
    $crate::__export_plugin_impl!(AccountsPluginExports with_types_in $crate::__private::bindings);
        };
        // Natively nothing is exported; naming the type keeps it "used".
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::Spec = <$agent as $crate::Agent>::spec;
    };
}

/// What [`export!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub mod bindings {
        wit_bindgen::generate!({
            path: "wit",
            world: "plugin",
            pub_export_macro: true,
            default_bindings_module: "accounts_plugin::__private::bindings",
            runtime_path: "accounts_plugin::__private::wit_bindgen::rt",
        });
    }

    pub use bindings::exports::accounts::auth::account_auth::{
        Account as WitAccount, AgentSpec, Conversation as WitConversation, ConversationQuery as WitQuery,
        CredentialInfo as WitStatus, Env as WitEnv, Guest, Observation as WitObservation, UsageReading as WitUsage,
    };

    use crate::{Account, Agent};

    pub fn spec<A: Agent>() -> AgentSpec {
        A::spec().into_wit()
    }

    pub fn launch_env<A: Agent>(account: WitAccount) -> Result<WitEnv, String> {
        A::launch_env(&Account::from_wit(account)).map(crate::Env::into_pairs)
    }

    pub fn credential_status<A: Agent>(account: WitAccount) -> WitStatus {
        A::credential_status(&Account::from_wit(account)).into_wit()
    }

    pub fn find_conversation<A: Agent>(account: WitAccount, query: WitQuery) -> Option<WitConversation> {
        let query = crate::Query { id: query.id, cwd: query.cwd, since: query.since, output: query.output };
        let found = A::find_conversation(&Account::from_wit(account), &query)?;
        Some(WitConversation { id: found.id, files: found.files, cwd: found.cwd, bound_to: found.bound_to })
    }

    /// The readings, the wall, and whether the agent is only retrying: the
    /// contract's one call for all three.
    pub fn observe<A: Agent>(output: &str, now: i64, zone: &str) -> Vec<WitObservation> {
        let usage = A::detect_usage(output, now, zone).into_iter().map(|u| WitObservation::Usage(u.into_wit()));
        let wall = A::detect_wall(output, now, zone).map(|w| WitObservation::Wall(w.into_wit()));
        let retrying = A::retrying(output).map(|line| WitObservation::Retrying(crate::text::clip(&line)));
        usage.chain(wall).chain(retrying).collect()
    }

    pub fn read_usage<A: Agent>(account: WitAccount) -> Vec<WitUsage> {
        A::read_usage(&Account::from_wit(account)).into_iter().map(crate::Usage::into_wit).collect()
    }
}
