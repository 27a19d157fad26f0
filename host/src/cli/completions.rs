//! `accounts completions SHELL`: completion scripts generated from the
//! command definitions themselves, so they never fall behind the flags.

use clap::CommandFactory;

use super::{Cli, print};
use crate::error::Result;
use crate::exit::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<ExitStatus> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "accounts", &mut script);
    print(&String::from_utf8_lossy(&script))
}
