//! Recall, false alarms and delay on simulated streams with known answers: the real binary
//! simulates three weeks of ten brands (20 to 20,000 mentions a day) with labelled crises,
//! benign bursts and feed outages, replays them, and the alerts are scored against the labels.

mod support;

use crisiswatch::cmd::evaluate::evaluate;
use crisiswatch::cmd::simulate::{Label, Scenario};
use support::{read_events, run, stderr};

fn scenario_run(seed: u64) -> crisiswatch::cmd::evaluate::Report {
    let dir = tempfile::tempdir().unwrap();
    let (sim, labels, alerts) =
        (dir.path().join("sim.jsonl"), dir.path().join("labels.jsonl"), dir.path().join("alerts.jsonl"));
    let o = run(&[
        "simulate",
        "--out",
        sim.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--seed",
        &seed.to_string(),
        "--days",
        "21",
        "--brands",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["replay", sim.to_str().unwrap(), "--out", alerts.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let labels: Vec<Label> =
        std::fs::read_to_string(&labels).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(labels.iter().any(|l| l.kind == Scenario::Outage) && labels.iter().any(|l| !l.crisis));
    // crises adding fewer than 50 mentions over their whole course are not "enough volume"
    evaluate(&labels, &read_events(&alerts), 21.0, 10, 50.0)
}

#[test]
fn crises_are_detected_benign_bursts_stay_at_watch_few_false_alarms() {
    let mut outage_delays = Vec::new();
    let mut viral_delays = Vec::new();
    let (mut crises, mut detected, mut false_alarms, mut brand_months) = (0, 0, 0, 0.0);
    for seed in [2, 3] {
        let r = scenario_run(seed);
        assert!(r.missed.is_empty(), "seed {seed}: missed {:?}", r.missed);
        assert_eq!(r.benign_above_watch, 0, "seed {seed}: a benign burst went above watch");
        assert_eq!(r.detected_warning_or_above, r.detected, "seed {seed}: a crisis stayed at watch");
        assert_eq!(r.feed_outages_detected, r.feed_outages, "seed {seed}: a feed outage went unnoticed");
        crises += r.crises;
        detected += r.detected;
        false_alarms += r.false_alarms;
        brand_months += r.brand_months;
        for (kind, d) in &r.delays_min {
            match kind {
                Scenario::Outage => outage_delays.extend(d),
                Scenario::ViralComplaint => viral_delays.extend(d),
                _ => {}
            }
        }
    }
    assert!(crises >= 16 && detected == crises);
    let fa_rate = f64::from(false_alarms as u32) / brand_months;
    assert!(fa_rate <= 1.0, "{false_alarms} false alarms in {brand_months:.1} brand-months");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let (outage, viral) = (median(&mut outage_delays), median(&mut viral_delays));
    eprintln!("false alarms {fa_rate:.2}/brand-month; median delay outage {outage:.1} min, viral {viral:.1} min");
    assert!(outage <= 5.0, "median outage delay {outage:.1} min ({outage_delays:?})");
    assert!(viral <= 5.0, "median viral-complaint delay {viral:.1} min");
}

/// `evaluate --compare` of a run against itself: every crisis found by both, none lost,
/// gained or later; against an empty run: every found crisis lost.
#[test]
fn evaluate_compare_reports_per_crisis_differences() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (sim, labels, alerts, none) =
        (path("sim.jsonl"), path("labels.jsonl"), path("alerts.jsonl"), path("none.jsonl"));
    let o = run(&["simulate", "--out", &sim, "--labels", &labels, "--seed", "4", "--days", "10", "--brands", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["replay", &sim, "--out", &alerts, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&none, "").unwrap();
    let compare = |other: &str| -> serde_json::Value {
        let o = run(&[
            "evaluate",
            "--labels",
            &labels,
            "--alerts",
            &alerts,
            "--compare",
            other,
            "--days",
            "10",
            "--brands",
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let same = compare(&alerts);
    let c = &same["comparison"];
    let found = c["detected_reference"].as_u64().unwrap();
    assert!(found > 0, "{same}");
    assert_eq!(c["detected_other"].as_u64(), Some(found));
    assert_eq!(c["lost"].as_array().map(Vec::len), Some(0));
    assert_eq!(c["later"].as_array().map(Vec::len), Some(0));
    assert_eq!(same["false_alarms_reference"], same["false_alarms_other"]);
    let empty = compare(&none);
    assert_eq!(empty["comparison"]["lost"].as_array().map(Vec::len), Some(found as usize), "{empty}");
    assert_eq!(empty["false_alarms_other"].as_u64(), Some(0));
}
