//! The configuration file (`$XDG_CONFIG_HOME/tt-vault/config.toml`): the vault, the
//! accounts and their sources, and the settings of an unattended `tt-vault run`.
//! Command-line flags override it; `examples/config.toml` documents every key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::download::ExportList;
use crate::retention::Policy;

/// Bigger than any hand-written configuration: the file is read whole.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {source}; check the path, or pass --config PATH")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is over 1 MiB; is it the right file?")]
    TooBig { path: PathBuf },
    #[error("account {name} is not among the configured accounts ({known}): give its sources (--export, --media, --url) or add it to the config file")]
    UnknownAccount { name: String, known: String },
    #[error("config {path}, line {line}, column {column}: {message}; fix that line (examples/config.toml shows every key)")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// The whole file. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The vault directory, when neither --vault nor $TT_VAULT names one.
    pub vault: Option<PathBuf>,
    /// `[[account]]` tables, in file order.
    #[serde(default, rename = "account")]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub download: Download,
    /// The keep policy `run` applies (as `forget --keep-*`); empty keeps everything.
    #[serde(default)]
    pub retention: Policy,
    #[serde(default)]
    pub verify: Verify,
    /// A command printing an encrypted vault's passphrase on stdout (its first line),
    /// for unattended runs; `--password-file`, `$TT_VAULT_PASSWORD_FILE`,
    /// `--password-command` and `$TT_VAULT_PASSWORD_COMMAND` come first. Never run for
    /// an unencrypted vault.
    pub password_command: Option<String>,
    /// Run with the JSON report on stdin when `tt-vault run` fails or finds problems.
    pub notify_command: Option<String>,
}

/// One account: its TikTok profile and where its sources are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The account's name in the vault.
    pub name: String,
    /// The TikTok username (without `@`) whose public profile is watched.
    #[serde(default, deserialize_with = "username")]
    pub profile: Option<String>,
    /// A folder where "Download your data" ZIPs (`TikTok_Data_*.zip`) arrive: the newest
    /// one not yet snapshotted is taken.
    pub exports: Option<PathBuf>,
    /// Folders of saved videos.
    #[serde(default)]
    pub media: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Download {
    /// The export's lists to download (`["posts", "likes", "favorites"]`, `[]` for none).
    #[serde(default, deserialize_with = "lists")]
    pub lists: Option<Vec<ExportList>>,
    /// A Netscape cookies.txt with the TikTok session.
    pub cookies: Option<PathBuf>,
    /// Requests per second (0.01 to 1000).
    #[serde(default, deserialize_with = "rate")]
    pub rate: Option<f64>,
    /// Posts downloaded at once (1 to 64).
    #[serde(default, deserialize_with = "jobs")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The percentage of packs `run` re-reads (1 to 100).
    #[serde(default, deserialize_with = "percent")]
    pub sample: Option<u32>,
}

impl Config {
    /// `--config PATH` when given (it must exist), else the default place (absent
    /// there: an empty configuration).
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match explicit {
            Some(path) => Config::read(path),
            None => match default_path() {
                Some(path) if path.exists() => Config::read(&path),
                _ => Ok(Config::default()),
            },
        }
    }

    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooBig {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Config::parse(&text, path)
    }

    /// Parses `text`; `path` names the file in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// `~/` is the home folder; a relative path is relative to the config's folder,
    /// not to wherever a timer happens to start the program.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| *p = resolve(base, p);
        self.vault.iter_mut().for_each(fix);
        self.download.cookies.iter_mut().for_each(fix);
        for a in &mut self.accounts {
            a.exports.iter_mut().for_each(fix);
            a.media.iter_mut().for_each(fix);
        }
    }

    /// This configuration with only the account named (all of them for `None`).
    pub fn only_account(&self, name: Option<&str>) -> Result<Config, ConfigError> {
        let Some(name) = name else {
            return Ok(self.clone());
        };
        let accounts: Vec<Account> = self
            .accounts
            .iter()
            .filter(|a| a.name == name)
            .cloned()
            .collect();
        if accounts.is_empty() {
            return Err(ConfigError::UnknownAccount {
                name: name.to_string(),
                known: self
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Config {
            accounts,
            ..self.clone()
        })
    }
}

/// `$XDG_CONFIG_HOME/tt-vault/config.toml`, else `~/.config/tt-vault/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    config_home().map(|c| c.join("tt-vault").join("config.toml"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    base.join(p)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn lists<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<ExportList>>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    let joined = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    };
    ExportList::parse_list(&joined)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn username<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let given = String::deserialize(d)?;
    let name = given.trim_start_matches('@');
    if crate::tiktok::fetch::profile::valid_username(name) {
        Ok(Some(name.to_string()))
    } else {
        Err(serde::de::Error::custom(format!(
            "profile = {given:?}: give a TikTok username (letters, digits, _ and . only)"
        )))
    }
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match f64::deserialize(d)? {
        r if r.is_finite() && (0.01..=1000.0).contains(&r) => Ok(Some(r)),
        r => Err(serde::de::Error::custom(format!(
            "rate = {r}: give requests per second from 0.01 to 1000"
        ))),
    }
}

fn jobs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    use crate::tiktok::fetch::run::MAX_JOBS;
    match usize::deserialize(d)? {
        n if (1..=MAX_JOBS).contains(&n) => Ok(Some(n)),
        n => Err(serde::de::Error::custom(format!(
            "jobs = {n}: give a whole number from 1 to {MAX_JOBS}"
        ))),
    }
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match u32::deserialize(d)? {
        p @ 1..=100 => Ok(Some(p)),
        p => Err(serde::de::Error::custom(format!(
            "sample = {p}: give a percentage from 1 to 100"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/tt/config.toml"))
    }

    #[test]
    fn full_config_parses_and_resolves_paths() {
        let c = parse(
            r#"
vault = "vault"
notify_command = "mail -s tt me"
[download]
lists = ["posts", "likes"]
rate = 1.5
[retention]
keep_daily = 7
keep_monthly = "unlimited"
keep_within = "30d"
[verify]
sample = 5
[[account]]
name = "alice"
profile = "alice"
exports = "/data/alice"
"#,
        )
        .unwrap();
        assert_eq!(c.vault.as_deref(), Some(Path::new("/etc/tt/vault")));
        assert_eq!(
            c.download.lists,
            Some(vec![ExportList::Posts, ExportList::Likes])
        );
        assert_eq!(c.retention.monthly, Some(crate::retention::UNLIMITED));
        assert_eq!(c.verify.sample, Some(5));
        assert_eq!(
            c.accounts[0].exports.as_deref(),
            Some(Path::new("/data/alice"))
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("vault = \"v\"\n\n[retention]\nkeep_daily = \"often\"\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("line 4, column 14"), "{text}");
        let e = parse("[download]\nlists = [\"postz\"]\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse("[download]\nrate = 2.0\njobs = 0\n").unwrap_err();
        assert!(e.to_string().contains("line 3, column 8"), "{e}");
        let e = parse("[[account]]\nname = \"a\"\nprofile = \"a/b\"\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse("[[account]]\nname = \"a\"\nexport = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("line 3, column 1"), "{e}");
    }

    #[test]
    fn the_documented_example_parses() {
        let c = parse(include_str!("../examples/config.toml")).unwrap();
        assert_eq!(c.accounts.len(), 1);
        assert_eq!(c.verify.sample, Some(5));
        assert!(!c.retention.is_empty());
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_column("", 5), (1, 1));
    }
}
