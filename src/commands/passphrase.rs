//! Where a passphrase comes from: `--password-file` / `$TT_VAULT_PASSWORD_FILE`, else
//! `$TT_VAULT_PASSWORD_COMMAND` (run with `sh -c`, first line of its stdout), else a
//! prompt on the terminal without echo (restic's three ways).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::{CommandError, Result};

/// Longest passphrase file or command output read (a passphrase is a line).
const MAX_LEN: u64 = 64 * 1024;

/// The passphrase sources given on the command line or in the environment.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub file: Option<PathBuf>,
    pub command: Option<String>,
}

fn first_line(bytes: &[u8]) -> Zeroizing<String> {
    let text = String::from_utf8_lossy(bytes);
    Zeroizing::new(text.lines().next().unwrap_or("").to_string())
}

impl Source {
    /// The passphrase, from the first source that is set; `what` names it in a prompt.
    pub fn read(&self, what: &str) -> Result<Zeroizing<String>> {
        if let Some(path) = &self.file {
            let mut buf = Zeroizing::new(Vec::new());
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_LEN).read_to_end(&mut buf))
                .map_err(|e| {
                    CommandError::Usage(format!("password file {}: {e}", path.display()))
                })?;
            return Ok(first_line(&buf));
        }
        if let Some(cmd) = &self.command {
            return run_command(cmd);
        }
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::Usage(format!(
                "{what} is needed and there is no terminal to ask on: pass --password-file, \
                 or set TT_VAULT_PASSWORD_FILE or TT_VAULT_PASSWORD_COMMAND"
            )));
        }
        rpassword::prompt_password(format!("{what}: "))
            .map(Zeroizing::new)
            .map_err(|e| CommandError::Usage(format!("reading the passphrase: {e}")))
    }

    /// A new passphrase: asked twice on a terminal; from a file or command, once.
    pub fn read_new(&self, what: &str) -> Result<Zeroizing<String>> {
        let pass = self.read(what)?;
        if self.file.is_none() && self.command.is_none() {
            let again = self.read(&format!("{what} (again)"))?;
            if *again != *pass {
                return Err(CommandError::Usage("the passphrases differ".into()));
            }
        }
        if pass.is_empty() {
            return Err(CommandError::Usage("an empty passphrase is refused".into()));
        }
        Ok(pass)
    }
}

fn run_command(cmd: &str) -> Result<Zeroizing<String>> {
    // The command line is not repeated: any word of it may be a secret (a
    // passphrase given to `echo`, `TOKEN=… helper`), and errors end up in logs and mail.
    let fail = |why: String| {
        CommandError::Usage(format!(
            "the password command (TT_VAULT_PASSWORD_COMMAND, or the config's \
             password_command) {why}"
        ))
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(format!("could not start: {e}")))?;
    let mut out = Zeroizing::new(Vec::new());
    let read = child
        .stdout
        .take()
        .expect("stdout is piped")
        .take(MAX_LEN)
        .read_to_end(&mut out);
    let status = child.wait().map_err(|e| fail(format!("failed: {e}")))?;
    read.map_err(|e| fail(format!("output unreadable: {e}")))?;
    if !status.success() {
        return Err(fail(format!("failed ({status})")));
    }
    Ok(first_line(&out))
}
