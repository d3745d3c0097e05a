//! `crisiswatch tone-eval`: the tables of the tone model's evaluation (test splits,
//! reliability, in-domain text) as Markdown, from [`eval_dir`](crate::tone::eval_dir)'s rows.

use crate::tone::domain::DomainSet;
use crate::tone::EvalRow;
use std::io::Write;

/// Writes the three Markdown tables for `rows`.
///
/// # Errors
/// When writing fails.
pub fn print_tables(rows: &[EvalRow], domain: &DomainSet, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "| lang | test n | model neg P / R / F1 | model macro-F1 | majority neg F1 / macro-F1 | lexicon count neg F1 / macro-F1 | project word-list count neg F1 / macro-F1 | induced lexicon count neg F1 / macro-F1 |")?;
    writeln!(out, "|---|---:|---|---:|---|---|---|---|")?;
    for r in rows {
        let lex = match r.lexicon {
            Some((name, s)) => format!("{:.3} / {:.3} ({name})", s.f1, s.macro_f1),
            None => "no redistributable lexicon".into(),
        };
        let project = match r.project_lexicon {
            Some(s) => format!("{:.3} / {:.3}", s.f1, s.macro_f1),
            None => "(VADER is the list)".into(),
        };
        writeln!(
            out,
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
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Reliability of the calibrated negative probability on the test split")?;
    writeln!(out, "(per decile of predicted p: mean predicted → observed negative rate, texts):")?;
    writeln!(out)?;
    writeln!(out, "| lang | ECE | deciles |")?;
    writeln!(out, "|---|---:|---|")?;
    for r in rows {
        let cells: Vec<String> = r.reliability.iter().map(|(p, o, n)| format!("{p:.2}→{o:.2} ({n})")).collect();
        writeln!(out, "| {} | {:.3} | {} |", r.lang.code(), r.ece, cells.join(", "))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "In-domain text (brand mentions; {}): the model as loaded, and 5-fold",
        match &domain.dir {
            Some(d) => format!("`{}`", d.display()),
            None => "the project's seed set, src/tone/weights/domain".into(),
        }
    )?;
    writeln!(out, "cross-validation: retrained on the public data alone → with the other four fifths added:")?;
    writeln!(out)?;
    writeln!(out, "| lang | n | model trained with in-domain texts | model neg P / R / F1 | model macro-F1 | CV neg F1 public only → with in-domain | CV macro-F1 | as the windows count (p ≥ 0.5): model / CV neg F1 |")?;
    writeln!(out, "|---|---:|---:|---|---:|---|---|---|")?;
    for r in rows {
        let (before, after) = r.in_domain_cv;
        writeln!(
            out,
            "| {} | {} | {} | {:.3} / {:.3} / {:.3} | {:.3} | {:.3} → {:.3} | {:.3} → {:.3} | {:.3} / {:.3} |",
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
            after.macro_f1,
            r.in_domain_windows.0.f1,
            r.in_domain_windows.1.f1
        )?;
    }
    writeln!(out)?;
    writeln!(out, "In-domain test split (src/tone/weights/domain/test: brand mentions never trained on), and its")?;
    writeln!(out, "tagged lines: sarcastic and negated praise (negative), negated complaints (positive):")?;
    writeln!(out)?;
    writeln!(out, "| lang | n | model neg P / R / F1 | model macro-F1 | as the windows count (p ≥ 0.5): neg P / R / F1 | sarcasm right | negated praise right | negated complaint right |")?;
    writeln!(out, "|---|---:|---|---:|---|---:|---:|---:|")?;
    for r in rows {
        let group = |tag: &str| {
            r.in_domain_groups
                .iter()
                .find(|g| g.0 == tag)
                .map_or_else(|| "-".to_string(), |g| format!("{} / {}", g.1, g.2))
        };
        let (t, tw) = (r.in_domain_test, r.in_domain_test_windows);
        writeln!(
            out,
            "| {} | {} | {:.3} / {:.3} / {:.3} | {:.3} | {:.3} / {:.3} / {:.3} | {} | {} | {} |",
            r.lang.code(),
            t.n,
            t.precision,
            t.recall,
            t.f1,
            t.macro_f1,
            tw.precision,
            tw.recall,
            tw.f1,
            group("sarcasm"),
            group("negated-praise"),
            group("negated-complaint")
        )?;
    }
    Ok(())
}
