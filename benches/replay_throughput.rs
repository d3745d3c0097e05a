//! Replay throughput and memory, single thread (`cargo bench --bench replay_throughput`).
//!
//! 1. Simulates ~1.5M mentions with provider sentiment (12 brands, 20 to 20,000 a day, 35
//!    days) into a temporary file, then measures:
//!    - parse only (lines already in memory),
//!    - parse + engine (lines in memory): the per-mention path,
//!    - the `replay` command end to end (file in, alerts out),
//!    - per-mention latency of parse + engine (hdrhistogram, p50/p99/p99.9/max).
//! 2. Loads 100,000 brands with keywords, reports load time, resident memory per brand, and
//!    throughput of keyword-matched mentions spread over all of them (200,000 in 3 hours of event time).
//!
//! Peak memory is read from /proc/self/status (VmHWM) on Linux. `BENCH_SCALE=0.1` runs a
//! smaller version.

use crisiswatch::cmd::simulate::{simulate, SimOptions};
use crisiswatch::engine::Engine;
use crisiswatch::ingest::parse_line;
use crisiswatch::rules::{BrandDef, RuleSet};
use std::io::Write;
use std::time::Instant;

fn proc_status(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    let scale: f64 = std::env::var("BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let only_brands = std::env::var_os("BENCH_ONLY_BRANDS").is_some();
    let dir = std::env::temp_dir().join(format!("crisiswatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("sim.jsonl");
    if !only_brands {
        bench_replay(&dir, &input, scale);
    }
    let _ = std::fs::remove_dir_all(&dir);
    bench_brands(scale);
}

fn bench_replay(dir: &std::path::Path, input: &std::path::Path, scale: f64) {
    let days = (35.0 * scale).max(3.0) as u32;
    {
        let f = std::fs::File::create(input).expect("create input");
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        simulate(&SimOptions { seed: 42, days, brands: 12, ..SimOptions::default() }, &mut w).expect("simulate");
        w.flush().expect("flush");
    }
    let data = std::fs::read(input).expect("read input");
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let n = lines.len() as f64;
    println!("input: {} mentions, {:.0} MiB, {days} days, 12 brands", lines.len(), mib(data.len() as u64));
    let rules = RuleSet::builtin();
    let _ = dir;

    // parse only
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut ok = 0usize;
        for l in &lines {
            ok += usize::from(parse_line(l, 1 << 20).is_ok());
        }
        assert_eq!(ok, lines.len());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("parse only:            {:>10.0} mentions/s  ({:.0} ns/mention)", n / best, best / n * 1e9);

    // parse + engine
    let mut best = f64::MAX;
    let mut events = 0;
    for _ in 0..3 {
        let mut engine = Engine::new(&rules).expect("engine");
        let t = Instant::now();
        for l in &lines {
            let m = parse_line(l, 1 << 20).expect("valid");
            engine.process(&m);
            events += engine.events.len();
            engine.events.clear();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "parse + engine:        {:>10.0} mentions/s  ({:.0} ns/mention, {} alert events per pass)",
        n / best,
        best / n * 1e9,
        events / 3
    );

    // latency per mention
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
    let mut engine = Engine::new(&rules).expect("engine");
    for l in &lines {
        let t = Instant::now();
        let m = parse_line(l, 1 << 20).expect("valid");
        engine.process(&m);
        engine.events.clear();
        hist.saturating_record(t.elapsed().as_nanos() as u64);
    }
    println!(
        "per-mention latency:   p50 {} ns, p99 {} ns, p99.9 {} ns, max {} µs",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max() / 1000
    );
    drop(engine);

    // end to end
    let opts = crisiswatch::cmd::replay::ReplayOptions {
        input: input.to_path_buf(),
        out: Some(dir.join("alerts.jsonl")),
        dead_letter: None,
        progress: false,
        max_reported: 0,
        tone_stats: false,
        playbooks: None,
        partitions: 1,
    };
    let summary = crisiswatch::cmd::replay::replay(&rules, &opts).expect("replay");
    println!(
        "replay end to end:     {:>10.0} mentions/s  ({:.2} s, file → alerts file)",
        summary.lines as f64 / summary.elapsed.as_secs_f64(),
        summary.elapsed.as_secs_f64()
    );
    let hwm = proc_status("VmHWM:").unwrap_or(0);
    println!(
        "peak RSS so far:       {:.0} MiB (includes the {:.0} MiB input held in memory)",
        mib(hwm),
        mib(data.len() as u64)
    );
}

fn bench_brands(scale: f64) {
    // 100,000 brands
    let n_brands = (100_000.0 * scale) as usize;
    let rss0 = proc_status("VmRSS:").unwrap_or(0);
    let t = Instant::now();
    let mut set = RuleSet::builtin();
    // made-up names from syllables: names like `brand1`…`brand99999` share long prefixes and
    // make the automaton build quadratic (aho-corasick's match-state shuffle), which real
    // brand names do not
    let name = |i: usize| {
        const SYL: [&str; 16] =
            ["ka", "lo", "mi", "ter", "zon", "bra", "vex", "nu", "pol", "dar", "sin", "qua", "fe", "gor", "lim", "tas"];
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
        let mut s = String::new();
        for _ in 0..4 {
            s.push_str(SYL[(x & 15) as usize]);
            x >>= 4;
        }
        format!("{s}{i}")
    };
    for i in 0..n_brands {
        set.brands.push(BrandDef {
            id: format!("brand{i}"),
            name: name(i),
            keywords: vec![name(i), format!("@{}", name(i))],
            exclusions: vec![],
            rules: set.default_rules.clone(),
            sensitivity: None,
            planned: Vec::new(),
        });
    }
    let mut engine = Engine::new(&set).expect("engine with many brands");
    let load = t.elapsed().as_secs_f64();
    let rss1 = proc_status("VmRSS:").unwrap_or(0);
    let per_brand = rss1.saturating_sub(rss0) as f64 / n_brands as f64;
    println!(
        "{n_brands} brands:        loaded in {load:.2} s; {:.0} MiB resident, {per_brand:.0} B per brand ({:.0} B per brand-rule, {} rules)",
        mib(rss1.saturating_sub(rss0)),
        per_brand / set.default_rules.len() as f64,
        set.default_rules.len()
    );
    let texts: Vec<String> = (0..200_000)
        .map(|i| {
            format!(
                r#"{{"id":"k{i}","ts":"2026-03-02T{:02}:{:02}:{:02}.{:03}Z","text":"so disappointed with @{} today, again","sentiment":-0.6}}"#,
                i / 72_000,
                (i / 1200) % 60,
                (i / 20) % 60,
                (i % 20) * 50,
                name((i * 7919) % n_brands)
            )
        })
        .collect();
    let t = Instant::now();
    for l in &texts {
        let m = parse_line(l.as_bytes(), 1 << 20).expect("valid");
        engine.process(&m);
        engine.events.clear();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "keyword-matched:       {:>10.0} mentions/s over {n_brands} brands (Aho-Corasick, no brand field)",
        texts.len() as f64 / secs
    );
    println!("peak RSS:              {:.0} MiB", mib(proc_status("VmHWM:").unwrap_or(0)));
}
