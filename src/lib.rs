//! tt-vault: TikTok backups in a deduplicated, content-addressed vault.
//!
//! Layers, each talking only downward:
//! - [`commands`] — one function per CLI command, called by the binary and the tests.
//! - [`config`] — the configuration file; [`schedule`] — the systemd timer of `run`.
//! - [`selection`] — which snapshot a command works on (id prefix, date, latest).
//! - [`download`] — a snapshot's download run: the fetcher's files into the archiver,
//!   failures recorded as [`download::DownloadFailure`].
//! - [`catalogue`] — the TikTok export catalogue in the index (versions, views, diffs).
//! - [`tiktok`] — everything TikTok-specific (export parsing, links, downloader).
//! - [`retention`] — forget policies (which snapshots to keep and why).
//! - [`store`] — the content-addressed store; knows nothing of TikTok.

pub mod catalogue;
pub mod commands;
pub mod config;
pub mod dates;
pub mod download;
pub mod retention;
pub mod schedule;
pub mod selection;
pub mod store;
pub mod tiktok;
