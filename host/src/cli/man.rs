//! `accounts man`: the manual pages (roff), from the command definitions
//! themselves (clap_mangen): `accounts.1` on stdout, or with `--dir DIR`
//! one page per command (`accounts-exec.1`, ...) written there.

use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, print};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    /// Write accounts.1 and one accounts-COMMAND.1 per command into this dir
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitStatus> {
    let mut command = Cli::command();
    command.build();
    let Some(dir) = args.dir else {
        return print(&String::from_utf8_lossy(&render(&command)?));
    };
    let fail = |e: std::io::Error| Error::Other(anyhow::anyhow!("writing man pages into {}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mut written = vec![("accounts.1".to_owned(), render(&command)?)];
    for sub in command.get_subcommands().filter(|c| c.get_name() != "help" && !c.is_hide_set()) {
        let name = format!("accounts-{}", sub.get_name());
        written.push((
            format!("{name}.1"),
            render(&sub.clone().name(name).bin_name(format!("accounts {}", sub.get_name())))?,
        ));
    }
    for (file, page) in &written {
        std::fs::write(dir.join(file), page).map_err(fail)?;
    }
    print(&format!("wrote {} man pages into {}\n", written.len(), dir.display()))
}

fn render(command: &clap::Command) -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .map_err(|e| Error::Other(anyhow::anyhow!("rendering the man page: {e}")))?;
    Ok(page)
}
