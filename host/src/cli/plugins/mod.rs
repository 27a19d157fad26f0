//! `accounts plugins ...`: list, inspect, check, install, remove, scaffold
//! a new plugin, and show the policy every plugin lives under.

mod check;
mod install;
mod list;
mod new;

use std::path::PathBuf;

use clap::Subcommand;

use super::Context;
use crate::error::Result;
use crate::exit::ExitStatus;

#[derive(Subcommand)]
pub enum Command {
    /// Every agent kind that resolves: kind, label, contract version, source
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// One plugin's spec
    Inspect {
        kind: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Check a plugin (a .wasm file or a kind) in the real sandbox: what the host relies on
    Check {
        /// A plugin file, or the kind of an installed plugin
        plugin: String,
        /// A file of the agent's own wall messages, one per line: each must be found with its reset
        #[arg(long, value_name = "FILE")]
        wall_sample: Option<PathBuf>,
        /// A config dir holding a live login of the agent's: it must read as live, and a token must not shadow it
        #[arg(long, value_name = "DIR")]
        login_sample: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Check a plugin file and copy it into the plugin dir as <kind>.wasm
    Install {
        /// The plugin file (a wasm32-wasip2 component)
        file: PathBuf,
    },
    /// Remove <kind>.wasm from the plugin dir
    Remove { kind: String },
    /// Write a new plugin crate, ready to build, for an agent KIND
    New {
        /// The agent kind the plugin serves (lower-case letters, digits, -, _)
        kind: String,
        /// Where to write it [default: ./<kind>-plugin]
        dir: Option<PathBuf>,
        /// The accounts-plugin SDK crate to depend on by path [default: this build's, else crates.io]
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// The names no plugin may set, and why; the limits every call runs under
    Policy {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Context, cmd: Command) -> Result<ExitStatus> {
    match cmd {
        Command::List { json } => list::list(ctx, json),
        Command::Inspect { kind, json } => list::inspect(ctx, &kind, json),
        Command::Policy { json } => list::policy(json),
        Command::Check { plugin, wall_sample, login_sample, json } => {
            check::run(ctx, &plugin, wall_sample.as_deref(), login_sample.as_deref(), json)
        }
        Command::Install { file } => install::install(ctx, &file),
        Command::Remove { kind } => install::remove(ctx, &kind),
        Command::New { kind, dir, sdk } => new::run(&kind, dir, sdk),
    }
}
