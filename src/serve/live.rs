//! A value the service replaces while it runs (the notification settings at a reload):
//! readers take the current one as an `Arc` and keep it for as long as they work with it,
//! and a generation number tells a long-running reader (the notifier thread) that it
//! should rebuild what it derived from the old one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The current value and how many times it was replaced.
#[derive(Debug)]
pub struct Live<T> {
    value: RwLock<Arc<T>>,
    generation: AtomicU64,
}

impl<T> Live<T> {
    /// Starts with `value`, generation 0.
    pub fn new(value: T) -> Self {
        Live { value: RwLock::new(Arc::new(value)), generation: AtomicU64::new(0) }
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        self.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current value with its generation (read together, under the lock).
    pub fn get_with_generation(&self) -> (u64, Arc<T>) {
        let v = self.value.read().unwrap_or_else(|e| e.into_inner());
        (self.generation.load(Ordering::Acquire), v.clone())
    }

    /// Replaces the value; readers see the new one and a higher generation.
    pub fn set(&self, value: T) {
        let mut v = self.value.write().unwrap_or_else(|e| e.into_inner());
        *v = Arc::new(value);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_value_is_seen_with_a_new_generation_and_old_readers_keep_theirs() {
        let live = Live::new(String::from("old"));
        let (g0, held) = live.get_with_generation();
        live.set(String::from("new"));
        let (g1, now) = live.get_with_generation();
        assert_eq!((held.as_str(), now.as_str(), g1), ("old", "new", g0 + 1));
        assert_eq!(live.get().as_str(), "new");
    }
}
