//! The TikTok export catalogue in the index: what each export said, by version.
//!
//! Sits beside `commands`, above `store` and `tiktok` (neither knows of it). The
//! tables and the interval design are documented in `schema/003_catalogue.sql`.
//!
//! - [`ingest`]: one export into a new version, inserting only what changed.
//! - [`query`]: the version a snapshot shows, its rows and its profile.
//! - [`view`]: the readable views of its sections (`show`, `restore`'s `views/`).
//! - [`diff`]: what changed between two versions.
//! - [`forget`]: the rows no remaining snapshot references, removed in prune's commit.
//! - [`browse`]: paged and searched reading, for the viewer.
//! - [`profile`]: the public profile page's versions (`snapshot --profile`).

pub mod browse;
mod date_text;
pub mod diff;
mod feed;
pub mod forget;
pub mod ingest;
pub mod profile;
pub mod query;
mod seen;
pub mod view;

use crate::tiktok::export::{ExportError, Layout};

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("export catalogue: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("writing a view: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, CatalogueError>;

/// The sections `show` and the views know, in display order; raw sections come under `raw`.
pub const SECTIONS: &[&str] = &[
    "profile",
    "posts",
    "likes",
    "favorites",
    "comments",
    "following",
    "followers",
    "messages",
    "history",
    "searches",
    "logins",
    "shares",
    "reposts",
    "blocked",
    "collections",
    "sounds",
    "effects",
    "hashtags",
    "off-tiktok",
    "settings",
    "devices",
    "activity-summary",
    "location",
    "profile-views",
    "raw",
];

/// How a layout is named in the index and in reports.
pub fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Json2020 => "json2020",
        Layout::Json2024 => "json2024",
        Layout::Json2026 => "json2026",
        Layout::Txt => "txt",
    }
}

/// The layout a name from [`layout_name`] stands for.
pub fn layout_from_name(name: &str) -> Option<Layout> {
    [
        Layout::Json2020,
        Layout::Json2024,
        Layout::Json2026,
        Layout::Txt,
    ]
    .into_iter()
    .find(|l| layout_name(*l) == name)
}
