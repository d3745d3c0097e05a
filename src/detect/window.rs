//! Rolling windows of one brand scope: a ring of per-minute buckets (the last hour) and a
//! ring of 15-minute blocks (the last six hours), with rolling sums over 5 min, 15 min,
//! 1 h and 6 h kept up to date in O(1) per mention. Memory is fixed: about 2.3 KiB per scope.

/// Window lengths in minutes, in the order of [`Windows::sums`].
pub const WINDOW_MINUTES: [i64; 4] = [5, 15, 60, 360];
const MINUTE_SLOTS: i64 = 60;
const BLOCK_MINUTES: i64 = 15;
const BLOCK_SLOTS: i64 = 24;

/// What happened in one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// Mentions.
    pub count: u32,
    /// Mentions whose tone is known (provider sentiment or model).
    pub toned: u32,
    /// Of which the tone model judged (no provider sentiment).
    pub model_toned: u32,
    /// Mentions judged negative.
    pub negative: u32,
    /// Mentions that re-share another post (`shared_of` set).
    pub reshares: u32,
    /// Authors seen for the first time in the last hour (approximate distinct authors).
    pub new_authors: u32,
    /// Mentions by authors with at least 10,000 followers.
    pub influential: u32,
    /// Sum of reach weights `log10(1 + followers)`.
    pub reach: f32,
}

impl Bucket {
    /// Adds another bucket's counts to this one.
    pub fn add(&mut self, o: &Bucket) {
        self.count += o.count;
        self.toned += o.toned;
        self.model_toned += o.model_toned;
        self.negative += o.negative;
        self.reshares += o.reshares;
        self.new_authors += o.new_authors;
        self.influential += o.influential;
        self.reach += o.reach;
    }
    fn sub(&mut self, o: &Bucket) {
        self.count -= o.count;
        self.toned -= o.toned;
        self.model_toned -= o.model_toned;
        self.negative -= o.negative;
        self.reshares -= o.reshares;
        self.new_authors -= o.new_authors;
        self.influential -= o.influential;
        self.reach = (self.reach - o.reach).max(0.0);
    }
    /// Negative fraction among toned mentions (0 when none are toned).
    pub fn negative_share(&self) -> f64 {
        if self.toned == 0 {
            0.0
        } else {
            f64::from(self.negative) / f64::from(self.toned)
        }
    }
}

/// Rolling windows ending at the head minute.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Windows {
    #[serde(with = "array")]
    minutes: [Bucket; MINUTE_SLOTS as usize],
    #[serde(with = "array")]
    blocks: [Bucket; BLOCK_SLOTS as usize],
    /// Minute index of the newest bucket; `i64::MIN` before the first mention.
    head: i64,
    /// Rolling sums for [`WINDOW_MINUTES`], each ending at `head`.
    pub sums: [Bucket; 4],
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            minutes: [Bucket::default(); MINUTE_SLOTS as usize],
            blocks: [Bucket::default(); BLOCK_SLOTS as usize],
            head: i64::MIN,
            sums: [Bucket::default(); 4],
        }
    }
}

impl Windows {
    /// Moves the head forward to `minute`, expiring buckets that leave each window.
    pub fn advance(&mut self, minute: i64) {
        if self.head == i64::MIN {
            self.head = minute;
            return;
        }
        if minute <= self.head {
            return;
        }
        let old_block = self.head.div_euclid(BLOCK_MINUTES);
        if minute - self.head >= MINUTE_SLOTS {
            self.minutes = [Bucket::default(); MINUTE_SLOTS as usize];
            for s in &mut self.sums[..3] {
                *s = Bucket::default();
            }
        } else {
            for k in self.head + 1..=minute {
                for (i, &w) in WINDOW_MINUTES[..3].iter().enumerate() {
                    let leaving = self.minutes[(k - w).rem_euclid(MINUTE_SLOTS) as usize];
                    self.sums[i].sub(&leaving);
                }
                self.minutes[k.rem_euclid(MINUTE_SLOTS) as usize] = Bucket::default();
            }
        }
        let new_block = minute.div_euclid(BLOCK_MINUTES);
        if new_block - old_block >= BLOCK_SLOTS {
            self.blocks = [Bucket::default(); BLOCK_SLOTS as usize];
            self.sums[3] = Bucket::default();
        } else {
            for b in old_block + 1..=new_block {
                let slot = b.rem_euclid(BLOCK_SLOTS) as usize;
                let leaving = self.blocks[slot];
                self.sums[3].sub(&leaving);
                self.blocks[slot] = Bucket::default();
            }
        }
        self.head = minute;
    }

    /// Adds a bucket's worth of data at `minute` (≤ head, within the last hour). Returns false
    /// (and changes nothing) when the minute has already left the minute ring.
    pub fn add(&mut self, minute: i64, b: &Bucket) -> bool {
        if self.head == i64::MIN {
            self.advance(minute);
        }
        let age = self.head - minute;
        if !(0..MINUTE_SLOTS).contains(&age) {
            return false;
        }
        self.minutes[minute.rem_euclid(MINUTE_SLOTS) as usize].add(b);
        for (i, &w) in WINDOW_MINUTES[..3].iter().enumerate() {
            if age < w {
                self.sums[i].add(b);
            }
        }
        self.blocks[minute.div_euclid(BLOCK_MINUTES).rem_euclid(BLOCK_SLOTS) as usize].add(b);
        self.sums[3].add(b);
        true
    }

    /// The newest minute (`i64::MIN` before the first mention).
    pub fn head(&self) -> i64 {
        self.head
    }

    /// Start minute (inclusive) of window `i` ending at the head.
    pub fn window_start(&self, i: usize) -> i64 {
        if i == 3 {
            (self.head.div_euclid(BLOCK_MINUTES) - BLOCK_SLOTS + 1) * BLOCK_MINUTES
        } else {
            self.head - WINDOW_MINUTES[i] + 1
        }
    }

    /// Per-minute counts for the last hour, oldest first (for curves in alerts).
    pub fn minute_counts(&self) -> Vec<u32> {
        (self.head - MINUTE_SLOTS + 1..=self.head)
            .map(|m| self.minutes[m.rem_euclid(MINUTE_SLOTS) as usize].count)
            .collect()
    }
}

/// Minutes of history kept per brand for charts (`/v1/brands/{id}/series`).
pub const HISTORY_MINUTES: i64 = 24 * 60;

/// Mentions and negative mentions per minute over the last 24 hours of one brand, for
/// charts. Allocated on a brand's first mention (11.5 KiB), so idle brands cost nothing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinuteHistory {
    head: i64,
    slots: Vec<(u32, u32)>,
}

impl MinuteHistory {
    /// An empty history whose newest minute is `minute`.
    pub fn new(minute: i64) -> Self {
        MinuteHistory { head: minute, slots: vec![(0, 0); HISTORY_MINUTES as usize] }
    }

    /// Moves the newest minute forward, clearing the minutes that enter.
    pub fn advance(&mut self, minute: i64) {
        if minute <= self.head {
            return;
        }
        if minute - self.head >= HISTORY_MINUTES {
            self.slots.fill((0, 0));
        } else {
            for m in self.head + 1..=minute {
                self.slots[m.rem_euclid(HISTORY_MINUTES) as usize] = (0, 0);
            }
        }
        self.head = minute;
    }

    /// Counts one mention at `minute` (ignored when older than the history).
    pub fn add(&mut self, minute: i64, negative: bool) {
        self.advance(minute);
        if self.head - minute >= HISTORY_MINUTES {
            return;
        }
        let slot = &mut self.slots[minute.rem_euclid(HISTORY_MINUTES) as usize];
        slot.0 += 1;
        slot.1 += u32::from(negative);
    }

    /// (mentions, negative) at `minute`; zero outside the kept history.
    pub fn at(&self, minute: i64) -> (u32, u32) {
        if minute > self.head || self.head - minute >= HISTORY_MINUTES {
            return (0, 0);
        }
        self.slots[minute.rem_euclid(HISTORY_MINUTES) as usize]
    }
}

/// Serde for fixed-size arrays longer than serde's built-in 32: as a sequence.
pub mod array {
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    /// Serialises as a sequence.
    ///
    /// # Errors
    /// From the serializer.
    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(a: &[T; N], s: S) -> Result<S::Ok, S::Error> {
        a.as_slice().serialize(s)
    }

    /// Deserialises a sequence of exactly `N` items.
    ///
    /// # Errors
    /// When the length differs.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        d: D,
    ) -> Result<[T; N], D::Error> {
        let v: Vec<T> = Vec::deserialize(d)?;
        let n = v.len();
        v.try_into().map_err(|_| D::Error::custom(format!("expected {N} items, found {n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Bucket {
        Bucket { count: 1, toned: 1, negative: 1, ..Bucket::default() }
    }

    /// Rolling sums must equal a brute-force recount of the minutes in each window.
    #[test]
    fn rolling_sums_match_brute_force() {
        let mut w = Windows::default();
        let mut log: Vec<i64> = Vec::new();
        let mut minute = 1_000_000i64;
        let mut x = 12345u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let step = match (x >> 33) % 10 {
                0..=6 => 0,
                7 | 8 => 1,
                _ => (x >> 40) as i64 % 90,
            };
            minute += step;
            w.advance(minute);
            let late = ((x >> 20) % 4) as i64; // some mentions land in earlier minutes
            if w.add(minute - late, &one()) {
                log.push(minute - late);
            }
            for (i, &len) in WINDOW_MINUTES.iter().enumerate() {
                let start = w.window_start(i);
                let want = log.iter().filter(|&&m| m >= start && m <= minute && (i == 3 || minute - m < len)).count();
                assert_eq!(w.sums[i].count as usize, want, "window {len} at minute {minute}");
            }
            log.retain(|&m| minute - m < 400);
        }
    }

    #[test]
    fn minute_history_keeps_one_day() {
        let mut h = MinuteHistory::new(1000);
        h.add(1000, true);
        h.add(1000, false);
        h.add(999, false);
        assert_eq!(h.at(1000), (2, 1));
        assert_eq!(h.at(999), (1, 0));
        h.advance(1000 + HISTORY_MINUTES - 1);
        assert_eq!(h.at(1000), (2, 1), "still inside the day");
        assert_eq!(h.at(999), (0, 0), "left the day");
        h.add(1000 + HISTORY_MINUTES, false);
        assert_eq!(h.at(1000), (0, 0));
        assert_eq!(h.at(1000 + HISTORY_MINUTES), (1, 0));
        h.add(5, true); // far too old: ignored
        assert_eq!(h.at(5), (0, 0));
    }

    #[test]
    fn late_data_beyond_the_ring_is_refused() {
        let mut w = Windows::default();
        w.advance(100);
        assert!(w.add(100, &one()));
        assert!(w.add(41, &one()));
        assert!(!w.add(40, &one()));
        assert_eq!(w.sums[2].count, 2);
        w.advance(200);
        assert_eq!(w.sums[0..3].iter().map(|b| b.count).sum::<u32>(), 0);
    }
}
