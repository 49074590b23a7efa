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
/// A batch goes as soon as its records weigh this much: a row may hold megabytes
/// (up to the parser's cap), and a count alone would let a few batches of such rows
/// hold gigabytes.
const BATCH_BYTES: usize = 1 << 20;
/// Batches waiting for the caller at most, beyond the one each side holds. At most
/// `IN_FLIGHT + 3` batches exist (a spent one waits, records and all, for the
/// parser's next send to free it), each within [`BATCH_BYTES`] or a single record.
const IN_FLIGHT: usize = 4;
/// The parse recurses once per level of a row's nesting (serde and the row's
/// canonical form): the main thread's stack, not a spawned thread's 2 MiB default.
const PARSER_STACK: usize = 8 << 20;

/// Parses `export` on another thread, turning each record into a `T` there with
/// `prepare` (work that needs no database) and `weigh`ing it (its bytes, about), and
/// hands them in export order to `sink` on this one, a batch at a time. The first
/// error of `sink` stops the parse at its next batch and is returned; otherwise the
/// parse's own error, as `Export::parse` gives it, after the records before it. A
/// panic on either thread unwinds through this call.
///
/// The `T`s go back to the parser's thread to be dropped: freed on this one, the
/// parser's allocations made the two threads queue on the allocator's lock.
pub(super) fn parse_beside<T: Send>(
    export: &Export,
    prepare: impl Fn(Record) -> T + Sync,
    weigh: impl Fn(&T) -> usize + Sync,
    sink: &mut dyn FnMut(&[T]) -> Result<()>,
) -> Result<ParseReport> {
    std::thread::scope(|scope| {
        let (batches, received) = crossbeam_channel::bounded::<Vec<T>>(IN_FLIGHT);
        let (give_back, spent) = crossbeam_channel::unbounded::<Vec<T>>();
        let (prepare, weigh) = (&prepare, &weigh);
        let parse = move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut bytes = 0;
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
            let parsed = export.parse(&mut |rec| {
                let t = prepare(rec);
                bytes += weigh(&t);
                batch.push(t);
                if batch.len() == BATCH || bytes >= BATCH_BYTES {
                    send(&mut batch)?;
                    bytes = 0;
                }
                Ok(())
            });
            if !batch.is_empty() {
                // Unsent only when the caller failed, and then its error is the one.
                let _ = send(&mut batch);
            }
            parsed
        };
        let parser = std::thread::Builder::new()
            .name("export-parse".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, parse)
            // As `Scope::spawn` does: a process that cannot start a thread is out of
            // memory or threads, with nothing of this export written yet.
            .expect("start the export's parse thread");
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
        let caller = std::thread::current().id();
        let mut got = Vec::new();
        let report = parse_beside(
            &export,
            |rec| (rec.link, std::thread::current().id()),
            |_| 1,
            &mut |batch: &[(Option<String>, std::thread::ThreadId)]| {
                assert!(batch.len() <= BATCH);
                for (link, thread) in batch {
                    assert_ne!(*thread, caller, "prepared on the parser's thread");
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
            |_| 1,
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

    /// Rows of 300 KiB each go a few to a batch, not 256: what waits between the
    /// threads is bounded in bytes, not only in batches.
    #[test]
    fn heavy_rows_go_a_few_to_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let text = "x".repeat(300 << 10);
        let rows: Vec<serde_json::Value> = (0..40)
            .map(|i| serde_json::json!({"date": format!("2024-01-01 00:00:{i:02}"), "comment": text}))
            .collect();
        let export = serde_json::json!({"Comment": {"Comments": {"CommentsList": rows}}});
        let path = dir.path().join("user_data_tiktok.json");
        std::fs::write(&path, export.to_string()).unwrap();
        let export = Export::open(&path).unwrap();
        let (mut batches, mut rows) = (0, 0);
        parse_beside(
            &export,
            |rec| rec.text.map_or(0, |t| t.len()),
            |len| *len,
            &mut |batch: &[usize]| {
                let bytes: usize = batch.iter().sum();
                let last = batch.last().copied().unwrap_or(0);
                assert!(
                    bytes - last < BATCH_BYTES,
                    "a batch of {} rows, {bytes} bytes, went on past {BATCH_BYTES}",
                    batch.len()
                );
                batches += 1;
                rows += batch.len();
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(rows, 40);
        assert!(batches >= 10, "40 rows of 300 KiB in {batches} batches");
    }

    /// A row nested as deep as serde reads (128 levels) is keyed on the parser's
    /// thread, whose stack is the main thread's size, in a debug build too.
    #[test]
    fn a_deeply_nested_row_is_read_on_the_parser_thread() {
        let dir = tempfile::tempdir().unwrap();
        let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
        let row = format!(r#"{{"date": "2024-01-01 00:00:00", "deep": {deep}}}"#);
        let text = format!(r#"{{"Comment": {{"Comments": {{"CommentsList": [{row}]}}}}}}"#);
        let path = dir.path().join("user_data_tiktok.json");
        std::fs::write(&path, text).unwrap();
        let export = Export::open(&path).unwrap();
        let mut keys = Vec::new();
        parse_beside(
            &export,
            |rec| super::super::ingest::item_key(&rec).0,
            |_| 8,
            &mut |batch: &[[u8; 8]]| {
                keys.extend_from_slice(batch);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn a_parse_error_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user_data_tiktok.json");
        std::fs::write(&path, "not json at all").unwrap();
        let export = Export::open(&path).unwrap();
        let err = parse_beside(&export, |_| (), |_| 0, &mut |_| Ok(())).unwrap_err();
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
        let _ = parse_beside(&export, |_| panic!("parser bug"), |_| 0, &mut |_: &[(
        )]| {
            Ok(())
        });
    }
}
