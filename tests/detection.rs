//! Detector behaviour on streams with known answers, through the real engine: no alert on
//! long stationary Poisson and negative binomial streams at the configured false-alarm rate,
//! prompt alerts on an injected 5x step, for brands of 30 to 30,000 mentions a day.

use crisiswatch::alert::{AlertEvent, Status};
use crisiswatch::engine::Engine;
use crisiswatch::ingest::parse_line;
use crisiswatch::rules::RuleSet;
use crisiswatch::time::{format_rfc3339, parse_timestamp, MINUTE_MS};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Gamma, Poisson};

struct Stream {
    per_day: f64,
    /// Gamma-distributed hourly rate multiplier with this variance (0 = Poisson).
    hourly_phi: f64,
    days: i64,
    /// (minute, multiplier) from which the rate is multiplied.
    step: Option<(i64, f64)>,
    negative_share: f64,
    seed: u64,
}

/// Feeds the stream through the engine; returns the firing events and the step's minute.
fn run(s: &Stream) -> Vec<AlertEvent> {
    let rules = RuleSet::builtin();
    let mut engine = Engine::new(&rules).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(s.seed);
    let start = parse_timestamp("2026-02-02T00:00:00Z").unwrap();
    let mut mult = 1.0;
    let mut events = Vec::new();
    let mut n = 0u64;
    for minute in 0..s.days * 1440 {
        if minute % 60 == 0 {
            mult = if s.hourly_phi > 0.0 {
                Gamma::new(1.0 / s.hourly_phi, s.hourly_phi).unwrap().sample(&mut rng)
            } else {
                1.0
            };
        }
        let step = s.step.filter(|&(at, _)| minute >= at).map_or(1.0, |(_, m)| m);
        let lambda = s.per_day / 1440.0 * mult * step;
        let count = Poisson::new(lambda).unwrap().sample(&mut rng) as u64;
        let mut offsets: Vec<i64> = (0..count).map(|_| rng.gen_range(0..MINUTE_MS)).collect();
        offsets.sort_unstable();
        for off in offsets {
            n += 1;
            let ts = format_rfc3339(start + minute * MINUTE_MS + off);
            let sentiment = if rng.gen_bool(s.negative_share) { -0.8 } else { 0.5 };
            let line = format!(r#"{{"id":"m{n}","ts":"{ts}","text":"acme","brand":"acme","sentiment":{sentiment}}}"#);
            let m = parse_line(line.as_bytes(), 1 << 20).unwrap();
            engine.process(&m);
            events.extend(engine.events.drain(..).filter(|e| e.status == Status::Firing));
        }
    }
    events
}

#[test]
fn stationary_streams_stay_quiet() {
    // 4 weeks each; the target is 0.1 false alarms per brand per week, so ≤ 1 is allowed
    let cases = [(30.0, 0.0), (2_000.0, 0.0), (2_000.0, 0.1), (30_000.0, 0.05)];
    for (i, &(per_day, phi)) in cases.iter().enumerate() {
        let ev =
            run(&Stream { per_day, hourly_phi: phi, days: 28, step: None, negative_share: 0.2, seed: 100 + i as u64 });
        let list: Vec<String> = ev.iter().map(|e| format!("{} {} p={:.1e}", e.rule, e.at, e.p_value)).collect();
        assert!(ev.len() <= 1, "{per_day}/day φ={phi}: {} false alarms: {list:?}", ev.len());
    }
}

#[test]
fn a_5x_step_alerts_promptly_at_every_scale() {
    // (mentions/day, hourly φ, allowed minutes from the step to the first alert). A brand of
    // 30 a day is no longer caught by a 5x step within the run (issue 12's closing note: a
    // quiet brand keeps the prior dispersion, and its six-hour window needs more evidence
    // than eleven hours of 6 mentions an hour give); `None`: only "nothing before the step".
    let cases = [(30.0, 0.0, None), (2_000.0, 0.05, Some(6)), (30_000.0, 0.05, Some(3))];
    for (i, &(per_day, phi, within)) in cases.iter().enumerate() {
        let step_at = 8 * 1440 + 13 * 60;
        let ev = run(&Stream {
            per_day,
            hourly_phi: phi,
            days: 9,
            step: Some((step_at, 5.0)),
            negative_share: 0.2,
            seed: 200 + i as u64,
        });
        let step_ms = parse_timestamp("2026-02-02T00:00:00Z").unwrap() + step_at * MINUTE_MS;
        let first = ev
            .iter()
            .filter(|e| e.rule == "volume-spike")
            .map(|e| parse_timestamp(&e.at).unwrap())
            .find(|&t| t >= step_ms);
        let early: Vec<_> =
            ev.iter().filter(|e| parse_timestamp(&e.at).unwrap() < step_ms).map(|e| e.at.clone()).collect();
        assert!(early.len() <= 1, "{per_day}/day: alerts before the step: {early:?}");
        let all: Vec<String> = ev
            .iter()
            .map(|e| format!("{} {} {}/{:.2} p={:.1e}", e.rule, e.at, e.observed, e.expected, e.p_value))
            .collect();
        let Some(within) = within else { continue };
        let first = first.unwrap_or_else(|| panic!("{per_day}/day: no volume alert after a 5x step; alerts: {all:?}"));
        let delay = (first - step_ms) as f64 / MINUTE_MS as f64;
        eprintln!("{per_day}/day: first alert {delay:.0} min after the 5x step");
        assert!(
            delay <= f64::from(within),
            "{per_day}/day: first alert {delay:.1} min after the step (allowed {within})"
        );
    }
}

#[test]
fn negative_share_jump_at_flat_volume_alerts() {
    // 20% negative for a week, then 60% at the same volume
    let rules = RuleSet::builtin();
    let mut engine = Engine::new(&rules).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let start = parse_timestamp("2026-02-02T00:00:00Z").unwrap();
    let jump = 7 * 1440 + 600;
    let mut fired = None;
    for minute in 0..8 * 1440 {
        let count = Poisson::new(1.0).unwrap().sample(&mut rng) as u64;
        for k in 0..count {
            let share = if minute >= jump { 0.6 } else { 0.2 };
            let s = if rng.gen_bool(share) { -0.7 } else { 0.4 };
            let line = format!(
                r#"{{"id":"{minute}-{k}","ts":"{}","text":"x","brand":"b","sentiment":{s}}}"#,
                format_rfc3339(start + minute * MINUTE_MS + 1000 * k as i64)
            );
            engine.process(&parse_line(line.as_bytes(), 4096).unwrap());
            for e in engine.events.drain(..) {
                assert!(minute >= jump, "alert before the jump: {} {}", e.rule, e.at);
                if e.rule == "negative-surge" && fired.is_none() {
                    fired = Some(minute);
                }
            }
        }
    }
    let at = fired.expect("negative-surge fires after the share triples");
    assert!(at - jump <= 60, "took {} minutes", at - jump);
}

#[test]
fn a_silent_feed_raises_a_flatline_alert_and_resolves_when_it_returns() {
    // 3,000 a day for five days, silent for three hours, then back. Another brand keeps
    // talking: in event time, only other mentions tell the engine that time has passed
    let rules = RuleSet::builtin();
    let mut engine = Engine::new(&rules).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
    let start = parse_timestamp("2026-02-02T00:00:00Z").unwrap();
    let (stop, resume) = (5 * 1440 + 600, 5 * 1440 + 780);
    let mut events = Vec::new();
    for minute in 0..6 * 1440 {
        let silent = (stop..resume).contains(&minute);
        let count = Poisson::new(3000.0 / 1440.0).unwrap().sample(&mut rng) as u64;
        for k in 0..count {
            let ts = format_rfc3339(start + minute * MINUTE_MS + 1000 * k as i64);
            let brand = if silent || k % 2 == 1 { "other" } else { "b" };
            let line = format!(r#"{{"id":"{minute}-{k}","ts":"{ts}","text":"x","brand":"{brand}","sentiment":0.1}}"#);
            engine.process(&parse_line(line.as_bytes(), 4096).unwrap());
            events.extend(engine.events.drain(..).filter(|e| e.rule == "feed-silent" && e.brand == "b"));
        }
    }
    let at = |e: &AlertEvent| (parse_timestamp(&e.at).unwrap() - start) / MINUTE_MS;
    assert_eq!(events.len(), 2, "{:?}", events.iter().map(|e| (e.status, e.at.clone())).collect::<Vec<_>>());
    assert_eq!(events[0].status, Status::Firing);
    // 30 expected mentions take ~30 minutes at this rate; the scan runs every 5 minutes
    assert!((stop + 10..stop + 60).contains(&at(&events[0])), "fired at minute {}", at(&events[0]) - stop);
    assert_eq!(events[1].status, Status::Resolved);
    assert!(at(&events[1]) >= resume, "resolved before the feed came back");
}
