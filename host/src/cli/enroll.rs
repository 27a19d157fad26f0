//! `accounts enroll` and `accounts forget`: a static token stored for an
//! account without an editor or an argv (the CI fast path), and removed.

use std::io::{IsTerminal, Read};

use super::{Context, print};
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::launch;
use crate::roster_edit::RosterFile;
use crate::seats;
use crate::secret::Secret;
use crate::token::MAX_TOKEN_BYTES;
use crate::token_store::{self, Place};

#[derive(clap::Args)]
pub struct EnrollArgs {
    /// The account to store a token for
    #[arg(add = super::completions::accounts())]
    name: String,
    /// Read the token from stdin (a pipe or file, never a terminal)
    #[arg(long, required_unless_present = "token_env", conflicts_with = "token_env")]
    token_stdin: bool,
    /// Read the token from this environment variable
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
}

pub fn run_enroll(ctx: &Context, args: EnrollArgs) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.name)?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    let plugin = plugins.load(&account.agent)?;
    let spec = plugin.spec();
    let place = token_store::place(account, spec.token_file_name.as_deref()).map_err(usage)?;
    let token = if args.token_stdin { from_stdin()? } else { from_env(args.token_env.as_deref().unwrap_or(""))? };
    if let Err(reason) = plugin.validate_token(&token)? {
        let why = if reason.raw().is_empty() { spec.prefix_hint() } else { format!(": {reason}") };
        return Err(usage(format!("not a valid {} token{why}; nothing was stored", spec.label)));
    }
    let masked = token.masked(&spec.token_prefixes);
    // Under the roster's lock: a `NewFile` place also writes the roster.
    let mut file = RosterFile::open(&ctx.paths.roster)?;
    if matches!(place, Place::PluginFile(_) | Place::NewFile(_)) {
        launch::ensure_config_dir(account)?;
    }
    let path = place.path();
    token_store::write(path, &token)
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot store the token in {}: {e}", path.display())))?;
    if let Place::NewFile(_) = place {
        file.set_token_file(&account.name, Some(&path.to_string_lossy()));
        if let Err(e) = file.save() {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    print(&format!("{}: stored a {} token ({masked}) in {} (mode 0600)\n", account.name, spec.label, path.display()))
}

#[derive(clap::Args)]
pub struct ForgetArgs {
    /// The account whose stored token to remove
    #[arg(add = super::completions::accounts())]
    name: String,
}

/// Removes the token `enroll` stored. The agent's own login files are
/// never touched: logging out is the agent's business.
pub fn run_forget(ctx: &Context, args: ForgetArgs) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.name)?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    let plugin = plugins.load(&account.agent)?;
    let place = token_store::place(account, plugin.spec().token_file_name.as_deref()).map_err(usage)?;
    let mut file = RosterFile::open(&ctx.paths.roster)?;
    let path = place.path();
    let existed = match std::fs::remove_file(path) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::Other(anyhow::anyhow!("cannot remove {}: {e}", path.display()))),
    };
    // A token_file the roster names would now point at nothing.
    if let Place::RosterFile(_) = place {
        file.set_token_file(&account.name, None);
        file.save()?;
    }
    print(&if existed {
        format!("{}: removed the stored token {}\n", account.name, path.display())
    } else {
        format!("{}: no stored token (nothing at {})\n", account.name, path.display())
    })
}

/// The token piped in. A terminal is refused: the token would be typed in
/// the clear and could sit in scrollback.
fn from_stdin() -> Result<Secret> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(usage(
            "--token-stdin reads a pipe, not a terminal: printf '%s' \"$KEY\" | accounts enroll NAME --token-stdin",
        ));
    }
    let mut raw = Vec::new();
    stdin
        .lock()
        .take(MAX_TOKEN_BYTES as u64 + 3)
        .read_to_end(&mut raw)
        .map_err(|e| Error::Other(anyhow::anyhow!("reading the token from stdin: {e}")))?;
    token_store::from_input(&raw).map_err(|e| usage(format!("{e} (read from stdin); nothing was stored")))
}

fn from_env(var: &str) -> Result<Secret> {
    let value = std::env::var_os(var)
        .ok_or_else(|| usage(format!("--token-env {var}: the variable is not set; export it first")))?;
    token_store::from_input(value.as_encoded_bytes())
        .map_err(|e| usage(format!("{e} (read from ${var}); nothing was stored")))
}
