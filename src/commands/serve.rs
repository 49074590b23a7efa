//! `tt-vault serve`: the read-only web viewer (the server is in `crate::serve`).

use std::net::SocketAddr;

use crate::selection::{self, Selector};
use crate::serve::{self, Options};
use crate::store::Vault;

use super::{CommandError, Result};

pub struct ServeArgs {
    pub listen: SocketAddr,
    /// The snapshot to open first (and, with an account, the only account shown).
    pub select: Selector,
}

/// Serves until the process is stopped; `ready` gets the address to open.
pub fn serve(vault: &Vault, args: &ServeArgs, ready: &dyn Fn(&str)) -> Result<()> {
    let start = {
        let conn = vault.connect_read_only()?;
        selection::resolve(&conn, &args.select)?
    };
    let opts = Options {
        listen: args.listen,
        account: args.select.account.clone(),
        start,
    };
    serve::run(vault, opts, ready).map_err(|e| match e {
        serve::ServeError::Store(s) => CommandError::Store(s),
        other => CommandError::Usage(other.to_string()),
    })
}
