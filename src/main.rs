//! The `crisiswatch` command line: a thin layer over the library (DESIGN §4).
//! Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.

use anyhow::Context;
use clap::{Parser, Subcommand};
use crisiswatch::rules::{self, RuleSet};
use crisiswatch::{nab, replay, simulate, tone_model};
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
        /// Extra tone-model weights (`<lang>.bin`) for mentions without a provider sentiment,
        /// added to the built-in en/he/ar ones (e.g. `src/tone_weights/share-alike`).
        #[arg(long)]
        tone_models: Option<PathBuf>,
        /// Print the tone mix (provider / model / untoned, and negatives) per brand and language.
        #[arg(long)]
        tone_stats: bool,
        /// Playbooks for alert categories and suggested responses (default `alerts/playbooks`
        /// when it exists).
        #[arg(long)]
        playbooks: Option<PathBuf>,
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
        /// Leave out the provider `sentiment` (the tone model must judge every mention).
        #[arg(long)]
        no_sentiment: bool,
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
        /// Alert events of a second run on the same labels (e.g. replayed without provider
        /// sentiment): prints, per crisis, what it lost, gained or found later than `--alerts`.
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Extra delay in `--compare` that still counts as "the same", minutes.
        #[arg(long, default_value_t = 1.0)]
        slack: f64,
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
    /// Score the tone of a text (or of every line of `--input`, `-` for stdin) as JSON.
    Tone {
        /// The text (unless `--input` is given).
        text: Option<String>,
        /// One text per line; one JSON object per line out, in order.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Directory of extra `<lang>.bin` weights added to the built-in ones (en, he, ar), e.g.
        /// `src/tone_weights/share-alike` for fa and ru (share-alike / non-commercial terms).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Language code, when known (else detected).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Train the tone model weights from `DATA/<lang>/train.tsv`, and your own labelled
    /// mentions if given (deterministic).
    ToneTrain {
        /// Labelled data directory (`../shared/data/sentiment`).
        #[arg(long)]
        data: PathBuf,
        /// Where `<lang>.bin` files go.
        #[arg(long)]
        out: PathBuf,
        /// Languages (default all five).
        #[arg(long, value_delimiter = ',')]
        langs: Vec<String>,
        /// Your own labelled brand mentions, `DIR/<lang>.tsv` (`label<TAB>text`, `{b}` may
        /// stand for the brand), trained on with the public data.
        #[arg(long)]
        domain: Option<PathBuf>,
        /// How many public texts one text of `--domain` counts as.
        #[arg(long, default_value_t = crisiswatch::tone_domain::DOMAIN_WEIGHT)]
        domain_weight: f32,
    },
    /// Evaluate tone weights on `DATA/<lang>/test.tsv` beside baselines (a Markdown table).
    ToneEval {
        /// Labelled data directory.
        #[arg(long)]
        data: PathBuf,
        /// Directory of extra `<lang>.bin` weights added to the built-in ones.
        #[arg(long)]
        models: Option<PathBuf>,
        /// Lexicon directory for the lexicon-count baselines (`../shared/data/lexicons`).
        #[arg(long)]
        lexicons: Option<PathBuf>,
        /// In-domain labelled mentions, `DIR/<lang>.tsv`, to evaluate on (default: the
        /// built-in seed set, `src/tone_weights/domain`).
        #[arg(long)]
        domain: Option<PathBuf>,
        /// How many public texts one in-domain text counts as in the cross-validation.
        #[arg(long, default_value_t = crisiswatch::tone_domain::DOMAIN_WEIGHT)]
        domain_weight: f32,
    },
    /// Run the live service: HTTP ingest, alert API, durable state, metrics.
    Serve {
        /// Configuration file (see `crisiswatch.example.toml`); defaults apply without one.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address (overrides the file), e.g. 127.0.0.1:8686.
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides the file).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Rules directory (overrides the file).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// `wall` (default): time also moves with the wall clock; `event`: only with mentions.
        #[arg(long, value_enum)]
        clock: Option<crisiswatch::serve::config::ClockMode>,
        /// Log format.
        #[arg(long, value_enum)]
        log_format: Option<crisiswatch::serve::config::LogFormat>,
        /// Directory of extra tone-model weights (`<lang>.bin`).
        #[arg(long)]
        tone_models: Option<PathBuf>,
        /// Playbooks (default `alerts/playbooks` when it exists).
        #[arg(long)]
        playbooks: Option<PathBuf>,
    },
    /// Send a sample alert through one configured receiver, to check a team's setup.
    NotifyTest {
        /// Service configuration with the `[notify]` receivers.
        #[arg(long)]
        config: PathBuf,
        /// Receiver name.
        #[arg(long)]
        receiver: String,
    },
    /// Validate rules, playbooks and (optionally) a service config; errors name file, line
    /// and column.
    Check {
        /// Rules directory.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Playbooks directory.
        #[arg(long, default_value = "alerts/playbooks")]
        playbooks: PathBuf,
        /// Service configuration file to validate too.
        #[arg(long)]
        config: Option<PathBuf>,
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

/// Playbooks from `dir`, else from `alerts/playbooks` when it exists, else none.
fn load_playbooks(dir: Option<&Path>) -> Result<Option<std::sync::Arc<crisiswatch::playbook::Playbooks>>, ExitCode> {
    let default = Path::new("alerts/playbooks");
    let Some(dir) = dir.or(default.is_dir().then_some(default)) else { return Ok(None) };
    match crisiswatch::playbook::Playbooks::load_dir(dir) {
        Ok(p) => Ok(Some(std::sync::Arc::new(p))),
        Err(d) => {
            eprintln!("{d}");
            Err(ExitCode::from(2))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay { input, rules, out, dead_letter, quiet, tone_models, tone_stats, playbooks } => {
            let rules = match load_rules(rules.as_deref()) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let playbooks = match load_playbooks(playbooks.as_deref()) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            let tone = load_tone(tone_models.as_deref())?;
            let opts = replay::ReplayOptions {
                input,
                out,
                dead_letter,
                progress: !quiet,
                max_reported: 50,
                tone_stats,
                playbooks,
            };
            let summary = replay::replay_with_tone(&rules, &opts, Box::new(tone))?;
            eprintln!("{summary}");
        }
        Command::Serve { config, listen, data_dir, rules, clock, log_format, tone_models, playbooks } => {
            use crisiswatch::serve::config;
            let o = config::Overrides { listen, data_dir, rules, clock, log_format };
            let cfg = match config::load(config.as_deref(), &o) {
                Ok(c) => c,
                Err(diags) => {
                    eprintln!("{diags}");
                    return Ok(ExitCode::from(2));
                }
            };
            let rules = match load_rules(cfg.rules.as_deref()) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let playbooks = match load_playbooks(playbooks.as_deref()) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            crisiswatch::serve::init_logging(cfg.log_format);
            let tone = load_tone(tone_models.as_deref())?;
            crisiswatch::serve::run(cfg, rules, Box::new(tone), playbooks)?;
        }
        Command::Simulate { out, labels, seed, days, brands, no_sentiment } => {
            let opts = simulate::SimOptions {
                seed,
                days,
                brands,
                provider_sentiment: !no_sentiment,
                ..simulate::SimOptions::default()
            };
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
        Command::Evaluate { labels, alerts, days, brands, min_extra, compare, slack } => {
            let labels = read_jsonl::<simulate::Label>(&labels)?;
            let events = read_jsonl::<crisiswatch::alert::AlertEvent>(&alerts)?;
            let report = simulate::evaluate(&labels, &events, days, brands, min_extra);
            match compare {
                None => println!("{}", serde_json::to_string_pretty(&report)?),
                Some(other) => {
                    let other_events = read_jsonl::<crisiswatch::alert::AlertEvent>(&other)?;
                    let other = simulate::evaluate(&labels, &other_events, days, brands, min_extra);
                    let c = simulate::compare(&report, &other, slack);
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "comparison": c,
                            "false_alarms_reference": report.false_alarms,
                            "false_alarms_other": other.false_alarms,
                            "benign_above_watch_reference": report.benign_above_watch,
                            "benign_above_watch_other": other.benign_above_watch,
                        }))?
                    );
                }
            }
        }
        Command::Nab { data, out } => {
            let n = nab::run_dir(&data, &out)?;
            eprintln!("wrote {n} NAB result files under {}", out.display());
        }
        Command::Tone { text, input, models, lang } => {
            let model = load_tone(models.as_deref())?;
            #[derive(serde::Serialize)]
            struct Judged {
                lang: Option<&'static str>,
                p_negative: Option<f64>,
                label: Option<&'static str>,
            }
            let judge = |t: &str| -> anyhow::Result<String> {
                let j = match model.judge(t, lang.as_deref()) {
                    Some((l, p, label)) => Judged {
                        lang: Some(l.code()),
                        p_negative: Some((f64::from(p) * 1000.0).round() / 1000.0),
                        label: Some(label.as_str()),
                    },
                    None => Judged { lang: None, p_negative: None, label: None },
                };
                Ok(serde_json::to_string(&j)?)
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            match (text, input) {
                (Some(t), None) => writeln!(out, "{}", judge(&t)?)?,
                (None, Some(path)) => {
                    let reader = replay::open_input(&path, false)?;
                    for line in std::io::BufRead::lines(reader) {
                        let line = line.with_context(|| format!("reading `{}`", path.display()))?;
                        writeln!(out, "{}", judge(&line)?)?;
                    }
                }
                _ => {
                    eprintln!("error: give either a TEXT or `--input FILE`");
                    return Ok(ExitCode::from(2));
                }
            }
            out.flush()?;
        }
        Command::ToneTrain { data, out, langs, domain, domain_weight } => {
            let langs = parse_langs(&langs)?;
            check_domain_weight(domain_weight)?;
            let domain =
                domain.map(|dir| crisiswatch::tone_domain::DomainSet { dir: Some(dir), weight: domain_weight });
            let done = tone_model::train_dir(&data, &out, &langs, domain.as_ref()).map_err(anyhow::Error::msg)?;
            for (lang, n, n_domain, f1) in done {
                eprintln!(
                    "{}: trained on {n} public + {n_domain} in-domain texts (negative F1 {f1:.3} on the held-out seventh) → {}",
                    lang.code(),
                    out.join(format!("{}.bin", lang.code())).display()
                );
            }
        }
        Command::ToneEval { data, models, lexicons, domain, domain_weight } => {
            let model = load_tone(models.as_deref())?;
            check_domain_weight(domain_weight)?;
            let domain = crisiswatch::tone_domain::DomainSet { dir: domain, weight: domain_weight };
            let rows = tone_model::eval_dir(&data, model.weights(), lexicons.as_deref(), &domain)
                .map_err(anyhow::Error::msg)?;
            println!("| lang | test n | model neg P / R / F1 | model macro-F1 | majority neg F1 / macro-F1 | lexicon count neg F1 / macro-F1 | project word-list count neg F1 / macro-F1 | induced lexicon count neg F1 / macro-F1 |");
            println!("|---|---:|---|---:|---|---|---|---|");
            for r in &rows {
                let lex = match r.lexicon {
                    Some((name, s)) => format!("{:.3} / {:.3} ({name})", s.f1, s.macro_f1),
                    None => "no redistributable lexicon".into(),
                };
                let project = match r.project_lexicon {
                    Some(s) => format!("{:.3} / {:.3}", s.f1, s.macro_f1),
                    None => "(VADER is the list)".into(),
                };
                println!(
                    "| {} | {} | {:.3} / {:.3} / {:.3} | {:.3} | {:.3} / {:.3} | {} | {} | {:.3} / {:.3} |",
                    r.lang.code(),
                    r.model.n,
                    r.model.precision,
                    r.model.recall,
                    r.model.f1,
                    r.model.macro_f1,
                    r.majority.f1,
                    r.majority.macro_f1,
                    lex,
                    project,
                    r.induced.f1,
                    r.induced.macro_f1
                );
            }
            println!();
            println!("Reliability of the calibrated negative probability on the test split");
            println!("(per decile of predicted p: mean predicted → observed negative rate, texts):");
            println!();
            println!("| lang | ECE | deciles |");
            println!("|---|---:|---|");
            for r in &rows {
                let cells: Vec<String> = r.reliability.iter().map(|(p, o, n)| format!("{p:.2}→{o:.2} ({n})")).collect();
                println!("| {} | {:.3} | {} |", r.lang.code(), r.ece, cells.join(", "));
            }
            println!();
            println!(
                "In-domain text (brand mentions; {}): the model as loaded, and 5-fold",
                match &domain.dir {
                    Some(d) => format!("`{}`", d.display()),
                    None => "the project's seed set, src/tone_weights/domain".into(),
                }
            );
            println!("cross-validation: retrained on the public data alone → with the other four fifths added:");
            println!();
            println!("| lang | n | model trained with in-domain texts | model neg P / R / F1 | model macro-F1 | CV neg F1 public only → with in-domain | CV macro-F1 |");
            println!("|---|---:|---:|---|---:|---|---|");
            for r in &rows {
                let (before, after) = r.in_domain_cv;
                println!(
                    "| {} | {} | {} | {:.3} / {:.3} / {:.3} | {:.3} | {:.3} → {:.3} | {:.3} → {:.3} |",
                    r.lang.code(),
                    r.in_domain.n,
                    if r.trained_with_domain == 0 {
                        "0".into()
                    } else {
                        // the file records how many, not which: the shipped fa and ru
                        // weights were trained on the seed set itself
                        format!("{} (in-sample if these)", r.trained_with_domain)
                    },
                    r.in_domain.precision,
                    r.in_domain.recall,
                    r.in_domain.f1,
                    r.in_domain.macro_f1,
                    before.f1,
                    after.f1,
                    before.macro_f1,
                    after.macro_f1
                );
            }
        }
        Command::NotifyTest { config, receiver } => {
            let cfg = match crisiswatch::serve::config::load(Some(&config), &Default::default()) {
                Ok(c) => c,
                Err(d) => {
                    eprintln!("{d}");
                    return Ok(ExitCode::from(2));
                }
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let result = match rt.block_on(crisiswatch::notify::test_send(&cfg.notify, &receiver)) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(ExitCode::from(2));
                }
            };
            match result {
                crisiswatch::notify::Delivery::Delivered => println!("{receiver}: delivered"),
                crisiswatch::notify::Delivery::Retry { error, .. } | crisiswatch::notify::Delivery::Fail(error) => {
                    eprintln!("{receiver}: not delivered: {error}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Command::Check { rules, playbooks, config } => {
            let set = load_rules(Some(&rules));
            let books = crisiswatch::playbook::Playbooks::load_dir(&playbooks);
            let cfg = config.as_deref().map(|p| crisiswatch::serve::config::load(Some(p), &Default::default()));
            // report every file's problems before giving up
            if let Err(d) = &books {
                eprintln!("{d}");
            }
            if let Some(Err(d)) = &cfg {
                eprintln!("{d}");
            }
            let (Ok(set), Ok(books), None | Some(Ok(_))) = (set, books, &cfg) else {
                return Ok(ExitCode::from(2));
            };
            println!("{}: ok ({} playbooks)", playbooks.display(), books.books.len());
            if let Some(p) = &config {
                println!("{}: ok", p.display());
            }
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

fn parse_langs(codes: &[String]) -> anyhow::Result<Vec<crisiswatch::lang::Lang>> {
    if codes.is_empty() {
        return Ok(crisiswatch::lang::Lang::ALL.to_vec());
    }
    codes
        .iter()
        .map(|c| {
            crisiswatch::lang::Lang::from_code(c)
                .ok_or_else(|| anyhow::anyhow!("unknown language `{c}` (known: en, he, fa, ru, ar)"))
        })
        .collect()
}

fn load_tone(dir: Option<&Path>) -> anyhow::Result<tone_model::MultilingualTone> {
    tone_model::MultilingualTone::builtin_plus(dir).map_err(anyhow::Error::msg)
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

/// `--domain-weight` must be a positive number.
fn check_domain_weight(w: f32) -> anyhow::Result<()> {
    if w.is_finite() && w > 0.0 {
        Ok(())
    } else {
        anyhow::bail!("--domain-weight must be a positive number, got {w}")
    }
}
