//! From a post (`itemStruct`) to the files worth archiving, and the metadata sidecar.
//!
//! Video posts, `itemStruct.video`:
//! - `bitrateInfo[]`: one entry per encoding, each with `CodecType` (e.g. `h264`,
//!   `h265_hvc1`), `Bitrate`, and `PlayAddr` {`UrlKey`, `UrlList`, `Width`, `Height`,
//!   `DataSize`}. When `CodecType` is absent the codec is the part of `UrlKey` after the
//!   first `_` (`v…_<codec>_<res>p_<bitrate>`). `bytevc1` is H.265; `bytevc2` is ByteDance's
//!   own H.266 variant that players cannot decode, so it is never chosen.
//!   Order: H.264 first, then H.265, then unknown codecs; within a codec the highest
//!   bitrate. Every URL of each entry's `UrlList` is a candidate, in that order.
//! - then `playAddr` (a URL, or a list of `{src}`), then `downloadAddr` (watermarked: the
//!   last resort, recorded in the sidecar).
//! - `subtitleInfos[]` {`Url`, `LanguageCodeName`, `Format`} and the cover
//!   (`cover`, else `originCover`).
//!
//! Photo posts, `itemStruct.imagePost.images[].imageURL.urlList`: every image in order,
//! plus the sound (`music.playUrl`).
//!
//! Media URLs are signed and expire: they are used at once and never stored as the way
//! to fetch the post again (the sidecar keeps ids and metadata, not URLs).

use crate::tiktok::ids::id_text;
use serde_json::{json, Map, Value};

/// A URL to try, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaUrl {
    pub url: String,
    /// Where it came from, e.g. `bitrateInfo h264 1080p`, `playAddr`, `downloadAddr`.
    pub label: String,
    pub codec: Option<String>,
    pub watermarked: bool,
}

/// What a planned file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Video,
    Image,
    Sound,
    Cover,
    Subtitle,
}

/// One file to download: candidates in order of preference.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFile {
    pub role: Role,
    /// Appended to the post's base name, e.g. `.mp4`, `_02.jpeg`, `.eng-US.vtt`.
    pub suffix: String,
    pub candidates: Vec<MediaUrl>,
    /// A post without this file is not archived (cover and subtitles are optional).
    pub required: bool,
    /// The subtitle language, for the sidecar.
    pub lang: Option<String>,
}

/// Plans the files of a post. Err names what the post lacks.
pub fn plan(item: &Value) -> Result<Vec<PlannedFile>, String> {
    let mut files = Vec::new();
    let images = item
        .pointer("/imagePost/images")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if let Some(images) = images {
        for (i, image) in images.iter().enumerate() {
            let urls = strings(image.pointer("/imageURL/urlList"));
            if urls.is_empty() {
                return Err(format!("photo {} has no imageURL.urlList", i + 1));
            }
            let ext = extension(&urls[0], &["jpeg", "jpg", "webp", "png", "heic"], "jpeg");
            files.push(PlannedFile {
                role: Role::Image,
                suffix: format!("_{:02}.{ext}", i + 1),
                candidates: plain(&urls, &format!("image {}", i + 1)),
                required: true,
                lang: None,
            });
        }
        if let Some(url) = item.pointer("/music/playUrl").and_then(Value::as_str) {
            if !url.is_empty() {
                let ext = extension(url, &["mp3", "m4a", "aac"], "m4a");
                files.push(PlannedFile {
                    role: Role::Sound,
                    suffix: format!(".{ext}"),
                    candidates: plain(&[url.to_string()], "music.playUrl"),
                    required: true,
                    lang: None,
                });
            }
        }
    } else {
        let video = item
            .get("video")
            .ok_or("post has neither video nor imagePost")?;
        let candidates = video_candidates(video);
        if candidates.is_empty() {
            return Err(
                "video has no playable address (bitrateInfo, playAddr, downloadAddr)".into(),
            );
        }
        files.push(PlannedFile {
            role: Role::Video,
            suffix: ".mp4".into(),
            candidates,
            required: true,
            lang: None,
        });
    }
    let cover = [
        "/video/cover",
        "/video/originCover",
        "/imagePost/cover/imageURL/urlList/0",
    ]
    .iter()
    .find_map(|p| {
        item.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    });
    if let Some(url) = cover {
        let ext = extension(url, &["jpeg", "jpg", "webp", "png", "heic"], "jpeg");
        files.push(PlannedFile {
            role: Role::Cover,
            suffix: format!(".cover.{ext}"),
            candidates: plain(&[url.to_string()], "cover"),
            required: false,
            lang: None,
        });
    }
    let subs = item
        .pointer("/video/subtitleInfos")
        .and_then(Value::as_array);
    for (i, sub) in subs.into_iter().flatten().enumerate() {
        let Some(url) = sub
            .get("Url")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        else {
            continue;
        };
        let lang = sub
            .get("LanguageCodeName")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .map(str::to_string)
            .unwrap_or_else(|| format!("sub{}", i + 1));
        let ext = match sub.get("Format").and_then(Value::as_str) {
            Some("webvtt") => "vtt",
            Some("srt") => "srt",
            Some("creator_caption") => "json",
            _ => "vtt",
        };
        files.push(PlannedFile {
            role: Role::Subtitle,
            suffix: format!(".{lang}.{ext}"),
            candidates: plain(&[url.to_string()], "subtitleInfos"),
            required: false,
            lang: Some(lang),
        });
    }
    Ok(files)
}

/// Candidates for the video itself, best first.
pub fn video_candidates(video: &Value) -> Vec<MediaUrl> {
    let mut entries: Vec<(u8, i64, Vec<String>, String, String)> = Vec::new();
    for entry in video
        .get("bitrateInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let urls = strings(entry.pointer("/PlayAddr/UrlList"));
        if urls.is_empty() {
            continue;
        }
        let url_key = entry
            .pointer("/PlayAddr/UrlKey")
            .and_then(Value::as_str)
            .unwrap_or("");
        let codec = entry
            .get("CodecType")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .or_else(|| url_key.split('_').nth(1).map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let rank = match codec_rank(&codec) {
            Some(r) => r,
            None => continue,
        };
        let bitrate = entry.get("Bitrate").and_then(Value::as_i64).unwrap_or(0);
        let res = url_key.split('_').nth(2).unwrap_or("").to_string();
        entries.push((rank, bitrate, urls, codec, res));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<MediaUrl> = Vec::new();
    for (_, _, urls, codec, res) in entries {
        let label = format!("bitrateInfo {codec} {res}").trim_end().to_string();
        for url in urls {
            out.push(MediaUrl {
                url,
                label: label.clone(),
                codec: Some(codec.clone()),
                watermarked: false,
            });
        }
    }
    let play: Vec<String> = match video.get("playAddr") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.get("src").and_then(Value::as_str).map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    for url in play.into_iter().filter(|u| !u.is_empty()) {
        out.push(MediaUrl {
            url,
            label: "playAddr".into(),
            codec: video
                .get("codecType")
                .and_then(Value::as_str)
                .map(str::to_string),
            watermarked: false,
        });
    }
    if let Some(url) = video
        .get("downloadAddr")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        out.push(MediaUrl {
            url: url.to_string(),
            label: "downloadAddr".into(),
            codec: None,
            watermarked: true,
        });
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.url.clone()));
    out
}

/// 0 = H.264, 1 = H.265, 2 = unknown; `None` = unplayable (bytevc2).
fn codec_rank(codec: &str) -> Option<u8> {
    if codec.contains("bytevc2") || codec.contains("h266") {
        None
    } else if codec.starts_with("h264") || codec == "avc1" {
        Some(0)
    } else if codec.starts_with("h265") || codec.contains("bytevc1") || codec.contains("hevc") {
        Some(1)
    } else {
        Some(2)
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn plain(urls: &[String], label: &str) -> Vec<MediaUrl> {
    urls.iter()
        .map(|u| MediaUrl {
            url: u.clone(),
            label: label.to_string(),
            codec: None,
            watermarked: false,
        })
        .collect()
}

/// The URL path's extension when it is one of `known`, else `default`. TikTok image
/// paths look like `…~tplv-photomode-image.jpeg`.
fn extension(url: &str, known: &[&str], default: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    last.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| known.contains(&e.as_str()))
        .unwrap_or_else(|| default.to_string())
}

/// What was stored for one planned file, for the sidecar.
pub struct Fetched<'a> {
    pub file: &'a PlannedFile,
    pub path: String,
    pub used: &'a MediaUrl,
}

/// The sidecar: the metadata worth keeping, plus how the media was obtained.
pub fn sidecar(item: &Value, fetched: &[Fetched<'_>], missing: &[String], archive: Value) -> Value {
    let pick = |v: Option<&Value>, keys: &[&str]| -> Value {
        let mut m = Map::new();
        if let Some(v) = v {
            for k in keys {
                if let Some(x) = v.get(*k) {
                    m.insert((*k).to_string(), x.clone());
                }
            }
        }
        Value::Object(m)
    };
    let video_file = fetched.iter().find(|f| f.file.role == Role::Video);
    let mut video = pick(item.get("video"), &["duration", "width", "height"]);
    if let Some(f) = video_file {
        video["codec"] = json!(f.used.codec);
        video["format"] = json!(f.used.label);
        video["watermarked"] = json!(f.used.watermarked);
    }
    let files_of = |role: Role| -> Vec<Value> {
        fetched
            .iter()
            .filter(|f| f.file.role == role)
            .map(|f| match &f.file.lang {
                Some(lang) => json!({"lang": lang, "path": f.path}),
                None => json!(f.path),
            })
            .collect()
    };
    let challenges: Vec<Value> = item
        .get("challenges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| pick(Some(c), &["id", "title"]))
        .collect();
    let hashtags: Vec<Value> = item
        .get("textExtra")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("hashtagName").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
        .map(|h| json!(h))
        .collect();
    json!({
        "id": id_text(item.get("id")),
        "desc": item.get("desc"),
        "createTime": item.get("createTime"),
        "author": pick(item.get("author"), &["uniqueId", "nickname", "id", "secUid"]),
        "stats": item.get("stats").or_else(|| item.get("statsV2")),
        "music": pick(item.get("music"), &["id", "title", "authorName", "album", "duration", "original"]),
        "challenges": challenges,
        "hashtags": hashtags,
        "video": video,
        "kind": if files_of(Role::Image).is_empty() { "video" } else { "photo" },
        "media": files_of(Role::Video).into_iter().chain(files_of(Role::Image)).collect::<Vec<_>>(),
        "sound": files_of(Role::Sound).into_iter().next(),
        "cover": files_of(Role::Cover).into_iter().next(),
        "subtitles": files_of(Role::Subtitle),
        "missing": missing,
        "archive": archive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(codec: Option<&str>, key: &str, bitrate: i64, urls: &[&str]) -> Value {
        let mut e = json!({"Bitrate": bitrate, "PlayAddr": {"UrlKey": key, "UrlList": urls}});
        if let Some(c) = codec {
            e["CodecType"] = json!(c);
        }
        e
    }

    #[test]
    fn h264_before_h265_and_never_bytevc2() {
        let video = json!({
            "bitrateInfo": [
                entry(None, "v1_bytevc2_1080p_3000000", 3_000_000, &["https://cdn/vvc"]),
                entry(Some("h265_hvc1"), "v1_bytevc1_1080p_2000000", 2_000_000, &["https://cdn/hevc"]),
                entry(Some("h264"), "v1_h264_540p_800000", 800_000, &["https://cdn/low-a", "https://cdn/low-b"]),
                entry(None, "v1_h264_720p_1200000", 1_200_000, &["https://cdn/mid"]),
                entry(Some("h264"), "v1_h264_1p_1", 1, &[]),
            ],
            "playAddr": [{"src": "https://cdn/play"}, {"src": "https://cdn/mid"}],
            "downloadAddr": "https://cdn/wm",
        });
        let c = video_candidates(&video);
        let urls: Vec<&str> = c.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://cdn/mid",
                "https://cdn/low-a",
                "https://cdn/low-b",
                "https://cdn/hevc",
                "https://cdn/play",
                "https://cdn/wm"
            ]
        );
        assert_eq!(c[0].label, "bitrateInfo h264 720p");
        assert_eq!(c[3].codec.as_deref(), Some("h265_hvc1"));
        assert!(c[5].watermarked && !c[4].watermarked);
    }

    #[test]
    fn play_addr_as_a_string_then_download_addr() {
        let c = video_candidates(
            &json!({"playAddr": "https://cdn/p", "downloadAddr": "https://cdn/d"}),
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].label.as_str(), c[1].label.as_str()),
            ("playAddr", "downloadAddr")
        );
    }

    #[test]
    fn photo_post_plans_every_image_then_the_sound() {
        let item = json!({"id": "9", "imagePost": {"images": [
                {"imageURL": {"urlList": ["https://i/a~tplv.jpeg?x=1", "https://i/a2.jpeg"]}},
                {"imageURL": {"urlList": ["https://i/b.webp"]}},
                {"imageURL": {"urlList": ["https://i/c"]}}]},
            "music": {"playUrl": "https://m/s.mp3"}, "video": {"cover": "https://i/cover.jpeg"}});
        let files = plan(&item).unwrap();
        let suffixes: Vec<&str> = files.iter().map(|f| f.suffix.as_str()).collect();
        assert_eq!(
            suffixes,
            ["_01.jpeg", "_02.webp", "_03.jpeg", ".mp3", ".cover.jpeg"]
        );
        assert_eq!(files[0].candidates.len(), 2);
        assert!(files[3].required && !files[4].required);
    }

    #[test]
    fn video_post_plans_cover_and_subtitles() {
        let item = json!({"id": "1", "video": {"playAddr": "https://v/1", "cover": "https://c/1.webp",
            "subtitleInfos": [{"Url": "https://s/1", "LanguageCodeName": "eng-US", "Format": "webvtt"},
                              {"Url": "", "LanguageCodeName": "x"}]}});
        let files = plan(&item).unwrap();
        let suffixes: Vec<&str> = files.iter().map(|f| f.suffix.as_str()).collect();
        assert_eq!(suffixes, [".mp4", ".cover.webp", ".eng-US.vtt"]);
        assert!(plan(&json!({"id": "1", "video": {}})).is_err());
        assert!(plan(&json!({"id": "1"})).is_err());
    }

    #[test]
    fn sidecar_keeps_the_listed_fields() {
        let item = json!({"id": "5", "desc": "d", "createTime": 1700000000,
            "author": {"uniqueId": "al", "nickname": "Al", "id": "7", "secUid": "S", "avatarThumb": "u"},
            "stats": {"diggCount": 3}, "music": {"id": "m", "title": "t", "playUrl": "p"},
            "challenges": [{"id": "c", "title": "tag", "desc": "x"}],
            "video": {"duration": 9, "width": 576, "height": 1024, "playAddr": "https://v"}});
        let files = plan(&item).unwrap();
        let fetched = [Fetched {
            file: &files[0],
            path: "videos/x.mp4".into(),
            used: &files[0].candidates[0],
        }];
        let s = sidecar(&item, &fetched, &[], json!({"source": "posts"}));
        assert_eq!(
            s["author"],
            json!({"uniqueId": "al", "nickname": "Al", "id": "7", "secUid": "S"})
        );
        assert_eq!(s["music"], json!({"id": "m", "title": "t"}));
        assert_eq!(s["challenges"], json!([{"id": "c", "title": "tag"}]));
        assert_eq!(s["video"]["width"], 576);
        assert_eq!(s["video"]["format"], "playAddr");
        assert_eq!(s["media"], json!(["videos/x.mp4"]));
        assert_eq!(s["kind"], "video");
    }
}
