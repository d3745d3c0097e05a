//! Admission and ordering: which mentions the service accepts, and in what order the engine
//! sees them. Pure state, no I/O: the sequencer drives it live, recovery drives it over the
//! ingest log, and both get the same sequence, so a restart reproduces the engine exactly.
//!
//! ## The ordering contract (stated in the README and the OpenAPI document)
//! The ingest log keeps records in arrival order. With `--clock wall` the engine takes them
//! as they come (wall-clock ticks move time). With `--clock event` only the mentions' `ts`
//! moves time, and concurrent clients interleave their requests, so the engine must not take
//! them in arrival order: a mention is held in a **reorder buffer** until the **watermark**
//! passes it, and released in `ts` order. The watermark is the newest accepted `ts` as it
//! was `reorder_hold` ago (wall time), or every accepted `ts` when the buffer is over
//! `reorder_max_mentions`. Each watermark step is itself a log record (`#w <ms>`), so the
//! release is replayed exactly after a crash.
//!
//! A mention is **refused** (per line, with the reason, into the dead letters; the rest of
//! the request is accepted) when:
//! * its `ts` is more than the rules' `max_clock_jump` after the newest accepted mention
//!   (event clock; checked in request order, so an in-order batch may span any time) or after
//!   the wall clock (wall clock);
//! * it is so late that the engine could no longer count it: its minute is more than the
//!   rules' `allowed_lateness` before the engine's clock (in event mode, the watermark);
//! * its `brand` is neither configured nor already known and `max_new_brands` brands were
//!   already created from `brand` fields.
//!
//! Nothing else is ever dropped: a mention accepted here is counted by the engine.

use crate::hash::fnv1a;
use crate::ingest::parse_line;
use crate::store::LogPos;
use crate::time::{format_rfc3339, minute_of, Millis};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

/// How far the engine has got, as recorded with a snapshot: recovery replays the log from
/// `low` and skips what the snapshot already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Start of the oldest record still in the reorder buffer (`end` when it is empty):
    /// the log is replayed from here, and segments before it may be deleted.
    pub low: LogPos,
    /// End of the log the snapshot has seen: records up to here are applied or buffered.
    pub end: LogPos,
    /// The engine's clock (mentions at or before it were given to the engine).
    pub clock: Millis,
    /// The newest accepted `ts`.
    pub newest: Millis,
}

const CURSOR_MAGIC: &[u8; 4] = b"CWO1";

impl Cursor {
    /// The cursor as a prefix of the snapshot's bytes.
    pub fn encode_prefix(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(CURSOR_MAGIC);
        for v in [self.end.segment, self.end.offset, self.clock as u64, self.newest as u64] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Splits a stored snapshot into its cursor (if it has one: older snapshots do not) and
    /// the engine's bytes. `low` is the position stored beside the snapshot.
    pub fn decode_prefix(bytes: &[u8], low: LogPos) -> (Option<Cursor>, &[u8]) {
        let Some(rest) = bytes.strip_prefix(CURSOR_MAGIC.as_slice()) else {
            return (None, bytes);
        };
        if rest.len() < 32 {
            return (None, bytes);
        }
        let v = |i: usize| u64::from_le_bytes(rest[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let c = Cursor { low, end: LogPos { segment: v(0), offset: v(1) }, clock: v(2) as i64, newest: v(3) as i64 };
        (Some(c), &rest[32..])
    }
}

/// A buffered mention.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    ts: Millis,
    seq: u64,
    start: LogPos,
    rec: Vec<u8>,
}

/// The clocks that admission decisions depend on; copied for a tentative pass over a group
/// of requests, and compared with the real state after it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    /// Newest accepted `ts`.
    pub newest: Millis,
    /// The engine's clock.
    pub clock: Millis,
    /// Mentions in the reorder buffer.
    pub buffered: usize,
    /// Their bytes.
    pub buffered_bytes: usize,
}

/// Admission limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--clock event`: buffer and release by watermark.
    pub event: bool,
    /// The rules' `allowed_lateness`, minutes.
    pub lateness_min: i64,
    /// The rules' `max_clock_jump`, milliseconds.
    pub max_jump_ms: i64,
    /// Reorder buffer bound (mentions); past it, or past [`MAX_BUFFERED_BYTES`],
    /// everything accepted is released.
    pub max_buffered: usize,
}

/// The reorder buffer's bound in bytes.
pub const MAX_BUFFERED_BYTES: usize = 128 << 20;

impl Clocks {
    /// Why a mention at `ts` cannot be accepted now (`wall` is the wall clock), if it cannot.
    pub fn refuse(&self, ts: Millis, wall: Millis, lim: &Limits) -> Option<String> {
        let (base, what) = if lim.event { (self.newest, "the newest accepted mention") } else { (wall, "the clock") };
        if base != i64::MIN && ts > base.saturating_add(lim.max_jump_ms) {
            return Some(format!(
                "`ts` {} is more than {} min after {what} ({}): the rules' max_clock_jump",
                format_rfc3339(ts),
                lim.max_jump_ms / 60_000,
                format_rfc3339(base)
            ));
        }
        if self.clock != i64::MIN && minute_of(ts) < minute_of(self.clock) - lim.lateness_min {
            let hint = if lim.event {
                "; with --clock event, send each brand's mentions in time order (concurrent requests may overlap by the reorder hold)"
            } else {
                "; backfill history with --clock event"
            };
            return Some(format!(
                "`ts` {} is too late: the engine's clock is at {} and mentions more than {} min behind it can no longer be counted (the rules' allowed_lateness){hint}",
                format_rfc3339(ts),
                format_rfc3339(self.clock),
                lim.lateness_min
            ));
        }
        None
    }

    /// Records an accepted mention at `ts` of `len` bytes.
    pub fn accept(&mut self, ts: Millis, len: usize, lim: &Limits) {
        self.newest = self.newest.max(ts);
        if lim.event {
            if ts > self.clock {
                self.buffered += 1;
                self.buffered_bytes += len;
            }
        } else {
            self.clock = self.clock.max(ts);
        }
    }
}

impl Clocks {
    /// Whether the buffer is over its bounds (then everything accepted is released).
    pub fn over(&self, lim: &Limits) -> bool {
        lim.event && (self.buffered > lim.max_buffered || self.buffered_bytes > MAX_BUFFERED_BYTES)
    }

    /// After releasing everything accepted.
    pub fn flush(&mut self) {
        self.clock = self.newest;
        self.buffered = 0;
        self.buffered_bytes = 0;
    }
}

/// The reorder buffer and the clocks (see the module documentation).
#[derive(Debug)]
pub struct Order {
    lim: Limits,
    newest: Millis,
    clock: Millis,
    bytes: usize,
    heap: BinaryHeap<Reverse<Held>>,
    starts: BTreeSet<LogPos>,
    seq: u64,
}

/// A record's kind, from its first bytes.
fn kind(rec: &[u8]) -> Option<u8> {
    match rec {
        [b'#', k, b' ', ..] => Some(*k),
        _ => None,
    }
}

/// The number of a clock record (`#t <ms>`, `#w <ms>`).
pub fn number(rec: &[u8]) -> Option<Millis> {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    std::str::from_utf8(rec.get(3..)?).ok()?.parse().ok()
}

/// A mention record's `ts` (recovery: live records come with theirs).
pub fn record_ts(rec: &[u8]) -> Option<Millis> {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    parse_line(rec, usize::MAX).ok().map(|m| m.at)
}

impl Order {
    /// An empty order starting from `clock` and `newest` (both `i64::MIN` for a new store).
    pub fn new(lim: Limits, clock: Millis, newest: Millis) -> Self {
        Order { lim, newest, clock, bytes: 0, heap: BinaryHeap::new(), starts: BTreeSet::new(), seq: 0 }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.lim
    }

    /// The clocks now.
    pub fn clocks(&self) -> Clocks {
        Clocks { newest: self.newest, clock: self.clock, buffered: self.heap.len(), buffered_bytes: self.bytes }
    }

    /// The clocks after a release up to `x`, without releasing.
    pub fn clocks_after_release(&self, x: Millis) -> Clocks {
        let (n, bytes) = self.heap.iter().filter(|h| h.0.ts <= x).fold((0, 0), |(n, b), h| (n + 1, b + h.0.rec.len()));
        Clocks {
            newest: self.newest,
            clock: self.clock.max(x),
            buffered: self.heap.len() - n,
            buffered_bytes: self.bytes - bytes,
        }
    }

    /// The cursor to store with a snapshot taken when the log ends at `end`.
    pub fn cursor(&self, end: LogPos) -> Cursor {
        Cursor { low: self.starts.first().copied().unwrap_or(end), end, clock: self.clock, newest: self.newest }
    }

    /// Takes one log record that starts at `start` (mention `ts` given when known); appends
    /// what the engine must apply now, in order, to `out`.
    pub fn feed(&mut self, rec: &[u8], start: LogPos, ts: Option<Millis>, out: &mut Vec<u8>) {
        match kind(rec) {
            Some(b'w') => {
                if let Some(x) = number(rec) {
                    self.release(x, out);
                }
            }
            Some(b'c' | b'v') => {} // the log's own framing
            Some(k) => {
                if k == b't' {
                    if let Some(t) = number(rec) {
                        if !self.lim.event {
                            self.clock = self.clock.max(t);
                        } else {
                            // an event-clock cluster's minute mark (`serve::cluster::Clock`;
                            // a single node writes none): in `ts` order with the mentions
                            self.newest = self.newest.max(t);
                            if t > self.clock {
                                self.hold(rec.to_vec(), start, t);
                                return;
                            }
                        }
                    }
                }
                out.extend_from_slice(rec);
            }
            None => {
                let Some(ts) = ts.or_else(|| record_ts(rec)) else {
                    out.extend_from_slice(rec); // the engine reports it
                    return;
                };
                self.newest = self.newest.max(ts);
                if self.lim.event && ts > self.clock {
                    self.hold(rec.to_vec(), start, ts);
                } else {
                    if !self.lim.event {
                        self.clock = self.clock.max(ts);
                    }
                    out.extend_from_slice(rec);
                }
            }
        }
    }

    /// Puts a mention in the buffer (recovery: one the snapshot saw but had not released).
    pub fn hold(&mut self, rec: Vec<u8>, start: LogPos, ts: Millis) {
        self.seq += 1;
        self.bytes += rec.len();
        self.starts.insert(start);
        self.heap.push(Reverse(Held { ts, seq: self.seq, start, rec }));
    }

    /// Releases every buffered mention at or before `x`, in `ts` order (arrival order among
    /// equal `ts`).
    fn release(&mut self, x: Millis, out: &mut Vec<u8>) {
        while self.heap.peek().is_some_and(|h| h.0.ts <= x) {
            let Reverse(h) = self.heap.pop().expect("peeked");
            self.starts.remove(&h.start);
            self.bytes -= h.rec.len();
            out.extend_from_slice(&h.rec);
        }
        self.clock = self.clock.max(x);
    }

    /// Sets the newest accepted `ts` (recovery: from records the snapshot covers).
    pub fn saw(&mut self, ts: Millis) {
        self.newest = self.newest.max(ts);
    }

    /// Buffered mentions' brand hashes (recovery of the brand memory).
    pub fn held_records(&self) -> impl Iterator<Item = &[u8]> {
        self.heap.iter().map(|h| h.0.rec.as_slice())
    }
}

/// The brands the service knows: configured ones, and those created from mentions' `brand`
/// fields, capped.
#[derive(Debug)]
pub struct BrandMemory {
    configured: HashSet<u64>,
    created: HashSet<u64>,
    max_created: usize,
}

impl BrandMemory {
    /// Configured brand ids, and the cap on the others.
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a str>, max_created: usize) -> Self {
        BrandMemory {
            configured: configured.into_iter().map(|b| fnv1a(b.as_bytes())).collect(),
            created: HashSet::new(),
            max_created,
        }
    }

    /// Adds configured brands (a reload of the rules); one created from `brand` fields
    /// before becomes configured and frees its place under the cap. Brands the new rules no
    /// longer have stay known.
    pub fn configure<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            let h = fnv1a(id.as_bytes());
            self.created.remove(&h);
            self.configured.insert(h);
        }
    }

    /// Remembers brand `id` as known (recovery).
    pub fn know(&mut self, id: &str) {
        let h = fnv1a(id.as_bytes());
        if !self.configured.contains(&h) {
            self.created.insert(h);
        }
    }

    /// Admits a mention's brand (hash of its `brand` field): `Ok(true)` when it created a
    /// brand (undo with [`BrandMemory::forget`]), `Err` when the cap is reached.
    pub fn admit(&mut self, h: u64) -> Result<bool, usize> {
        if self.configured.contains(&h) || self.created.contains(&h) {
            return Ok(false);
        }
        if self.created.len() >= self.max_created {
            return Err(self.max_created);
        }
        self.created.insert(h);
        Ok(true)
    }

    /// Whether brand hash `h` is configured or known.
    pub fn knows(&self, h: u64) -> bool {
        self.configured.contains(&h) || self.created.contains(&h)
    }

    /// Whether brand hash `h` is configured.
    pub fn is_configured(&self, h: u64) -> bool {
        self.configured.contains(&h)
    }

    /// Remembers brand hash `h` as known (created elsewhere: another cluster node).
    pub fn know_hash(&mut self, h: u64) {
        if !self.configured.contains(&h) {
            self.created.insert(h);
        }
    }

    /// Undoes an admission that was not made durable.
    pub fn forget(&mut self, h: u64) {
        self.created.remove(&h);
    }

    /// Brands created from `brand` fields.
    pub fn created(&self) -> usize {
        self.created.len()
    }
}

/// The `brand` field of a mention record, quoted, for messages.
pub fn brand_of(rec: &[u8]) -> String {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    match parse_line(rec, usize::MAX).ok().and_then(|m| m.raw.brand.map(|b| b.to_string())) {
        Some(b) => format!("`{}`", b.chars().take(80).collect::<String>()),
        None => "(unreadable)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const EVENT: Limits = Limits { event: true, lateness_min: 5, max_jump_ms: 24 * H, max_buffered: 100 };

    fn rec(ts: Millis) -> Vec<u8> {
        format!("{{\"id\":\"m{ts}\",\"ts\":\"{}\",\"text\":\"x\"}}\n", format_rfc3339(ts)).into_bytes()
    }

    fn tss(out: &[u8]) -> Vec<Millis> {
        out.split_inclusive(|&b| b == b'\n').filter_map(record_ts).collect()
    }

    #[test]
    fn event_mode_releases_in_ts_order_at_the_watermark() {
        let mut o = Order::new(EVENT, i64::MIN, i64::MIN);
        let mut out = Vec::new();
        let mut at = 0u64;
        for ts in [3 * H, H, 2 * H, 5 * H, 4 * H] {
            at += 100;
            o.feed(&rec(ts), LogPos { segment: 1, offset: at }, None, &mut out);
        }
        assert!(out.is_empty(), "held until a watermark");
        assert_eq!(o.cursor(LogPos { segment: 1, offset: 999 }).low, LogPos { segment: 1, offset: 100 });
        assert_eq!(o.clocks_after_release(3 * H).buffered, 2);
        o.feed(b"#w 10800000\n", LogPos { segment: 1, offset: 600 }, None, &mut out);
        assert_eq!(tss(&out), vec![H, 2 * H, 3 * H]);
        let left = o.clocks();
        assert_eq!((left.newest, left.clock, left.buffered), (5 * H, 3 * H, 2));
        assert_eq!(left.buffered_bytes, rec(4 * H).len() + rec(5 * H).len());
        assert_eq!(o.cursor(LogPos { segment: 1, offset: 999 }).low, LogPos { segment: 1, offset: 400 });
        // late, but within the lateness: straight to the engine
        out.clear();
        o.feed(&rec(3 * H - 60_000), LogPos { segment: 1, offset: 700 }, None, &mut out);
        assert_eq!(tss(&out), vec![3 * H - 60_000]);
    }

    #[test]
    fn admission_states_the_contract() {
        let c = Clocks { newest: 10 * H, clock: 9 * H, buffered: 0, buffered_bytes: 0 };
        assert!(c.refuse(9 * H - 5 * 60_000, 0, &EVENT).is_none(), "within the lateness");
        let late = c.refuse(9 * H - 6 * 60_000, 0, &EVENT).unwrap();
        assert!(late.contains("too late") && late.contains("allowed_lateness"), "{late}");
        assert!(c.refuse(34 * H, 0, &EVENT).is_none(), "a day after the newest");
        let fut = c.refuse(34 * H + 1, 0, &EVENT).unwrap();
        assert!(fut.contains("max_clock_jump"), "{fut}");
        let mut c = Clocks { newest: i64::MIN, clock: i64::MIN, buffered: 0, buffered_bytes: 0 };
        assert!(c.refuse(1, 0, &EVENT).is_none(), "the first mention sets the clocks");
        // an in-order batch spanning days: each step is within the jump
        for d in 0..10 {
            assert!(c.refuse(d * 20 * H, 0, &EVENT).is_none());
            c.accept(d * 20 * H, 100, &EVENT);
        }
        assert_eq!((c.buffered, c.buffered_bytes), (10, 1000));
        assert!(!c.over(&EVENT));
        c.buffered_bytes = MAX_BUFFERED_BYTES + 1;
        assert!(c.over(&EVENT), "bounded in bytes too");
        c.flush();
        assert_eq!((c.clock, c.buffered), (c.newest, 0));
        let wall = Limits { event: false, ..EVENT };
        let c = Clocks { newest: 10 * H, clock: 10 * H, buffered: 0, buffered_bytes: 0 };
        assert!(c.refuse(9 * H, 10 * H, &wall).unwrap().contains("--clock event"));
    }

    #[test]
    fn cursor_round_trips_and_old_snapshots_have_none() {
        let c = Cursor {
            low: LogPos { segment: 2, offset: 5 },
            end: LogPos { segment: 3, offset: 7 },
            clock: -5,
            newest: 99,
        };
        let mut b = Vec::new();
        c.encode_prefix(&mut b);
        b.extend_from_slice(b"engine");
        assert_eq!(Cursor::decode_prefix(&b, c.low), (Some(c), b"engine".as_slice()));
        assert_eq!(Cursor::decode_prefix(b"engine", c.low), (None, b"engine".as_slice()));
    }

    #[test]
    fn brand_memory_caps_created_brands() {
        let mut m = BrandMemory::new(["acme"], 2);
        assert_eq!(m.admit(fnv1a(b"acme")), Ok(false));
        assert_eq!(m.admit(fnv1a(b"x")), Ok(true));
        assert_eq!(m.admit(fnv1a(b"x")), Ok(false));
        assert_eq!(m.admit(fnv1a(b"y")), Ok(true));
        assert_eq!(m.admit(fnv1a(b"z")), Err(2));
        m.forget(fnv1a(b"y"));
        assert_eq!(m.admit(fnv1a(b"z")), Ok(true));
        assert_eq!(m.created(), 2);
        // a reload configures `x` (created before) and `w`: `x` frees its place
        m.configure(["x", "w"]);
        assert_eq!(m.created(), 1);
        assert_eq!(m.admit(fnv1a(b"w")), Ok(false));
        assert_eq!(m.admit(fnv1a(b"v")), Ok(true));
        assert_eq!(m.admit(fnv1a(b"u")), Err(2));
    }
}
