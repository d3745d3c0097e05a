//! The event clock's reorder buffer in a cluster partition: which stream records the owner
//! applies, holds or skips, and when it publishes a watermark. Pure, no I/O: the owner
//! (`owner`) drives it with the records of its partition's subject, in stream order.
//!
//! A partition's records are mentions, the ingest nodes' minute marks (`#t`), people's
//! resolutions (`#r`) and the owner's watermarks (`#w`). With `--clock event` mentions and
//! minute marks are held in the single node's [`Order`] and released in `ts` order when a
//! watermark passes them. A snapshot stores the buffer's cursor: the sequence of the
//! oldest record still held (`low`), the engine's clock and the newest `ts`. A new owner
//! reads the stream from `low` and holds again each record the snapshot saw with a `ts`
//! after its clock ([`Feed`]), then applies the records after the snapshot as they come:
//! the same releases, in the same order, as an owner that never stopped.

use crate::engine::Engine;
use crate::serve::order::{self, Clocks, Cursor, Order};
use crate::serve::pipeline::apply;
use crate::store::LogPos;
use crate::time::Millis;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Where a restored partition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// The last stream sequence the snapshot covers (0: none).
    pub applied: u64,
    /// The reorder buffer's cursor (event clock; `None` for a snapshot without one): the
    /// records from `low.offset` to `applied` it held are read again and held again.
    pub cursor: Option<Cursor>,
}

impl Restored {
    /// The first sequence to read.
    pub fn start(&self) -> u64 {
        self.cursor.map_or(self.applied + 1, |c| c.low.offset.min(self.applied + 1))
    }
}

/// A stream record's place for the reorder buffer: its sequence as a log position.
pub fn pos(seq: u64) -> LogPos {
    LogPos { segment: 0, offset: seq }
}

/// The `ts` the reorder buffer orders a record by: a minute mark's (`#t`), or a mention's
/// (`ts`: the one its record carries, else parsed from it).
fn timed(rec: &[u8], ts: Option<Millis>) -> Option<Millis> {
    match rec.first() {
        Some(b'#') => rec.starts_with(b"#t ").then(|| order::number(rec)).flatten(),
        _ => ts.or_else(|| order::record_ts(rec)),
    }
}

/// Splits a stored snapshot: the sequence it covers, its cursor (if any) and the engine's
/// bytes. Layout: the sequence (8 bytes, little-endian), then, with the event clock, the
/// cursor (`Cursor::encode_prefix`, whose `end` is the next sequence to apply and whose
/// `low` follows it as 8 more bytes), then the engine.
pub fn split_snapshot(bytes: &[u8]) -> Option<(u64, Option<Cursor>, &[u8])> {
    let seq = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let rest = &bytes[8..];
    let (cursor, rest) = Cursor::decode_prefix(rest, pos(seq + 1));
    match cursor {
        Some(c) => {
            let low = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
            Some((seq, Some(Cursor { low: pos(low), ..c }), &rest[8..]))
        }
        None => Some((seq, None, rest)),
    }
}

/// A snapshot in the layout [`split_snapshot`] reads: the sequence it covers, the cursor
/// (event clock) and the engine's bytes.
pub fn encode_snapshot(seq: u64, cursor: Option<Cursor>, engine_bytes: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(engine_bytes.len() + 56);
    bytes.extend_from_slice(&seq.to_le_bytes());
    if let Some(c) = cursor {
        c.encode_prefix(&mut bytes);
        bytes.extend_from_slice(&c.low.offset.to_le_bytes());
    }
    bytes.extend_from_slice(engine_bytes);
    bytes
}

/// When the owner publishes a watermark (event clock): the newest `ts` of the partition as
/// it was `hold` ago, sampled at each tick; everything when the buffer is over its bound.
pub struct Watermarks {
    hold: Duration,
    samples: VecDeque<(Instant, Millis)>,
    old: Millis,
    sent: Millis,
}

impl Watermarks {
    /// Watermarks that hold records `hold` (wall time).
    pub fn new(hold: Duration) -> Self {
        Watermarks { hold, samples: VecDeque::new(), old: i64::MIN, sent: i64::MIN }
    }

    /// Samples the newest `ts` at `now`.
    pub fn tick(&mut self, now: Instant, newest: Millis) {
        self.samples.push_back((now, newest));
        while let Some(&(t, n)) = self.samples.front() {
            if now.duration_since(t) < self.hold {
                break;
            }
            self.old = self.old.max(n);
            self.samples.pop_front();
        }
    }

    /// Watermark `w` was published (and acknowledged).
    pub fn sent(&mut self, w: Millis) {
        self.sent = w;
    }

    /// The watermark to publish now, if any: one that releases something, not sent yet.
    pub fn due(&self, c: &Clocks, over: bool) -> Option<Millis> {
        let w = if over { c.newest } else { self.old };
        (c.buffered > 0 && w > c.clock && w > self.sent).then_some(w)
    }
}

/// Per-partition bounds of the reorder buffer: the node's, shared by its partitions.
pub fn over_bound(c: &Clocks, max_mentions: usize, partitions: u32) -> bool {
    let n = partitions.max(1) as usize;
    c.buffered > (max_mentions / n).max(1000) || c.buffered_bytes > (order::MAX_BUFFERED_BYTES / n).max(1 << 20)
}

/// The owner's side of the records: applies new ones (through the buffer with the event
/// clock), holds again those its snapshot had held, skips the rest.
pub struct Feed {
    restored: Restored,
    /// The next sequence that may be one to hold again.
    rehold_next: u64,
    ready: Vec<u8>,
    rec: Vec<u8>,
}

impl Feed {
    /// Starts after `restored`.
    pub fn new(restored: Restored) -> Self {
        Feed { restored, rehold_next: restored.start(), ready: Vec::new(), rec: Vec::new() }
    }

    /// Whether the buffer is whole again: every record the snapshot held is held again (a
    /// snapshot before then would lose them).
    pub fn whole(&self) -> bool {
        self.rehold_next > self.restored.applied
    }

    /// Takes record `seq` (`applied`: the last sequence applied; `ts`: the mention's, when
    /// its record carries it). True when it was new and went to the engine (released or
    /// held); false when it was seen before.
    pub fn record(
        &mut self,
        engine: &mut Engine,
        order: Option<&mut Order>,
        applied: u64,
        seq: u64,
        payload: &[u8],
        ts: Option<Millis>,
    ) -> bool {
        if seq <= applied {
            if seq >= self.rehold_next {
                self.rehold_next = seq + 1;
                if let (Some(order), Some(c), Some(ts)) = (order, self.restored.cursor, timed(payload, ts)) {
                    order.saw(ts);
                    if ts > c.clock {
                        order.hold(line(payload, &mut self.rec).to_vec(), pos(seq), ts);
                    }
                }
            }
            return false;
        }
        self.rehold_next = self.rehold_next.max(seq + 1);
        match order {
            Some(order) => {
                self.ready.clear();
                order.feed(line(payload, &mut self.rec), pos(seq), ts, &mut self.ready);
                for r in self.ready.split_inclusive(|&b| b == b'\n') {
                    apply(engine, r);
                }
            }
            None => apply(engine, payload),
        }
        true
    }
}

/// A record as one line (the buffer releases records as newline-ended lines): `payload`
/// itself when it ends with one, else copied into `buf` with it.
fn line<'a>(payload: &'a [u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
    if payload.ends_with(b"\n") {
        return payload;
    }
    buf.clear();
    buf.extend_from_slice(payload);
    buf.push(b'\n');
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::serve::order::Limits;
    use crate::time::{format_rfc3339, parse_timestamp, MINUTE_MS};

    const LIMITS: Limits = Limits { event: true, lateness_min: 5, max_jump_ms: i64::MAX, max_buffered: 1_000_000 };

    fn mention(id: &str, at: Millis, text: &str, sentiment: f64) -> Vec<u8> {
        let v = serde_json::json!({"id": id, "ts": format_rfc3339(at), "text": text, "sentiment": sentiment, "brand": "acme"});
        v.to_string().into_bytes()
    }

    /// Two days of calm and a burst of complaints for `acme`, posted by two clients at once
    /// in requests of ten minutes each: client B's request covers the same ten minutes as
    /// client A's and arrives after it, so its mentions are up to ten minutes behind the
    /// newest (the lateness allowed is five). Minute marks (`#t`) come before a minute's
    /// first mention, and after each pair of requests a watermark passes the pair before
    /// (what the owner publishes `reorder_hold` later).
    fn stream() -> Vec<Vec<u8>> {
        let t0 = parse_timestamp("2026-03-02T00:00:00Z").unwrap();
        let mut out = Vec::new();
        let mut marked = i64::MIN;
        let mut newest = i64::MIN;
        let mut before = i64::MIN;
        let mut n = 0;
        for chunk in 0..(2 * 144 + 4) {
            let burst = chunk >= 2 * 144;
            for client in 0..2 {
                for k in 0..10 {
                    let minute = t0 + (chunk * 10 + k) * MINUTE_MS;
                    if client == 0 && minute > marked {
                        out.push(format!("#t {minute}").into_bytes());
                        marked = minute;
                    }
                    let per = if burst { 30 } else { 2 };
                    for j in 0..per {
                        n += 1;
                        let at = minute + (client * per + j) * (MINUTE_MS / (2 * per));
                        let (text, s) = if burst || n % 10 == 0 {
                            ("acme app down again, refund now", -0.9)
                        } else {
                            ("acme store visit today", 0.4)
                        };
                        out.push(mention(&format!("m{n}"), at, text, s));
                        newest = newest.max(at);
                    }
                }
            }
            if before != i64::MIN {
                out.push(format!("#w {before}").into_bytes());
            }
            before = newest;
        }
        out.push(format!("#w {newest}").into_bytes());
        out
    }

    fn engine() -> Engine {
        Engine::new(&RuleSet::builtin()).expect("engine builds")
    }

    /// Runs `records` (sequence = index + 1) through a fresh owner, snapshotting after
    /// record `cut` and continuing in a new owner restored from the snapshot, as one that
    /// takes the partition over does; returns the alert events' ids and the engine's
    /// mentions and late counts.
    fn run(records: &[Vec<u8>], mut cut: Option<u64>) -> (Vec<String>, u64, u64) {
        let mut e = engine();
        let mut order = Some(Order::new(LIMITS, i64::MIN, i64::MIN));
        let mut feed = Feed::new(Restored { applied: 0, cursor: None });
        let mut events = Vec::new();
        let mut applied = 0;
        let mut i = 0;
        while i < records.len() {
            let seq = i as u64 + 1;
            // every other mention carries its `ts` as the ingest node's header does; the
            // others are parsed (records from an older node): both must order alike
            let ts = (seq % 2 == 0).then(|| crate::serve::order::record_ts(&records[i])).flatten();
            if feed.record(&mut e, order.as_mut(), applied, seq, &records[i], ts) {
                applied = seq;
            }
            events.extend(e.events.drain(..).map(|x| super::super::partition::alert_msg_id(&x)));
            i += 1;
            if cut == Some(seq) {
                cut = None;
                // the snapshot as the owner stores it, and a new owner from it
                let c = order.as_ref().unwrap().cursor(pos(applied + 1));
                let bytes = encode_snapshot(applied, Some(c), &crate::engine::snapshot::encode(&e.snapshot()).unwrap());
                let (seq, cursor, state) = split_snapshot(&bytes).unwrap();
                let restored = Restored { applied: seq, cursor };
                assert_eq!(cursor, Some(c));
                e = engine();
                e.restore(crate::engine::snapshot::decode(state).unwrap());
                order = Some(Order::new(LIMITS, c.clock, c.newest));
                feed = Feed::new(restored);
                i = restored.start() as usize - 1;
                assert!(feed.whole() == (restored.start() > applied), "whole only once every held record is back");
            }
        }
        assert!(feed.whole());
        (events, e.stats.mentions, e.stats.late)
    }

    #[test]
    fn two_clients_overlapping_by_ten_minutes_count_nothing_late_and_an_owner_taking_over_anywhere_counts_the_same() {
        let records = stream();
        let mentions = records.iter().filter(|r| r.first() != Some(&b'#')).count() as u64;
        // without the buffer: client B's mentions more than five minutes behind are late
        let mut plain = engine();
        for r in &records {
            apply(&mut plain, r);
        }
        assert!(plain.stats.late > 1000, "late without the buffer: {}", plain.stats.late);
        let (events, counted, late) = run(&records, None);
        assert_eq!((counted, late), (mentions, 0), "every mention counted, none late");
        assert!(events.iter().any(|e| e.contains("|firing|")), "the burst fires: {events:?}");
        // a new owner from a snapshot after any record: the same events, counts and lateness;
        // cuts where mentions are held (between a request and the next watermark) included
        let n = records.len() as u64;
        let mut cuts: Vec<u64> = (1..n).step_by(997).collect();
        cuts.extend([n - 1, n - 700, n - 1300]);
        let mut held_at_cut = 0;
        for cut in cuts {
            let rec = &records[cut as usize - 1];
            if rec.first() != Some(&b'#') {
                held_at_cut += 1;
            }
            assert_eq!(run(&records, Some(cut)), (events.clone(), mentions, 0), "snapshot after record {cut}");
        }
        assert!(held_at_cut > 3, "cuts inside requests, where mentions are held: {held_at_cut}");
    }

    #[test]
    fn records_are_timed_and_snapshots_without_a_cursor_still_read() {
        assert_eq!(timed(b"#t 60000", None), Some(60_000));
        assert_eq!(timed(b"#t 60000\n", None), Some(60_000));
        assert_eq!(timed(b"#w 60000", None), None);
        assert_eq!(timed(b"#r inc-1", None), None);
        let m = mention("a", 120_000, "hi", 0.0);
        assert_eq!(timed(&m, None), Some(120_000));
        // the ts a record carries (the ingest node's header) is taken as it is; a minute
        // mark's own number stands
        assert_eq!(timed(&m, Some(180_000)), Some(180_000));
        assert_eq!(timed(b"#t 60000", Some(180_000)), Some(60_000));
        // the layout before the buffer: the sequence, then the engine
        let mut old = 42u64.to_le_bytes().to_vec();
        old.extend_from_slice(b"engine bytes");
        let (seq, cursor, state) = split_snapshot(&old).unwrap();
        assert_eq!((seq, cursor, state), (42, None, &b"engine bytes"[..]));
        assert_eq!(Restored { applied: 42, cursor: None }.start(), 43);
        assert!(split_snapshot(b"short").is_none());
    }

    #[test]
    fn a_watermark_passes_what_was_newest_the_hold_ago_and_is_sent_once() {
        let mut w = Watermarks::new(Duration::from_secs(2));
        let t = Instant::now();
        let clocks = |newest, clock, buffered| Clocks { newest, clock, buffered, buffered_bytes: 0 };
        w.tick(t, 100);
        assert_eq!(w.due(&clocks(100, 0, 5), false), None, "not held long enough");
        w.tick(t + Duration::from_secs(1), 200);
        w.tick(t + Duration::from_secs(2), 300);
        assert_eq!(w.due(&clocks(300, 0, 5), false), Some(100), "the newest of two seconds ago");
        assert_eq!(w.due(&clocks(300, 0, 0), false), None, "nothing held: nothing to release");
        assert_eq!(w.due(&clocks(300, 0, 5), true), Some(300), "over the bound: everything");
        w.sent(100);
        assert_eq!(w.due(&clocks(300, 0, 5), false), None, "sent already");
        w.tick(t + Duration::from_secs(3), 300);
        assert_eq!(w.due(&clocks(300, 100, 5), false), Some(200));
        assert!(over_bound(&clocks(0, 0, 2001), 200_000, 100), "the node's bound shared by its partitions");
        assert!(!over_bound(&clocks(0, 0, 2000), 200_000, 100));
        assert!(over_bound(&clocks(0, 0, 1001), 200_000, 1000), "never below a thousand a partition");
    }
}
