//! The render stage for people: subject, plain text and HTML from the templates in
//! `alerts/templates/` (minijinja; the HTML template escapes every value, so post texts with
//! markup, RTL controls or emoji cannot break the message), with the facts put in words:
//! observed against usual, the p-value as odds, negative share now and usually, a response
//! deadline from urgency (severity, the hour, the reach of the loudest author, news sources).

use serde_json::{json, Value};

const SUBJECT: &str = include_str!("../../alerts/templates/email.subject.j2");
const TEXT: &str = include_str!("../../alerts/templates/email.txt.j2");
const HTML: &str = include_str!("../../alerts/templates/email.html.j2");

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

fn env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_template("email.subject.j2", SUBJECT).expect("built-in template parses");
    env.add_template("email.txt.j2", TEXT).expect("built-in template parses");
    env.add_template("email.html.j2", HTML).expect("built-in template parses");
    env
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
pub fn odds(p: f64) -> String {
    if p.is_nan() || p < 1e-12 {
        return "less than a one-in-a-trillion chance under the usual pattern".into();
    }
    let n = 1.0 / p;
    let words = if n >= 1e9 {
        format!("{:.1} billion", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} million", n / 1e6)
    } else {
        thousands(n)
    };
    format!("about a 1-in-{words} chance under the usual pattern")
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

/// The headline: `negative mentions 9x usual (1,240 in 15 min)`.
pub fn headline(ev: &Value) -> String {
    let observed = ev["observed"].as_f64().unwrap_or(0.0);
    let expected = ev["expected"].as_f64().unwrap_or(0.0);
    let minutes = minutes_between(ev["window_start"].as_str().unwrap_or(""), ev["window_end"].as_str().unwrap_or(""));
    let what = match ev["metric"].as_str() {
        Some("negative") => "negative mentions",
        Some("reach") => "mentions by large accounts",
        Some("flatline") => return format!("mentions stopped ({} min of silence)", minutes),
        _ => "mentions",
    };
    if ev["status"] == "resolved" {
        return format!("{what} back to usual");
    }
    let ratio = if expected > 0.0 { observed / expected } else { f64::INFINITY };
    let times = if ratio.is_finite() && ratio >= 1.95 {
        format!("{:.0}x usual", ratio)
    } else if ratio.is_finite() {
        format!("{:.0}% above usual", (ratio - 1.0) * 100.0)
    } else {
        "far above usual".into()
    };
    format!("{what} {times} ({} in {minutes} min)", thousands(observed))
}

/// Renders the email of a notification: `lead` is the most severe incident's latest event,
/// `related` the other incidents of the brand in the same notification; `ack_url` is the
/// signed acknowledge link, `dashboard_url` the incident's page in the dashboard.
pub fn email(
    kind: &str,
    lead: &Value,
    related: &[Value],
    ack_url: &str,
    dashboard_url: &str,
    chart: Option<&[u8]>,
) -> Message {
    let share = |v: &Value| v.as_f64().map(|x| format!("{:.0}%", x * 100.0));
    let posts: Vec<Value> = lead["top_posts"].as_array().cloned().unwrap_or_default();
    let terms: Vec<String> = lead["top_terms"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["term"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    let at = lead["at"].as_str().unwrap_or("");
    let respond_by = crate::time::parse_timestamp(at)
        .map(|t| {
            format!("{} UTC", &crate::time::format_rfc3339(t + response_minutes(lead) * 60_000)[..16].replace('T', " "))
        })
        .unwrap_or_default();
    let brand = lead["brand_name"].as_str().or(lead["brand"].as_str()).unwrap_or("").to_string();
    let headline = headline(lead);
    let summary = match kind {
        "resolved" => format!("The {} incident for {brand} is over: {headline}.", lead["rule"].as_str().unwrap_or("")),
        "escalated" => {
            format!("The incident for {brand} got worse ({}): {headline}.", lead["severity"].as_str().unwrap_or(""))
        }
        _ => format!("{brand} is getting unusual attention: {headline}, and it is statistically real, not noise."),
    };
    let ctx = json!({
        "id": lead["id"], "rule": lead["rule"], "status": lead["status"], "severity": lead["severity"],
        "category": lead["category"], "brand_name": brand, "headline": headline, "summary": summary,
        "observed": thousands(lead["observed"].as_f64().unwrap_or(0.0)),
        "expected": format!("{:.1}", lead["expected"].as_f64().unwrap_or(0.0)),
        "window_start": lead["window_start"], "window_end": lead["window_end"],
        "odds": odds(lead["p_value"].as_f64().unwrap_or(1.0)),
        "negative_share": share(&lead["negative_share"]), "baseline_negative_share": share(&lead["baseline_negative_share"]),
        "respond_by": respond_by, "top_posts": posts, "top_terms": terms,
        "responses": if kind == "resolved" { Value::Array(Vec::new()) } else { lead["suggested_responses"].clone() },
        "related": related, "sources": lead["sources"], "ack_url": ack_url, "dashboard_url": dashboard_url, "chart_cid": if chart.is_some() { json!("chart") } else { Value::Null },
    });
    let env = env();
    let render = |name: &str| {
        env.get_template(name).and_then(|t| t.render(&ctx)).unwrap_or_else(|e| format!("(template {name} failed: {e})"))
    };
    let subject = render("email.subject.j2").lines().next().unwrap_or("").trim().to_string();
    let subject = if kind == "resolved" {
        subject.replacen(&format!("[{}]", lead["severity"].as_str().unwrap_or("").to_uppercase()), "[RESOLVED]", 1)
    } else {
        subject
    };
    use base64::Engine as _;
    let chart_png = chart.map(|c| base64::engine::general_purpose::STANDARD.encode(c));
    Message { subject, text: render("email.txt.j2"), html: render("email.html.j2"), chart_png }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({
            "id": "abc", "rule": "negative-surge", "status": "firing", "severity": "critical", "category": "outage",
            "brand": "acme", "brand_name": "Acme", "metric": "negative", "at": "2026-03-04T10:15:00Z",
            "window_start": "2026-03-04T10:00:00Z", "window_end": "2026-03-04T10:15:00Z",
            "observed": 1240.0, "expected": 137.8, "p_value": 3.1e-9, "negative_share": 0.62, "baseline_negative_share": 0.18,
            "top_posts": [{"id": "1", "text": "<script>alert(1)</script> & \u{202e}evil", "author": "big", "author_followers": 250000,
                           "url": "https://x.example/1", "source": "twitter", "reshares": 800, "negative": true}],
            "top_terms": [{"term": "down", "score": 40.0}],
            "suggested_responses": [{"lang": "en", "text": "We're sorry <3"}],
            "sources": [["twitter", 900], ["news", 3]],
        })
    }

    #[test]
    fn subject_says_what_happened_in_numbers() {
        let m = email("alert", &event(), &[], "http://h/l/abc.sig", "http://h/incidents/abc", None);
        assert_eq!(m.subject, "[CRITICAL] Acme: negative mentions 9x usual (1,240 in 15 min)");
        assert!(m.text.contains("1-in-322.6 million") || m.text.contains("million"), "{}", m.text);
        assert!(m.text.contains("62%") && m.text.contains("18%"));
        assert!(m.text.contains("1 post re-shared 800 times"));
        assert!(m.text.contains("Sources: twitter 900 · news 3"), "{}", m.text);
        assert!(m.text.contains("Respond by: 2026-03-04 10:26 UTC"), "{}", m.text);
    }

    #[test]
    fn html_escapes_post_text() {
        let m = email("alert", &event(), &[], "http://h/l/abc.sig", "http://h/incidents/abc", None);
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
        let m = email("alert", &ev, &[], "http://h/l/abc.sig", "http://h/incidents/abc", None);
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
}
