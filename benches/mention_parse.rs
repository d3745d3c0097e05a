//! Mention parsing end to end, three parsers on the same lines (`cargo bench --bench
//! mention_parse`): one JSON line → a checked [`Mention`] (fields, timestamp, id, sentiment
//! range), single thread, lines already in memory.
//!
//! * `fastjson`: [`parse_line`] as the service and `replay` run it (the hand-written fast
//!   path, serde_json for the lines it leaves);
//! * `serde_json`: [`parse_line_serde`], serde_json (borrowed) for every line;
//! * `sonic_rs`: `sonic_rs::from_slice` into the same [`RawMention`], then the same checks.
//!
//! Two line mixes:
//! * `simulated`: the `simulate` command's stream (seed 42, 12 brands, 2 days; he/fa/ru/ar/en
//!   texts), the input of `benches/replay_throughput.rs`;
//! * `real_text`: the same lines with the text replaced by real posts, the five languages in
//!   turn, from the test splits in `../shared/data/sentiment` (read at run time, not copied
//!   into the repository; skipped without that directory). Real posts carry quotes and
//!   backslashes, so some lines have escapes and leave the fast path.
//!
//! Before timing, every line is parsed by all three and the results compared field by field.
//! After criterion's report a summary gives the median of each as lines/s and MB/s
//! (10^6 bytes of line, newline excluded) and the ratios of `fastjson` to the other two,
//! then the same ratios from passes of the three in turn (steadier on a loaded machine).

use crisiswatch::cmd::simulate::{simulate, SimOptions};
use crisiswatch::ingest::fastjson::parse_plain;
use crisiswatch::ingest::parse::{check, parse_line_serde};
use crisiswatch::ingest::{parse_line, Mention, RawMention, Rejection};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use std::borrow::Cow;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const MAX_LEN: usize = 1 << 20;

type Parser = for<'a> fn(&'a [u8]) -> Result<Mention<'a>, Rejection>;

const PARSERS: [(&str, Parser); 3] = [("fastjson", fastjson), ("serde_json", serde), ("sonic_rs", sonic)];

fn fastjson(line: &[u8]) -> Result<Mention<'_>, Rejection> {
    parse_line(line, MAX_LEN)
}

fn serde(line: &[u8]) -> Result<Mention<'_>, Rejection> {
    parse_line_serde(line, MAX_LEN)
}

/// The sonic-rs counterpart of `parse_line_serde`: the same length and blank-line checks
/// before, the same checks after. (Its error messages differ from serde_json's; the bench
/// only parses valid lines.)
fn sonic(line: &[u8]) -> Result<Mention<'_>, Rejection> {
    if line.len() > MAX_LEN {
        return Err(Rejection::TooLong { len: line.len(), cap: MAX_LEN });
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::Empty);
    }
    let raw: RawMention<'_> =
        sonic_rs::from_slice(line).map_err(|e| Rejection::Json { column: 0, message: e.to_string() })?;
    check(raw)
}

struct Mix {
    name: &'static str,
    lines: Vec<Vec<u8>>,
    bytes: u64,
}

impl Mix {
    fn new(name: &'static str, lines: Vec<Vec<u8>>) -> Mix {
        let bytes = lines.iter().map(|l| l.len() as u64).sum();
        Mix { name, lines, bytes }
    }
}

fn simulated() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    simulate(&SimOptions { seed: 42, days: 2, brands: 12, ..SimOptions::default() }, &mut out).expect("simulate");
    out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

/// The simulated lines with real posts as their text (and `lang` to match), the five
/// languages in turn; `None` without `../shared/data/sentiment`.
fn real_text(sim: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sentiment");
    let mut per_lang = Vec::new();
    for lang in ["en", "he", "ar", "fa", "ru"] {
        let text = std::fs::read_to_string(data.join(lang).join("test.tsv")).ok()?;
        let posts: Vec<String> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('\t').map(|(_, t)| t.to_string()))
            .filter(|t| !t.is_empty())
            .collect();
        if posts.is_empty() {
            return None;
        }
        per_lang.push((lang, posts));
    }
    let lines = sim
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (lang, posts) = &per_lang[i % 5];
            let mut v: serde_json::Value = serde_json::from_slice(l).expect("simulated line");
            let obj = v.as_object_mut().expect("object");
            obj.insert("text".into(), posts[(i / 5) % posts.len()].clone().into());
            obj.insert("lang".into(), (*lang).into());
            v.to_string().into_bytes()
        })
        .collect();
    Some(lines)
}

/// All three parsers accept every line with equal fields; prints what the mix is made of.
fn describe(mix: &Mix) {
    let (mut plain, mut escaped, mut sonic_owned) = (0usize, 0usize, 0usize);
    for l in &mix.lines {
        let [f, s, r] = PARSERS.map(|(name, p)| {
            p(l).unwrap_or_else(|e| panic!("{name} rejects a {} line ({e}): {}", mix.name, String::from_utf8_lossy(l)))
        });
        assert!(f.raw == s.raw && f.raw == r.raw, "parsers disagree: {}", String::from_utf8_lossy(l));
        assert!(f.at == s.at && f.at == r.at);
        plain += usize::from(parse_plain(l).is_some());
        escaped += usize::from(l.contains(&b'\\'));
        sonic_owned += usize::from(matches!(r.raw.text, Cow::Owned(_)) && !l.contains(&b'\\'));
    }
    let n = mix.lines.len();
    println!(
        "{}: {n} lines, {:.1} MB, mean {} bytes; {:.1}% take the fast path, {:.1}% have escapes; \
         all three parsers agree on every line (sonic-rs copied {sonic_owned} unescaped texts)",
        mix.name,
        mix.bytes as f64 / 1e6,
        mix.bytes / n as u64,
        100.0 * plain as f64 / n as f64,
        100.0 * escaped as f64 / n as f64,
    );
}

/// One pass over the lines: the unit criterion times.
fn pass(parse: Parser, lines: &[Vec<u8>]) -> usize {
    let mut ok = 0usize;
    for l in lines {
        if let Ok(m) = parse(l) {
            black_box(&m);
            ok += 1;
        }
    }
    assert_eq!(ok, lines.len());
    ok
}

fn bench(c: &mut Criterion, mixes: &[Mix]) {
    for mix in mixes {
        let mut group = c.benchmark_group(format!("mention_parse_{}", mix.name));
        group.throughput(Throughput::Elements(mix.lines.len() as u64));
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(30);
        group.warm_up_time(Duration::from_secs(2));
        group.measurement_time(Duration::from_secs(8));
        for (name, parse) in PARSERS {
            group.bench_with_input(BenchmarkId::from_parameter(name), &mix.lines, |b, lines| {
                b.iter(|| pass(parse, lines));
            });
        }
        group.finish();
    }
}

/// Where criterion writes its estimates (its own order of look-ups).
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(home.into());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    let out = std::process::Command::new(std::env::var_os("CARGO")?)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(PathBuf::from(v["target_directory"].as_str()?).join("criterion"))
}

/// Median seconds per pass over the mix, if criterion measured it in this run.
fn median_secs(dir: &Path, group: &str, name: &str, since: SystemTime) -> Option<f64> {
    let file = dir.join(group).join(name).join("new").join("estimates.json");
    if std::fs::metadata(&file).ok()?.modified().ok()? < since {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e9)
}

fn summary(mixes: &[Mix], since: SystemTime) {
    let Some(dir) = criterion_dir() else { return };
    for mix in mixes {
        let group = format!("mention_parse_{}", mix.name);
        let medians = PARSERS.map(|(name, _)| median_secs(&dir, &group, name, since));
        if medians.iter().all(Option::is_none) {
            continue;
        }
        println!("\n{} (median of criterion's samples):", mix.name);
        for ((name, _), m) in PARSERS.iter().zip(medians) {
            let Some(secs) = m else { continue };
            let ratio = medians[0].map_or(String::new(), |f| format!("  fastjson {:.2}x as fast", secs / f));
            println!(
                "  {name:<10} {:>6.2} M lines/s  {:>5.0} MB/s  {:>5.0} ns/line{ratio}",
                mix.lines.len() as f64 / secs / 1e6,
                mix.bytes as f64 / secs / 1e6,
                secs / mix.lines.len() as f64 * 1e9,
            );
        }
        if medians.iter().all(Option::is_some) {
            interleaved(mix);
        }
    }
}

/// The three in turn, pass after pass: on a shared machine, load that comes and goes falls
/// on all three alike, so the ratios are steadier than those of criterion's consecutive runs.
fn interleaved(mix: &Mix) {
    const ROUNDS: usize = 21;
    let mut secs: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for ((_, parse), times) in PARSERS.iter().zip(&mut secs) {
            let t = Instant::now();
            black_box(pass(*parse, &mix.lines));
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let stat = secs.map(|mut s| {
        s.sort_by(f64::total_cmp);
        (s[ROUNDS / 2], s[0])
    });
    let (f_med, f_min) = stat[0];
    println!(
        "  interleaved, {ROUNDS} passes each: fastjson {:.2}x / {:.2}x as fast as serde_json, {:.2}x / {:.2}x as sonic_rs (median / best pass)",
        stat[1].0 / f_med,
        stat[1].1 / f_min,
        stat[2].0 / f_med,
        stat[2].1 / f_min,
    );
}

fn main() {
    let since = SystemTime::now();
    let sim = simulated();
    let mut mixes = Vec::new();
    match real_text(&sim) {
        Some(real) => mixes.push(Mix::new("real_text", real)),
        None => println!("real_text: ../shared/data/sentiment not found, skipped"),
    }
    mixes.insert(0, Mix::new("simulated", sim));
    for mix in &mixes {
        describe(mix);
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &mixes);
    c.final_summary();
    summary(&mixes, since);
}
