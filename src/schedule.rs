//! `tt-vault schedule`: an unattended `tt-vault run` as a systemd user timer
//! (`Persistent=true`, so a run missed while the machine was off happens at the next
//! boot), or a crontab line where systemd is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

pub const SERVICE: &str = "tt-vault.service";
pub const TIMER: &str = "tt-vault.timer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Hourly,
    Daily,
    Weekly,
}

impl std::str::FromStr for Every {
    type Err = String;

    fn from_str(s: &str) -> Result<Every, String> {
        match s {
            "hourly" => Ok(Every::Hourly),
            "daily" => Ok(Every::Daily),
            "weekly" => Ok(Every::Weekly),
            _ => Err(format!("{s:?}: use one of {}", Every::NAMES.join(", "))),
        }
    }
}

impl Every {
    pub const NAMES: [&'static str; 3] = ["hourly", "daily", "weekly"];

    fn on_calendar(self) -> &'static str {
        match self {
            Every::Hourly => "hourly",
            Every::Daily => "daily",
            Every::Weekly => "weekly",
        }
    }

    fn cron(self) -> &'static str {
        match self {
            Every::Hourly => "17 * * * *",
            Every::Daily => "17 3 * * *",
            Every::Weekly => "17 3 * * 1",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("no config folder: set XDG_CONFIG_HOME or HOME")]
    NoConfigHome,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What `schedule` did, and what the person should know.
#[derive(Debug, Serialize)]
pub struct Scheduled {
    /// Unit files written or removed.
    pub files: Vec<PathBuf>,
    /// Whether systemd was told (`daemon-reload`, `enable --now` / `disable --now`).
    pub systemd: bool,
    /// What systemctl said when it failed, or why it was not asked.
    pub systemd_note: Option<String>,
    /// Where systemd is absent: the line to add with `crontab -e`.
    pub crontab: Option<String>,
    /// How to see the runs' output.
    pub logs: Option<String>,
}

/// The folder of systemd user units: `$XDG_CONFIG_HOME/systemd/user`.
pub fn unit_dir() -> Result<PathBuf, ScheduleError> {
    crate::config::config_home()
        .map(|c| c.join("systemd").join("user"))
        .ok_or(ScheduleError::NoConfigHome)
}

/// The service unit: `tt-vault run` once, with the given command line prefix
/// (the program and its global options, already quoted).
pub fn service_unit(command: &str) -> String {
    format!(
        "[Unit]\n\
         Description=tt-vault: back up TikTok data into the vault\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={command} run\n\
         Nice=10\n\
         IOSchedulingClass=idle\n"
    )
}

pub fn timer_unit(every: Every) -> String {
    format!(
        "[Unit]\n\
         Description=tt-vault: run the configured backup {}\n\
         \n\
         [Timer]\n\
         OnCalendar={}\n\
         Persistent=true\n\
         RandomizedDelaySec=15min\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        every.on_calendar(),
        every.on_calendar()
    )
}

/// Writes the units (0600: they name the vault) and, when systemd runs here,
/// reloads it and enables the timer. Without systemd, a crontab line instead.
pub fn install(every: Every, command: &str) -> Result<Scheduled, ScheduleError> {
    let dir = unit_dir()?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScheduleError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let service = dir.join(SERVICE);
    let timer = dir.join(TIMER);
    std::fs::write(&service, service_unit(command)).map_err(io(&service))?;
    std::fs::write(&timer, timer_unit(every)).map_err(io(&timer))?;
    let mut done = Scheduled {
        files: vec![service, timer],
        systemd: false,
        systemd_note: None,
        crontab: None,
        logs: None,
    };
    if systemd_running() {
        match systemctl(&["daemon-reload"]).and_then(|_| systemctl(&["enable", "--now", TIMER])) {
            Ok(()) => done.systemd = true,
            Err(e) => done.systemd_note = Some(e),
        }
        done.logs = Some(format!(
            "journalctl --user -u {SERVICE}   (next run: systemctl --user list-timers {TIMER})"
        ));
    } else {
        done.systemd_note = Some("systemd is not running for this user".into());
        done.crontab = Some(format!(
            "{} {command} run >> \"$HOME/.local/state/tt-vault-run.log\" 2>&1",
            every.cron()
        ));
        done.logs = Some("$HOME/.local/state/tt-vault-run.log".into());
    }
    Ok(done)
}

/// Disables the timer (when systemd runs) and removes both unit files.
pub fn remove() -> Result<Scheduled, ScheduleError> {
    let dir = unit_dir()?;
    let mut done = Scheduled {
        files: Vec::new(),
        systemd: false,
        systemd_note: None,
        crontab: None,
        logs: None,
    };
    if systemd_running() {
        // Failing to disable a timer that was never enabled is not an error.
        let _ = systemctl(&["disable", "--now", TIMER]);
    }
    for name in [TIMER, SERVICE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => done.files.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ScheduleError::Io { path, source }),
        }
    }
    if systemd_running() {
        done.systemd = systemctl(&["daemon-reload"]).is_ok();
    }
    Ok(done)
}

/// A user systemd instance to talk to. `TT_VAULT_NO_SYSTEMD` set: never (the tests
/// must not enable timers on the machine that runs them).
fn systemd_running() -> bool {
    std::env::var_os("TT_VAULT_NO_SYSTEMD").is_none()
        && Path::new("/run/systemd/system").is_dir()
        && std::env::var_os("XDG_RUNTIME_DIR").is_some()
}

fn systemctl(args: &[&str]) -> Result<(), String> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| format!("systemctl --user {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "systemctl --user {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `s` quoted for a systemd `ExecStart=` or a shell line, when it needs it.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
