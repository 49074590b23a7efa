//! An export parsed on a thread of its own while the caller writes what it reads.
//!
//! Reading a heavy export and writing its rows into SQLite take about the same time,
//! and the SQLite side must stay on the caller's thread (its transaction is not
//! `Send`): so the parse runs beside it, handing records over in batches through a
//! channel a few batches deep, which keeps memory flat whichever side is slower.

use crate::tiktok::export::{Export, ParseReport, Record};

use super::Result;

/// Records a batch: enough that the channel's cost per record is small.
const BATCH: usize = 256;
/// Batches waiting for the caller at most, beyond the one each side holds.
const IN_FLIGHT: usize = 4;

/// Parses `export` on another thread, turning each record into a `T` there with
/// `prepare` (work that needs no database), and hands them in export order to `sink`
/// on this one, a batch at a time. The first error of `sink` stops the parse and is returned; otherwise
/// the parse's own error, as `Export::parse` gives it. A panic on either thread
/// unwinds through this call.
///
/// The `T`s go back to the parser's thread to be dropped: freed on this one, the
/// parser's allocations made the two threads queue on the allocator's lock.
pub(super) fn parse_beside<T: Send>(
    export: &Export,
    prepare: impl Fn(Record) -> T + Sync,
    sink: &mut dyn FnMut(&[T]) -> Result<()>,
) -> Result<ParseReport> {
    std::thread::scope(|scope| {
        let (batches, received) = crossbeam_channel::bounded::<Vec<T>>(IN_FLIGHT);
        let (give_back, spent) = crossbeam_channel::unbounded::<Vec<T>>();
        let prepare = &prepare;
        let parser = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let send = |batch: &mut Vec<T>| {
                let mut next = None;
                for mut old in spent.try_iter() {
                    old.clear();
                    next = Some(old);
                }
                let next = next.unwrap_or_else(|| Vec::with_capacity(BATCH));
                // Refused only when the caller dropped its end: it failed, and says
                // why itself.
                batches
                    .send(std::mem::replace(batch, next))
                    .map_err(|_| "the catalogue stopped".to_string())
            };
            let report = export.parse(&mut |rec| {
                batch.push(prepare(rec));
                if batch.len() == BATCH {
                    send(&mut batch)?;
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                // Unsent only when the caller failed, and then its error is the one.
                let _ = send(&mut batch);
            }
            Ok::<_, crate::tiktok::export::ExportError>(report)
        });
        let mut failed = None;
        for batch in &received {
            if let Err(e) = sink(&batch) {
                failed = Some(e);
                break;
            }
            // Once the parser is done, the last few are dropped here.
            let _ = give_back.send(batch);
        }
        // The parser, blocked on a full channel or at its next batch, sees it closed.
        drop(received);
        let parsed = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match failed {
            Some(e) => Err(e),
            None => Ok(parsed?),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CatalogueError;
    use crate::tiktok::export::ExportError;
    use std::path::Path;

    /// An export of `n` likes, each with its own date.
    fn likes(dir: &Path, n: usize) -> Export {
        let rows: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "date": format!("2024-01-01 {:02}:{:02}:{:02}", i / 3600 % 24, i / 60 % 60, i % 60),
                    "link": format!("https://www.tiktokv.com/share/video/{}/", 7_300_000_000_000_000_000u64 + i as u64),
                })
            })
            .collect();
        let export =
            serde_json::json!({"Likes and Favorites": {"Like List": {"ItemFavoriteList": rows}}});
        let path = dir.join("user_data_tiktok.json");
        std::fs::write(&path, export.to_string()).unwrap();
        Export::open(&path).unwrap()
    }

    #[test]
    fn every_record_arrives_in_order_with_what_the_parser_thread_made_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let export = likes(dir.path(), BATCH * 3 + 7);
        let mut direct = Vec::new();
        let want = export
            .parse(&mut |rec| {
                direct.push(rec.link.clone());
                Ok(())
            })
            .unwrap();
        let parser = std::thread::current().id();
        let mut got = Vec::new();
        let report = parse_beside(
            &export,
            |rec| (rec.link, std::thread::current().id()),
            &mut |batch: &[(Option<String>, std::thread::ThreadId)]| {
                assert!(batch.len() <= BATCH);
                for (link, thread) in batch {
                    assert_ne!(*thread, parser, "prepared on the parser's thread");
                    got.push(link.clone());
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(report, want);
        assert_eq!(got, direct);
    }

    /// The sink's error is the one returned, and the parser stops within a few
    /// batches of it rather than reading the rest of the export.
    #[test]
    fn a_sink_error_stops_the_parse_and_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let export = likes(dir.path(), BATCH * 40);
        let prepared = std::sync::atomic::AtomicUsize::new(0);
        let mut n = 0;
        let err = parse_beside(
            &export,
            |_| {
                prepared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
            &mut |batch| {
                n += batch.len();
                if n > BATCH * 2 {
                    return Err(CatalogueError::NotFound("disk full".into()));
                }
                Ok(())
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, CatalogueError::NotFound(m) if m == "disk full"),
            "{err}"
        );
        assert_eq!(n, BATCH * 3, "nothing handed over after the failure");
        let prepared = prepared.into_inner();
        assert!(
            prepared <= BATCH * (IN_FLIGHT + 5),
            "the parser read {prepared} records for a failure at the third batch"
        );
    }

    #[test]
    fn a_parse_error_is_returned_after_the_records_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user_data_tiktok.json");
        std::fs::write(&path, "not json at all").unwrap();
        let export = Export::open(&path).unwrap();
        let err = parse_beside(&export, |_| (), &mut |_| Ok(())).unwrap_err();
        assert!(
            matches!(err, CatalogueError::Export(ExportError::Json { .. })),
            "{err}"
        );
    }

    #[test]
    #[should_panic(expected = "parser bug")]
    fn a_panic_on_the_parser_thread_reaches_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let export = likes(dir.path(), 10);
        let _ = parse_beside(&export, |_| panic!("parser bug"), &mut |_: &[()]| Ok(()));
    }
}
