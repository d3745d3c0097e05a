//! Unit tests of the simulator: the default stream is unchanged, and every noise family is
//! deterministic per seed and has the property it is named for.

use super::*;

fn stream(opts: &SimOptions) -> (Vec<u8>, Vec<Label>) {
    let mut out = Vec::new();
    let labels = simulate(opts, &mut out).expect("simulate into memory");
    (out, labels)
}

#[test]
fn the_default_stream_is_unchanged() {
    // fingerprint of the default (`hourly`) stream as it was before the noise zoo
    let (out, labels) = stream(&SimOptions { seed: 3, days: 4, brands: 5, ..SimOptions::default() });
    let fp = crate::hash::fnv1a(&out);
    eprintln!("fingerprint {fp:#x}, {} bytes, {} labels", out.len(), labels.len());
    assert_eq!((fp, out.len()), (0xb746_f058_aac2_94e6, 26_694_425));
}

fn opts(noise: NoiseFamily, seed: u64, days: u32, brands: u32) -> SimOptions {
    SimOptions { seed, days, brands, noise, ..SimOptions::default() }
}

/// Mentions per brand per minute (by their `ts`), and how many re-share another post.
fn per_minute(out: &[u8], opts: &SimOptions) -> (std::collections::BTreeMap<String, Vec<u32>>, usize) {
    let minutes = opts.days as usize * 1440;
    let mut counts: std::collections::BTreeMap<String, Vec<u32>> = std::collections::BTreeMap::new();
    let mut reshares = 0;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("simulated lines are JSON");
        let at = parse_timestamp(v["ts"].as_str().expect("ts")).expect("valid ts");
        let minute = ((at - opts.start) / MINUTE_MS) as usize;
        let brand = v["brand"].as_str().expect("brand").to_string();
        counts.entry(brand).or_insert_with(|| vec![0; minutes])[minute.min(minutes - 1)] += 1;
        reshares += usize::from(v.get("shared_of").is_some());
    }
    (counts, reshares)
}

/// Variance of the differences of consecutive `block`-minute counts over twice their mean:
/// about 1 for Poisson counts whatever the slow rhythm, more for noise on that scale.
fn dispersion(counts: &[u32], block: usize) -> f64 {
    let sums: Vec<f64> = counts.chunks_exact(block).map(|c| c.iter().map(|&x| f64::from(x)).sum()).collect();
    let diffs: Vec<f64> = sums.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = sums.iter().sum::<f64>() / sums.len() as f64;
    let var = diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64;
    var / (2.0 * mean)
}

#[test]
fn every_family_is_deterministic_per_seed() {
    for family in NoiseFamily::ALL {
        let o = SimOptions { max_rate_per_day: 2_000.0, ..opts(family, 5, 3, 3) };
        let (a, la) = stream(&o);
        let (b, lb) = stream(&o);
        assert!(!a.is_empty(), "{family}: empty stream");
        assert!(a == b && la == lb, "{family}: not deterministic");
        let (c, _) = stream(&SimOptions { seed: 6, ..o });
        assert!(a != c, "{family}: the seed changes nothing");
    }
}

#[test]
fn short_scale_families_are_overdispersed_where_poisson_is_not() {
    // two days (no scenarios yet), one brand at 20,000 a day
    let big = |family| {
        let o = opts(family, 9, 2, 2);
        let (out, _) = stream(&o);
        let (counts, _) = per_minute(&out, &o);
        counts.into_values().max_by_key(|c| c.iter().sum::<u32>()).expect("brands")
    };
    let poisson = big(NoiseFamily::Poisson);
    let d_poisson = dispersion(&poisson, 5);
    assert!((0.8..1.25).contains(&d_poisson), "poisson 5-min dispersion {d_poisson:.2}");
    for (family, at_least) in [
        (NoiseFamily::Gamma5, 4.0),
        (NoiseFamily::Gamma10, 4.0),
        (NoiseFamily::Negbin, 1.5),
        (NoiseFamily::Hawkes, 1.25),
    ] {
        let c = big(family);
        let d = dispersion(&c, 5);
        let ratio = f64::from(c.iter().sum::<u32>()) / f64::from(poisson.iter().sum::<u32>());
        assert!((0.85..1.15).contains(&ratio), "{family}: mean volume {ratio:.2} × poisson's");
        assert!(d >= at_least, "{family}: 5-min dispersion {d:.2} (poisson {d_poisson:.2})");
    }
}

#[test]
fn hawkes_posts_come_in_reshare_cascades() {
    let o = opts(NoiseFamily::Hawkes, 4, 2, 2);
    let (out, _) = stream(&o);
    let lines = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    let (_, reshares) = per_minute(&out, &o);
    let share = reshares as f64 / lines as f64;
    assert!((0.5..0.7).contains(&share), "re-share share {share:.2} (branching ratio 0.6)");
}

#[test]
fn lowcount_brands_have_at_most_a_mention_per_ten_minutes() {
    let o = opts(NoiseFamily::Lowcount, 2, 2, 6);
    let (out, _) = stream(&o);
    let (counts, _) = per_minute(&out, &o);
    assert_eq!(counts.len(), 6);
    let mut total = 0.0;
    for (brand, c) in &counts {
        let mean = f64::from(c.iter().sum::<u32>()) / c.len() as f64;
        assert!(mean <= 0.13, "{brand}: {mean:.3} a minute");
        total += mean;
    }
    assert!(total / 6.0 <= 0.1, "mean {:.3} a minute", total / 6.0);
}

#[test]
fn gaps_are_silent_labelled_stretches() {
    let o = opts(NoiseFamily::Gaps, 8, 12, 3);
    let (out, labels) = stream(&o);
    let (counts, _) = per_minute(&out, &o);
    let gaps: Vec<&Label> = labels.iter().filter(|l| l.kind == Scenario::FeedOutage).collect();
    for brand in counts.keys() {
        let n = gaps.iter().filter(|l| &l.brand == brand).count();
        assert!(n >= 2, "{brand}: {n} gaps");
    }
    let minute = |s: &str| ((parse_timestamp(s).expect("ts") - o.start) / MINUTE_MS) as usize;
    for l in gaps {
        let c = &counts[&l.brand];
        let (s, e) = (minute(&l.start), minute(&l.end));
        assert!((20..=180).contains(&(e - s)) || l.brand_rate_per_day >= 1000.0, "{l:?}");
        assert_eq!(c[s..e].iter().sum::<u32>(), 0, "mentions inside {l:?}");
        if l.brand_rate_per_day >= 1000.0 {
            // the stream is there on both sides, at its usual volume (no backlog burst)
            let before: u32 = c[s - 60..s].iter().sum();
            let after: u32 = c[e..e + 60].iter().sum();
            assert!(before > 0 && after > 0, "{l:?}");
            assert!(f64::from(after) < 2.0 * f64::from(before) + 20.0, "burst after {l:?}: {before} → {after}");
        }
    }
}

#[test]
fn cycles_are_heavy_and_shifted_by_time_zone() {
    let o = SimOptions { max_rate_per_day: 20_000.0, ..opts(NoiseFamily::Cycles, 3, 2, 6) };
    let (out, _) = stream(&o);
    let (counts, _) = per_minute(&out, &o);
    let mut peaks = std::collections::BTreeSet::new();
    for (brand, c) in counts.iter().filter(|(_, c)| c.iter().sum::<u32>() > 2_000) {
        let hourly: Vec<u32> =
            (0..24).map(|h| (0..2).map(|d| c[d * 1440 + h * 60..][..60].iter().sum::<u32>()).sum()).collect();
        let (max, min) = (hourly.iter().max().copied().unwrap_or(0), hourly.iter().min().copied().unwrap_or(0));
        assert!(f64::from(max) >= 5.0 * f64::from(min.max(1)), "{brand}: peak/trough {max}/{min}");
        peaks.insert(hourly.iter().position(|&x| x == max));
    }
    assert!(peaks.len() >= 2, "every brand peaks at the same hour: {peaks:?}");
}

#[test]
fn steps_move_the_level_without_labels() {
    let o = SimOptions { max_rate_per_day: 2_000.0, ..opts(NoiseFamily::Steps, 2, 8, 2) };
    let (_, labels) = stream(&o);
    let (_, reference) = stream(&SimOptions { noise: NoiseFamily::Hourly, ..o.clone() });
    assert_eq!(labels, reference, "steps add no labels");
    let bg = Background::new(NoiseFamily::Steps, 3, 21 * 1440, 2);
    for bi in 0..3 {
        let levels: Vec<f64> = (0..21 * 1440).map(|m| bg.level(bi, m)).collect();
        let (min, max) = levels.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert!(max > 1.3 * min, "brand {bi}: level stays within {min:.2}..{max:.2}");
    }
}
