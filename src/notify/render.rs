//! The render stage for people: subject, plain text and HTML from the email templates
//! (minijinja; the HTML template escapes every value, so post texts with markup, RTL controls
//! or emoji cannot break the message), with the facts put in words: observed against usual,
//! the p-value as odds, negative share now and usually, a response deadline from urgency
//! (severity, the hour, the reach of the loudest author, news sources). The words are in the
//! receiver's language and the times in its zone ([`Locale`]); the templates are the
//! built-in ones, or those of `[notify] templates` (a directory, read at start and reload).

use super::locale::Locale;
use super::words::{self, fill, Words};
use crate::diag::{Diagnostic, Diagnostics};
use serde_json::{json, Value};
use std::path::Path;

/// The email templates' file names, in the built-in set and in a templates directory.
pub const TEMPLATE_FILES: [&str; 3] = ["email.subject.j2", "email.txt.j2", "email.html.j2"];

const BUILTIN: [&str; 3] = [
    include_str!("../../alerts/templates/email.subject.j2"),
    include_str!("../../alerts/templates/email.txt.j2"),
    include_str!("../../alerts/templates/email.html.j2"),
];

/// A message for people: subject, text and HTML.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Message {
    /// One line.
    pub subject: String,
    /// Plain text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// The chart, PNG as base64, shown inline in the HTML part (`cid:chart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_png: Option<String>,
}

/// The email templates: the built-in ones, or a directory's (each file it has replaces the
/// built-in one of that name).
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    sources: [String; 3],
    /// Where they came from: `built-in` or the directory.
    pub origin: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates { sources: BUILTIN.map(String::from), origin: "built-in".into() }
    }
}

impl Templates {
    /// The templates of `dir`: `email.subject.j2`, `email.txt.j2`, `email.html.j2`, each
    /// optional (the built-in one otherwise), each compiled and test-rendered here.
    ///
    /// # Errors
    /// Every unreadable or invalid template, with its file, line and reason.
    pub fn load_dir(dir: &Path) -> Result<Templates, Diagnostics> {
        let mut t = Templates { origin: format!("`{}`", dir.display()), ..Templates::default() };
        let mut errs = Vec::new();
        if !dir.is_dir() {
            return Err(Diagnostics(vec![Diagnostic::file(dir, "templates: not a directory")]));
        }
        for (i, name) in TEMPLATE_FILES.iter().enumerate() {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => t.sources[i] = text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errs.push(Diagnostic::file(&path, format!("cannot read template: {e}"))),
            }
        }
        let env = t.env_checked(dir, &mut errs);
        if errs.is_empty() {
            // a sample alert in every language must render: a template error at run time
            // would cost a notification
            for lang in super::locale::Lang::ALL {
                let loc = Locale { lang, ..Locale::default() };
                let ctx = context("alert", &sample(), &[], "https://x/l", "https://x/i", false, &loc);
                for (i, name) in TEMPLATE_FILES.iter().enumerate() {
                    if let Err(e) = env.get_template(name).and_then(|tpl| tpl.render(&ctx)) {
                        errs.push(template_error(&dir.join(name), &t.sources[i], &e));
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(t)
        } else {
            errs.dedup();
            Err(Diagnostics(errs))
        }
    }

    fn env_checked(&self, dir: &Path, errs: &mut Vec<Diagnostic>) -> minijinja::Environment<'static> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for (i, name) in TEMPLATE_FILES.iter().enumerate() {
            if let Err(e) = env.add_template_owned(name.to_string(), self.sources[i].clone()) {
                errs.push(template_error(&dir.join(name), &self.sources[i], &e));
            }
        }
        env
    }

    fn env(&self) -> minijinja::Environment<'static> {
        let mut errs = Vec::new();
        let env = self.env_checked(Path::new("<templates>"), &mut errs);
        for e in errs {
            tracing::error!(error = %e, "an email template does not compile");
        }
        env
    }
}

/// An alert with every field the templates may use, for checking them.
fn sample() -> Value {
    json!({
        "id": "sample", "rule": "negative-surge", "status": "firing", "severity": "critical", "category": "outage",
        "brand": "acme", "brand_name": "Acme", "metric": "negative", "at": "2026-03-04T10:15:00Z",
        "window_start": "2026-03-04T10:00:00Z", "window_end": "2026-03-04T10:15:00Z",
        "observed": 1240.0, "expected": 137.8, "p_value": 3.1e-9, "negative_share": 0.62, "baseline_negative_share": 0.18,
        "top_posts": [{"id": "1", "text": "down again", "author": "big", "author_followers": 250000,
                       "url": "https://x.example/1", "source": "twitter", "reshares": 800, "negative": true}],
        "top_terms": [{"term": "down", "score": 40.0}],
        "suggested_responses": [{"lang": "en", "text": "We're sorry"}],
        "sources": [["twitter", 900], ["news", 3]],
    })
}

fn template_error(path: &Path, text: &str, e: &minijinja::Error) -> Diagnostic {
    let line = e.line().unwrap_or(1).max(1);
    let offset: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
    let reason = e.detail().map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    Diagnostic::at(path, text, Some(offset..offset), format!("template: {reason}"))
}

/// `1240` → `1,240`.
pub fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A p-value in words.
pub fn odds(p: f64, w: &Words) -> String {
    if p.is_nan() || p < 1e-12 {
        return w.odds_tiny.into();
    }
    let n = 1.0 / p;
    let n = if n >= 1e9 {
        format!("{:.1} {}", n / 1e9, w.billion)
    } else if n >= 1e6 {
        format!("{:.1} {}", n / 1e6, w.million)
    } else {
        thousands(n)
    };
    fill(w.odds, &[("n", &n)])
}

fn minutes_between(a: &str, b: &str) -> i64 {
    match (crate::time::parse_timestamp(a), crate::time::parse_timestamp(b)) {
        (Ok(a), Ok(b)) => ((b - a) / 60_000).max(1),
        _ => 0,
    }
}

/// Minutes to the first response, from urgency: severity, a large or news audience, night.
pub fn response_minutes(ev: &Value) -> i64 {
    let mut m = match ev["severity"].as_str() {
        Some("critical") => 30,
        Some("warning") => 120,
        _ => 480,
    };
    let posts = ev["top_posts"].as_array().cloned().unwrap_or_default();
    let loud = posts.iter().filter_map(|p| p["author_followers"].as_u64()).max().unwrap_or(0);
    if loud >= 100_000 || posts.iter().any(|p| p["source"] == "news") {
        m /= 2; // a top blogger or the press: it spreads faster
    }
    let hour = ev["at"].as_str().and_then(|t| t.get(11..13)).and_then(|h| h.parse::<u32>().ok()).unwrap_or(12);
    if (7..22).contains(&hour) {
        m = m * 3 / 4; // daytime (UTC): more people see it
    }
    m.max(10)
}

/// The headline: `negative mentions 9x usual (1,240 in 15 min)`, in `w`'s language.
pub fn headline(ev: &Value, w: &Words) -> String {
    let observed = ev["observed"].as_f64().unwrap_or(0.0);
    let expected = ev["expected"].as_f64().unwrap_or(0.0);
    let minutes = minutes_between(ev["window_start"].as_str().unwrap_or(""), ev["window_end"].as_str().unwrap_or(""));
    let minutes = minutes.to_string();
    let what = match ev["metric"].as_str() {
        Some("negative") => w.negative_mentions,
        Some("reach") => w.large_accounts,
        Some("flatline") => return fill(w.stopped, &[("minutes", &minutes)]),
        _ => w.mentions,
    };
    if ev["status"] == "resolved" {
        return fill(w.back_to_usual, &[("what", what)]);
    }
    let ratio = if expected > 0.0 { observed / expected } else { f64::INFINITY };
    let count = thousands(observed);
    let common = [("what", what), ("count", count.as_str()), ("minutes", minutes.as_str())];
    if ratio.is_finite() && ratio >= 1.95 {
        let r = format!("{ratio:.0}");
        fill(&fill(w.times_usual, &[("ratio", &r)]), &common)
    } else if ratio.is_finite() {
        let pct = format!("{:.0}", (ratio - 1.0) * 100.0);
        fill(&fill(w.percent_above, &[("pct", &pct)]), &common)
    } else {
        fill(w.far_above, &common)
    }
}

/// The incident's window in `loc`: `2026-03-04 10:00 – 10:15 UTC`.
pub fn window(ev: &Value, loc: &Locale) -> String {
    let t = |k: &str| ev[k].as_str().and_then(|s| crate::time::parse_timestamp(s).ok());
    match (t("window_start"), t("window_end")) {
        (Some(a), Some(b)) if loc.zone_name == "UTC" => format!("{} – {} UTC", loc.wall(a), loc.clock(b)),
        (Some(a), Some(b)) => format!("{} – {} ({})", loc.wall(a), loc.clock(b), loc.zone_label(a)),
        _ => String::new(),
    }
}

/// The templates' context: every fact of the notification in words of `loc`'s language,
/// its times in `loc`'s zone, the fixed wording as `t`, and `dir` (`rtl` or `ltr`).
fn context(
    kind: &str,
    lead: &Value,
    related: &[Value],
    ack_url: &str,
    dashboard_url: &str,
    chart: bool,
    loc: &Locale,
) -> Value {
    let w = words::of(loc.lang);
    let share = |v: &Value| v.as_f64().map(|x| format!("{:.0}%", x * 100.0));
    let posts: Vec<Value> = lead["top_posts"].as_array().cloned().unwrap_or_default();
    let terms: Vec<String> = lead["top_terms"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["term"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    let at = lead["at"].as_str().unwrap_or("");
    let respond_by =
        crate::time::parse_timestamp(at).map(|t| loc.time(t + response_minutes(lead) * 60_000)).unwrap_or_default();
    let brand = lead["brand_name"].as_str().or(lead["brand"].as_str()).unwrap_or("").to_string();
    let headline = headline(lead, w);
    let severity = lead["severity"].as_str().unwrap_or("");
    let rule = lead["rule"].as_str().unwrap_or("");
    let summary = match kind {
        "resolved" => fill(w.summary_resolved, &[("rule", rule), ("brand", &brand), ("headline", &headline)]),
        "escalated" => fill(
            w.summary_escalated,
            &[("brand", &brand), ("severity", w.severity_name(severity)), ("headline", &headline)],
        ),
        _ => fill(w.summary_alert, &[("brand", &brand), ("headline", &headline)]),
    };
    let severity_label =
        if kind == "resolved" { w.resolved.to_string() } else { w.severity_name(severity).to_uppercase() };
    json!({
        "id": lead["id"], "rule": lead["rule"], "status": lead["status"], "severity": lead["severity"],
        "severity_label": severity_label, "category": lead["category"], "brand_name": brand,
        "headline": headline, "summary": summary,
        "observed": thousands(lead["observed"].as_f64().unwrap_or(0.0)),
        "expected": format!("{:.1}", lead["expected"].as_f64().unwrap_or(0.0)),
        "window": window(lead, loc),
        "window_start": lead["window_start"], "window_end": lead["window_end"],
        "odds": odds(lead["p_value"].as_f64().unwrap_or(1.0), w),
        "negative_share": share(&lead["negative_share"]), "baseline_negative_share": share(&lead["baseline_negative_share"]),
        "respond_by": respond_by, "top_posts": posts, "top_terms": terms,
        "responses": if kind == "resolved" { Value::Array(Vec::new()) } else { lead["suggested_responses"].clone() },
        "related": related, "sources": lead["sources"], "ack_url": ack_url, "dashboard_url": dashboard_url,
        "chart_cid": if chart { json!("chart") } else { Value::Null },
        "t": w, "lang": loc.lang.code(), "dir": loc.lang.dir(),
    })
}

/// Renders the email of a notification: `lead` is the most severe incident's latest event,
/// `related` the other incidents of the brand in the same notification; `ack_url` is the
/// signed acknowledge link, `dashboard_url` the incident's page in the dashboard; in `loc`'s
/// language and zone, with `templates`.
#[allow(clippy::too_many_arguments)]
pub fn email(
    kind: &str,
    lead: &Value,
    related: &[Value],
    ack_url: &str,
    dashboard_url: &str,
    chart: Option<&[u8]>,
    loc: &Locale,
    templates: &Templates,
) -> Message {
    let ctx = context(kind, lead, related, ack_url, dashboard_url, chart.is_some(), loc);
    let env = templates.env();
    let render = |name: &str| {
        env.get_template(name).and_then(|t| t.render(&ctx)).unwrap_or_else(|e| format!("(template {name} failed: {e})"))
    };
    let subject = render("email.subject.j2").lines().next().unwrap_or("").trim().to_string();
    use base64::Engine as _;
    let chart_png = chart.map(|c| base64::engine::general_purpose::STANDARD.encode(c));
    Message { subject, text: render("email.txt.j2"), html: render("email.html.j2"), chart_png }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        let mut ev = sample();
        ev["id"] = json!("abc");
        ev["top_posts"][0]["text"] = json!("<script>alert(1)</script> & \u{202e}evil");
        ev["suggested_responses"] = json!([{"lang": "en", "text": "We're sorry <3"}]);
        ev
    }

    #[test]
    fn subject_says_what_happened_in_numbers() {
        let m = email(
            "alert",
            &event(),
            &[],
            "http://h/l/abc.sig",
            "http://h/incidents/abc",
            None,
            &Locale::default(),
            &Templates::default(),
        );
        assert_eq!(m.subject, "[CRITICAL] Acme: negative mentions 9x usual (1,240 in 15 min)");
        assert!(m.text.contains("1-in-322.6 million") || m.text.contains("million"), "{}", m.text);
        assert!(m.text.contains("62%") && m.text.contains("18%"));
        assert!(m.text.contains("1 post re-shared 800 times"));
        assert!(m.text.contains("Sources: twitter 900 · news 3"), "{}", m.text);
        assert!(m.text.contains("Respond by: 2026-03-04 10:26 UTC"), "{}", m.text);
    }

    #[test]
    fn html_escapes_post_text() {
        let m = email(
            "alert",
            &event(),
            &[],
            "http://h/l/abc.sig",
            "http://h/incidents/abc",
            None,
            &Locale::default(),
            &Templates::default(),
        );
        assert!(!m.html.contains("<script>"), "escaped");
        assert!(m.html.contains("&lt;script&gt;"));
        assert!(m.html.contains("We&#x27;re sorry &lt;3") || m.html.contains("We&#39;re sorry &lt;3"), "{}", m.html);
        let r = email(
            "resolved",
            &json!({"status": "resolved", "severity": "warning", "brand_name": "Acme", "metric": "volume", "rule": "volume-spike"}),
            &[],
            "u",
            "d",
            None,
            &Locale::default(),
            &Templates::default(),
        );
        assert_eq!(r.subject, "[RESOLVED] Acme: mentions back to usual");
    }

    #[test]
    fn hostile_post_text_renders_safely() {
        let hostile = format!(
            "{}<img src=x onerror=alert(1)> **bold** [link](javascript:x) \u{202e}\u{2067}عكس\u{2069} {}",
            "\"'&<>",
            "😀🔥💥".repeat(1200)
        );
        assert!(hostile.len() > 10_000);
        let mut ev = event();
        ev["top_posts"][0]["text"] = hostile.clone().into();
        ev["brand_name"] = "<b>Acme</b>".into();
        let m = email(
            "alert",
            &ev,
            &[],
            "http://h/l/abc.sig",
            "http://h/incidents/abc",
            None,
            &Locale::default(),
            &Templates::default(),
        );
        assert!(!m.html.contains("<img src=x"), "no markup from posts");
        assert!(!m.html.contains("<b>Acme</b>"), "no markup from names");
        assert!(m.html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(m.html.contains(&"😀🔥💥".repeat(1200)), "emoji kept whole");
        assert!(!m.subject.contains('\n'), "one-line subject");
        // the webhook body is JSON: serde escapes what must be escaped and the text round-trips
        let body = serde_json::to_string(&ev).unwrap();
        let back: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(back["top_posts"][0]["text"], hostile.as_str());
    }

    #[test]
    fn a_hebrew_receiver_in_jerusalem_reads_hebrew_right_to_left_with_local_times() {
        let loc = Locale::new("he", "Asia/Jerusalem").unwrap();
        let m = email("alert", &event(), &[], "http://h/l/a", "http://h/i/a", None, &loc, &Templates::default());
        assert_eq!(m.subject, "[קריטי] Acme: אזכורים שליליים: פי 9 מהרגיל (1,240 ב-15 דק׳)");
        assert!(m.html.contains("<html lang=\"he\" dir=\"rtl\">"), "{}", m.html);
        // 10:26 UTC is 12:26 in Jerusalem in March, the zone said
        assert!(m.text.contains("להגיב עד: 2026-03-04 12:26 (Asia/Jerusalem, UTC+02:00)"), "{}", m.text);
        assert!(m.text.contains("2026-03-04 12:00 – 12:15 (Asia/Jerusalem, UTC+02:00)"), "{}", m.text);
        assert!(m.text.contains("פוסט אחד ששותף 800 פעמים"), "{}", m.text);
        assert!(!m.text.contains("Respond by") && !m.html.contains("Top terms"), "no English left: {}", m.text);
        let ru = Locale::new("ru", "Europe/Moscow").unwrap();
        let mut ev = event();
        ev["status"] = "resolved".into();
        let r = email("resolved", &ev, &[], "u", "d", None, &ru, &Templates::default());
        assert!(r.subject.starts_with("[ЗАКРЫТ] Acme: негативные упоминания: снова в норме"), "{}", r.subject);
        let fa = odds(3.1e-9, words::of(super::super::locale::Lang::Fa));
        assert!(fa.contains("میلیون") && fa.contains("322.6"), "{fa}");
    }

    /// `docs/example-alert-email-he.{html,txt}` are this rendering of the sample alert for a
    /// Hebrew receiver in Jerusalem; `CW_WRITE_DOCS=1 cargo test --lib hebrew_email` rewrites them.
    #[test]
    fn the_hebrew_example_email_in_docs_is_the_current_rendering() {
        let loc = Locale::new("he", "Asia/Jerusalem").unwrap();
        let (ack, open) = ("https://cw.example.com/l/ack.sig", "https://cw.example.com/incidents/sample");
        let m = email("alert", &sample(), &[], ack, open, None, &loc, &Templates::default());
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        let text = format!("Subject: {}\n\n{}", m.subject, m.text);
        if std::env::var_os("CW_WRITE_DOCS").is_some() {
            std::fs::write(docs.join("example-alert-email-he.html"), &m.html).unwrap();
            std::fs::write(docs.join("example-alert-email-he.txt"), &text).unwrap();
        }
        let read = |f: &str| std::fs::read_to_string(docs.join(f)).unwrap_or_default();
        assert_eq!(read("example-alert-email-he.html"), m.html, "CW_WRITE_DOCS=1 cargo test --lib hebrew_email");
        assert_eq!(read("example-alert-email-he.txt"), text, "CW_WRITE_DOCS=1 cargo test --lib hebrew_email");
        assert!(m.html.contains("dir=\"rtl\"") && text.contains("(Asia/Jerusalem, UTC+02:00)"));
    }

    #[test]
    fn templates_from_a_directory_replace_the_built_in_ones_and_bad_ones_are_positioned() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("email.subject.j2"), "ALERT {{ brand_name }} / {{ t.incident }}\n").unwrap();
        let t = Templates::load_dir(dir.path()).unwrap();
        let m = email("alert", &event(), &[], "u", "d", None, &Locale::default(), &t);
        assert_eq!(m.subject, "ALERT Acme / Incident");
        assert!(m.text.contains("Respond by"), "the other two stay built in");
        std::fs::write(dir.path().join("email.txt.j2"), "line one\n{% for x in %}\n").unwrap();
        std::fs::write(dir.path().join("email.html.j2"), "<p>{{ 1 / 0 }}</p>\n").unwrap();
        let d = Templates::load_dir(dir.path()).unwrap_err();
        let txt = d.0.iter().find(|d| d.path.ends_with("email.txt.j2")).expect("the syntax error");
        assert_eq!(txt.line, 2, "{d}");
        assert!(txt.message.starts_with("template: syntax error"), "{d}");
        assert!(Templates::load_dir(&dir.path().join("nope")).is_err());
    }
}
