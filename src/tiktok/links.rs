//! TikTok link forms and video id extraction.
