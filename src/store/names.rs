//! File names as the filesystem gives them, and as a snapshot holds them.
//!
//! A snapshot path is text: `/`-separated components, each a file name exactly as
//! it was, backslashes included (on Unix `x\y` is one name, and comes back as one).
//! A name that is not UTF-8 cannot be text; it is stored the way restic stores such
//! names: the path shows it with each invalid byte written `\xNN`, and the snapshot's
//! `meta.raw_paths` maps that path to the name's real bytes (hex), which restore
//! uses. Manifests without `raw_paths` (all older ones) read as before.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Real names of the paths that are not UTF-8: shown path → its bytes.
pub type RawPaths = HashMap<String, Vec<u8>>;

/// The snapshot path of `rel` (relative, from a directory walk) under `root`, and its
/// real bytes when they are not UTF-8.
pub fn snapshot_path(root: &str, rel: &Path) -> (String, Option<Vec<u8>>) {
    let mut shown = root.to_string();
    let mut raw = root.as_bytes().to_vec();
    let mut exact = true;
    for part in rel.iter() {
        shown.push('/');
        raw.push(b'/');
        raw.extend_from_slice(part.as_bytes());
        match part.to_str() {
            Some(text) => shown.push_str(text),
            None => {
                exact = false;
                escape(part.as_bytes(), &mut shown);
            }
        }
    }
    (shown, (!exact).then_some(raw))
}

/// Valid UTF-8 as is; each byte of an invalid sequence as `\xNN`.
fn escape(mut bytes: &[u8], out: &mut String) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(text) => return out.push_str(text),
            Err(e) => {
                let (good, bad) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len());
                for b in &bad[..n] {
                    out.push_str(&format!("\\x{b:02x}"));
                }
                bytes = &bad[n..];
            }
        }
    }
}

/// The relative path to write a snapshot path to: its real bytes where it has them.
pub fn restore_path(path: &str, raw: &RawPaths) -> PathBuf {
    match raw.get(path) {
        Some(bytes) => PathBuf::from(OsString::from_vec(bytes.clone())),
        None => PathBuf::from(path),
    }
}

/// `raw_paths` as the snapshot's `meta` holds it.
pub fn to_meta(raw: &RawPaths) -> Value {
    let map: Map<String, Value> = raw
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(hex::encode(v))))
        .collect();
    Value::Object(map)
}

/// The real names a snapshot's `meta` records (none in older snapshots). An entry
/// that is not valid hex is left out: its path is then restored as shown.
pub fn from_meta(meta: &Value) -> RawPaths {
    meta.get("raw_paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), hex::decode(v.as_str()?).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn names_round_trip_byte_for_byte() {
        let rel = Path::new(OsStr::from_bytes(b"dir\\x/caf\xe9 \xff\xfe.mp4"));
        let (shown_path, raw) = snapshot_path("media/src", rel);
        assert_eq!(shown_path, "media/src/dir\\x/caf\\xe9 \\xff\\xfe.mp4");
        let raw = raw.unwrap();
        assert_eq!(raw, b"media/src/dir\\x/caf\xe9 \xff\xfe.mp4");
        let table: RawPaths = [(shown_path.clone(), raw.clone())].into();
        let back = from_meta(&serde_json::json!({"raw_paths": to_meta(&table)}));
        assert_eq!(
            restore_path(&shown_path, &back).as_os_str().as_bytes(),
            &raw[..]
        );
        let (plain, none) = snapshot_path("media/src", Path::new("..\\..\\evil.txt"));
        assert_eq!((plain.as_str(), none), ("media/src/..\\..\\evil.txt", None));
        assert_eq!(restore_path(&plain, &RawPaths::new()), Path::new(&plain));
    }
}
