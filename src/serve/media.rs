//! Files of the vault over HTTP, with Range: `/media/<file BLAKE3>.<ext>`.
//!
//! A file is its list of chunks. A range is answered by finding the chunk that holds
//! its first byte and reading on blob by blob from the packs (each blob BLAKE3-checked
//! as it is read), cutting the first and last: memory holds a chunk or two, never the
//! file, and nothing is written anywhere. Seeking in a video is a new range.

use std::sync::Arc;

use crate::store::lock::ReadLock;
use crate::store::reader::BlobReader;
use crate::store::repository::FileRow;
use crate::store::{Hash, Repository, StoreError, Vault};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Shared, WebError, WebResult};

/// The content type of a file by its extension; anything unknown is served as bytes
/// (never as HTML: an export is not trusted to be what it looks like).
pub(crate) fn content_type(ext: &str) -> &'static str {
    match ext.to_ascii_lowercase().as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "mp3" => "audio/mpeg",
        "m4a" | "aac" => "audio/mp4",
        "vtt" => "text/vtt; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A file and where each of its chunks starts.
struct Layout {
    file: FileRow,
    starts: Vec<u64>,
}

fn layout(repo: &Repository, hash: &Hash) -> WebResult<Layout> {
    let file = repo.file(hash)?.ok_or_else(|| {
        WebError::NotFound(format!("no file {} in this vault", hex::encode(hash)))
    })?;
    let mut starts = Vec::with_capacity(file.chunks.len());
    let mut at = 0u64;
    for chunk in &file.chunks {
        let loc = repo.blob(chunk)?.ok_or_else(|| {
            WebError::Internal(format!(
                "chunk {} of file {} is not in the index; run `tt-vault verify`",
                hex::encode(chunk),
                hex::encode(hash)
            ))
        })?;
        starts.push(at);
        at += u64::from(loc.entry.header.raw_len);
    }
    if at != file.size {
        return Err(WebError::Internal(format!(
            "file {}: its chunks add up to {at} bytes, the index says {}; run `tt-vault verify`",
            hex::encode(hash),
            file.size
        )));
    }
    Ok(Layout { file, starts })
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    Whole,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

fn wanted(range: Option<&HeaderValue>, size: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::Whole;
    };
    // Several ranges at once: answered whole, which the standard allows.
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let part = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => (first, last.min(size.saturating_sub(1))),
        (Ok(first), Err(_)) if b.is_empty() => (first, size.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => {
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        _ => return Wanted::Whole,
    };
    if size == 0 || part.0 >= size {
        Wanted::Unsatisfiable
    } else {
        Wanted::Part(part.0, part.1)
    }
}

pub(crate) async fn serve(
    State(app): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> WebResult<Response> {
    let unknown = || WebError::NotFound(format!("no file {name} in this vault"));
    let (hex_hash, ext) = name.split_once('.').unwrap_or((&name, ""));
    let hash: Hash = hex::decode(hex_hash)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(unknown)?;
    let layout = app.with_repo(move |_, repo| layout(repo, &hash)).await?;
    let size = layout.file.size;
    let (status, first, last) = match wanted(headers.get(header::RANGE), size) {
        Wanted::Whole => (StatusCode::OK, 0, size.saturating_sub(1)),
        Wanted::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        Wanted::Unsatisfiable => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response())
        }
    };
    let length = if size == 0 { 0 } else { last - first + 1 };
    let body = if length == 0 {
        Body::empty()
    } else {
        stream(app.vault.clone(), layout, first, last)
    };
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, content_type(ext).to_string()),
            (header::ACCEPT_RANGES, "bytes".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            // The name is the content's hash: it never changes.
            (header::CACHE_CONTROL, "private, max-age=86400".to_string()),
        ],
        body,
    )
        .into_response();
    if status == StatusCode::PARTIAL_CONTENT {
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes {first}-{last}/{size}"))
                .expect("digits are a valid header"),
        );
    }
    Ok(response)
}

/// Bytes `first..=last` of a file, read blob by blob on a blocking thread; at most
/// two chunks wait in the channel, and a client that goes away stops the reading.
fn stream(vault: Vault, layout: Layout, first: u64, last: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let vault = Arc::new(vault);
    tokio::task::spawn_blocking(move || {
        let fail = |e: String| std::io::Error::other(e);
        let repo = match Repository::open_read_only(&vault) {
            Ok(r) => r,
            Err(e) => return tx.blocking_send(Err(fail(e.to_string()))),
        };
        let mut reader = BlobReader::with_repository(&vault, repo);
        // The chunk holding `first`: the last one starting at or before it.
        let from = layout.starts.partition_point(|&s| s <= first) - 1;
        for (i, chunk) in layout.file.chunks.iter().enumerate().skip(from) {
            let start = layout.starts[i];
            if start > last {
                break;
            }
            // The readers' lock is held per chunk, not per response: a paused video
            // keeps its response open for as long as the viewer likes, and prune's
            // delete phase must not wait for that. A pack repacked between two chunks
            // is found again through the index at the next one.
            let read = ReadLock::acquire(vault.root())
                .map_err(|e| e.to_string())
                .and_then(|_readers| reader.read(chunk).map_err(|e| e.to_string()));
            let raw = match read {
                Ok(raw) => raw,
                Err(e) => return tx.blocking_send(Err(fail(e))),
            };
            let cut_from = first.saturating_sub(start) as usize;
            let cut_to = ((last + 1 - start) as usize).min(raw.len());
            let part = Bytes::from(raw).slice(cut_from.min(cut_to)..cut_to);
            tx.blocking_send(Ok(part))?;
        }
        Ok(())
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// A vault file as a page links it.
#[derive(Debug, Clone)]
pub(crate) struct MediaFile {
    pub hash: Hash,
    pub ext: String,
    pub size: u64,
}

impl MediaFile {
    pub fn url(&self) -> String {
        format!("/media/{}.{}", hex::encode(self.hash), self.ext)
    }
}

/// The files of one post, by role (from the names the downloader and the app give
/// them: `<id>.mp4`, `<id>_01.jpeg`, `<id>.mp3`, `<id>.cover.jpeg`, `<id>.en.vtt`,
/// `<id>.json` / `.info.json`).
#[derive(Debug, Default)]
pub(crate) struct PostMedia {
    pub video: Option<MediaFile>,
    pub images: Vec<MediaFile>,
    pub sound: Option<MediaFile>,
    pub cover: Option<MediaFile>,
    /// (language, file)
    pub subtitles: Vec<(String, MediaFile)>,
    pub sidecar: Option<MediaFile>,
}

impl PostMedia {
    pub fn of(entries: &[crate::store::manifest::Entry]) -> PostMedia {
        let mut m = PostMedia::default();
        for e in entries {
            let name = e
                .path
                .rsplit('/')
                .next()
                .unwrap_or(&e.path)
                .to_ascii_lowercase();
            let ext = name
                .rsplit_once('.')
                .map(|(_, x)| x)
                .unwrap_or("")
                .to_string();
            let stem = name.strip_suffix(&format!(".{ext}")).unwrap_or(&name);
            let file = MediaFile {
                hash: e.hash,
                ext: ext.clone(),
                size: e.size,
            };
            let is_image = matches!(
                ext.as_str(),
                "jpg" | "jpeg" | "png" | "webp" | "gif" | "heic"
            );
            match ext.as_str() {
                _ if is_image && stem.ends_with(".cover") => m.cover = m.cover.or(Some(file)),
                _ if is_image => m.images.push(file),
                "mp4" | "m4v" | "mov" | "webm" => m.video = m.video.or(Some(file)),
                "mp3" | "m4a" | "aac" => m.sound = m.sound.or(Some(file)),
                "vtt" => {
                    let lang = stem.rsplit_once('.').map_or("sub", |(_, l)| l).to_string();
                    m.subtitles.push((lang, file));
                }
                "json" => m.sidecar = m.sidecar.or(Some(file)),
                _ => {}
            }
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.video.is_none() && self.images.is_empty() && self.sound.is_none()
    }

    /// The picture a grid shows for the post.
    pub fn poster(&self) -> Option<&MediaFile> {
        self.cover.as_ref().or(self.images.first())
    }
}

/// A small file read whole (a post's metadata sidecar), refused above `cap` bytes.
pub(crate) fn read_small(vault: &Vault, file: &MediaFile, cap: u64) -> WebResult<Option<Vec<u8>>> {
    if file.size > cap {
        return Ok(None);
    }
    let _readers = ReadLock::acquire(vault.root()).map_err(StoreError::from)?;
    let mut reader = BlobReader::with_repository(vault, Repository::open_read_only(vault)?);
    let row = reader.file(&file.hash)?;
    let mut out = Vec::with_capacity(file.size as usize);
    reader.copy_file(&row, &mut out, &hex::encode(file.hash), &|_| {})?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> Option<HeaderValue> {
        Some(HeaderValue::from_str(v).unwrap())
    }

    #[test]
    fn ranges() {
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(h("bytes=0-9").as_ref(), 100), Wanted::Part(0, 9));
        assert_eq!(wanted(h("bytes=90-").as_ref(), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(h("bytes=-10").as_ref(), 100), Wanted::Part(90, 99));
        assert_eq!(
            wanted(h("bytes=50-500").as_ref(), 100),
            Wanted::Part(50, 99)
        );
        assert_eq!(wanted(h("bytes=100-").as_ref(), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(h("bytes=5-2").as_ref(), 100), Wanted::Whole);
        assert_eq!(wanted(h("bytes=0-1,5-6").as_ref(), 100), Wanted::Whole);
        assert_eq!(wanted(h("items=0-1").as_ref(), 100), Wanted::Whole);
        assert_eq!(wanted(h("bytes=0-").as_ref(), 0), Wanted::Unsatisfiable);
    }
}
