//! `crisiswatch replay`: reads mentions (JSON Lines from a file, `-` for stdin, `.gz`
//! allowed) in event time through the [`Engine`], writes alert events as JSON Lines, and
//! sends every rejected line, unchanged, to a dead-letter file with its reason on stderr.

use crate::engine::{Engine, EngineStats};
use crate::hash::fnv1a;
use crate::ingest::dedup::{self, Dedup};
use crate::ingest::{parse_line, Mention, Rejection};
use crate::rules::RuleSet;
use crate::time::{format_rfc3339, MINUTE_MS};
use anyhow::Context;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to replay and where to write.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Input path, `-` for stdin.
    pub input: PathBuf,
    /// Alert events go here (stdout when `None`).
    pub out: Option<PathBuf>,
    /// Rejected lines go here; default `<out>.rejected.jsonl` or `./crisiswatch.rejected.jsonl`.
    pub dead_letter: Option<PathBuf>,
    /// Show a progress bar (only honoured on a terminal).
    pub progress: bool,
    /// How many rejection reasons to print to stderr before only counting.
    pub max_reported: u64,
    /// Count and report the tone mix per brand and language.
    pub tone_stats: bool,
    /// Playbooks for alert categories and suggested responses.
    pub playbooks: Option<std::sync::Arc<crate::alert::playbook::Playbooks>>,
    /// Pool the tail priors as a cluster of this many partitions does (1: over every brand).
    pub partitions: u32,
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Lines read.
    pub lines: u64,
    /// Lines rejected (and dead-lettered).
    pub rejected: u64,
    /// Mentions skipped because their id was already seen (as `serve` does).
    pub duplicates: u64,
    /// Engine counters.
    pub engine: EngineStats,
    /// Alert events written.
    pub events: u64,
    /// Incidents still open at the end of the input.
    pub open: Vec<(String, String)>,
    /// Wall time.
    pub elapsed: Duration,
    /// Where rejected lines went, if any were rejected.
    pub dead_letter: Option<PathBuf>,
    /// Tone mix per (brand, language), when asked for.
    pub tone_mix: Vec<(String, &'static str, crate::engine::ToneMix)>,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let e = &self.engine;
        writeln!(f, "replay summary")?;
        writeln!(f, "  lines read         {}", self.lines)?;
        writeln!(f, "  mentions           {}", e.mentions)?;
        write!(f, "  rejected lines     {}", self.rejected)?;
        match &self.dead_letter {
            Some(p) => writeln!(f, " (written unchanged to {})", p.display())?,
            None => writeln!(f)?,
        }
        writeln!(f, "  duplicates         {} (id seen among the last 1,000,000 ids within 24 h of event time; skipped, as serve does)", self.duplicates)?;
        writeln!(f, "  late mentions      {} (older than the allowed lateness; counted, not placed)", e.late)?;
        writeln!(f, "  unmatched          {} (no brand)", e.unmatched)?;
        writeln!(f, "  with a tone        {}", e.toned)?;
        writeln!(
            f,
            "  alerts             watch {} · warning {} · critical {} · resolved {}",
            e.by_severity[0], e.by_severity[1], e.by_severity[2], e.resolved
        )?;
        writeln!(f, "  events written     {}", self.events)?;
        if !self.open.is_empty() {
            let open: Vec<String> = self.open.iter().map(|(b, r)| format!("{b}/{r}")).collect();
            writeln!(f, "  still open         {}", open.join(", "))?;
        }
        if !self.tone_mix.is_empty() {
            writeln!(f, "  tone mix           brand / lang: provider (negative) · model (negative) · untoned")?;
            for (brand, lang, m) in &self.tone_mix {
                writeln!(
                    f,
                    "    {brand} / {lang}: {} ({}) · {} ({}) · {}",
                    m.provider, m.provider_negative, m.model, m.model_negative, m.untoned
                )?;
            }
        }
        write!(f, "  throughput         {:.0} mentions/s ({:.2} s)", self.lines as f64 / secs, secs)
    }
}

struct Counting<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
    pending: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.bar {
            self.pending += n as u64;
            if self.pending > 1 << 20 {
                bar.inc(self.pending);
                self.pending = 0;
            }
        }
        Ok(n)
    }
}

/// Opens the input: a file (gzip when it ends in `.gz`) or stdin for `-`.
///
/// # Errors
/// When the file cannot be opened.
pub fn open_input(path: &Path, progress: bool) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(1 << 20, io::stdin().lock())));
    }
    let file = File::open(path).with_context(|| format!("cannot open input `{}`", path.display()))?;
    let bar = if progress && io::stderr().is_terminal() {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let counted = Counting { inner: file, bar, pending: 0 };
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(counted))))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, counted)))
    }
}

fn dead_letter_path(opts: &ReplayOptions) -> PathBuf {
    if let Some(p) = &opts.dead_letter {
        return p.clone();
    }
    match &opts.out {
        Some(out) => {
            let mut s = out.as_os_str().to_owned();
            s.push(".rejected.jsonl");
            PathBuf::from(s)
        }
        None => PathBuf::from("crisiswatch.rejected.jsonl"),
    }
}

/// The dead-letter file, created on the first rejected line.
struct DeadLetters {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    last: Option<u8>,
}

impl DeadLetters {
    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let f = File::create(&self.path)
                .with_context(|| format!("cannot create dead-letter file `{}`", self.path.display()))?;
            self.file = Some(BufWriter::new(f));
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(bytes).with_context(|| format!("writing dead-letter file `{}`", self.path.display()))?;
        }
        self.last = bytes.last().copied();
        Ok(())
    }

    /// Ends the rejected line with a newline if the input's last line had none.
    fn end_line(&mut self) -> anyhow::Result<()> {
        if self.last != Some(b'\n') {
            self.write(b"\n")?;
        }
        Ok(())
    }
}

enum LineRead {
    Eof,
    /// A line (with its newline, if any) is in the buffer.
    Line,
    /// A line longer than the cap, already streamed to the dead letters; its length.
    TooLong(usize),
}

/// Reads one line into `line`, never holding more than `cap` bytes of it: a longer line is
/// streamed unchanged into the dead letters as it is read, so a gigabyte without a newline
/// costs no memory.
fn read_line_capped(
    input: &mut dyn BufRead,
    line: &mut Vec<u8>,
    cap: usize,
    dead: &mut DeadLetters,
) -> anyhow::Result<LineRead> {
    line.clear();
    let mut total = 0usize;
    let mut too_long = false;
    loop {
        let avail = input.fill_buf()?;
        if avail.is_empty() {
            break;
        }
        let (chunk_len, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let chunk = &avail[..chunk_len];
        total += chunk_len;
        // the cap applies to the line without its "\r\n"
        if !too_long && line.len() + chunk_len > cap + 2 {
            too_long = true;
            dead.write(line)?;
            line.clear();
        }
        if too_long {
            dead.write(chunk)?;
        } else {
            line.extend_from_slice(chunk);
        }
        input.consume(chunk_len);
        if done {
            break;
        }
    }
    if too_long {
        let body = if dead.last == Some(b'\n') { total - 1 } else { total };
        return Ok(LineRead::TooLong(body));
    }
    Ok(if total == 0 { LineRead::Eof } else { LineRead::Line })
}

/// A mention far ahead of the clock, waiting for the next one to confirm or refute it.
struct Held {
    bytes: Vec<u8>,
    line_no: u64,
    at: i64,
}

fn strip_newline(line: &[u8]) -> &[u8] {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    body.strip_suffix(b"\r").unwrap_or(body)
}

fn process(
    engine: &mut Engine,
    m: &Mention<'_>,
    out: &mut impl Write,
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    engine.process(m);
    for ev in engine.events.drain(..) {
        serde_json::to_writer(&mut *out, &ev)?;
        out.write_all(b"\n")?;
        summary.events += 1;
    }
    Ok(())
}

/// Reports rejected lines on stderr (up to a limit) and dead-letters them.
struct Report<'a> {
    input_name: &'a str,
    max_reported: u64,
}

impl Report<'_> {
    fn reject(
        &mut self,
        summary: &mut ReplaySummary,
        dead: &mut DeadLetters,
        line_no: u64,
        reason: &Rejection,
        bytes: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        summary.rejected += 1;
        if summary.rejected <= self.max_reported {
            eprintln!("{}:{line_no}: rejected: {reason}", self.input_name);
        } else if summary.rejected == self.max_reported + 1 {
            eprintln!("{}: more rejected lines; see {}", self.input_name, dead.path.display());
        }
        if let Some(b) = bytes {
            dead.write(b)?;
        }
        dead.end_line()?;
        summary.dead_letter = Some(dead.path.clone());
        Ok(())
    }
}

/// Runs a replay.
///
/// # Errors
/// I/O failures on the input, output or dead-letter file (bad lines are not errors).
pub fn replay(rules: &RuleSet, opts: &ReplayOptions) -> anyhow::Result<ReplaySummary> {
    replay_with_tone(rules, opts, Box::new(crate::tone::NoToneModel))
}

/// Runs a replay judging mentions without a provider sentiment with `tone`.
///
/// # Errors
/// As [`replay`].
pub fn replay_with_tone(
    rules: &RuleSet,
    opts: &ReplayOptions,
    tone: Box<dyn crate::tone::ToneModel>,
) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let mut engine = Engine::new(rules).context("cannot build the brand matcher")?;
    engine.set_tone_model(tone);
    engine.set_prior_pools(opts.partitions);
    if let Some(p) = &opts.playbooks {
        engine.set_playbooks(p.clone());
    }
    if opts.tone_stats {
        engine.enable_tone_mix();
    }
    let mut input = open_input(&opts.input, opts.progress)?;
    let out: Box<dyn Write> = match &opts.out {
        Some(p) => Box::new(File::create(p).with_context(|| format!("cannot create `{}`", p.display()))?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut dead = DeadLetters { path: dead_letter_path(opts), file: None, last: None };
    let mut summary = ReplaySummary::default();
    let cap = rules.settings.max_line_bytes;
    let mut line = Vec::with_capacity(4096);
    let input_name = opts.input.display().to_string();
    let max_jump = rules.settings.max_clock_jump_min * MINUTE_MS;
    // A mention far ahead of the stream's clock is held until the next one shows whether the
    // stream really jumped (a gap in the data) or the timestamp is wrong (it is rejected).
    let mut held: Option<Held> = None;
    let mut report = Report { input_name: &input_name, max_reported: opts.max_reported };
    // the same id memory as `serve`, with event time for its clock
    let mut dedup = Dedup::new(dedup::DEFAULT_IDS, dedup::DEFAULT_WINDOW_MS);
    loop {
        let read = read_line_capped(&mut input, &mut line, cap, &mut dead)
            .with_context(|| format!("reading `{input_name}` at line {}", summary.lines + 1))?;
        let result = match read {
            LineRead::Eof => break,
            LineRead::Line => parse_line(strip_newline(&line), cap),
            LineRead::TooLong(len) => Err(Rejection::TooLong { len, cap }),
        };
        summary.lines += 1;
        match result {
            Ok(m) if !dedup.insert(fnv1a(m.raw.id.as_bytes()), m.at) => summary.duplicates += 1,
            Ok(m) => {
                let clock = engine.now();
                if let Some(h) = held.take() {
                    if clock.is_some_and(|c| m.at > c + max_jump) {
                        // confirmed: the stream moved on
                        let hm =
                            parse_line(strip_newline(&h.bytes), cap).map_err(|e| anyhow::anyhow!("held line: {e}"))?;
                        process(&mut engine, &hm, &mut out, &mut summary)?;
                    } else {
                        let reason = Rejection::Timestamp(format!(
                            "`{}` is {:.1} h ahead of the stream (at {}) and the next mention is not: wrong clock?",
                            format_rfc3339(h.at),
                            (h.at - clock.unwrap_or(h.at)) as f64 / 3_600_000.0,
                            clock.map(format_rfc3339).unwrap_or_default()
                        ));
                        report.reject(&mut summary, &mut dead, h.line_no, &reason, Some(&h.bytes))?;
                    }
                } else if clock.is_some_and(|c| m.at > c + max_jump) {
                    held = Some(Held { bytes: line.clone(), line_no: summary.lines, at: m.at });
                    continue;
                }
                process(&mut engine, &m, &mut out, &mut summary)?;
            }
            Err(reason) => {
                // an over-long line was streamed to the dead letters as it was read
                let bytes = (!matches!(read, LineRead::TooLong(_))).then_some(line.as_slice());
                let line_no = summary.lines;
                report.reject(&mut summary, &mut dead, line_no, &reason, bytes)?;
            }
        }
    }
    if let Some(h) = held {
        // nothing came after it to contradict the jump
        let hm = parse_line(strip_newline(&h.bytes), cap).map_err(|e| anyhow::anyhow!("held line: {e}"))?;
        process(&mut engine, &hm, &mut out, &mut summary)?;
    }
    out.flush()?;
    if let Some(mut d) = dead.file {
        d.flush()?;
    }
    summary.engine = engine.stats.clone();
    summary.open = engine.open_incidents();
    summary.tone_mix = engine.tone_mix();
    summary.elapsed = started.elapsed();
    Ok(summary)
}
