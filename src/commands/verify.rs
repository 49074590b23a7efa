//! `tt-vault verify` and `tt-vault audits`.

use crate::store::checker::{self, Audit, Mode, Report};
use crate::store::Vault;

use super::{CommandError, Progress, Result};

pub fn verify(
    vault: &Vault,
    read_data: bool,
    sample: Option<u32>,
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
        (false, None) => Mode::Structure,
    };
    let total = if mode == Mode::Structure {
        None
    } else {
        let conn = vault.connect()?;
        let t: i64 =
            conn.query_row("SELECT coalesce(sum(size), 0) FROM packs", [], |r| r.get(0))?;
        Some(match mode {
            Mode::Sample(p) => t as u64 * p as u64 / 100,
            _ => t as u64,
        })
    };
    progress.begin("verify", total);
    let add = |n| progress.add(n);
    let report = checker::verify(vault, mode, &add)?;
    progress.end();
    Ok(report)
}

pub fn audits(vault: &Vault) -> Result<Vec<Audit>> {
    Ok(checker::audits(&vault.connect()?)?)
}
