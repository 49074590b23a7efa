//! The "Download your data" export: opening (zip, folder, bare file) and parsing.
