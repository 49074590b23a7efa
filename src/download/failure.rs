//! The record of a post a snapshot could not download, as stored in the snapshot's
//! manifest (`failed`). Snapshots already written hold this exact JSON shape, so
//! its field names and order never change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tiktok::fetch::{Failure, Target};

/// A post that could not be fetched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadFailure {
    /// The TikTok video id, when the link or the export named one.
    pub id: Option<String>,
    pub link: String,
    /// The list it came from: "posts" | "likes" | "favorites" | "url".
    pub source: String,
    /// A stable short name (`deleted`, `blocked`, `unavailable_10204`, …).
    pub reason: String,
    /// The reason in words, as summaries show it.
    pub reason_text: String,
    pub detail: String,
    pub http_status: Option<u16>,
    /// Requests made for the post, retries included.
    pub attempts: u32,
    /// Whether a later run may succeed where this one failed.
    pub retry_next_run: bool,
}

impl DownloadFailure {
    pub fn new(id: Option<String>, target: &Target, f: Failure) -> DownloadFailure {
        DownloadFailure {
            id,
            link: target.link.clone(),
            source: target.source.clone(),
            reason: f.reason.code(),
            reason_text: f.reason.to_string(),
            detail: f.detail,
            http_status: f.http_status,
            attempts: f.attempts,
            retry_next_run: f.retry_next_run,
        }
    }

    /// The record as the manifest stores it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a failure record is plain data")
    }

    /// The records of a snapshot's stored `failed` list. A record that does not
    /// read (not one this program wrote) is left out rather than failing the
    /// snapshot it belongs to.
    pub fn read_list(stored: &Value) -> Vec<DownloadFailure> {
        stored
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| DownloadFailure::deserialize(v).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::fetch::FailReason;

    /// A record as snapshots written since the downloader began store it.
    const STORED: &str = r#"[
      {"id": "7301234567890123456", "link": "https://www.tiktok.com/@a/video/7301234567890123456",
       "source": "posts", "reason": "deleted", "reason_text": "deleted on TikTok",
       "detail": "HTTP 404", "http_status": 404, "attempts": 1, "retry_next_run": false},
      {"id": null, "link": "https://vm.tiktok.com/ZZZ/", "source": "url",
       "reason": "network", "reason_text": "network error", "detail": "timed out",
       "http_status": null, "attempts": 4, "retry_next_run": true}
    ]"#;

    #[test]
    fn reads_what_old_snapshots_stored_and_writes_it_back_unchanged() {
        let stored: Value = serde_json::from_str(STORED).unwrap();
        let records = DownloadFailure::read_list(&stored);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id.as_deref(), Some("7301234567890123456"));
        assert_eq!(records[0].http_status, Some(404));
        assert_eq!(records[1].id, None);
        assert_eq!(records[1].attempts, 4);
        assert!(records[1].retry_next_run);
        let written: Vec<Value> = records.iter().map(DownloadFailure::to_json).collect();
        assert_eq!(Value::Array(written.clone()), stored);
        // Key order too: the manifest's bytes stay as they were.
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            serde_json::to_string(&stored).unwrap()
        );
    }

    #[test]
    fn a_record_is_built_from_the_fetchers_failure() {
        let target = Target {
            link: "https://www.tiktok.com/@a/video/42".into(),
            video_id: Some("42".into()),
            date: None,
            source: "likes".into(),
        };
        let f = Failure {
            reason: FailReason::PrivatePost,
            detail: "status 10216".into(),
            http_status: Some(200),
            attempts: 2,
            retry_next_run: false,
        };
        let r = DownloadFailure::new(Some("42".into()), &target, f);
        assert_eq!(r.reason, "private_post");
        assert_eq!(r.reason_text, FailReason::PrivatePost.to_string());
        assert_eq!(r.source, "likes");
        assert_eq!(r.link, target.link);
        let back = DownloadFailure::read_list(&Value::Array(vec![r.to_json()]));
        assert_eq!(back, [r]);
    }

    #[test]
    fn unreadable_records_are_left_out_not_fatal() {
        let stored = serde_json::json!([{"id": "1"}, 7, {"link": "x"}]);
        assert!(DownloadFailure::read_list(&stored).is_empty());
        assert!(DownloadFailure::read_list(&Value::Null).is_empty());
    }
}
