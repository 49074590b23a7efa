//! Saved media: videos in local folders, saved from the app or by other downloaders.
//!
//! Downloaders such as yt-dlp write `<name>.info.json` beside `<name>.mp4` with the
//! post id under `"id"`; where there is no sidecar, a 19-digit run in the file name
//! (the shape of every TikTok post id) is taken as the id.

use std::path::Path;

use super::ids::{id_text, is_post_id};

/// The TikTok post id of a saved media file, if its sidecar or name tells it.
pub fn post_id(path: &Path) -> Option<String> {
    sidecar_id(path).or_else(|| name_id(path))
}

fn sidecar_id(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let sidecar = path.with_file_name(format!("{stem}.info.json"));
    // A sidecar is a few KiB; a huge file under that name is not one.
    let file = std::fs::File::open(sidecar).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 1 << 20), &mut text).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    id_text(v.get("id")).filter(|s| is_post_id(s))
}

fn name_id(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    name.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 19)
        .map(str::to_string)
}

/// True for the sidecar files of saved media, which belong to the same post.
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".info.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_sidecars_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("clip.mp4");
        std::fs::write(&video, b"x").unwrap();
        assert_eq!(post_id(&video), None);
        std::fs::write(
            dir.path().join("clip.info.json"),
            r#"{"id": "7301234567890123456"}"#,
        )
        .unwrap();
        assert_eq!(post_id(&video).as_deref(), Some("7301234567890123456"));
        let named = dir.path().join("alice_7301234567890000001_hd.mp4");
        assert_eq!(post_id(&named).as_deref(), Some("7301234567890000001"));
        assert!(is_sidecar(&dir.path().join("clip.info.json")));
    }
}
