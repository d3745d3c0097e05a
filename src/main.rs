//! The `crisiswatch` command line: a thin layer over the library (DESIGN §4).
//! Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.

use anyhow::Context;
use clap::{Parser, Subcommand};
use crisiswatch::rules::{self, RuleSet};
use crisiswatch::{nab, replay, simulate};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "crisiswatch", version, about = "Crisis alerting and spike detection for brands on social media")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay mentions (JSON Lines; `-` for stdin; `.gz` allowed) and write alert events.
    Replay {
        /// Input file.
        input: PathBuf,
        /// Rules directory (default: the built-in defaults for every brand in `brand` fields).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Output file for alert events (default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where rejected lines go (default `<out>.rejected.jsonl`).
        #[arg(long)]
        dead_letter: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Write a simulated multilingual mention stream with labelled crises.
    Simulate {
        /// Output file (JSON Lines; `.gz` not supported).
        #[arg(long)]
        out: PathBuf,
        /// Ground-truth labels (JSON Lines).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// RNG seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Days of data.
        #[arg(long, default_value_t = 21)]
        days: u32,
        /// Number of brands (rates from 20 to 20,000 a day).
        #[arg(long, default_value_t = 12)]
        brands: u32,
    },
    /// Score alert events against simulation labels (recall, delay, false alarms).
    Evaluate {
        /// Labels written by `simulate`.
        #[arg(long)]
        labels: PathBuf,
        /// Alert events written by `replay`.
        #[arg(long)]
        alerts: PathBuf,
        /// Days in the simulated stream.
        #[arg(long, default_value_t = 21.0)]
        days: f64,
        /// Brands in the simulated stream.
        #[arg(long, default_value_t = 12)]
        brands: usize,
        /// Crises adding fewer mentions than this are left out of recall.
        #[arg(long, default_value_t = 30.0)]
        min_extra: f64,
    },
    /// Run the detector on every NAB series under DIR and write NAB result files.
    Nab {
        /// NAB data directory (`<category>/<file>.csv`).
        #[arg(long)]
        data: PathBuf,
        /// Results directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate rules; errors name file, line and column.
    Check {
        /// Rules directory.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
}

fn load_rules(dir: Option<&Path>) -> Result<RuleSet, ExitCode> {
    match dir {
        None => Ok(RuleSet::builtin()),
        Some(d) => rules::load_dir(d).map_err(|diags| {
            eprintln!("{diags}");
            ExitCode::from(2)
        }),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay { input, rules, out, dead_letter, quiet } => {
            let rules = match load_rules(rules.as_deref()) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let opts = replay::ReplayOptions { input, out, dead_letter, progress: !quiet, max_reported: 50 };
            let summary = replay::replay(&rules, &opts)?;
            eprintln!("{summary}");
        }
        Command::Simulate { out, labels, seed, days, brands } => {
            let opts = simulate::SimOptions { seed, days, brands, ..simulate::SimOptions::default() };
            let file = std::fs::File::create(&out).with_context(|| format!("cannot create `{}`", out.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            let labs = simulate::simulate(&opts, &mut w)?;
            w.flush()?;
            if let Some(path) = labels {
                let mut lw = std::io::BufWriter::new(
                    std::fs::File::create(&path).with_context(|| format!("cannot create `{}`", path.display()))?,
                );
                for l in &labs {
                    serde_json::to_writer(&mut lw, l)?;
                    lw.write_all(b"\n")?;
                }
                lw.flush()?;
            }
            eprintln!("wrote {} ({} brands, {} days, {} labelled scenarios)", out.display(), brands, days, labs.len());
        }
        Command::Evaluate { labels, alerts, days, brands, min_extra } => {
            let labels = read_jsonl::<simulate::Label>(&labels)?;
            let events = read_jsonl::<crisiswatch::alert::AlertEvent>(&alerts)?;
            let report = simulate::evaluate(&labels, &events, days, brands, min_extra);
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Nab { data, out } => {
            let n = nab::run_dir(&data, &out)?;
            eprintln!("wrote {n} NAB result files under {}", out.display());
        }
        Command::Check { rules } => {
            let set = match load_rules(Some(&rules)) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let n_rules: usize = set.brands.iter().map(|b| b.rules.len()).sum();
            println!(
                "{}: ok ({} brands, {} brand rules, {} default rules, per-test significance {:.2e} for {} false alarms per brand per week)",
                rules.display(),
                set.brands.len(),
                n_rules,
                set.default_rules.len(),
                set.alpha(),
                set.settings.false_alarms_per_week
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}: invalid line", path.display(), i + 1)))
        .collect()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
