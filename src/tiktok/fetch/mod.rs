//! The downloader: video pages, media selection, the bot wall, polite HTTP.
