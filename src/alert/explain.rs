//! Explanations: which posts and terms drive a spike. A [`PostLog`] keeps the last hours of
//! matched mentions in per-minute arenas that are recycled, so recording a post copies its
//! bytes but does not allocate once the arenas have grown. When an incident fires, the
//! brand's posts in the window are grouped by their root post (re-shares collapse into the
//! post they share), ranked by reach, and the window's terms are ranked by Dunning's
//! log-likelihood ratio against the brand's earlier posts in the log.

use crate::ingest::normalize::{is_word_char, normalize_into};
use crate::ingest::Mention;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;

/// A post that drives an alert (DESIGN §3 `top_posts`), with its re-shares collapsed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopPost {
    /// Id of the root post.
    pub id: String,
    /// Its text.
    pub text: String,
    /// Its author.
    pub author: Option<String>,
    /// The author's audience.
    pub author_followers: Option<u64>,
    /// Link.
    pub url: Option<String>,
    /// Network.
    pub source: Option<String>,
    /// Re-shares of it seen in the window (0 for a post nobody re-shared).
    pub reshares: u32,
    /// Whether the post (or its re-shares) were judged negative.
    pub negative: bool,
}

/// A term over-represented in the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopTerm {
    /// The normalised term.
    pub term: String,
    /// Distinct root posts in the window that use it.
    pub count: u32,
    /// Log-likelihood ratio G² against the brand's earlier posts.
    pub llr: f64,
}

#[derive(Debug, Clone)]
struct PostRec {
    brand: u32,
    root: Range<u32>,
    text: Range<u32>,
    author: Range<u32>,
    url: Range<u32>,
    source: Range<u32>,
    followers: Option<u64>,
    negative: bool,
    is_reshare: bool,
}

#[derive(Debug, Default)]
struct MinuteArena {
    minute: i64,
    bytes: String,
    posts: Vec<PostRec>,
}

impl MinuteArena {
    fn push_str(&mut self, s: &str) -> Range<u32> {
        let start = self.bytes.len() as u32;
        self.bytes.push_str(s);
        start..self.bytes.len() as u32
    }
    fn get(&self, r: &Range<u32>) -> &str {
        &self.bytes[r.start as usize..r.end as usize]
    }
}

/// Minutes before a window whose posts are the background for term statistics.
const BACKGROUND_MINUTES: i64 = 180;
/// At most this many window and background posts feed the term statistics.
const MAX_TERM_DOCS: u32 = 600;

/// Recent matched mentions, all brands, by minute.
#[derive(Debug)]
pub struct PostLog {
    arenas: VecDeque<MinuteArena>,
    spare: Vec<MinuteArena>,
    retain_minutes: i64,
    max_text: usize,
    /// Bytes held (texts and records), kept under `max_bytes` by dropping the oldest minutes:
    /// at very high volume the explanations get a shorter background, memory stays bounded.
    bytes: usize,
    max_bytes: usize,
}

impl PostLog {
    /// Keeps `retain_minutes` of history, in at most about `max_bytes`.
    pub fn new(retain_minutes: i64, max_bytes: usize) -> Self {
        PostLog { arenas: VecDeque::new(), spare: Vec::new(), retain_minutes, max_text: 1000, bytes: 0, max_bytes }
    }

    fn arena(&mut self, minute: i64) -> Option<&mut MinuteArena> {
        let newest = self.arenas.back().map(|a| a.minute);
        if newest == Some(minute) {
            return self.arenas.back_mut();
        }
        if newest.is_none_or(|n| minute > n) {
            while self.arenas.len() > 1
                && self
                    .arenas
                    .front()
                    .is_some_and(|a| a.minute <= minute - self.retain_minutes || self.bytes > self.max_bytes)
            {
                if let Some(mut a) = self.arenas.pop_front() {
                    self.bytes -= a.bytes.len() + a.posts.len() * std::mem::size_of::<PostRec>();
                    a.bytes.clear();
                    a.posts.clear();
                    self.spare.push(a);
                }
            }
            let mut a = self.spare.pop().unwrap_or_default();
            a.minute = minute;
            self.arenas.push_back(a);
            return self.arenas.back_mut();
        }
        // late mention: find its minute (arenas are sorted)
        if newest.is_some_and(|n| n - minute >= self.retain_minutes) {
            return None;
        }
        let idx = self.arenas.partition_point(|a| a.minute < minute);
        match self.arenas.get(idx) {
            Some(a) if a.minute == minute => self.arenas.get_mut(idx),
            _ => {
                let mut a = self.spare.pop().unwrap_or_default();
                a.minute = minute;
                self.arenas.insert(idx, a);
                self.arenas.get_mut(idx)
            }
        }
    }

    /// Records a mention for each brand it matched.
    pub fn record(&mut self, m: &Mention<'_>, brands: &[u32], minute: i64, negative: bool) {
        let max_text = self.max_text;
        let Some(a) = self.arena(minute) else { return };
        let before = a.bytes.len() + a.posts.len() * std::mem::size_of::<PostRec>();
        let text = truncate(&m.raw.text, max_text);
        let id = a.push_str(&m.raw.id);
        let root = match &m.raw.shared_of {
            Some(s) => a.push_str(s),
            None => id.clone(),
        };
        let text = a.push_str(text);
        let author = a.push_str(m.raw.author.as_deref().unwrap_or(""));
        let url = a.push_str(m.raw.url.as_deref().unwrap_or(""));
        let source = a.push_str(m.raw.source.as_deref().unwrap_or(""));
        for &brand in brands {
            a.posts.push(PostRec {
                brand,
                root: root.clone(),
                text: text.clone(),
                author: author.clone(),
                url: url.clone(),
                source: source.clone(),
                followers: m.raw.author_followers,
                negative,
                is_reshare: m.raw.shared_of.is_some(),
            });
        }
        let after = a.bytes.len() + a.posts.len() * std::mem::size_of::<PostRec>();
        self.bytes += after - before;
    }

    /// Mentions of `brand` in minutes `[start, end]` by source (`unknown` when not given),
    /// largest first.
    pub fn source_mix(&self, brand: u32, start: i64, end: i64) -> Vec<(String, u32)> {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        let first = self.arenas.partition_point(|a| a.minute < start);
        for a in self.arenas.range(first..).take_while(|a| a.minute <= end) {
            for p in a.posts.iter().filter(|p| p.brand == brand) {
                let s = a.get(&p.source);
                *counts.entry(if s.is_empty() { "unknown" } else { s }).or_insert(0) += 1;
            }
        }
        let mut v: Vec<(String, u32)> = counts.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Top posts (roots with their re-shares collapsed, by reach then re-shares) and top terms
    /// of `brand` in minutes `[start, end]`.
    pub fn explain(
        &self,
        brand: u32,
        start: i64,
        end: i64,
        negative_only: bool,
        n_posts: usize,
        n_terms: usize,
    ) -> (Vec<TopPost>, Vec<TopTerm>) {
        struct Group {
            post: TopPost,
            reach: f64,
            have_root: bool,
        }
        let mut groups: HashMap<&str, Group> = HashMap::new();
        let mut norm = String::new();
        let mut fg: HashMap<String, u32> = HashMap::new();
        let mut bg: HashMap<String, u32> = HashMap::new();
        let (mut fg_docs, mut bg_docs) = (0u32, 0u32);
        // background: the brand's posts in the three hours before the window
        let from = start - BACKGROUND_MINUTES;
        let first = self.arenas.partition_point(|a| a.minute < from);
        for a in self.arenas.range(first..) {
            let in_window = a.minute >= start && a.minute <= end;
            if a.minute > end {
                break;
            }
            for p in a.posts.iter().filter(|p| p.brand == brand) {
                if in_window && negative_only && !p.negative {
                    continue;
                }
                let opt = |r: &Range<u32>| Some(a.get(r).to_string()).filter(|s| !s.is_empty());
                if in_window {
                    let root = a.get(&p.root);
                    let reach = (1.0 + p.followers.unwrap_or(0) as f64).log10();
                    let g = groups.entry(root).or_insert_with(|| Group {
                        post: TopPost {
                            id: root.to_string(),
                            text: a.get(&p.text).to_string(),
                            author: opt(&p.author),
                            author_followers: p.followers,
                            url: opt(&p.url),
                            source: opt(&p.source),
                            reshares: 0,
                            negative: p.negative,
                        },
                        reach: 0.0,
                        have_root: !p.is_reshare,
                    });
                    g.reach += reach;
                    g.post.negative |= p.negative;
                    if p.is_reshare {
                        g.post.reshares += 1;
                        continue; // terms count each root once
                    } else if !g.have_root {
                        // the original itself is in the window: show it rather than a re-share
                        g.post.text = a.get(&p.text).to_string();
                        g.post.author = opt(&p.author);
                        g.post.author_followers = p.followers;
                        g.post.url = opt(&p.url);
                        g.post.source = opt(&p.source);
                        g.have_root = true;
                    }
                } else if p.is_reshare {
                    continue;
                }
                // term statistics on a sample: enough for the ranking, bounded in cost
                if (in_window && fg_docs >= MAX_TERM_DOCS) || (!in_window && bg_docs >= MAX_TERM_DOCS) {
                    continue;
                }
                normalize_into(a.get(&p.text), &mut norm);
                let counts = if in_window { &mut fg } else { &mut bg };
                if in_window {
                    fg_docs += 1;
                } else {
                    bg_docs += 1;
                }
                let mut seen: Vec<&str> = Vec::new();
                for t in norm.split(|c: char| !is_word_char(c)).filter(|t| t.chars().count() >= 3 && !is_stopword(t)) {
                    if !seen.contains(&t) {
                        seen.push(t);
                        *counts.entry(t.to_string()).or_insert(0) += 1;
                    }
                }
            }
        }
        let mut terms: Vec<TopTerm> = fg
            .into_iter()
            .filter(|&(_, c)| c >= 2)
            .filter_map(|(term, c)| {
                let b = bg.get(&term).copied().unwrap_or(0);
                let llr = g2(c, fg_docs, b, bg_docs);
                // over-represented only
                let over = f64::from(c) / f64::from(fg_docs.max(1)) > (f64::from(b) + 0.5) / f64::from(bg_docs.max(1));
                (over && llr > 3.84).then_some(TopTerm { term, count: c, llr: (llr * 100.0).round() / 100.0 })
            })
            .collect();
        terms.sort_by(|a, b| b.llr.total_cmp(&a.llr).then(a.term.cmp(&b.term)));
        // posts by reach; among equals (no follower data), those that carry the window's
        // distinctive terms, negative ones, the most re-shared; identical texts shown once
        let top: Vec<&str> = terms.iter().take(8).map(|t| t.term.as_str()).collect();
        let mut posts: Vec<(Group, usize)> = groups
            .into_values()
            .enumerate()
            .map(|(k, g)| {
                let hits = if k < 5000 && !top.is_empty() {
                    normalize_into(&g.post.text, &mut norm);
                    norm.split(|c: char| !is_word_char(c)).filter(|w| top.contains(w)).count()
                } else {
                    0
                };
                (g, hits)
            })
            .collect();
        posts.sort_by(|(a, ah), (b, bh)| {
            b.reach
                .total_cmp(&a.reach)
                .then(bh.cmp(ah))
                .then(b.post.negative.cmp(&a.post.negative))
                .then(b.post.reshares.cmp(&a.post.reshares))
                .then(a.post.id.cmp(&b.post.id))
        });
        let mut shown: Vec<TopPost> = Vec::with_capacity(n_posts);
        for (g, _) in posts {
            if shown.len() == n_posts {
                break;
            }
            if !shown.iter().any(|p| p.text == g.post.text) {
                shown.push(g.post);
            }
        }
        let posts = shown;
        terms.truncate(n_terms);
        (posts, terms)
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// Dunning's G² for a term seen in `a` of `n1` window documents and `b` of `n2` background ones.
fn g2(a: u32, n1: u32, b: u32, n2: u32) -> f64 {
    let (a, b, n1, n2) = (f64::from(a), f64::from(b), f64::from(n1.max(1)), f64::from(n2.max(1)));
    let ll = |k: f64, n: f64, p: f64| if k > 0.0 { k * p.max(1e-12).ln() } else { 0.0 } + if n - k > 0.0 { (n - k) * (1.0 - p).max(1e-12).ln() } else { 0.0 };
    let p = (a + b) / (n1 + n2);
    let (p1, p2) = (a / n1, b / n2);
    2.0 * (ll(a, n1, p1) + ll(b, n2, p2) - ll(a, n1, p) - ll(b, n2, p))
}

fn is_stopword(t: &str) -> bool {
    const STOP: &[&str] = &[
        "the",
        "and",
        "for",
        "you",
        "are",
        "but",
        "not",
        "this",
        "that",
        "with",
        "have",
        "was",
        "just",
        "all",
        "they",
        "from",
        "what",
        "your",
        "about",
        "has",
        "its",
        "it's",
        "our",
        "can",
        "get",
        "got",
        "out",
        "one",
        "now",
        "again",
        "still",
        "http",
        "https",
        "www",
        "com",
        "אני",
        "זה",
        "של",
        "את",
        "על",
        "לא",
        "עם",
        "כל",
        "גם",
        "היום",
        "است",
        "این",
        "که",
        "را",
        "با",
        "برای",
        "هم",
        "من",
        "امروز",
        "что",
        "это",
        "как",
        "все",
        "уже",
        "опять",
        "сегодня",
        "في",
        "من",
        "على",
        "هذا",
        "اليوم",
        "مع",
        "عن",
        "ما",
    ];
    STOP.contains(&t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse_line;

    fn rec(log: &mut PostLog, line: &str, minute: i64, neg: bool) {
        let m = parse_line(line.as_bytes(), 1 << 20).unwrap();
        log.record(&m, &[0], minute, neg);
    }

    #[test]
    fn reshares_collapse_to_their_root_and_terms_stand_out() {
        let mut log = PostLog::new(600, 1 << 30);
        for i in 0..20 {
            rec(
                &mut log,
                &format!(
                    r#"{{"id":"b{i}","ts":"2026-01-01T00:00:00Z","text":"nice coffee at acme today","author_followers":10}}"#
                ),
                i,
                false,
            );
        }
        rec(
            &mut log,
            r#"{"id":"root","ts":"2026-01-01T00:00:00Z","text":"acme leaked my password, data breach!","author":"big","author_followers":900000}"#,
            100,
            true,
        );
        for i in 0..800 {
            rec(
                &mut log,
                &format!(
                    r#"{{"id":"s{i}","ts":"2026-01-01T00:00:00Z","text":"RT acme leaked my password","shared_of":"root","author_followers":50}}"#
                ),
                101,
                true,
            );
        }
        for i in 0..5 {
            rec(
                &mut log,
                &format!(
                    r#"{{"id":"c{i}","ts":"2026-01-01T00:00:00Z","text":"acme password leaked?? breach","author_followers":100}}"#
                ),
                102,
                true,
            );
        }
        let (posts, terms) = log.explain(0, 95, 110, false, 3, 5);
        assert_eq!(log.source_mix(0, 95, 110), vec![("unknown".to_string(), 806)], "root, 800 re-shares, 5 complaints");
        assert_eq!(posts[0].id, "root");
        assert_eq!(posts[0].reshares, 800);
        assert_eq!(posts[0].author.as_deref(), Some("big"));
        // root + 5 complaints with one text: identical texts are shown once
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[1].text, "acme password leaked?? breach");
        let names: Vec<_> = terms.iter().map(|t| t.term.as_str()).collect();
        assert!(names.contains(&"password") && names.contains(&"leaked"), "{names:?}");
        assert!(!names.contains(&"acme"), "{names:?}"); // the brand is in every post, not over-represented
    }

    #[test]
    fn old_minutes_are_recycled() {
        let mut log = PostLog::new(10, 1 << 30);
        for minute in 0..100 {
            rec(&mut log, r#"{"id":"x","ts":"2026-01-01T00:00:00Z","text":"acme"}"#, minute, false);
        }
        assert!(log.arenas.len() <= 10);
        // and the byte budget holds too
        let mut small = PostLog::new(600, 2_000);
        for minute in 0..100 {
            rec(&mut small, r#"{"id":"x","ts":"2026-01-01T00:00:00Z","text":"acme acme acme acme"}"#, minute, false);
        }
        assert!(small.bytes <= 2_000 + 200, "{}", small.bytes);
        assert!(small.arenas.len() < 30);
        let (posts, _) = log.explain(0, 0, 200, false, 10, 5);
        assert_eq!(posts.len(), 1);
    }
}
