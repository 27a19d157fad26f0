//! `accounts release`.

use super::{Context, print};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::holder;
use crate::seats;
use crate::state::StateStore;

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Args {
    /// Release this worker's lease
    #[arg(long, value_name = "ID")]
    worker: Option<String>,
    /// Release every lease on this account
    #[arg(long, value_name = "NAME", add = super::completions::accounts())]
    account: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    if let Some(worker) = &args.worker {
        seats::check_worker_id(worker)?;
    }
    let roster = ctx.roster()?;
    if let Some(name) = &args.account {
        seats::account(&roster, name)?;
    }
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let host = holder::host_name();
    let released = store.change(|state| {
        seats::prune(state, &host, now);
        match (&args.worker, &args.account) {
            (Some(w), _) => state.release(|l| &l.worker == w),
            (_, Some(a)) => state.release(|l| &l.account == a),
            _ => 0,
        }
    })?;
    print(&format!("released {released} lease{}\n", if released == 1 { "" } else { "s" }))
}
