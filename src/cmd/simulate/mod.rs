//! `crisiswatch simulate`: realistic multilingual mention streams with known answers, and
//! `crisiswatch evaluate`: scoring alerts against those answers.
//!
//! The stream: brands with rates spread log-uniformly from 20 to 20,000 mentions a day, a
//! diurnal and weekly rhythm, hour-to-hour overdispersion (a Gamma-distributed rate
//! multiplier, φ ≈ 0.05), heavy-tailed follower counts (Pareto, α = 1.1), re-shares,
//! provider sentiment, and a few mentions that arrive minutes late. Onto it go labelled
//! scenarios: crises (a sudden outage for every brand, and in turn a viral complaint with
//! hundreds of re-shares, slow negative drift at flat volume, boycott over days), benign
//! bursts (a positive campaign, a harmless trending post) and data-feed outages (the brand's
//! stream goes silent).
//!
//! `--noise FAMILY` swaps the background process for another of the noise zoo (Poisson,
//! per-minute negative binomial, Gamma level noise over 5/10/30-minute blocks, Hawkes
//! re-share cascades, unlabelled level steps and trends, heavy time-zone-shifted cycles, low
//! counts, labelled feed gaps): see [`NoiseFamily`] and `docs/detection.md`. The scenarios are
//! the same in every family. Children: `noise` (the families), `text` (templates and JSON).

use crate::time::{format_rfc3339, parse_timestamp, Millis, MINUTE_MS};
use noise::{Background, DIURNAL_MEAN};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, Pareto, Poisson};
use serde::{Deserialize, Serialize};
use std::io::Write;
use text::{mention_json, pick, BRAND_NAMES, LANGS};

mod noise;
mod text;

pub use noise::NoiseFamily;

#[cfg(test)]
pub(crate) use text::templates;

/// Kinds of labelled scenario.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Volume jumps 4–8x with complaints for a few hours.
    Outage,
    /// One influential negative post re-shared hundreds of times, plus complaints.
    ViralComplaint,
    /// Negative share climbs over two days while volume stays flat.
    NegativeDrift,
    /// Volume 2.5x, overwhelmingly negative, for three days.
    Boycott,
    /// Benign: a campaign going well (5x volume, very positive).
    PositiveCampaign,
    /// Benign: a harmless post re-shared hundreds of times.
    TrendingPost,
    /// Data problem: the brand's stream goes silent for three hours.
    FeedOutage,
}

impl Scenario {
    /// Whether this is a crisis a PR team must hear about.
    pub fn is_crisis(self) -> bool {
        matches!(self, Scenario::Outage | Scenario::ViralComplaint | Scenario::NegativeDrift | Scenario::Boycott)
    }
    fn duration_min(self) -> i64 {
        match self {
            Scenario::Outage => 180,
            Scenario::ViralComplaint => 240,
            Scenario::NegativeDrift | Scenario::Boycott => 3 * 1440,
            Scenario::PositiveCampaign => 240,
            Scenario::TrendingPost => 180,
            Scenario::FeedOutage => 180,
        }
    }
}

/// Ground truth for one scenario (one line of the labels file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Label {
    /// Brand id.
    pub brand: String,
    /// Daily mention rate of the brand.
    pub brand_rate_per_day: f64,
    /// What happens.
    pub kind: Scenario,
    /// Whether it is a crisis (must be alerted, warning or above).
    pub crisis: bool,
    /// Start (RFC 3339).
    pub start: String,
    /// End (RFC 3339).
    pub end: String,
    /// Mentions the scenario adds over the normal stream (negative for silences).
    pub extra_mentions: f64,
}

/// Options of `simulate`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// RNG seed: the same seed gives the same stream.
    pub seed: u64,
    /// Length in days.
    pub days: u32,
    /// Number of brands.
    pub brands: u32,
    /// Start of the stream.
    pub start: Millis,
    /// Whether mentions carry a provider `sentiment` (else the tone model must judge them).
    pub provider_sentiment: bool,
    /// The background process (see [`NoiseFamily`]); `Hourly` is the classic stream.
    pub noise: NoiseFamily,
    /// The largest brand's daily rate: brands spread log-uniformly from 20 a day up to it
    /// (`lowcount` has its own range).
    pub max_rate_per_day: f64,
    /// Scenarios placed by the caller (the demo's live crisis), added to the random schedule.
    pub scripted: Vec<Scripted>,
}

/// A scenario at a chosen time, on top of the random schedule.
#[derive(Debug, Clone, Copy)]
pub struct Scripted {
    /// Brand index (0 is the quietest brand, `brands - 1` the busiest).
    pub brand: usize,
    /// What happens.
    pub kind: Scenario,
    /// Start, in minutes from the stream's start.
    pub start_min: i64,
    /// Volume multiplier (outage, boycott, campaign); ignored by the other kinds.
    pub mult: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 1,
            days: 21,
            brands: 12,
            start: parse_timestamp("2026-01-05T00:00:00Z").unwrap_or(0),
            provider_sentiment: true,
            noise: NoiseFamily::Hourly,
            max_rate_per_day: 20_000.0,
            scripted: Vec::new(),
        }
    }
}

struct Event {
    kind: Scenario,
    start: i64,
    end: i64,
    mult: f64,
    root: String,
}

struct SimBrand {
    id: String,
    name: String,
    rate_per_day: f64,
    lang: usize,
    negative_share: f64,
    events: Vec<Event>,
}

/// A `hawkes` re-share waiting for its time.
struct Cascade {
    at: Millis,
    root: String,
    text: &'static str,
    lang: usize,
    sentiment: f64,
}

/// The (id, display name) of the `n` simulated brands, quietest first.
pub fn brand_names(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let (id, name) = BRAND_NAMES[i % BRAND_NAMES.len()];
            let id = if i < BRAND_NAMES.len() { id.to_string() } else { format!("{id}{}", i / BRAND_NAMES.len()) };
            (id, name.to_string())
        })
        .collect()
}

/// Writes the stream to `out` and returns the labels.
///
/// # Errors
/// Write failures.
pub fn simulate(opts: &SimOptions, out: &mut dyn Write) -> std::io::Result<Vec<Label>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(opts.seed);
    let n = opts.brands.max(1) as usize;
    let total_min = i64::from(opts.days) * 1440;
    let mut brands: Vec<SimBrand> = Vec::new();
    let (lo, hi) = opts.noise.rate_range((20.0, opts.max_rate_per_day.max(20.0)));
    for (i, (id, name)) in brand_names(n).into_iter().enumerate() {
        let rate = if n == 1 { 2000f64.clamp(lo, hi) } else { lo * (hi / lo).powf(i as f64 / (n - 1) as f64) };
        brands.push(SimBrand {
            id,
            name,
            rate_per_day: rate,
            lang: i % 5,
            negative_share: rng.gen_range(0.12..0.3),
            events: Vec::new(),
        });
    }
    // schedule scenarios: every brand gets an outage (the commonest crisis, and so the outage
    // delays sample every brand size), one of the slower crises in turn, one benign burst, and
    // every other large brand a feed outage
    let slow_crises = [Scenario::ViralComplaint, Scenario::NegativeDrift, Scenario::Boycott];
    let mut labels = Vec::new();
    for (i, b) in brands.iter_mut().enumerate() {
        let mut kinds = vec![
            Scenario::Outage,
            slow_crises[i % 3],
            if i % 2 == 0 { Scenario::PositiveCampaign } else { Scenario::TrendingPost },
        ];
        if b.rate_per_day >= 1000.0 && i % 2 == 1 {
            kinds.push(Scenario::FeedOutage);
        }
        let mut cursor = 2 * 1440 + rng.gen_range(0..720); // after warm-up
        for kind in kinds {
            let dur = kind.duration_min();
            let start = cursor + rng.gen_range(0..1440);
            if start + dur + 360 > total_min {
                break;
            }
            let mult = match kind {
                Scenario::Outage => rng.gen_range(4.0..8.0),
                Scenario::Boycott => 2.5,
                Scenario::PositiveCampaign => 5.0,
                _ => 1.0,
            };
            b.events.push(Event { kind, start, end: start + dur, mult, root: format!("sim:{}:root{start}", b.id) });
            cursor = start + dur + 1440;
        }
    }
    for sc in &opts.scripted {
        if let Some(b) = brands.get_mut(sc.brand) {
            let (start, end) = (sc.start_min, sc.start_min + sc.kind.duration_min());
            b.events.push(Event {
                kind: sc.kind,
                start,
                end,
                mult: sc.mult,
                root: format!("sim:{}:root{start}", b.id),
            });
        }
    }
    // the family's own random numbers come from its own RNG, so `hourly` stays as it was
    let mut bg = Background::new(opts.noise, n, total_min, opts.seed);
    if opts.noise == NoiseFamily::Gaps {
        for b in &mut brands {
            let busy: Vec<(i64, i64)> = b.events.iter().map(|e| (e.start, e.end)).collect();
            for (start, end) in noise::feed_gaps(&mut bg.rng, total_min, &busy) {
                let root = format!("sim:{}:gap{start}", b.id);
                b.events.push(Event { kind: Scenario::FeedOutage, start, end, mult: 0.0, root });
            }
        }
    }
    let branching = opts.noise.branching();
    let mut cascades: Vec<Vec<Cascade>> = (0..n).map(|_| Vec::new()).collect();
    let mut seq: u64 = 0;
    let mut late_queue: Vec<(i64, String)> = Vec::new();
    let hour_noise = Gamma::new(20.0, 1.0 / 20.0).expect("valid gamma");
    let followers: Pareto<f64> = Pareto::new(30.0, 1.1).expect("valid pareto");
    let mut noise: Vec<f64> = vec![1.0; n];
    for minute in 0..total_min {
        let t0 = opts.start + minute * MINUTE_MS;
        if opts.noise.hourly_noise() && minute % 60 == 0 {
            for x in &mut noise {
                *x = hour_noise.sample(&mut rng);
            }
        }
        bg.advance(minute);
        let mut batch: Vec<(i64, String)> =
            std::mem::take(&mut late_queue).into_iter().filter(|(ts, _)| *ts < t0 + MINUTE_MS).collect();
        for (bi, b) in brands.iter().enumerate() {
            let base = b.rate_per_day / 1440.0 * bg.daily(bi, minute) / DIURNAL_MEAN
                * bg.weekly(bi, minute)
                * noise[bi]
                * bg.level(bi, minute);
            let mut mult = 1.0;
            let mut neg = b.negative_share;
            let mut theme = 0; // 0 normal, 1 outage, 2 boycott, 3 positive
            let mut reshares = 0.0;
            let mut root: Option<(&Event, bool)> = None;
            for ev in b.events.iter().filter(|e| minute >= e.start && minute < e.end) {
                let age = (minute - ev.start) as f64;
                match ev.kind {
                    Scenario::Outage => {
                        mult *= ev.mult;
                        neg = 0.75;
                        theme = 1;
                    }
                    Scenario::ViralComplaint => {
                        reshares = 800.0 / 60.0 * (-age / 60.0).exp();
                        mult *= 1.5;
                        neg = neg.max(0.5);
                        root = Some((ev, minute == ev.start));
                    }
                    Scenario::NegativeDrift => {
                        let ramp = (age / 2880.0).min(1.0);
                        neg = b.negative_share + (0.65 - b.negative_share) * ramp;
                    }
                    Scenario::Boycott => {
                        mult *= 1.0 + (ev.mult - 1.0) * (age / 360.0).min(1.0);
                        neg = 0.8;
                        theme = 2;
                    }
                    Scenario::PositiveCampaign => {
                        mult *= ev.mult;
                        neg = 0.03;
                        theme = 3;
                    }
                    Scenario::TrendingPost => {
                        reshares = 500.0 / 45.0 * (-age / 45.0).exp();
                        root = Some((ev, minute == ev.start));
                    }
                    Scenario::FeedOutage => mult = 0.0,
                }
            }
            let lambda = base * mult + reshares;
            let count =
                if lambda > 0.0 { Poisson::new(lambda).map(|p| p.sample(&mut rng) as u64).unwrap_or(0) } else { 0 };
            if let Some((ev, true)) = root {
                let negative = ev.kind == Scenario::ViralComplaint;
                let text = if negative {
                    pick(&mut rng, LANGS[b.lang].negative)
                } else {
                    pick(&mut rng, LANGS[b.lang].positive)
                };
                let l = mention_json(
                    &ev.root,
                    t0 + 1000,
                    &b.id,
                    &b.name,
                    LANGS[b.lang].code,
                    text,
                    "top_blogger",
                    rng.gen_range(300_000..3_000_000),
                    opts.provider_sentiment.then_some(if negative { -0.9 } else { 0.8 }),
                    None,
                );
                batch.push((t0 + 1000, l));
            }
            for _ in 0..count {
                seq += 1;
                let ts = t0 + rng.gen_range(0..MINUTE_MS);
                let is_reshare = root.is_some() && rng.gen_bool((reshares / lambda.max(1e-9)).min(1.0));
                let lang = if rng.gen_bool(0.2) { 0 } else { b.lang };
                let (text, sentiment, shared_of) = if is_reshare {
                    let Some((ev, _)) = root else { continue };
                    let negative = ev.kind == Scenario::ViralComplaint;
                    let t = if negative {
                        pick(&mut rng, LANGS[b.lang].negative)
                    } else {
                        pick(&mut rng, LANGS[b.lang].positive)
                    };
                    (t, if negative { -0.8 } else { 0.7 }, Some(ev.root.as_str()))
                } else if rng.gen_bool(neg) {
                    let bank = match theme {
                        1 => LANGS[lang].outage,
                        2 => LANGS[lang].boycott,
                        _ => LANGS[lang].negative,
                    };
                    (pick(&mut rng, bank), rng.gen_range(-1.0..-0.35), None)
                } else if theme == 3 || rng.gen_bool(0.4) {
                    (pick(&mut rng, LANGS[lang].positive), rng.gen_range(0.3..1.0), None)
                } else {
                    (pick(&mut rng, LANGS[lang].neutral), rng.gen_range(-0.2..0.25), None)
                };
                let f: f64 = followers.sample(&mut rng);
                let f = f.min(5e7) as u64;
                let id = format!("sim:{}:{seq}", b.id);
                let author = format!("user{}", rng.gen_range(0..(b.rate_per_day as u64 * 3).max(50)));
                let l = mention_json(
                    &id,
                    ts,
                    &b.id,
                    &b.name,
                    LANGS[lang].code,
                    text,
                    &author,
                    f,
                    opts.provider_sentiment.then_some((sentiment * 100.0_f64).round() / 100.0),
                    shared_of,
                );
                if branching > 0.0 && shared_of.is_none() {
                    let sentiment = (sentiment * 100.0_f64).round() / 100.0;
                    for delay in bg.offspring() {
                        let root = id.clone();
                        cascades[bi].push(Cascade { at: ts + delay, root, text, lang, sentiment });
                    }
                }
                if rng.gen_bool(0.005) {
                    // arrives up to three minutes late
                    late_queue.push((ts + rng.gen_range(1..4) * MINUTE_MS, l));
                } else {
                    batch.push((ts, l));
                }
            }
            // `hawkes`: the re-shares due this minute, and theirs in turn
            while let Some(i) = cascades[bi].iter().position(|c| c.at < t0 + MINUTE_MS) {
                let c = cascades[bi].swap_remove(i);
                seq += 1;
                let id = format!("sim:{}:{seq}", b.id);
                let author = format!("user{}", bg.rng.gen_range(0..(b.rate_per_day as u64 * 3).max(50)));
                let f: f64 = followers.sample(&mut bg.rng);
                let l = mention_json(
                    &id,
                    c.at,
                    &b.id,
                    &b.name,
                    LANGS[c.lang].code,
                    c.text,
                    &author,
                    f.min(5e7) as u64,
                    opts.provider_sentiment.then_some(c.sentiment),
                    Some(&c.root),
                );
                batch.push((c.at, l));
                for delay in bg.offspring() {
                    let next = Cascade { at: c.at + delay, root: c.root.clone(), ..c };
                    cascades[bi].push(next);
                }
            }
        }
        batch.sort_by_key(|(ts, _)| *ts);
        for (_, l) in &batch {
            out.write_all(l.as_bytes())?;
        }
    }
    for b in &brands {
        for ev in &b.events {
            let base_rate = b.rate_per_day / 1440.0;
            let dur = (ev.end - ev.start) as f64;
            let extra_mentions = match ev.kind {
                Scenario::Outage | Scenario::PositiveCampaign => base_rate * dur * (ev.mult - 1.0),
                Scenario::Boycott => base_rate * (dur - 180.0) * (ev.mult - 1.0),
                Scenario::ViralComplaint => 800.0 + base_rate * dur * 0.5,
                Scenario::TrendingPost => 500.0,
                Scenario::NegativeDrift => base_rate * dur * (0.65 - b.negative_share) * 0.66,
                Scenario::FeedOutage => -base_rate * dur,
            };
            labels.push(Label {
                brand: b.id.clone(),
                brand_rate_per_day: b.rate_per_day.round(),
                kind: ev.kind,
                crisis: ev.kind.is_crisis(),
                start: format_rfc3339(opts.start + ev.start * MINUTE_MS),
                end: format_rfc3339(opts.start + ev.end * MINUTE_MS),
                extra_mentions: extra_mentions.round(),
            });
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests;
