//! Command-line parsing and dispatch. Each subcommand is a thin caller of the
//! library in its own file; this module owns flags, the shared context and
//! the mapping of errors to exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::holder::{self, Holder};
use crate::launch::Launch;
use crate::notice;
use crate::paths::Paths;
use crate::plugin::sandbox::Limits;
use crate::plugin::{Plugin, Registry, Runtime, builtin};
use crate::render::{Format, render};
use crate::roster::{Roster, StateConfig};
use crate::state::{FileStore, PgStore, Store, check_state_url};
use crate::timefmt;
use crate::untrusted::Redactor;

mod add;
mod allocate;
mod bind;
mod completions;
mod doctor;
mod enroll;
mod examples;
mod exec;
mod health;
mod launch_env;
mod login;
mod man;
mod plugins;
mod release;
mod resume;
mod rotate;
mod state_cmd;
mod status;
mod statusline;
mod wall;

/// Where `--help` lists the flags every command takes.
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(name = "accounts", version, about = "Pick an account seat for a coding agent and print its environment")]
pub struct Cli {
    /// The roster file [env: ACCOUNTS_ROSTER; default: the platform config dir]
    #[arg(help_heading = GLOBAL, long, global = true, env = "ACCOUNTS_ROSTER", value_name = "PATH", hide_env = true)]
    roster: Option<PathBuf>,
    /// Where leases and walls are kept [env: ACCOUNTS_STATE_DIR]
    #[arg(help_heading = GLOBAL, long, global = true, env = "ACCOUNTS_STATE_DIR", value_name = "DIR", hide_env = true)]
    state_dir: Option<PathBuf>,
    /// Where third-party plugins (<kind>.wasm) are found [env: ACCOUNTS_PLUGIN_DIR]
    #[arg(help_heading = GLOBAL, long, global = true, env = "ACCOUNTS_PLUGIN_DIR", value_name = "DIR", hide_env = true)]
    plugin_dir: Option<PathBuf>,
    /// Where compiled plugins are cached [env: ACCOUNTS_CACHE_DIR]
    #[arg(help_heading = GLOBAL, long, global = true, env = "ACCOUNTS_CACHE_DIR", value_name = "DIR", hide_env = true)]
    cache_dir: Option<PathBuf>,
    // The two fleet flags go before the subcommand: a global flag costs
    // every call about 24,000 instructions (clap copies it into each
    // subcommand at start-up), and the local path must not pay for the
    // fleet. The variables work anywhere.
    /// Keep leases and walls in this PostgreSQL database, shared by a fleet
    /// (overrides the roster's [state] url; before the subcommand) [env: ACCOUNTS_STATE_URL]
    #[arg(help_heading = GLOBAL, long, env = "ACCOUNTS_STATE_URL", value_name = "URL", hide_env = true)]
    state_url: Option<String>,
    /// The roster's namespace in that database (overrides [state] namespace;
    /// before the subcommand) [env: ACCOUNTS_STATE_NAMESPACE]
    #[arg(help_heading = GLOBAL, long, env = "ACCOUNTS_STATE_NAMESPACE", value_name = "NAME", hide_env = true)]
    state_namespace: Option<String>,
    /// Show plugins' own stderr and more detail on stderr
    #[arg(help_heading = GLOBAL, long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

// Each subcommand's flags are built only when it runs: building all of them
// on every call cost about 0.3 ms of a 3.5 ms `launch-env`. With `defer`,
// clap takes a flattened flag group's doc comment as the subcommand's
// summary, so those groups carry plain comments.
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Print the environment that launches an agent under one account
    #[command(after_help = examples::LAUNCH_ENV)]
    LaunchEnv(launch_env::Args),
    /// Run a command on a leased seat; with --rotate, move it on at a wall
    #[command(after_help = examples::EXEC)]
    Exec(exec::Args),
    /// Continue an agent's conversation that ended at a wall on a free seat
    #[command(after_help = examples::RESUME)]
    Resume(resume::Args),
    /// Wall an account: skip it until its usage limit resets
    #[command(after_help = examples::WALL)]
    Wall(wall::WallArgs),
    /// Lift an account's wall now
    #[command(after_help = examples::UNWALL)]
    Unwall(wall::UnwallArgs),
    /// Wall a worker's account, release its seat and print the env of its next seat
    #[command(after_help = examples::ROTATE)]
    Rotate(rotate::Args),
    /// Release leases: a worker's, an account's, or a vanished host's
    #[command(after_help = examples::RELEASE)]
    Release(release::Args),
    /// Lease seats for several workers at once
    #[command(after_help = examples::ALLOCATE)]
    Allocate(allocate::Args),
    /// Every account: seats, holders, walls, usage, credential health (never a token)
    #[command(after_help = examples::STATUS)]
    Status(status::Args),
    /// A status-line command: keep the usage the agent reports on stdin, then run yours
    #[command(after_help = examples::STATUSLINE)]
    Statusline(statusline::Args),
    /// Add an account to the roster (comments and layout are kept)
    #[command(after_help = examples::ADD)]
    Add(add::AddArgs),
    /// Take an account out of the roster; its config dir is kept
    #[command(after_help = examples::REMOVE)]
    Remove(add::RemoveArgs),
    /// Log an account in with its agent's own login, inside its config dir
    #[command(after_help = examples::LOGIN)]
    Login(login::Args),
    /// Store an account's API key or token from stdin or a variable (never argv)
    #[command(after_help = examples::ENROLL)]
    Enroll(enroll::EnrollArgs),
    /// Remove an account's stored token. Never its login files: to log out,
    /// use the agent's own logout in the account's env
    #[command(after_help = examples::FORGET)]
    Forget(enroll::ForgetArgs),
    /// List and inspect agent plugins
    #[command(subcommand)]
    #[command(after_help = examples::PLUGINS)]
    Plugins(plugins::Command),
    /// Move walls and live leases between stores (files, a fleet's database)
    #[command(subcommand)]
    #[command(after_help = examples::STATE_COPY)]
    State(state_cmd::Command),
    /// Bind this directory (or a git remote) to an account or a kind; without one, list the bindings
    #[command(after_help = examples::BIND)]
    Bind(bind::BindArgs),
    /// Remove a directory's (or a remote's) binding
    #[command(after_help = examples::UNBIND)]
    Unbind(bind::UnbindArgs),
    /// Print the shell hook that sets a bound directory's account env on cd
    #[command(after_help = examples::HOOK)]
    Hook(bind::HookArgs),
    /// What the shell hook evaluates here (run by the hook)
    #[command(hide = true)]
    HookEnv(bind::HookEnvArgs),
    /// Check the setup: paths, roster, plugins, agent commands, logins, the state store
    #[command(after_help = examples::DOCTOR)]
    Doctor(doctor::Args),
    /// Print shell completions: accounts completions bash|zsh|fish
    #[command(after_help = examples::COMPLETIONS)]
    Completions(completions::Args),
    /// Print the manual page (roff), or write one per command with --dir
    #[command(after_help = examples::MAN)]
    Man(man::Args),
}

/// What every subcommand may need, loaded on first use.
pub struct Context {
    pub paths: Paths,
    pub verbose: bool,
    /// `--state-url` / `ACCOUNTS_STATE_URL`, over the roster's.
    pub state_url: Option<String>,
    pub state_namespace: Option<String>,
}

impl Context {
    /// The roster; a missing roster at the default path is `None`, at a
    /// path the user gave it is an error.
    pub fn roster_if_any(&self) -> Result<Option<Roster>> {
        if !self.paths.roster_explicit && !self.paths.roster.exists() {
            return Ok(None);
        }
        self.roster().map(Some)
    }

    /// The roster, validated, with every agent kind checked.
    pub fn roster(&self) -> Result<Roster> {
        let roster = Roster::load(&self.paths.roster)?;
        let registry = self.registry(Some(&roster));
        roster.check_agents(|kind| registry.problem(kind))?;
        Ok(roster)
    }

    pub fn registry(&self, roster: Option<&Roster>) -> Registry {
        Registry::new(
            builtin::BUILTINS,
            roster.map(|r| r.plugins.iter().map(|(kind, e)| (kind.clone(), e.pinned())).collect()).unwrap_or_default(),
            roster.map(|r| r.path.clone()),
            self.paths.plugin_dir.clone(),
        )
    }

    /// The plugin runtime, with the roster's deadline when there is one.
    pub fn runtime(&self, roster: Option<&Roster>) -> Result<Runtime> {
        let mut limits = Limits::default();
        if let Some(roster) = roster {
            limits.deadline = std::time::Duration::from_millis(roster.plugin_timeout_ms);
        }
        Ok(Runtime::new(Some(&self.paths.cache_dir), self.verbose)?.with_limits(limits))
    }

    /// Masks the roster's tokens, and words shaped like `plugin`'s tokens,
    /// in text from the agent or the plugin. Reads every token source; used
    /// only on the paths that show such text.
    pub fn redactor(&self, roster: &Roster, plugin: &Plugin<'_>) -> Redactor {
        let token_file = |a: &crate::roster::Account| {
            (a.agent == plugin.kind).then(|| plugin.spec().token_file_name.clone()).flatten()
        };
        let secrets = crate::token::all_known(&roster.accounts, token_file);
        Redactor::new(&secrets, &plugin.spec().token_prefixes)
    }

    /// Masks words shaped like the tokens of any plugin this host knows
    /// (their prefixes, from their cached specs), for errors on their way
    /// out. Best effort: a plugin that does not load adds nothing.
    fn error_redactor(&self) -> Redactor {
        let registry = self.registry(None);
        let Ok(runtime) = Runtime::new(Some(&self.paths.cache_dir), false) else {
            return Redactor::new(&[], &[]);
        };
        let mut prefixes: Vec<String> = Vec::new();
        for kind in registry.known_kinds() {
            if let Ok(source) = registry.resolve(&kind, &mut |_| {})
                && let Ok(plugin) = runtime.load(&source)
            {
                prefixes.extend(plugin.spec().token_prefixes.iter().cloned());
            }
        }
        Redactor::new(&[], &prefixes)
    }

    /// Where leases and walls are kept: the database the flag, the
    /// variable or the roster's `[state]` names, else the local files. The
    /// database is dialled here, only by commands that need the state.
    pub fn store(&self, roster: Option<&Roster>) -> Result<Store> {
        let config = self.state_config(roster)?;
        Ok(match &config.url {
            None => Store::File(FileStore::open(&self.paths.state_dir)?),
            Some(url) => Store::Postgres(Box::new(PgStore::open(url, &config)?)),
        })
    }

    /// The state as it stands (dead holders, expired leases and lifted
    /// walls pruned), and the store's clock it was read by.
    pub fn current_state(&self, roster: &Roster) -> Result<(crate::state::State, i64)> {
        use crate::state::StateStore;
        let store = self.store(Some(roster))?;
        let now = store.now();
        let host = holder::host_name();
        // Pruned as seen, never written: a command that only reads (whose
        // clock may be off) leaves the shared state to those that change it.
        let state = store.change(|state| {
            let mut seen = state.clone();
            crate::seats::prune(&mut seen, &host, now);
            seen
        })?;
        Ok((state, now))
    }

    /// The roster's `[state]` with the flags and variables applied.
    pub fn state_config(&self, roster: Option<&Roster>) -> Result<StateConfig> {
        let mut config = roster.map(|r| r.state.clone()).unwrap_or_default();
        if let Some(url) = self.state_url.as_deref().filter(|u| !u.is_empty()) {
            check_state_url(url).map_err(|e| crate::error::usage(format!("--state-url (ACCOUNTS_STATE_URL): {e}")))?;
            config.url = Some(url.to_owned());
        }
        if let Some(namespace) = self.state_namespace.as_deref().filter(|n| !n.is_empty()) {
            if !crate::roster::valid_name(namespace) {
                return Err(crate::error::usage(format!(
                    "--state-namespace (ACCOUNTS_STATE_NAMESPACE) {namespace:?} is not allowed; {}",
                    crate::roster::NAME_RULE
                )));
            }
            config.namespace = namespace.to_owned();
        }
        Ok(config)
    }

    /// What a command needs to reach plugins, built once from the roster.
    pub fn plugin_host(&self, roster: Option<&Roster>) -> Result<PluginHost> {
        Ok(PluginHost { registry: self.registry(roster), runtime: self.runtime(roster)? })
    }
}

/// The registry (kind -> component) and the runtime (engine, cache,
/// sandbox) of one command: the preamble every plugin-using command shares.
pub struct PluginHost {
    pub registry: Registry,
    pub runtime: Runtime,
}

impl PluginHost {
    /// The plugin for `kind`, resolved and loaded: an unknown kind is an
    /// error listing the known ones; resolution warnings go to stderr.
    pub fn load(&self, kind: &str) -> Result<Plugin<'_>> {
        let source = self.registry.resolve(kind, &mut |w| notice::warn(w))?;
        Ok(self.runtime.load(&source)?)
    }
}

// Which process holds a lease, and for how long.
// (Not a doc comment: see `defer` on `Command`.)
#[derive(clap::Args, Clone)]
pub struct LeaseFlags {
    /// Keep the lease while this process runs [default: the calling shell, see README]
    #[arg(long, value_name = "PID")]
    pub holder_pid: Option<u32>,
    /// Lease lifetime; a lease also ends when its holder exits
    #[arg(long, default_value = "12h", value_name = "DURATION")]
    pub ttl: String,
}

impl LeaseFlags {
    pub fn ttl_secs(&self) -> Result<i64> {
        timefmt::parse_duration(&self.ttl).map_err(|e| crate::error::usage(format!("--ttl: {e}")))
    }

    /// The holder: `--holder-pid` (which must be running), else the default.
    pub fn holder(&self) -> Result<Holder> {
        match self.holder_pid {
            None => Ok(holder::default_holder()),
            Some(pid) => Holder::running(pid)
                .ok_or_else(|| crate::error::usage(format!("--holder-pid {pid}: no such process is running"))),
        }
    }
}

// How a launch env is printed.
// (Not a doc comment: see `defer` on `Command`.)
#[derive(clap::Args, Clone)]
pub struct EnvOutput {
    /// Output format
    #[arg(long, value_enum, default_value = "sh")]
    pub format: Format,
    /// Print a token even when stdout is a terminal
    #[arg(long)]
    pub reveal: bool,
    /// With --format docker: where the config dir is mounted in the container [default: the same path]
    #[arg(long, value_name = "PATH")]
    pub mount_at: Option<PathBuf>,
}

impl EnvOutput {
    /// The env in the chosen format, unless it would put a token on a
    /// terminal: it ends up in scrollback and screen shares, so it is printed
    /// only to a pipe or file, or when asked to. Docker arguments hold no
    /// token.
    pub fn render(&self, launch: &Launch) -> Result<String> {
        if let Some(warning) = &launch.warning {
            notice::warn(warning);
        }
        if self.mount_at.is_some() && self.format != Format::Docker {
            return Err(crate::error::usage("--mount-at goes with --format docker"));
        }
        if self.format == Format::Docker {
            let mount_at = self.mount_at.as_deref().unwrap_or(&launch.env.config_dir);
            for (what, path) in [("the config dir", launch.env.config_dir.as_path()), ("--mount-at", mount_at)] {
                check_docker_path(what, path)?;
            }
            return Ok(crate::render::docker_args(&launch.env, mount_at));
        }
        if launch.token.is_some() && !self.reveal && std::io::stdout().is_terminal() {
            return Err(crate::error::usage(
                "refusing to print a token to a terminal; capture it (out=$(accounts launch-env ...)) or pass --reveal",
            ));
        }
        Ok(render(&launch.env, self.format))
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}

/// `docker -v HOST:CONTAINER` needs two absolute paths without `:`.
fn check_docker_path(what: &str, path: &std::path::Path) -> Result<()> {
    let text = path.to_string_lossy();
    if !path.is_absolute() || text.contains(':') || text.chars().any(char::is_control) {
        return Err(crate::error::usage(format!(
            "{what} {text:?} cannot be a docker mount: it must be an absolute path without ':'"
        )));
    }
    Ok(())
}

/// Report a no-seat error as JSON on stdout when the user asked for JSON.
pub fn no_seat_as_json(error: Error, json: bool) -> Error {
    if let (true, Error::NoSeat { json: value, .. }) = (json, &error) {
        let _ = print(&format!("{value}\n"));
    }
    error
}

/// Write all of `text` to stdout at once, so a failure never leaves half an
/// env behind.
/// A command's result is done once it is on stdout, so this returns the
/// command's status: `print(..)` ends most commands.
pub fn print(text: &str) -> Result<ExitStatus> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map(|()| ExitStatus::Success)
        .map_err(|e| Error::Other(anyhow::anyhow!("writing to stdout: {e}")))
}

/// Parse, run, and turn the outcome into an exit code.
pub fn main() -> std::process::ExitCode {
    // A TAB in a shell that loaded `accounts completions SHELL` calls us
    // with ACCOUNTS_COMPLETE set: answer and exit (otherwise one lookup).
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command)
        .var(completions::COMPLETE_VAR)
        .complete();
    // One build of the command serves the check and the parse (what
    // `Cli::parse` does, with the check in between).
    let command = <Cli as clap::CommandFactory>::command();
    if let Some(name) = empty_setting(&command) {
        crate::notice::error(format!(
            "{name} is set but empty (a variable a script never filled in?); give it a value, \
             or unset it for the default"
        ));
        return std::process::ExitCode::from(2);
    }
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut command.get_matches()).unwrap_or_else(|e| e.exit());
    let ctx = Context {
        paths: Paths::resolve(cli.roster, cli.state_dir, cli.plugin_dir, cli.cache_dir),
        verbose: cli.verbose,
        state_url: cli.state_url,
        state_namespace: cli.state_namespace,
    };
    // Before anything reads the clock.
    let result = match crate::clock::init_from_env() {
        Err(why) => Err(crate::error::usage(why)),
        Ok(()) => run(&ctx, cli.command),
    };
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            report(&ctx, &error);
            ExitStatus::of(&error).into()
        }
    }
}

/// The first of the global settings (`ACCOUNTS_ROSTER`, `ACCOUNTS_STATE_DIR`,
/// ...) that is set to nothing. clap would take it for a flag given without
/// its value; falling back to the default instead could run a worker on
/// another roster than the one meant. (Subcommands are built only when they
/// run, `defer`, so only the global flags are seen here.)
fn empty_setting(command: &clap::Command) -> Option<String> {
    command
        .get_arguments()
        .filter_map(clap::Arg::get_env)
        .find(|name| std::env::var_os(name).is_some_and(|v| v.is_empty()))
        .map(|n| n.to_string_lossy().into())
}

/// Run one subcommand.
fn run(ctx: &Context, command: Command) -> Result<ExitStatus> {
    match command {
        Command::Exec(args) => exec::run(ctx, args),
        Command::Resume(args) => resume::run(ctx, args),
        Command::LaunchEnv(args) => launch_env::run(ctx, args),
        Command::Wall(args) => wall::run_wall(ctx, args),
        Command::Unwall(args) => wall::run_unwall(ctx, args),
        Command::Rotate(args) => rotate::run(ctx, args),
        Command::Release(args) => release::run(ctx, args),
        Command::Allocate(args) => allocate::run(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Statusline(args) => statusline::run(ctx, args),
        Command::Add(args) => add::run_add(ctx, args),
        Command::Remove(args) => add::run_remove(ctx, args),
        Command::Login(args) => login::run(ctx, args),
        Command::Enroll(args) => enroll::run_enroll(ctx, args),
        Command::Forget(args) => enroll::run_forget(ctx, args),
        Command::Plugins(cmd) => plugins::run(ctx, cmd),
        Command::State(cmd) => state_cmd::run(ctx, cmd),
        Command::Bind(args) => bind::run_bind(ctx, args),
        Command::Unbind(args) => bind::run_unbind(ctx, args),
        Command::Hook(args) => bind::run_hook(args),
        Command::HookEnv(args) => bind::run_hook_env(ctx, args),
        Command::Doctor(args) => doctor::run(ctx, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// Every error goes out through one masking pass: a token pasted where a
/// name or a number belongs (`token_env = "sk-..."`, `--token-env sk-...`,
/// `seats = "sk-..."`) is echoed by the message that says it is wrong, so
/// every word shaped like a known plugin's token is masked here.
fn report(ctx: &Context, error: &Error) {
    notice::error(ctx.error_redactor().scrub_str(&error.to_string()));
}
