//! Where things go in the cluster (pure, no I/O): which partition a mention belongs to,
//! which node should own a partition, and the message ids that make publishing idempotent.
//!
//! * **Partitions** are by brand: every mention of brand `b` lands on partition
//!   `fnv1a(b) mod N`, so one engine sees all of a brand's mentions, in stream order. A
//!   mention without a `brand` field is matched against the rules' keywords here, at ingest,
//!   exactly as the engine would; a mention about two brands becomes one record per brand,
//!   each with its `brand` set (message id `<id>` + `\x1f` + brand), so each engine counts
//!   it for its brand only. A mention about no brand goes to the partition of its id: the
//!   engine there counts it as unmatched, as the single-node service does.
//! * **Owners**: rendezvous hashing (highest `fnv1a(node/partition)` among the live
//!   nodes), so when a node joins or leaves only the partitions it wins or held move.
//! * **Alert message ids** are the store's own key of an event (incident, status,
//!   severity, time): an engine that replays a partition after a failover publishes the
//!   same ids, which the alert stream's de-duplication window and the stores' unique key
//!   both drop.

use crate::alert::AlertEvent;
use crate::hash::fnv1a;
use crate::ingest::brands::{BrandKeywords, BrandMatcher};
use crate::rules::RuleSet;

/// The subject of partition `p` of the mention stream.
pub fn subject(p: u32) -> String {
    format!("cw.mentions.{p}")
}

/// The partition of a brand id (or, for a mention about no brand, of its id).
pub fn of(key: &str, partitions: u32) -> u32 {
    (fnv1a(key.as_bytes()) % u64::from(partitions.max(1))) as u32
}

/// The node that should own partition `p` among `nodes` (rendezvous hashing); `None` when
/// there is no node.
pub fn owner(p: u32, nodes: &[String]) -> Option<&str> {
    let p = mix(u64::from(p));
    nodes.iter().max_by_key(|n| (mix(fnv1a(n.as_bytes()) ^ p), n.as_str())).map(String::as_str)
}

/// SplitMix64's finaliser: FNV-1a alone spreads short, similar names poorly.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The message id of an alert event on the alert stream: its unique key in the store.
pub fn alert_msg_id(e: &AlertEvent) -> String {
    format!("{}|{}|{}|{}", e.id, e.status.as_str(), e.severity.as_str(), e.at)
}

/// The rules partition `p`'s engine runs with: only the brands of that partition (their
/// mentions are the only ones it sees), so that the engines of a cluster hold every brand
/// once between them, not once each.
pub fn rules_of(rules: &RuleSet, p: u32, partitions: u32) -> RuleSet {
    let mut r = rules.clone();
    r.brands.retain(|b| of(&b.id, partitions) == p);
    r
}

/// The header a mention's record carries its `ts` in (milliseconds), set by the ingest node
/// that admitted it: the partition's reorder buffer orders by it without parsing the
/// mention (a record without it, from an older node, is parsed).
pub const TS_HEADER: &str = "Cw-Ts";

/// One record for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The partition.
    pub partition: u32,
    /// The message id (the stream's de-duplication key).
    pub msg_id: String,
    /// The record: a mention as compact JSON, without the trailing newline.
    pub record: Vec<u8>,
}

/// Splits validated mention records into partition records (see the module documentation).
pub struct Router {
    matcher: BrandMatcher,
    ids: Vec<String>,
    partitions: u32,
    matched: Vec<u32>,
}

impl Router {
    /// The router of these rules over `partitions` partitions.
    ///
    /// # Errors
    /// The keyword automaton cannot be built.
    pub fn new(rules: &RuleSet, partitions: u32) -> Result<Self, aho_corasick::BuildError> {
        let keywords: Vec<BrandKeywords> = rules
            .brands
            .iter()
            .enumerate()
            .map(|(i, b)| BrandKeywords {
                brand: i as u32,
                keywords: b.keywords.clone(),
                exclusions: b.exclusions.clone(),
            })
            .collect();
        Ok(Router {
            matcher: BrandMatcher::new(&keywords)?,
            ids: rules.brands.iter().map(|b| b.id.clone()).collect(),
            partitions: partitions.max(1),
            matched: Vec::new(),
        })
    }

    /// The partition count.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Appends the partition records of one validated mention record (`rec`, compact JSON,
    /// with or without its newline) to `out`.
    ///
    /// # Errors
    /// The record does not parse (it was validated: a bug, reported rather than dropped).
    pub fn route(&mut self, rec: &[u8], out: &mut Vec<Routed>) -> Result<(), String> {
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        let m = crate::ingest::parse_line(rec, usize::MAX).map_err(|e| e.to_string())?;
        let id = m.raw.id.to_string();
        if let Some(b) = m.raw.brand.as_deref() {
            out.push(Routed { partition: of(b, self.partitions), msg_id: id, record: rec.to_vec() });
            return Ok(());
        }
        self.matched.clear();
        self.matcher.match_into(&m.raw.text, &mut self.matched);
        self.matched.sort_unstable();
        self.matched.dedup();
        if self.matched.is_empty() {
            out.push(Routed { partition: of(&id, self.partitions), msg_id: id, record: rec.to_vec() });
            return Ok(());
        }
        let mut obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(rec).map_err(|e| format!("cannot re-read a validated record: {e}"))?;
        for &b in &self.matched {
            let brand = &self.ids[b as usize];
            obj.insert("brand".into(), serde_json::Value::String(brand.clone()));
            out.push(Routed {
                partition: of(brand, self.partitions),
                msg_id: format!("{id}\x1f{brand}"),
                record: serde_json::to_vec(&obj).expect("a JSON object serialises"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn owners_move_only_when_their_node_comes_or_goes() {
        let three = nodes(&["a", "b", "c"]);
        let two = nodes(&["a", "b"]);
        let per: Vec<&str> = (0..64).map(|p| owner(p, &three).unwrap()).collect();
        for n in ["a", "b", "c"] {
            let k = per.iter().filter(|&&o| o == n).count();
            assert!((10..=34).contains(&k), "{n} owns {k} of 64");
        }
        for p in 0..64 {
            let now = owner(p, &two).unwrap();
            if per[p as usize] != "c" {
                assert_eq!(now, per[p as usize], "partition {p} moved though its owner stayed");
            }
        }
        assert_eq!(owner(3, &[]), None);
        // the order nodes are listed in does not matter
        assert_eq!(owner(5, &nodes(&["c", "a", "b"])), owner(5, &three));
    }

    #[test]
    fn mentions_are_routed_by_brand_and_split_per_matched_brand() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let rules = crate::rules::load_dir(&dir).unwrap();
        let mut r = Router::new(&rules, 8).unwrap();
        let (b0, b1) = (&rules.brands[0], &rules.brands[1]);
        let mut out = Vec::new();
        let with_brand = format!(r#"{{"id":"x1","ts":"2026-01-01T00:00:00Z","text":"hi","brand":"{}"}}"#, b1.id);
        r.route(with_brand.as_bytes(), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].partition, out[0].msg_id.as_str()), (of(&b1.id, 8), "x1"));
        assert_eq!(out[0].record, with_brand.as_bytes());
        out.clear();
        let text = format!("{} and {} both failed me", b0.keywords[0], b1.keywords[0]);
        let both = serde_json::json!({"id": "x2", "ts": "2026-01-01T00:00:00Z", "text": text, "lang": "en"});
        r.route(both.to_string().as_bytes(), &mut out).unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        for (o, b) in out.iter().zip([b0, b1]) {
            assert_eq!(o.partition, of(&b.id, 8));
            assert_eq!(o.msg_id, format!("x2\x1f{}", b.id));
            let v: serde_json::Value = serde_json::from_slice(&o.record).unwrap();
            assert_eq!(
                (v["brand"].as_str(), v["text"].as_str(), v["lang"].as_str()),
                (Some(&*b.id), Some(&*text), Some("en"))
            );
        }
        out.clear();
        r.route(br#"{"id":"x3","ts":"2026-01-01T00:00:00Z","text":"nothing to see"}"#, &mut out).unwrap();
        assert_eq!((out.len(), out[0].partition, out[0].msg_id.as_str()), (1, of("x3", 8), "x3"));
    }
}
