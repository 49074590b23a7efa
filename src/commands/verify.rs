//! `tt-vault verify` and `tt-vault audits`.

use crate::store::checker::{self, Audit, Mode, Report};
use crate::store::lock::ReadLock;
use crate::store::{Repository, StoreError, Vault};

use super::{CommandError, Progress, Result};

pub fn verify(
    vault: &Vault,
    read_data: bool,
    sample: Option<u32>,
    decode: bool,
    progress: &dyn Progress,
) -> Result<Report> {
    let mode = match (read_data, sample) {
        (true, Some(_)) => {
            return Err(CommandError::Usage(
                "--read-data reads every pack; --sample reads some: give one of them".into(),
            ))
        }
        (_, Some(p)) if p == 0 || p > 100 => {
            return Err(CommandError::Usage(format!(
                "--sample {p}: give a percentage from 1 to 100"
            )))
        }
        (_, Some(p)) => Mode::Sample(p),
        (true, None) => Mode::ReadData,
        (false, None) if decode => {
            return Err(CommandError::Usage(
                "--decode says how blobs are read: give it with --read-data or --sample".into(),
            ))
        }
        (false, None) => Mode::Structure,
    };
    let total = if mode == Mode::Structure {
        None
    } else {
        let t = Repository::open(vault)?.total_pack_bytes()?;
        Some(match mode {
            Mode::Sample(p) => t * p as u64 / 100,
            _ => t,
        })
    };
    // Held until verify is done, so prune cannot delete a pack under it.
    let _readers = ReadLock::acquire(vault.root()).map_err(StoreError::from)?;
    progress.begin("verify", total);
    let add = |n| progress.add(n);
    let report = checker::verify(vault, mode, decode, &add)?;
    progress.end();
    Ok(report)
}

pub fn audits(vault: &Vault) -> Result<Vec<Audit>> {
    Ok(Repository::open(vault)?.audits()?)
}
