//! Everything TikTok-specific. Knows nothing of packs or SQLite.

pub mod export;
pub mod fetch;
pub mod ids;
pub mod links;
pub mod saved;
