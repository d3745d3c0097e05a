//! `crisiswatch check`: validates rules, playbooks and (optionally) the service
//! configuration, printing every file's problems before giving up (exit status 2).

use super::load;
use crate::alert::playbook::Playbooks;
use std::path::Path;
use std::process::ExitCode;

/// Checks everything given; prints a summary on stdout or every diagnostic on stderr.
/// `None` for rules or playbooks checks the built-in ones.
pub fn run(rules: Option<&Path>, playbooks: Option<&Path>, config: Option<&Path>) -> ExitCode {
    let set = load::rules(rules);
    let books = playbooks.map_or_else(|| Ok(Playbooks::builtin()), Playbooks::load_dir);
    let cfg = config.map(|p| crate::serve::config::load(Some(p), &Default::default()));
    // report every file's problems before giving up
    if let Err(d) = &set {
        eprintln!("{d}");
    }
    if let Err(d) = &books {
        eprintln!("{d}");
    }
    if let Some(Err(d)) = &cfg {
        eprintln!("{d}");
    }
    let (Ok(set), Ok(books), None | Some(Ok(_))) = (set, books, &cfg) else {
        return ExitCode::from(2);
    };
    let name = |p: Option<&Path>, builtin: &str| p.map_or_else(|| builtin.to_string(), |p| p.display().to_string());
    println!("{}: ok ({} playbooks)", name(playbooks, "built-in playbooks"), books.books.len());
    if let Some(p) = config {
        println!("{}: ok", p.display());
    }
    let n_rules: usize = set.brands.iter().map(|b| b.rules.len()).sum();
    println!(
        "{}: ok ({} brands, {} brand rules, {} default rules, per-test significance {:.2e} for {} false alarms per brand per week)",
        name(rules, "built-in rules"),
        set.brands.len(),
        n_rules,
        set.default_rules.len(),
        set.alpha(),
        set.settings.false_alarms_per_week
    );
    ExitCode::SUCCESS
}
