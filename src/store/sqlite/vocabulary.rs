//! Every word the search index has held, in memory, so that the last word
//! of a query (a prefix) can be spelled out as the words it stands for.
//! FTS5 answers `"hel"*` by merging the whole index entries of every word
//! starting with `hel` before it returns the newest match; spelled out as
//! `"hel" OR "hello" OR "help"`, it walks them newest first and stops at
//! the page's end (on a million messages: a common word's search went from
//! hundreds of milliseconds to a few). The same results either way: the
//! set may hold words no message has any more (harmless), never lack one.
//!
//! Filled at start, on a thread of its own, from the index (`fts5vocab`);
//! until then searches use FTS5's own prefix query. Each indexed message
//! adds its words before its write is answered; the words of the index's
//! pending part (messages not yet moved into FTS5) are read at start too.
//!
//! Its memory is bounded: words made only of digits (a number, a time, an
//! id: often new in every message) are left out, so a prefix of digits only
//! (the only kind that can start such a word) uses FTS5's own query; and
//! past `MAX_WORDS` the set is dropped for good (FTS5's own query then).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::words::IndexedText;

/// The most words a prefix is spelled out as; past it, FTS5's prefix query.
const MAX_EXPANSION: usize = 64;
/// The most words kept (some tens of MiB at most).
const MAX_WORDS: usize = 500_000;

#[derive(Default)]
pub struct Vocabulary {
    words: Mutex<BTreeSet<Box<str>>>,
    loaded: AtomicBool,
    /// Set once the set grew past `MAX_WORDS` and was dropped.
    abandoned: AtomicBool,
}

/// Words of digits only are not kept.
fn kept(word: &str) -> bool {
    !word.is_empty() && !word.bytes().all(|b| b.is_ascii_digit())
}

impl Vocabulary {
    /// Starts filling the set from the index of the database at `path`.
    pub fn load(path: &Path) -> Arc<Vocabulary> {
        let vocabulary = Arc::new(Vocabulary::default());
        let filling = Arc::clone(&vocabulary);
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("search-vocabulary".into())
            .spawn(move || match read_terms(&path, &filling) {
                Ok(n) => {
                    filling.loaded.store(true, Ordering::Release);
                    tracing::debug!(words = n, "search vocabulary loaded");
                }
                Err(e) => tracing::warn!(error = %e, "search vocabulary not loaded: prefixes use FTS5's own"),
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "search vocabulary thread");
        }
        vocabulary
    }

    /// Adds the words of a message being indexed.
    pub fn add(&self, indexed: &IndexedText) {
        if self.abandoned.load(Ordering::Relaxed) {
            return;
        }
        let mut words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        for word in indexed.body.split(' ').chain(indexed.name.split(' ')) {
            if kept(word) && !words.contains(word) {
                words.insert(word.into());
            }
        }
        self.abandon_if_full(&mut words);
    }

    fn abandon_if_full(&self, words: &mut BTreeSet<Box<str>>) {
        if words.len() > MAX_WORDS {
            self.abandoned.store(true, Ordering::Relaxed);
            *words = BTreeSet::new();
            tracing::info!(
                max = MAX_WORDS,
                "the search index has more distinct words than are kept in memory: prefixes use FTS5's own query"
            );
        }
    }

    /// The words starting with `prefix`, if the set is complete and they
    /// are few enough to spell out.
    pub fn expand(&self, prefix: &str) -> Option<Vec<String>> {
        if !self.loaded.load(Ordering::Acquire)
            || self.abandoned.load(Ordering::Relaxed)
            || prefix.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        let found: Vec<String> = words
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(|w| w.starts_with(prefix))
            .take(MAX_EXPANSION + 1)
            .map(|w| w.to_string())
            .collect();
        (found.len() <= MAX_EXPANSION).then_some(found)
    }
}

fn read_terms(path: &Path, into: &Vocabulary) -> rusqlite::Result<usize> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The pending part first: a move into FTS5 meanwhile leaves its words
    // in what is read next, and words written later are added by the writes.
    let mut pending = conn.prepare("SELECT body, name FROM search_pending")?;
    let mut rows = pending.query([])?;
    while let Some(row) = rows.next()? {
        into.add(&IndexedText {
            body: row.get(0)?,
            name: row.get(1)?,
        });
    }
    drop(rows);
    conn.execute_batch(
        "CREATE VIRTUAL TABLE temp.search_terms USING fts5vocab(main, message_search, 'row')",
    )?;
    let mut stmt = conn.prepare("SELECT term FROM temp.search_terms")?;
    let mut rows = stmt.query([])?;
    let mut batch = Vec::with_capacity(4096);
    let mut total = 0;
    let mut flush = |batch: &mut Vec<Box<str>>| {
        let mut words = into.words.lock().unwrap_or_else(|e| e.into_inner());
        total += batch.len();
        words.extend(batch.drain(..));
        into.abandon_if_full(&mut words);
    };
    while let Some(row) = rows.next()? {
        if into.abandoned.load(Ordering::Relaxed) {
            break;
        }
        let term = row.get_ref(0)?.as_str().unwrap_or_default();
        if kept(term) {
            batch.push(term.into());
        }
        if batch.len() == batch.capacity() {
            flush(&mut batch);
        }
    }
    flush(&mut batch);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_spell_out_only_when_complete() {
        let v = Vocabulary::default();
        v.add(&IndexedText::of(
            Some("hello help helium 12345 a1b2"),
            Some("hello.pdf"),
        ));
        assert_eq!(v.expand("hel"), None, "not loaded yet");
        v.loaded.store(true, Ordering::Release);
        assert_eq!(v.expand("hel").unwrap(), ["helium", "hello", "help"]);
        assert_eq!(v.expand("zz").unwrap(), Vec::<String>::new());
        assert_eq!(v.expand("12"), None, "numbers are not kept");
        assert_eq!(v.expand("a1").unwrap(), ["a1b2"]);
        let many: Vec<String> = (0..70).map(|i| format!("pre{i:02}x")).collect();
        v.add(&IndexedText::of(Some(&many.join(" ")), None));
        assert_eq!(v.expand("pre"), None, "too many to spell out");
        assert_eq!(v.expand("pre1").map(|w| w.len()), Some(10));
    }
}
