//! Planned events in the engine: a launch that brings the volume it was declared with raises
//! nothing; the same launch undeclared pages for volume; a declared launch that goes wrong
//! still pages for the negative share; a launch far beyond its forecast pages for volume; and
//! the launch's hours are not learned as the usual.

use super::tests::{calm, feed, START};
use super::Engine;
use crate::alert::{AlertEvent, Status};
use crate::detect::Planned;
use crate::rules::RuleSet;
use crate::time::{parse_timestamp, Millis, MINUTE_MS};

/// Six hours of a launch for `acme` from `t`: `per_min` mentions a minute, `negative_share`
/// of them negative (the calm is 3 to 5 a minute, one in ten negative).
fn launch(e: &mut Engine, t: Millis, per_min: i64, negative_share: f64, seq: &mut u64) -> Millis {
    for k in 0..360 {
        for j in 0..per_min {
            *seq += 1;
            let at = t + k * MINUTE_MS + j * (MINUTE_MS / per_min);
            let negative = (*seq % 100) as f64 / 100.0 < negative_share;
            let (text, s) =
                if negative { ("acme launch is a mess, broken", -0.8) } else { ("acme launch, love it", 0.6) };
            feed(e, &format!("l{seq}"), at, Some("acme"), text, s);
        }
    }
    t + 360 * MINUTE_MS
}

fn fired(events: &[AlertEvent]) -> Vec<(String, String)> {
    events.iter().filter(|x| x.status == Status::Firing).map(|x| (x.rule.clone(), x.metric.clone())).collect()
}

/// Two calm days, then (when `plan`) a declared 5× launch of six hours, then the launch with
/// `per_min` mentions a minute and `negative_share`. Returns the engine and what fired during
/// the launch.
fn run(plan: bool, per_min: i64, negative_share: f64) -> (Engine, Vec<(String, String)>, Millis, u64) {
    let mut e = Engine::new(&RuleSet::builtin()).unwrap();
    let mut seq = 0;
    let t0 = parse_timestamp(START).unwrap();
    let t = calm(&mut e, t0, 2 * 1440, &mut seq);
    assert!(e.events.is_empty(), "calm raises nothing");
    if plan {
        e.set_planned(vec![("acme".into(), Planned::from_millis(t, t + 6 * 3_600_000, 5.0))]);
    }
    let end = launch(&mut e, t, per_min, negative_share, &mut seq);
    let f = fired(&e.events);
    e.events.clear();
    (e, f, end, seq)
}

#[test]
fn an_undeclared_launch_pages_for_volume() {
    let (_, f, _, _) = run(false, 20, 0.1);
    assert!(f.iter().any(|(_, m)| m == "volume"), "{f:?}");
}

#[test]
fn a_declared_launch_at_its_forecast_raises_nothing() {
    let (_, f, _, _) = run(true, 20, 0.1);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn a_declared_launch_that_goes_wrong_still_pages_for_tone() {
    let (_, f, _, _) = run(true, 20, 0.6);
    assert!(f.iter().any(|(_, m)| m == "negative"), "{f:?}");
    assert!(!f.iter().any(|(_, m)| m == "volume"), "the volume was as planned: {f:?}");
}

#[test]
fn a_launch_far_beyond_its_forecast_pages_for_volume() {
    let (_, f, _, _) = run(true, 100, 0.1);
    assert!(f.iter().any(|(_, m)| m == "volume"), "25× the usual where 5× was planned: {f:?}");
}

#[test]
fn the_launch_is_not_learned_as_the_usual() {
    // after a declared launch and a calm day, the same launch undeclared still pages
    let (mut e, f, end, mut seq) = run(true, 20, 0.1);
    assert!(f.is_empty(), "{f:?}");
    let t = calm(&mut e, end, 1440, &mut seq);
    assert!(fired(&e.events).is_empty(), "calm after the launch: {:?}", fired(&e.events));
    launch(&mut e, t, 20, 0.1, &mut seq);
    assert!(fired(&e.events).iter().any(|(_, m)| m == "volume"), "{:?}", fired(&e.events));
}

#[test]
fn rules_files_declare_planned_events_and_the_api_adds_its_own() {
    let brand = "[brand]\nid = \"acme\"\nname = \"Acme\"\n\n[[planned]]\nname = \"spring launch\"\nstart = \"2026-03-04T10:00:00+02:00\"\nduration = \"6h\"\nuplift = 5\n";
    let rules = crate::rules::load_texts(
        (std::path::Path::new("defaults.toml"), crate::rules::BUILTIN_DEFAULTS),
        &[(std::path::Path::new("acme.toml"), brand)],
    )
    .unwrap();
    let mut e = Engine::new(&rules).unwrap();
    let from_rules = Planned::from_millis(
        parse_timestamp("2026-03-04T08:00:00Z").unwrap(),
        parse_timestamp("2026-03-04T14:00:00Z").unwrap(),
        5.0,
    );
    assert_eq!(&*e.planned_of("acme"), &[from_rules]);
    let api = Planned::from_millis(0, 3_600_000, 2.0);
    e.set_planned(vec![("acme".into(), api), ("globex".into(), api)]);
    assert_eq!(&*e.planned_of("acme"), &[api, from_rules]);
    assert_eq!(e.planned_api().len(), 2);
    // a brand first seen in a `brand` field gets its plans then
    feed(&mut e, "g1", 0, Some("globex"), "hi", 0.0);
    assert_eq!(&*e.brands[1].planned, &[api]);
}

/// Poisson counts from a small deterministic generator (Knuth's method, normal above 30).
struct Counts(u64);

impl Counts {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn poisson(&mut self, mean: f64) -> i64 {
        if mean > 30.0 {
            let z = (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos();
            return (mean + z * mean.sqrt()).round().max(0.0) as i64;
        }
        let (limit, mut p, mut k) = ((-mean).exp(), 1.0, 0);
        loop {
            p *= self.uniform();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}

/// Two days at `rate` a minute (with a daily swing of ±30 %), then six hours at `launch`
/// times that, declared (when `declared`) at `uplift`. What fired during the launch.
fn poisson_run(rate: f64, uplift: f64, launch: f64, declared: bool, seed: u64) -> Vec<(String, String)> {
    let mut e = Engine::new(&RuleSet::builtin()).unwrap();
    let mut c = Counts(seed);
    let t0 = parse_timestamp(START).unwrap();
    let mut seq = 0u64;
    let mut minute = |e: &mut Engine, t: Millis, mean: f64, seq: &mut u64| {
        let n = c.poisson(mean);
        for j in 0..n {
            *seq += 1;
            let s = if *seq % 10 == 0 { -0.8 } else { 0.4 };
            feed(e, &format!("p{seq}"), t + j * (MINUTE_MS / n.max(1)), Some("acme"), "acme today", s);
        }
    };
    let swing = |k: i64| 1.0 + 0.3 * (std::f64::consts::TAU * (k % 1440) as f64 / 1440.0).sin();
    for k in 0..2 * 1440 {
        minute(&mut e, t0 + k * MINUTE_MS, rate * swing(k), &mut seq);
    }
    let calm: Vec<_> = fired(&e.events);
    assert!(calm.is_empty(), "rate {rate}, seed {seed}: calm raises nothing: {calm:?}");
    let t = t0 + 2 * 1440 * MINUTE_MS;
    if declared {
        e.set_planned(vec![("acme".into(), Planned::from_millis(t, t + 6 * 3_600_000, uplift))]);
    }
    for k in 0..360 {
        minute(&mut e, t + k * MINUTE_MS, rate * launch * swing(2 * 1440 + k), &mut seq);
    }
    fired(&e.events)
}

#[test]
fn across_rates_and_uplifts_a_launch_at_its_forecast_is_quiet_and_one_far_beyond_it_pages() {
    for rate in [0.5, 4.0, 30.0] {
        for uplift in [2.0, 5.0, 20.0] {
            for seed in [1, 2] {
                let at = poisson_run(rate, uplift, uplift, true, seed);
                assert!(at.is_empty(), "rate {rate}/min, uplift {uplift}, seed {seed}: as forecast: {at:?}");
                let beyond = poisson_run(rate, uplift, uplift * 5.0, true, seed);
                assert!(
                    beyond.iter().any(|(_, m)| m == "volume"),
                    "rate {rate}/min, uplift {uplift}, seed {seed}: 5× the forecast: {beyond:?}"
                );
            }
        }
    }
}
