//! Memory of recent mention ids, so that a mention sent twice (a client's retry, an
//! overlapping export) is counted once. One type for `serve` (where time is the wall clock
//! and the memory is kept with the ingest log) and `replay` (where time is the mentions'
//! `ts`): the same input de-duplicates the same way in both.

use std::collections::{HashSet, VecDeque};

/// How many ids both `serve` and `replay` remember by default.
pub const DEFAULT_IDS: usize = 1_000_000;
/// How long both remember an id by default: 24 hours.
pub const DEFAULT_WINDOW_MS: i64 = 86_400_000;

/// Memory of recent mention ids (64-bit hashes), bounded in count and age, so that a
/// client's retry is counted once.
#[derive(Debug, Clone)]
pub struct Dedup {
    seen: HashSet<u64>,
    order: VecDeque<(u64, i64)>,
    max: usize,
    window_ms: i64,
}

impl Dedup {
    /// Remembers up to `max` ids for up to `window_ms`.
    pub fn new(max: usize, window_ms: i64) -> Self {
        Dedup { seen: HashSet::with_capacity(max.min(1 << 20)), order: VecDeque::new(), max, window_ms }
    }

    /// Records `id` seen at `now_ms`; false when it was already seen (a duplicate).
    pub fn insert(&mut self, id: u64, now_ms: i64) -> bool {
        while let Some(&(old, at)) = self.order.front() {
            if self.order.len() >= self.max || at < now_ms - self.window_ms {
                self.order.pop_front();
                self.seen.remove(&old);
            } else {
                break;
            }
        }
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back((id, now_ms));
        true
    }

    /// Forgets the `n` ids inserted last (a batch that could not be made durable: its
    /// retry must not be taken for a duplicate).
    pub fn undo(&mut self, n: usize) {
        for _ in 0..n {
            match self.order.pop_back() {
                Some((id, _)) => {
                    self.seen.remove(&id);
                }
                None => break,
            }
        }
    }

    /// The ids remembered with when they were seen, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.order.iter().copied()
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_forgets_by_age_and_count() {
        let mut d = Dedup::new(3, 1000);
        assert!(d.insert(1, 0));
        assert!(!d.insert(1, 10));
        assert!(d.insert(2, 20) && d.insert(3, 30));
        assert!(d.insert(4, 40), "the oldest (1) makes room");
        assert!(d.insert(1, 50), "1 was forgotten");
        assert!(!d.insert(4, 60));
        assert!(d.insert(2, 2000), "2 is older than the window");
    }
}
