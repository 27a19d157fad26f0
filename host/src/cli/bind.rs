//! `accounts bind`, `unbind` and `hook`: directories (or every clone of a
//! git remote) bound to an account or a kind. `launch-env` and `exec` in a
//! bound directory take that account first (or that kind when no `--agent`
//! is given); the shell hook sets the bound account's env on entering the
//! directory and unsets it on leaving, so a plain `claude` there runs as it.

use std::path::{Path, PathBuf};

use super::{Context, print};
use crate::bind::{self, Binding, Place, Target};
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::launch;
use crate::render::{self, Format, LaunchEnv};
use crate::roster::Roster;
use crate::roster_edit::RosterFile;

/// Set in the shell by the hook: the account whose env it set.
const BOUND_VAR: &str = "ACCOUNTS_BOUND";

#[derive(clap::Args)]
pub struct BindArgs {
    /// Send work here to this account (taken first when it has room)
    #[arg(long, value_name = "NAME", conflicts_with = "agent", add = super::completions::accounts())]
    account: Option<String>,
    /// Send work here to this agent kind (when no --agent is given)
    #[arg(long, value_name = "KIND", add = super::completions::kinds())]
    agent: Option<String>,
    #[command(flatten)]
    place: PlaceArgs,
}

#[derive(clap::Args)]
pub struct UnbindArgs {
    #[command(flatten)]
    place: PlaceArgs,
}

// Where a binding applies (a plain comment: see `defer` on `Command`).
#[derive(clap::Args)]
struct PlaceArgs {
    /// The directory (and everything below it) [default: the current one]
    #[arg(long, value_name = "DIR", conflicts_with = "remote")]
    path: Option<PathBuf>,
    /// Every clone of this git remote instead (`git@github.com:acme/app.git`;
    /// `github.com/acme` takes all of acme's)
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
}

impl PlaceArgs {
    /// The place, as the roster keeps it: an absolute path, or a remote
    /// normalized.
    fn place(&self) -> Result<Place> {
        match (&self.path, &self.remote) {
            (_, Some(remote)) => bind::normalize_remote(remote).map(Place::Remote).ok_or_else(|| {
                usage(format!("--remote {remote:?} is not a git remote; e.g. git@github.com:acme/app.git"))
            }),
            (Some(path), None) => absolute_dir(path).map(Place::Path),
            (None, None) => {
                let cwd = std::env::current_dir()
                    .map_err(|e| Error::Other(anyhow::anyhow!("reading the current directory: {e}")))?;
                absolute_dir(&cwd).map(Place::Path)
            }
        }
    }
}

/// The directory as the working directory of a process in it reads
/// (`getcwd`: absolute, no `..`, symlinks resolved), so the two compare.
fn absolute_dir(path: &Path) -> Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(dir) if dir.is_dir() => Ok(dir),
        Ok(_) => Err(usage(format!("--path {}: not a directory", path.display()))),
        Err(e) => Err(usage(format!("--path {}: {e}", path.display()))),
    }
}

fn place_entry(place: &Place) -> (&'static str, String) {
    match place {
        Place::Path(path) => ("path", path.to_string_lossy().into_owned()),
        Place::Remote(remote) => ("remote", remote.clone()),
    }
}

fn describe(binding: &Binding) -> String {
    match &binding.target {
        Target::Account(name) => format!("{} -> account {name}", binding.place.describe()),
        Target::Agent(kind) => format!("{} -> agent {kind}", binding.place.describe()),
    }
}

/// `accounts bind`: add (or replace) a binding; without `--account` or
/// `--agent`, list the bindings and say which applies here.
pub fn run_bind(ctx: &Context, args: BindArgs) -> Result<ExitStatus> {
    let target = match (&args.account, &args.agent) {
        (Some(name), _) => Target::Account(name.clone()),
        (None, Some(kind)) => Target::Agent(kind.clone()),
        (None, None) => return list(ctx),
    };
    let place = args.place.place()?;
    let mut file = RosterFile::open(&ctx.paths.roster)?;
    let Some(current) = file.current().cloned() else {
        return Err(usage(format!(
            "no roster at {} yet; add an account first: accounts add NAME --agent KIND",
            ctx.paths.roster.display()
        )));
    };
    if let Target::Agent(kind) = &target
        && let Some(problem) = ctx.registry(Some(&current)).problem(kind)
    {
        return Err(usage(format!("--agent {kind}: {problem}")));
    }
    let same = current.bindings.iter().position(|b| b.place == place);
    let (key, value) = place_entry(&place);
    let (target_key, target_value) = match &target {
        Target::Account(name) => ("account", name.as_str()),
        Target::Agent(kind) => ("agent", kind.as_str()),
    };
    let replaced = file.bind((key, &value), (target_key, target_value), same);
    file.save()?;
    let binding = Binding { place, target };
    print(&format!(
        "{} {}; launch-env and exec there take it first{}\n",
        if replaced { "rebound" } else { "bound" },
        describe(&binding),
        match binding.target {
            Target::Account(_) => "; `accounts hook SHELL` sets its env in your shell there",
            Target::Agent(_) => "",
        }
    ))
}

fn list(ctx: &Context) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    if roster.bindings.is_empty() {
        return print("no bindings; bind this directory: accounts bind --account NAME\n");
    }
    let here = bind::here(&roster.bindings);
    let mut out = String::new();
    for binding in &roster.bindings {
        let mark = if here == Some(binding) { "  (here)" } else { "" };
        out += &format!("{}{mark}\n", describe(binding));
    }
    print(&out)
}

/// `accounts unbind`: remove the binding of a place.
pub fn run_unbind(ctx: &Context, args: UnbindArgs) -> Result<ExitStatus> {
    let place = args.place.place()?;
    let mut file = RosterFile::open(&ctx.paths.roster)?;
    let current = file.current().cloned();
    let Some(i) = current.as_ref().and_then(|r| r.bindings.iter().position(|b| b.place == place)) else {
        return Err(usage(format!(
            "nothing is bound at {} in {}; `accounts bind` lists the bindings",
            place.describe(),
            ctx.paths.roster.display()
        )));
    };
    let binding = current.expect("found in it").bindings[i].clone();
    file.unbind(i);
    file.save()?;
    print(&format!("unbound {}\n", describe(&binding)))
}

#[derive(clap::Args)]
pub struct HookArgs {
    /// The shell to hook into
    #[arg(value_enum)]
    shell: HookShell,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum HookShell {
    Bash,
    Zsh,
    Fish,
}

/// `accounts hook SHELL`: the code a shell's rc file evaluates so that
/// each prompt (and, in zsh and fish, each `cd`) asks `hook-env` what to
/// set or unset.
pub fn run_hook(args: HookArgs) -> Result<ExitStatus> {
    print(match args.shell {
        HookShell::Bash => {
            "_accounts_hook() {\n  local out\n  out=$(command accounts hook-env --format sh) && eval \"$out\"\n}\n\
             if [[ \";${PROMPT_COMMAND[*]:-};\" != *\";_accounts_hook;\"* ]]; then\n  \
             PROMPT_COMMAND=\"_accounts_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}\"\nfi\n"
        }
        HookShell::Zsh => {
            "_accounts_hook() {\n  local out\n  out=$(command accounts hook-env --format sh) && eval \"$out\"\n}\n\
             typeset -ag precmd_functions chpwd_functions\n\
             (( ${precmd_functions[(I)_accounts_hook]} )) || precmd_functions=(_accounts_hook $precmd_functions)\n\
             (( ${chpwd_functions[(I)_accounts_hook]} )) || chpwd_functions=(_accounts_hook $chpwd_functions)\n"
        }
        HookShell::Fish => {
            "function _accounts_hook --on-variable PWD --on-event fish_prompt\n    \
             set -l out (command accounts hook-env --format fish | string collect); and eval $out\nend\n"
        }
    })
}

#[derive(clap::Args)]
pub struct HookEnvArgs {
    /// sh (bash, zsh) or fish
    #[arg(long, value_enum, default_value = "sh")]
    format: Format,
}

/// `accounts hook-env`: what the hook evaluates where the shell now is:
/// the bound account's env on entering a bound directory (with
/// `ACCOUNTS_BOUND`), the unsets on leaving it, nothing when nothing
/// changed. Leaving unsets the variables; it does not restore earlier values.
pub fn run_hook_env(ctx: &Context, args: HookEnvArgs) -> Result<ExitStatus> {
    if !matches!(args.format, Format::Sh | Format::Fish) {
        return Err(usage("hook-env speaks sh or fish"));
    }
    let roster = ctx.roster_if_any()?;
    let here = roster.as_ref().and_then(|r| bind::here(&r.bindings)).and_then(Binding::account);
    let before = std::env::var(BOUND_VAR).ok().filter(|b| !b.is_empty());
    if here.is_some() && here == before.as_deref() {
        return Ok(ExitStatus::Success);
    }
    let mut launch = match (here, &roster) {
        (Some(name), Some(roster)) => entering(ctx, roster, name)?,
        _ if before.is_none() => return Ok(ExitStatus::Success),
        _ => LaunchEnv {
            account: String::new(),
            agent: String::new(),
            env: Vec::new(),
            unset: vec![launch::ACCOUNT_VAR.to_owned(), BOUND_VAR.to_owned()],
            config_dir: PathBuf::new(),
        },
    };
    // Leaving an account (or switching kinds): its variables go too.
    if let (Some(before), Some(roster)) = (&before, &roster)
        && let Some(account) = roster.account(before)
        && let Ok(plugin) = ctx.plugin_host(Some(roster)).and_then(|host| {
            let plugin = host.load(&account.agent)?;
            Ok(plugin.spec().env_keys.clone())
        })
    {
        for key in plugin {
            if !launch.env.iter().any(|(k, _)| *k == key) && !launch.unset.contains(&key) {
                launch.unset.push(key);
            }
        }
    }
    print(&render::render(&launch, args.format))
}

/// The env of the bound account, marked as the hook's.
fn entering(ctx: &Context, roster: &Roster, name: &str) -> Result<LaunchEnv> {
    let account = roster.account(name).expect("the roster checks a binding's account");
    let host = ctx.plugin_host(Some(roster))?;
    let plugin = host.load(&account.agent)?;
    let mut launched = launch::launch_env(account, &plugin, None, crate::clock::now())?;
    if let Some(warning) = &launched.warning {
        crate::notice::warn(warning);
    }
    launched.env.env.push((BOUND_VAR.to_owned(), name.to_owned()));
    Ok(launched.env)
}
