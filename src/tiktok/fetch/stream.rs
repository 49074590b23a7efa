//! Streaming a response body into the sink without holding it whole.
//!
//! The async side pumps the body chunk by chunk into a small bounded channel; a store
//! thread turns the channel into a blocking [`Read`] for [`MediaSink::store`]. Memory per
//! download is bounded by the channel (a few chunks), and nothing touches a temp file.
//! A network error or a body shorter than its Content-Length reaches the reader as an
//! `Err` *before* end of file, so the sink never records a truncated file. A body over
//! its size limit ends the same way: a Content-Length over the limit is refused before the
//! sink hears of it, and a body without one is cut off with an `Err` past the limit.
//!
//! Pages are read into memory, but only up to [`MAX_PAGE`]: a longer one is refused.
//!
//! Store threads are scoped threads borrowing the caller's sink (it need not be
//! `'static`); each download hands its reader to one of them.

use super::client::{error_chain, HttpError};
use super::{MediaSink, StoredFile};
use std::io::{self, Read};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Chunks in flight per download; reqwest chunks are small (up to a few tens of KiB).
const CHANNEL_CHUNKS: usize = 32;
/// The largest page read. TikTok's post pages are well under 1 MiB.
pub const MAX_PAGE: usize = 4 << 20;

/// A blocking reader over chunks sent from async code.
pub struct ChannelReader<T> {
    rx: mpsc::Receiver<io::Result<T>>,
    current: Option<T>,
    pos: usize,
}

impl<T: AsRef<[u8]>> ChannelReader<T> {
    pub fn new(rx: mpsc::Receiver<io::Result<T>>) -> Self {
        ChannelReader {
            rx,
            current: None,
            pos: 0,
        }
    }
}

impl<T: AsRef<[u8]>> Read for ChannelReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(chunk) = &self.current {
                let rest = &chunk.as_ref()[self.pos..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.pos += n;
                    return Ok(n);
                }
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = Some(chunk);
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
    }
}

/// A store request for a store thread.
pub struct StoreJob {
    pub path: String,
    pub body: Box<dyn Read + Send>,
    pub reply: oneshot::Sender<io::Result<StoredFile>>,
}

/// The loop of one store thread: runs until the job channel closes.
pub fn store_worker(sink: &dyn MediaSink, jobs: crossbeam_channel::Receiver<StoreJob>) {
    for mut job in jobs {
        let result = sink.store(&job.path, &mut job.body);
        let _ = job.reply.send(result);
    }
}

/// How a streamed download ended.
#[derive(Debug)]
pub enum StreamError {
    /// The network side failed (worth a retry); nothing was recorded.
    Http(HttpError),
    /// The sink refused the bytes on its own account (disk full, …).
    Sink(io::Error),
}

/// Streams `resp` into the sink at `path` via the store threads; a body over `max`
/// bytes is refused ([`HttpError::TooLarge`]) and nothing of it recorded.
pub async fn stream_to_sink(
    mut resp: reqwest::Response,
    path: &str,
    jobs: &crossbeam_channel::Sender<StoreJob>,
    idle_timeout: Duration,
    max: u64,
) -> Result<StoredFile, StreamError> {
    let expected = resp.content_length();
    if let Some(n) = expected.filter(|&n| n > max) {
        return Err(StreamError::Http(too_large(resp.url(), n, max)));
    }
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (reply_tx, reply_rx) = oneshot::channel();
    jobs.send(StoreJob {
        path: path.to_string(),
        body: Box::new(ChannelReader::new(rx)),
        reply: reply_tx,
    })
    .map_err(|_| StreamError::Sink(io::Error::other("store threads have stopped")))?;

    let url = resp.url().clone();
    let pump = async move {
        let mut got: u64 = 0;
        let failure = loop {
            match tokio::time::timeout(idle_timeout, resp.chunk()).await {
                Err(_) => {
                    break Some(format!(
                        "{url}: body stalled for {}s",
                        idle_timeout.as_secs_f32()
                    ))
                }
                Ok(Err(e)) => {
                    break Some(format!(
                        "{url}: body broken after {got} bytes: {}",
                        error_chain(&e)
                    ))
                }
                Ok(Ok(None)) => {
                    break match expected {
                        Some(n) if n != got => Some(format!("{url}: body has {got} of {n} bytes")),
                        _ => None,
                    }
                }
                Ok(Ok(Some(chunk))) => {
                    got += chunk.len() as u64;
                    if got > max {
                        let e = too_large(&url, got, max);
                        let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                        return Err(e);
                    }
                    if tx.send(Ok(chunk)).await.is_err() {
                        // The sink stopped reading; its own result says why.
                        return Ok(());
                    }
                }
            }
        };
        match failure {
            Some(why) => {
                let _ = tx.send(Err(io::Error::other(why.clone()))).await;
                Err(HttpError::Transient(why))
            }
            None => Ok(()),
        }
    };
    let (pumped, stored) = tokio::join!(pump, reply_rx);
    pumped.map_err(StreamError::Http)?;
    match stored {
        Ok(Ok(file)) => Ok(file),
        Ok(Err(e)) => Err(StreamError::Sink(e)),
        Err(_) => Err(StreamError::Sink(io::Error::other(
            "store thread dropped the job",
        ))),
    }
}

fn too_large(url: &reqwest::Url, got: u64, max: u64) -> HttpError {
    HttpError::TooLarge(format!(
        "{url}: body of {got}+ bytes is larger than the limit of {max} (--max-video-size)"
    ))
}

/// Reads a page body, at most [`MAX_PAGE`] bytes, within `timeout` for the whole of it.
pub async fn read_page(
    mut resp: reqwest::Response,
    timeout: Duration,
) -> Result<String, HttpError> {
    let url = resp.url().clone();
    if resp.content_length().is_some_and(|n| n > MAX_PAGE as u64) {
        return Err(page_too_large(&url));
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            HttpError::Transient(format!("{url}: page body broken: {}", error_chain(&e)))
        })? {
            if body.len() + chunk.len() > MAX_PAGE {
                return Err(page_too_large(&url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| Err(HttpError::Transient(format!("{url}: page body stalled"))))
}

fn page_too_large(url: &reqwest::Url) -> HttpError {
    HttpError::TooLarge(format!(
        "{url}: page larger than {} MiB; not read",
        MAX_PAGE >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_yields_chunks_then_eof_or_the_error() {
        let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
        tx.try_send(Ok(b"hello ".to_vec())).unwrap();
        tx.try_send(Ok(b"world".to_vec())).unwrap();
        drop(tx);
        let mut s = String::new();
        ChannelReader::new(rx).read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");

        let (tx, rx) = mpsc::channel::<io::Result<Vec<u8>>>(4);
        tx.try_send(Ok(b"part".to_vec())).unwrap();
        tx.try_send(Err(io::Error::other("reset"))).unwrap();
        drop(tx);
        let mut v = Vec::new();
        let err = ChannelReader::new(rx).read_to_end(&mut v).unwrap_err();
        assert_eq!(err.to_string(), "reset");
        assert_eq!(v, b"part");
    }
}
