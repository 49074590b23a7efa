//! Read-ahead for a restore from a vault whose packs are off-site: the packs the
//! files will need, in the order the restore workers first need them, downloaded a
//! few at once ahead of the workers, instead of each worker fetching a pack only
//! when it reaches it.
//!
//! The read-ahead is bounded by the cache: at most [`window`] packs are fetched and
//! not yet done with. A fetched pack is pinned (the cache's trimming skips it) until
//! every file that needs it is restored, then released and the cache trimmed, so the
//! cache stays at its bound plus the packs in use, and no pack is evicted between
//! its download and its use (a small cache does not download everything twice).
//! The workers never wait for the read-ahead: a pack it has not reached yet a worker
//! fetches itself (one download per pack, see [`Vault::open_pack`]; pinned as its
//! file starts), and a failed read-ahead is left for the worker to meet and report.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use super::manifest::Entry;
use super::pack::TARGET_PACK_SIZE;
use super::remote::{self, CacheSize};
use super::repository::Repository;
use super::{Result, Vault};

/// Packs downloading at once ahead of the workers.
const FETCHERS: usize = 3;
/// Packs fetched and not yet done with, at most: the cache's bound in packs, within these.
const MIN_AHEAD: usize = FETCHERS;
const MAX_AHEAD: usize = 8;

/// How many packs may be fetched ahead with a cache of `cache`.
pub fn window(cache: CacheSize) -> usize {
    match cache {
        CacheSize::All => MAX_AHEAD,
        CacheSize::Bytes(n) => usize::try_from(n / TARGET_PACK_SIZE)
            .map_or(MAX_AHEAD, |p| p.clamp(MIN_AHEAD, MAX_AHEAD)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pack {
    /// Not reached yet.
    Waiting,
    Fetching,
    /// In the cache and pinned.
    Held,
    /// Done with (or never fetched because its files were restored first).
    Released,
}

struct State {
    packs: Vec<Pack>,
    /// Per pack: the files that need it and are not restored yet.
    remaining: Vec<usize>,
    next: usize,
    held: usize,
    stop: bool,
}

/// The read-ahead of one restore.
pub struct ReadAhead<'v> {
    vault: &'v Vault,
    /// Pack ids in the order the entries first need them.
    ids: Vec<String>,
    /// Per entry: the packs (indices into `ids`) it needs, once each.
    needs: Vec<Vec<usize>>,
    window: usize,
    state: Mutex<State>,
    changed: Condvar,
}

impl<'v> ReadAhead<'v> {
    /// The read-ahead for restoring `entries` in order (those `wanted` says need
    /// their content read), or None for a vault without a remote.
    pub fn plan(
        vault: &'v Vault,
        entries: &[Entry],
        wanted: impl Fn(&Entry) -> bool,
    ) -> Result<Option<ReadAhead<'v>>> {
        let Some(remote) = vault.remote() else {
            return Ok(None);
        };
        let repo = Repository::open(vault)?;
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut ids = Vec::new();
        let mut needs = Vec::with_capacity(entries.len());
        for e in entries {
            let mut mine = Vec::new();
            // A file the index lacks is the worker's to report.
            if let Some(file) = repo.file(&e.hash)?.filter(|_| wanted(e)) {
                for chunk in &file.chunks {
                    let Some(loc) = repo.blob(chunk)? else {
                        continue;
                    };
                    let i = *index.entry(loc.pack).or_insert_with_key(|id| {
                        ids.push(id.clone());
                        ids.len() - 1
                    });
                    if !mine.contains(&i) {
                        mine.push(i);
                    }
                }
            }
            needs.push(mine);
        }
        let mut remaining = vec![0; ids.len()];
        for i in needs.iter().flatten() {
            remaining[*i] += 1;
        }
        Ok(Some(ReadAhead {
            vault,
            state: Mutex::new(State {
                packs: vec![Pack::Waiting; ids.len()],
                remaining,
                next: 0,
                held: 0,
                stop: false,
            }),
            ids,
            needs,
            window: window(remote.cache_size()),
            changed: Condvar::new(),
        }))
    }

    /// Fetches ahead until every pack is fetched or [`stop`](Self::stop) is called.
    pub fn run(&self) {
        std::thread::scope(|s| {
            for _ in 0..FETCHERS.min(self.ids.len()) {
                s.spawn(|| self.fetch_loop());
            }
        });
    }

    fn fetch_loop(&self) {
        while let Some(i) = self.next_pack() {
            // A failure is the worker's to meet: it fetches the pack again and names it.
            let _ = self.vault.cached_pack(&self.ids[i]);
            let mut st = self.state.lock().unwrap();
            st.packs[i] = Pack::Held;
            if st.remaining[i] == 0 {
                self.release(&mut st, i);
                drop(st);
                self.vault.trim_cache();
            }
        }
    }

    /// The next pack to fetch, pinned, once the window has room; None when done.
    fn next_pack(&self) -> Option<usize> {
        let mut st = self.state.lock().unwrap();
        loop {
            if st.stop || st.next >= self.ids.len() {
                return None;
            }
            let i = st.next;
            if st.packs[i] != Pack::Waiting {
                st.next += 1;
            } else if st.held < self.window {
                st.next += 1;
                st.held += 1;
                st.packs[i] = Pack::Fetching;
                remote::pin(&self.ids[i]);
                return Some(i);
            } else {
                st = self.changed.wait(st).unwrap();
            }
        }
    }

    /// Entry `entry` is being restored: the packs it needs that the read-ahead has
    /// not reached are pinned now, so that the one its worker fetches stays until
    /// every file that needs it is restored (the window does not bound these: they
    /// are in use, not ahead).
    pub fn started(&self, entry: usize) {
        let mut st = self.state.lock().unwrap();
        for &i in self.needs.get(entry).into_iter().flatten() {
            if st.packs[i] == Pack::Waiting {
                st.packs[i] = Pack::Held;
                st.held += 1;
                remote::pin(&self.ids[i]);
            }
        }
    }

    /// Entry `entry` is restored (or failed): the packs only it still needed go.
    pub fn finished(&self, entry: usize) {
        let mut st = self.state.lock().unwrap();
        let mut released = false;
        for &i in self.needs.get(entry).into_iter().flatten() {
            st.remaining[i] -= 1;
            if st.remaining[i] == 0 {
                match st.packs[i] {
                    Pack::Waiting => st.packs[i] = Pack::Released,
                    Pack::Held => {
                        self.release(&mut st, i);
                        released = true;
                    }
                    // Its fetcher releases it once the download is over.
                    Pack::Fetching | Pack::Released => {}
                }
            }
        }
        drop(st);
        if released {
            self.vault.trim_cache();
        }
    }

    /// Unpins a held pack (the caller trims the cache once the lock is dropped).
    fn release(&self, st: &mut State, i: usize) {
        st.packs[i] = Pack::Released;
        st.held -= 1;
        remote::unpin(&self.ids[i]);
        self.changed.notify_all();
    }

    /// Ends the read-ahead (the restore is over or failed).
    pub fn stop(&self) {
        self.state.lock().unwrap().stop = true;
        self.changed.notify_all();
    }
}

impl Drop for ReadAhead<'_> {
    /// Unpins what the restore did not get to, and brings the cache to its bound.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for (i, p) in st.packs.iter().enumerate() {
            if matches!(p, Pack::Fetching | Pack::Held) {
                remote::unpin(&self.ids[i]);
            }
        }
        self.vault.trim_cache();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_cache_within_bounds() {
        assert_eq!(window(CacheSize::Bytes(1)), MIN_AHEAD);
        assert_eq!(window(CacheSize::Bytes(5 * TARGET_PACK_SIZE)), 5);
        assert_eq!(window(CacheSize::Bytes(u64::MAX)), MAX_AHEAD);
        assert_eq!(window(CacheSize::All), MAX_AHEAD);
    }
}
