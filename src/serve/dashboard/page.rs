//! HTML building blocks of the dashboard: escaping, the page frame, and the words a PR lead
//! reads (one-sentence summaries, odds, counts). Pure functions of their inputs.

use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values (the login pages' own).
pub use crate::serve::login::escape as esc;

/// `dir` of a language: right-to-left for Hebrew, Persian and Arabic.
pub fn dir_of(lang: &str) -> &'static str {
    if matches!(lang, "he" | "fa" | "ar") {
        "rtl"
    } else {
        "ltr"
    }
}

/// Who is looking, as the page frame shows it.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Name recorded with their actions.
    pub name: String,
    /// Whether they may acknowledge, resolve, escalate and mute.
    pub can_respond: bool,
    /// The session's form token (`None` without a session, e.g. open loopback mode).
    pub csrf: Option<String>,
    /// Whether the viewer has a session to log out of.
    pub session: bool,
}

/// The page frame: header with navigation, `main`, the stylesheet and script (embedded,
/// same origin). `live` pages reload their `main` when the server says something changed.
pub fn frame(title: &str, viewer: &Viewer, active: &str, live: bool, body: &str) -> String {
    let nav = |href: &str, name: &str, key: &str| {
        format!(r#"<a href="{href}"{}>{name}</a>"#, if key == active { r#" aria-current="page""# } else { "" })
    };
    let who = if viewer.session {
        format!(
            r#"<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{}"><span class="who">{}</span> <button type="submit" class="link">Log out</button></form>"#,
            esc(viewer.csrf.as_deref().unwrap_or("")),
            esc(&viewer.name)
        )
    } else {
        format!(r#"<span class="who">{}</span>"#, esc(&viewer.name))
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · crisiswatch</title><link rel="stylesheet" href="/assets/app.css"><script src="/assets/app.js" defer></script></head>
<body{live}><header><a class="logo" href="/">crisiswatch</a><nav>{brands}{incidents}{silences}</nav><div class="zone" id="zone"></div>{who}</header>
<main id="main">{body}</main></body></html>"#,
        title = esc(title),
        live = if live { r#" data-live="1""# } else { "" },
        brands = nav("/", "Brands", "brands"),
        incidents = nav("/incidents", "Incidents", "incidents"),
        silences = nav("/silences", "Silences", "silences"),
    )
}

/// A time the page's script shows in the viewer's time zone (UTC until it runs).
pub fn time(rfc3339: &str) -> String {
    let short = rfc3339.get(..16).map_or_else(|| rfc3339.to_string(), |s| s.replace('T', " "));
    format!(r#"<time datetime="{}">{} UTC</time>"#, esc(rfc3339), esc(&short))
}

/// Severity rank: calm 0 … critical 3.
pub fn rank(state: &str) -> u8 {
    match state {
        "critical" => 3,
        "warning" => 2,
        "watch" => 1,
        _ => 0,
    }
}

/// A coloured state badge (the word is always there: colour is not the only cue).
pub fn badge(state: &str) -> String {
    format!(r#"<span class="badge s-{s}">{s}</span>"#, s = esc(state))
}

/// "about once in 3 years of normal activity" for a per-minute chance `p`.
pub fn odds(p: f64) -> String {
    if p.is_nan() || p <= 0.0 || p >= 1.0 {
        return "not unusual".into();
    }
    let minutes = 1.0 / p;
    let (n, unit) = if minutes < 120.0 {
        (minutes, "minutes")
    } else if minutes < 48.0 * 60.0 {
        (minutes / 60.0, "hours")
    } else if minutes < 60.0 * 24.0 * 60.0 {
        (minutes / 1440.0, "days")
    } else if minutes < 3.0 * 365.25 * 1440.0 {
        (minutes / (30.44 * 1440.0), "months")
    } else {
        (minutes / (365.25 * 1440.0), "years")
    };
    let n = if n >= 1000.0 { format!("{:.0}", n) } else { format!("{}", (n * 10.0).round() / 10.0) };
    format!("by chance about once in {n} {unit} of this brand's normal activity")
}

/// 12,345 with thin separators.
pub fn count(n: f64) -> String {
    let n = n.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// [`summary`] as HTML, the brand name isolated so a right-to-left name does not reorder
/// the sentence around it.
pub fn summary_html(ev: &Value) -> String {
    let text = esc(&summary(ev));
    let brand = esc(ev["brand_name"].as_str().or(ev["brand"].as_str()).unwrap_or("?"));
    text.replacen(&brand, &format!("<bdi>{brand}</bdi>"), 1)
}

/// What happened, in one sentence, from an alert event.
pub fn summary(ev: &Value) -> String {
    let brand = ev["brand_name"].as_str().or(ev["brand"].as_str()).unwrap_or("?");
    let observed = ev["observed"].as_f64().unwrap_or(0.0);
    let expected = ev["expected"].as_f64().unwrap_or(0.0);
    let minutes = window_minutes(ev);
    let neg = ev["negative_share"].as_f64();
    let usual_neg = ev["baseline_negative_share"].as_f64().unwrap_or(0.0);
    let pct = |x: f64| format!("{:.0}\u{a0}%", x * 100.0);
    let mut s = match ev["metric"].as_str().unwrap_or("") {
        "volume" => format!(
            "{brand} got {} mentions in {minutes} minutes where about {} are usual ({}×)",
            count(observed),
            count(expected),
            ratio(observed, expected)
        ),
        "negative" => format!(
            "{brand} got {} negative mentions in {minutes} minutes where about {} are usual ({}×)",
            count(observed),
            count(expected),
            ratio(observed, expected)
        ),
        "reach" => format!(
            "{brand} got {} mentions by large accounts in {minutes} minutes where about {} are usual ({}×)",
            count(observed),
            count(expected),
            ratio(observed, expected)
        ),
        "flatline" => format!("{brand}'s mention feed went quiet for {minutes} minutes: check the data source"),
        m => format!("{brand}: {m} at {observed} where {expected} is usual"),
    };
    if let Some(n) = neg.filter(|_| ev["metric"] != "flatline") {
        let _ = write!(s, "; {} negative (usually {})", pct(n), pct(usual_neg));
    }
    let reshares = ev["reshares"].as_u64().unwrap_or(0);
    if reshares > 0 {
        let _ = write!(s, "; {} of them re-shares", count(reshares as f64));
    }
    s.push('.');
    s
}

fn ratio(o: f64, e: f64) -> String {
    if e <= 0.0 {
        return "∞".into();
    }
    let r = o / e;
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Length of the event's window in minutes.
pub fn window_minutes(ev: &Value) -> i64 {
    let t = |k: &str| ev[k].as_str().and_then(|s| crate::time::parse_timestamp(s).ok());
    match (t("window_start"), t("window_end")) {
        (Some(a), Some(b)) if b > a => (b - a) / crate::time::MINUTE_MS,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(esc(r#"<script>"a"&'b'"#), "&lt;script&gt;&quot;a&quot;&amp;&#x27;b&#x27;");
    }

    #[test]
    fn odds_in_words() {
        assert_eq!(odds(1.0), "not unusual");
        assert_eq!(odds(f64::NAN), "not unusual");
        assert!(odds(1.0 / 90.0).contains("90 minutes"), "{}", odds(1.0 / 90.0));
        assert!(odds(1.0 / 600.0).contains("10 hours"));
        assert!(odds(1.0 / (1440.0 * 7.0)).contains("7 days"));
        assert!(odds(1e-8).contains("190.1 years"), "{}", odds(1e-8));
    }

    #[test]
    fn one_sentence_per_metric() {
        let ev = json!({"brand_name": "Acme", "metric": "volume", "observed": 240.0, "expected": 40.0,
            "window_start": "2026-01-01T10:00:00Z", "window_end": "2026-01-01T10:15:00Z",
            "negative_share": 0.75, "baseline_negative_share": 0.2, "reshares": 800});
        assert_eq!(
            summary(&ev),
            "Acme got 240 mentions in 15 minutes where about 40 are usual (6.0×); 75\u{a0}% negative (usually 20\u{a0}%); 800 of them re-shares."
        );
        let ev = json!({"brand": "x", "metric": "flatline", "observed": 0.0, "expected": 1250.0,
            "window_start": "2026-01-01T10:00:00Z", "window_end": "2026-01-01T11:00:00Z", "negative_share": 0.3});
        assert_eq!(summary(&ev), "x's mention feed went quiet for 60 minutes: check the data source.");
        let ev = json!({"brand": "x", "metric": "negative", "observed": 82.0, "expected": 45.0,
            "window_start": "2026-01-01T10:00:00Z", "window_end": "2026-01-01T10:15:00Z", "negative_share": 0.5, "baseline_negative_share": 0.27});
        assert_eq!(
            summary(&ev),
            "x got 82 negative mentions in 15 minutes where about 45 are usual (1.8×); 50\u{a0}% negative (usually 27\u{a0}%)."
        );
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!((dir_of("fa"), dir_of("ru")), ("rtl", "ltr"));
    }
}
