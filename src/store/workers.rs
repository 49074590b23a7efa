//! The worker pool every parallel step uses (snapshot's hashing, verify's pack
//! reads, restore's files): one thread per core, pulling items in order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many workers to run: the cores this process may use.
pub fn count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `work` on every item, on [`count`] threads (no more than there are items).
/// Each worker first builds its own state with `init` (a database connection, a
/// buffer). The first error stops every worker before its next item and is returned.
pub fn run<T, S, E>(
    items: &[T],
    init: impl Fn() -> Result<S, E> + Sync,
    work: impl Fn(&mut S, &T) -> Result<(), E> + Sync,
) -> Result<(), E>
where
    T: Sync,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    let fail = |e: E| {
        stop.store(true, Ordering::Relaxed);
        first_error.lock().unwrap().get_or_insert(e);
    };
    std::thread::scope(|s| {
        for _ in 0..count().min(items.len()) {
            s.spawn(|| {
                let mut state = match init() {
                    Ok(state) => state,
                    Err(e) => return fail(e),
                };
                while !stop.load(Ordering::Relaxed) {
                    let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    if let Err(e) = work(&mut state, item) {
                        return fail(e);
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_done_once_with_per_worker_state() {
        let items: Vec<u64> = (1..=1000).collect();
        let sum = AtomicUsize::new(0);
        let inits = AtomicUsize::new(0);
        run(
            &items,
            || -> Result<(), ()> {
                inits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
            |_, &n| {
                sum.fetch_add(n as usize, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(sum.into_inner(), 500_500);
        assert_eq!(inits.into_inner(), count().min(items.len()));
    }

    #[test]
    fn the_first_error_stops_the_run_and_is_returned() {
        let items: Vec<u32> = (0..10_000).collect();
        let done = AtomicUsize::new(0);
        let result = run(
            &items,
            || Ok(()),
            |_, &n| {
                if n == 10 {
                    return Err(format!("item {n}"));
                }
                done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        );
        assert_eq!(result, Err("item 10".to_string()));
        assert!(done.into_inner() < items.len() - 1);
    }

    #[test]
    fn no_items_start_no_workers() {
        let items: Vec<u8> = Vec::new();
        let result: Result<(), ()> = run(
            &items,
            || panic!("no worker needed"),
            |_: &mut (), _| Ok(()),
        );
        assert!(result.is_ok());
    }
}
