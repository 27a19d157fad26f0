//! `accounts release`.

use super::{Context, print};
use crate::error::{Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::seats;
use crate::state::StateStore;

#[derive(clap::Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["worker", "account", "host_id"])))]
pub struct Args {
    /// Release this worker's lease
    #[arg(long, value_name = "ID")]
    worker: Option<String>,
    /// Release every lease on this account
    #[arg(long, value_name = "NAME", add = super::completions::accounts())]
    account: Option<String>,
    /// Release every lease of a host that is gone (its leases would
    /// otherwise last until their TTL); never this host's, unless --force
    #[arg(long = "host", value_name = "ID")]
    host_id: Option<String>,
    /// With --host: free this host's own leases too (its running workers
    /// lose their seats)
    #[arg(long, requires = "host_id")]
    force: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    if let Some(worker) = &args.worker {
        seats::check_worker_id(worker)?;
    }
    let roster = ctx.roster()?;
    if let Some(name) = &args.account {
        seats::account(&roster, name)?;
    }
    let host = holder::host_name();
    if let Some(gone) = &args.host_id {
        if gone.trim().is_empty() {
            return Err(usage("--host needs the host's id, as `status` shows it after a lease's pid@"));
        }
        if *gone == host && !args.force {
            return Err(usage(format!(
                "--host {gone:?} is this host: its leases are its running workers' seats; \
                 release them by --worker or --account, or pass --force"
            )));
        }
    }
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let released = store.change(|state| {
        seats::prune(state, &host, now);
        match (&args.worker, &args.account, &args.host_id) {
            (Some(w), ..) => state.release(|l| &l.worker == w),
            (_, Some(a), _) => state.release(|l| &l.account == a),
            (.., Some(h)) => state.release(|l| &l.host == h),
            _ => 0,
        }
    })?;
    print(&format!("released {released} lease{}\n", if released == 1 { "" } else { "s" }))
}
