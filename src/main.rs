//! The `crisiswatch` command line: a thin layer over the library (DESIGN §4).
//! Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid configuration.

use anyhow::Context;
use clap::{Parser, Subcommand};
use crisiswatch::cmd::{load, nab, replay, simulate, zoo};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "crisiswatch", version, about = "Crisis alerting and spike detection for brands on social media")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole product on a simulated live stream, with no set-up: the service and its
    /// dashboard with built-in rules, playbooks and tone weights, weeks of history, then a
    /// live stream in which a crisis builds within about two minutes. Prints the dashboard URL.
    Demo {
        /// Listen address (default 127.0.0.1:8686, or a free port when that one is taken).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (empty or new; default a temporary directory removed at exit).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Speed of the live stream, times real time.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Days of history loaded before the live stream.
        #[arg(long, default_value_t = 14)]
        history_days: u32,
        /// Brands in the simulated stream (two or more).
        #[arg(long, default_value_t = 12)]
        brands: u32,
        /// Service configuration to try with the demo (users, receivers, routes); its listen
        /// address, data directory and clock are replaced by the demo's.
        #[arg(long)]
        config: Option<PathBuf>,
    },
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
        /// added to the built-in en/he/ar ones (e.g. `src/tone/weights/share-alike`).
        #[arg(long)]
        tone_models: Option<PathBuf>,
        /// Print the tone mix (provider / model / untoned, and negatives) per brand and language.
        #[arg(long)]
        tone_stats: bool,
        /// Playbooks for alert categories and suggested responses (default: the built-in ones).
        #[arg(long)]
        playbooks: Option<PathBuf>,
        /// Decide as a cluster of this many partitions does (`[cluster] partitions`): the
        /// tail priors are pooled per partition. The same alerts as the cluster gives.
        #[arg(long)]
        partitions: Option<u32>,
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
        /// Background process (the noise zoo, see `docs/detection.md`); `hourly` is the classic stream.
        #[arg(long, value_enum, default_value_t = simulate::NoiseFamily::Hourly)]
        noise: simulate::NoiseFamily,
        /// The largest brand's daily rate (brands spread log-uniformly from 20 up to it).
        #[arg(long, default_value_t = 20_000.0)]
        max_rate: f64,
    },
    /// Score alert events against simulation labels (recall, delay, false alarms), or with
    /// `--zoo` the detector against every noise family (a Markdown table).
    Evaluate {
        /// Labels written by `simulate`.
        #[arg(long, required_unless_present = "zoo")]
        labels: Option<PathBuf>,
        /// Alert events written by `replay`.
        #[arg(long, required_unless_present = "zoo")]
        alerts: Option<PathBuf>,
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
        /// Simulate every noise family in-process, replay it and score it: one table row per
        /// family (false alarms against the calibration band, recall, delays).
        #[arg(long, conflicts_with_all = ["labels", "alerts", "compare"])]
        zoo: bool,
        /// Zoo: the families to run (default all).
        #[arg(long, value_enum, value_delimiter = ',', requires = "zoo")]
        families: Vec<simulate::NoiseFamily>,
        /// Zoo: seeds per family.
        #[arg(long, value_delimiter = ',', default_value = "1", requires = "zoo")]
        seeds: Vec<u64>,
        /// Zoo: the largest brand's daily rate.
        #[arg(long, default_value_t = 20_000.0, requires = "zoo")]
        max_rate: f64,
        /// Zoo: rules directory (default: the built-in defaults).
        #[arg(long, requires = "zoo")]
        rules: Option<PathBuf>,
        /// Zoo: JSON instead of the Markdown table.
        #[arg(long, requires = "zoo")]
        json: bool,
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
        /// `src/tone/weights/share-alike` for fa and ru (share-alike / non-commercial terms).
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
        #[arg(long, default_value_t = crisiswatch::tone::domain::DOMAIN_WEIGHT)]
        domain_weight: f32,
        /// Extra training sets instead of the built-in choice: `LANG:PATH=WEIGHT` (PATH under
        /// `--data`, each text counting WEIGHT), e.g. `he:extra/he/xed.tsv=0.3`; `none` for
        /// none. Default: the sets the shipped weights were trained with.
        #[arg(long, value_delimiter = ',')]
        extra: Vec<String>,
        /// Leave out `DATA/<lang>/train.tsv` (train on `--extra` and `--domain` only): for a
        /// language whose public set may not ship in weights, like Persian's (CC BY-NC-SA).
        #[arg(long)]
        without_public: bool,
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
        /// built-in seed set, `src/tone/weights/domain`).
        #[arg(long)]
        domain: Option<PathBuf>,
        /// How many public texts one in-domain text counts as in the cross-validation.
        #[arg(long, default_value_t = crisiswatch::tone::domain::DOMAIN_WEIGHT)]
        domain_weight: f32,
        /// Only these languages (default: every loaded model).
        #[arg(long, value_delimiter = ',')]
        langs: Vec<String>,
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
        /// Playbooks (default: the built-in ones).
        #[arg(long)]
        playbooks: Option<PathBuf>,
        /// Run as one node of a cluster on NATS JetStream: the servers' URLs, comma-separated
        /// (e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222); replaces `[cluster] servers`.
        #[arg(long)]
        cluster: Option<String>,
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
    /// Read a password from stdin (one line) and print its argon2id hash, for
    /// `[[users]] password_hash` in the service config.
    HashPassword,
    /// Validate rules, playbooks and (optionally) a service config; errors name file, line
    /// and column.
    Check {
        /// Rules directory (default: the built-in defaults).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Playbooks directory (default: the built-in playbooks).
        #[arg(long)]
        playbooks: Option<PathBuf>,
        /// Service configuration file to validate too.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Prints the diagnostics and turns them into exit status 2.
fn invalid(d: crisiswatch::diag::Diagnostics) -> ExitCode {
    eprintln!("{d}");
    ExitCode::from(2)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { listen, data_dir, speed, history_days, brands, config } => {
            // a bad configuration is reported like `serve` reports it: every error, exit 2
            if let Some(c) = &config {
                let o = crisiswatch::serve::config::Overrides {
                    listen: Some("127.0.0.1:0".into()),
                    clock: Some(crisiswatch::serve::config::ClockMode::Event),
                    ..Default::default()
                };
                if let Err(d) = crisiswatch::serve::config::load(Some(c), &o) {
                    return Ok(invalid(d));
                }
            }
            let o = crisiswatch::cmd::demo::DemoOptions {
                listen,
                data_dir,
                speed,
                history_days: history_days.max(3),
                brands: brands.clamp(2, 1000),
                config,
                ..Default::default()
            };
            crisiswatch::cmd::demo::run(&o)?;
        }
        Command::Replay {
            input,
            rules: rules_dir,
            out,
            dead_letter,
            quiet,
            tone_models,
            tone_stats,
            playbooks: playbooks_dir,
            partitions,
        } => {
            let rules = match load::rules(rules_dir.as_deref()) {
                Ok(r) => r,
                Err(d) => return Ok(invalid(d)),
            };
            let playbooks = match load::playbooks(playbooks_dir.as_deref()) {
                Ok(p) => p,
                Err(d) => return Ok(invalid(d)),
            };
            let tone = load::tone(tone_models.as_deref())?;
            let n_books = playbooks.as_ref().map_or(0, |p| p.books.len());
            eprintln!(
                "{}",
                load::used(rules_dir.as_deref(), playbooks_dir.as_deref(), n_books, &tone, tone_models.as_deref())
            );
            let opts = replay::ReplayOptions {
                input,
                out,
                dead_letter,
                progress: !quiet,
                max_reported: 50,
                tone_stats,
                playbooks,
                partitions: partitions.unwrap_or(1),
            };
            let summary = replay::replay_with_tone(&rules, &opts, Box::new(tone))?;
            eprintln!("{summary}");
        }
        Command::Serve { config, listen, data_dir, rules, clock, log_format, tone_models, playbooks, cluster } => {
            use crisiswatch::serve::config;
            let o = config::Overrides { listen, data_dir, rules, clock, log_format, cluster };
            let origin = crisiswatch::serve::reload::Origin {
                config: config.clone(),
                overrides: o.clone(),
                playbooks: playbooks.clone(),
            };
            let cfg = match config::load(config.as_deref(), &o) {
                Ok(c) => c,
                Err(diags) => {
                    eprintln!("{diags}");
                    return Ok(ExitCode::from(2));
                }
            };
            let rules = match load::rules(cfg.rules.as_deref()) {
                Ok(r) => r,
                Err(d) => return Ok(invalid(d)),
            };
            let playbooks_dir = playbooks;
            let playbooks = match load::playbooks(playbooks_dir.as_deref()) {
                Ok(p) => p,
                Err(d) => return Ok(invalid(d)),
            };
            crisiswatch::serve::init_logging(cfg.log_format);
            let tone = load::tone(tone_models.as_deref())?;
            let n_books = playbooks.as_ref().map_or(0, |p| p.books.len());
            tracing::info!(
                "{}",
                load::used(cfg.rules.as_deref(), playbooks_dir.as_deref(), n_books, &tone, tone_models.as_deref())
            );
            crisiswatch::serve::run(cfg, rules, Box::new(tone), playbooks, origin)?;
        }
        Command::Simulate { out, labels, seed, days, brands, no_sentiment, noise, max_rate } => {
            let opts = simulate::SimOptions {
                seed,
                days,
                brands,
                provider_sentiment: !no_sentiment,
                noise,
                max_rate_per_day: max_rate,
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
            eprintln!(
                "wrote {} ({} brands, {} days, {} noise, {} labelled scenarios)",
                out.display(),
                brands,
                days,
                noise,
                labs.len()
            );
        }
        Command::Evaluate { days, brands, min_extra, zoo: true, families, seeds, max_rate, rules, json, .. } => {
            let rules = match load::rules(rules.as_deref()) {
                Ok(r) => r,
                Err(d) => return Ok(invalid(d)),
            };
            let opts = zoo::ZooOptions {
                days: days.round().max(1.0) as u32,
                brands: u32::try_from(brands).unwrap_or(u32::MAX),
                max_rate_per_day: max_rate,
                min_extra,
            };
            let families = if families.is_empty() { simulate::NoiseFamily::ALL.to_vec() } else { families };
            let mut reports = Vec::new();
            for (i, family) in families.iter().enumerate() {
                let started = std::time::Instant::now();
                eprint!("zoo [{}/{}] {family} ({} seeds)…", i + 1, families.len(), seeds.len());
                let r = zoo::run_family(*family, &seeds, &opts, &rules);
                eprintln!(
                    " {} mentions, {} false alarms, {}/{} crises detected ({:.1} s)",
                    r.mentions,
                    r.false_alarms,
                    r.detected,
                    r.crises,
                    started.elapsed().as_secs_f64()
                );
                reports.push(r);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                print!("{}", zoo::markdown(&reports));
            }
        }
        Command::Evaluate { labels, alerts, days, brands, min_extra, compare, slack, .. } => {
            let (Some(labels), Some(alerts)) = (labels, alerts) else {
                eprintln!("error: give `--labels` and `--alerts`, or `--zoo`");
                return Ok(ExitCode::from(2));
            };
            let labels = load::jsonl::<simulate::Label>(&labels)?;
            let events = load::jsonl::<crisiswatch::alert::AlertEvent>(&alerts)?;
            let report = crisiswatch::cmd::evaluate::evaluate(&labels, &events, days, brands, min_extra);
            match compare {
                None => println!("{}", serde_json::to_string_pretty(&report)?),
                Some(other) => {
                    let other_events = load::jsonl::<crisiswatch::alert::AlertEvent>(&other)?;
                    let other = crisiswatch::cmd::evaluate::evaluate(&labels, &other_events, days, brands, min_extra);
                    let c = crisiswatch::cmd::evaluate::compare(&report, &other, slack);
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
            let model = load::tone(models.as_deref())?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            match (text, input) {
                (Some(t), None) => {
                    serde_json::to_writer(&mut out, &crisiswatch::cmd::tone::judge(&model, &t, lang.as_deref()))?;
                    writeln!(out)?;
                }
                (None, Some(path)) => {
                    let reader = replay::open_input(&path, false)?;
                    let (n, bad) = crisiswatch::cmd::tone::lines(&model, lang.as_deref(), reader, &mut out)
                        .with_context(|| format!("reading `{}`", path.display()))?;
                    out.flush()?;
                    if bad > 0 {
                        eprintln!("{bad} of {n} lines could not be scored (see their `error` lines)");
                        return Ok(ExitCode::from(1));
                    }
                }
                _ => {
                    eprintln!("error: give either a TEXT or `--input FILE`");
                    return Ok(ExitCode::from(2));
                }
            }
            out.flush()?;
        }
        Command::ToneTrain { data, out, langs, domain, domain_weight, extra, without_public } => {
            let langs = parse_langs(&langs)?;
            check_domain_weight(domain_weight)?;
            let extras = if extra.is_empty() {
                crisiswatch::tone::Extras::Default
            } else if extra.len() == 1 && extra[0] == "none" {
                crisiswatch::tone::Extras::Given(Vec::new())
            } else {
                let sets: Result<Vec<crisiswatch::tone::ExtraSet>, String> = extra.iter().map(|s| s.parse()).collect();
                crisiswatch::tone::Extras::Given(sets.map_err(|e| anyhow::anyhow!("--extra {e}"))?)
            };
            let domain =
                domain.map(|dir| crisiswatch::tone::domain::DomainSet { dir: Some(dir), weight: domain_weight });
            let done = crisiswatch::tone::train_dir(&data, &out, &langs, &extras, domain.as_ref(), without_public)
                .map_err(anyhow::Error::msg)?;
            for t in done {
                let extras: Vec<String> = t.extras.iter().map(|(p, n, w)| format!(" + {n} from {p} (×{w})")).collect();
                eprintln!(
                    "{}: trained on {} public{} + {} in-domain texts (negative F1 {:.3} on the held-out seventh) → {}",
                    t.lang.code(),
                    t.public,
                    extras.concat(),
                    t.in_domain,
                    t.held_out_f1,
                    t.dest.display()
                );
            }
        }
        Command::ToneEval { data, models, lexicons, domain, domain_weight, langs } => {
            let model = load::tone(models.as_deref())?;
            check_domain_weight(domain_weight)?;
            let langs = parse_langs(&langs)?;
            let weights: Vec<_> = model.weights().iter().filter(|w| langs.contains(&w.lang)).cloned().collect();
            let domain = crisiswatch::tone::domain::DomainSet { dir: domain, weight: domain_weight };
            let rows = crisiswatch::tone::eval_dir(&data, &weights, lexicons.as_deref(), &domain)
                .map_err(anyhow::Error::msg)?;
            crisiswatch::cmd::tone_eval::print_tables(&rows, &domain, &mut std::io::stdout().lock())?;
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
        Command::HashPassword => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                eprintln!("error: no password on stdin (one line)");
                return Ok(ExitCode::from(2));
            }
            let hash = crisiswatch::serve::auth::hash_password(password).map_err(anyhow::Error::msg)?;
            println!("{hash}");
        }
        Command::Check { rules, playbooks, config } => {
            return Ok(crisiswatch::cmd::check::run(rules.as_deref(), playbooks.as_deref(), config.as_deref()))
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_langs(codes: &[String]) -> anyhow::Result<Vec<crisiswatch::ingest::lang::Lang>> {
    if codes.is_empty() {
        return Ok(crisiswatch::ingest::lang::Lang::ALL.to_vec());
    }
    codes
        .iter()
        .map(|c| {
            crisiswatch::ingest::lang::Lang::from_code(c)
                .ok_or_else(|| anyhow::anyhow!("unknown language `{c}` (known: en, he, fa, ru, ar)"))
        })
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
