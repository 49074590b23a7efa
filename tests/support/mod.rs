//! Shared helpers for the end-to-end tests. Each test binary uses a part of them.
#![allow(dead_code)]

pub mod browser;
pub mod s3;
pub mod tiktok_server;
pub mod viewer;
