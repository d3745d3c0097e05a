//! The Slack message of a notification, as Block Kit (pure): a header (severity and
//! brand), a section with the headline, observed vs usual and the window, the top posts
//! with their links, the suggested first replies, a link to the incident, and in bot-token
//! mode the buttons *Acknowledge*, *Escalate now* and *Mute 1h*; the severity colour on an
//! attachment (Slack's only coloured bar), and a plain `text` fallback for notifications.
//!
//! Every piece of user text is escaped for Slack's mrkdwn (`&`, `<`, `>`: so no `<!channel>`,
//! no disguised link) with bidirectional override controls removed, and cut to Slack's
//! limits: 50 blocks, 3,000 characters per section text, 150 per header, 75 per button.
//! Lengths are counted in UTF-16 code units, which is never fewer than Slack's characters.

use crate::notify::locale::Locale;
use crate::notify::words;
use serde_json::{json, Value};

/// Slack's limit on blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit on a section's text.
pub const MAX_SECTION: usize = 3000;
/// Slack's limit on a header's text.
pub const MAX_HEADER: usize = 150;
/// Slack's limit on a context element's text (kept well under its 3,000).
pub const MAX_CONTEXT: usize = 2000;
/// The fallback `text` is kept to this.
pub const MAX_TEXT: usize = 3000;

/// The `action_id`s of the buttons.
pub const ACK: &str = "crisiswatch_ack";
/// Escalate now.
pub const ESCALATE: &str = "crisiswatch_escalate";
/// Mute for an hour.
pub const MUTE: &str = "crisiswatch_mute_1h";

/// Length as Slack may count it (UTF-16 code units: an emoji counts two).
pub fn len16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to `max` UTF-16 units, with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if len16(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        if n + c.len_utf16() + 1 > max {
            break;
        }
        n += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// User text for mrkdwn: bidi overrides and other controls removed, `&`, `<`, `>` escaped,
/// the result cut to `max` units (never inside an entity).
pub fn escape(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut chars = s.chars().filter(|c| !is_bidi_control(*c) && (*c == '\n' || !c.is_control())).peekable();
    while let Some(c) = chars.next() {
        let piece = match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            c => c.to_string(),
        };
        let w = len16(&piece);
        // room for the ellipsis unless this is the last character
        let reserve = usize::from(chars.peek().is_some());
        if n + w + reserve > max {
            out.push('…');
            return out;
        }
        n += w;
        out.push_str(&piece);
    }
    out
}

/// Plain text (headers, buttons, the fallback): controls removed, cut.
fn plain(s: &str, max: usize) -> String {
    let clean: String = s.chars().filter(|c| !is_bidi_control(*c) && !c.is_control()).collect();
    cut(&clean, max)
}

/// A link in mrkdwn (`<url|label>`), or just the label when `url` is not http(s).
fn link(url: &str, label: &str) -> String {
    let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 1000;
    if !ok {
        return label.to_string();
    }
    let url = url.replace('&', "&amp;").replace('<', "%3C").replace('>', "%3E").replace('|', "%7C");
    format!("<{url}|{label}>")
}

/// The attachment colour of a severity (Slack's `good`/`warning`/`danger` tones).
pub fn colour(kind: &str, severity: &str) -> &'static str {
    match (kind, severity) {
        ("resolved", _) => "#2eb67d",
        ("acknowledged", _) => "#1d9bd1",
        (_, "critical") => "#e01e5a",
        (_, "warning") => "#ecb22e",
        _ => "#868686",
    }
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION)}})
}

/// Renders the message: `{"text", "blocks", "attachments"}`, ready for `chat.postMessage`
/// (with `channel` added) or an incoming webhook. `open_url` is the link to the incident
/// (the signed open link when there is one); `buttons` only in bot-token mode (an incoming
/// webhook's message cannot be acted on).
pub fn render(kind: &str, lead: &Value, related: &[Value], open_url: &str, buttons: bool, loc: &Locale) -> Value {
    let w = words::of(loc.lang);
    let brand = lead["brand_name"].as_str().or(lead["brand"].as_str()).unwrap_or("");
    let severity = lead["severity"].as_str().unwrap_or("");
    let head = match kind {
        "resolved" => format!("✅ {}", w.resolved),
        _ => format!(
            "{} {}",
            match severity {
                "critical" => "🔴",
                "warning" => "🟠",
                _ => "🔵",
            },
            w.severity_name(severity).to_uppercase()
        ),
    };
    let headline = crate::notify::render::headline(lead, w);
    let title = plain(&format!("{head} · {brand}: {headline}"), MAX_HEADER);
    let mut blocks = vec![json!({"type": "header", "text": {"type": "plain_text", "text": title, "emoji": true}})];
    let pct = |k: &str| lead[k].as_f64().map_or("?".to_string(), |x| format!("{:.0}%", x * 100.0));
    let mut summary = format!(
        "*{}*\n{} *{}* ({} {}) · {}\n{} · {} {} ({} {})",
        escape(&headline, 500),
        w.observed,
        crate::notify::render::thousands(lead["observed"].as_f64().unwrap_or(0.0)),
        w.usually_about,
        crate::notify::render::thousands(lead["expected"].as_f64().unwrap_or(0.0)),
        escape(&crate::notify::render::window(lead, loc), 120),
        escape(&crate::notify::render::odds(lead["p_value"].as_f64().unwrap_or(1.0), w), 200),
        w.negative_share,
        pct("negative_share"),
        w.usually,
        pct("baseline_negative_share"),
    );
    if let Some(c) = lead["category"].as_str() {
        summary.push_str(&format!("\n{}: {}", w.category, escape(c, 64)));
    }
    blocks.push(section(&summary));
    if kind != "resolved" {
        let posts: Vec<&Value> = lead["top_posts"].as_array().into_iter().flatten().take(5).collect();
        if !posts.is_empty() {
            blocks.push(json!({"type": "divider"}));
            blocks.push(section(&format!("*{}*", w.top_posts)));
        }
        for p in posts {
            let mut t = format!("> {}", escape(p["text"].as_str().unwrap_or(""), 700).replace('\n', "\n> "));
            let mut by = Vec::new();
            if let Some(a) = p["author"].as_str() {
                by.push(format!("@{}", escape(a, 64)));
            }
            if let Some(s) = p["source"].as_str() {
                by.push(escape(s, 32));
            }
            let reshares = p["reshares"].as_u64().unwrap_or(0);
            if reshares > 0 {
                by.push(words::fill(w.reshared, &[("n", &reshares.to_string())]));
            }
            if let Some(u) = p["url"].as_str() {
                by.push(link(u, "open post"));
            }
            if !by.is_empty() {
                t.push_str(&format!("\n— {}", by.join(" · ")));
            }
            blocks.push(section(&t));
        }
        let drafts: Vec<&Value> = lead["suggested_responses"].as_array().into_iter().flatten().take(3).collect();
        if !drafts.is_empty() {
            blocks.push(json!({"type": "divider"}));
            let mut t = format!("*{}*", w.responses);
            for r in drafts {
                t.push_str(&format!(
                    "\n• _{}_: {}",
                    escape(r["lang"].as_str().unwrap_or(""), 8),
                    escape(r["text"].as_str().unwrap_or(""), 800)
                ));
            }
            blocks.push(section(&t));
        }
        if !related.is_empty() {
            let rules: Vec<String> =
                related.iter().take(10).map(|r| escape(r["rule"].as_str().unwrap_or(""), 64)).collect();
            blocks.push(section(&format!("{}: {}", w.also_open, rules.join(", "))));
        }
    }
    blocks.push(section(&link(open_url, w.open_incident)));
    let id = lead["id"].as_str().unwrap_or("");
    if buttons && kind != "resolved" && !id.is_empty() && id.len() <= 2000 {
        let button = |text: &str, action: &str, style: Option<&str>| {
            let mut b = json!({"type": "button", "text": {"type": "plain_text", "text": text},
                "action_id": action, "value": id});
            if let Some(s) = style {
                b["style"] = json!(s);
            }
            b
        };
        blocks.push(json!({"type": "actions", "block_id": "crisiswatch_actions", "elements": [
            button(w.acknowledge, ACK, Some("primary")),
            button(w.escalate_now, ESCALATE, Some("danger")),
            button(w.mute_1h, MUTE, None),
        ]}));
    }
    fit(&mut blocks);
    let rule = lead["rule"].as_str().unwrap_or("");
    let context = cut(
        &format!(
            "{}: {} · {} `{}` · {}",
            w.severity,
            w.severity_name(severity),
            w.rule,
            escape(rule, 64),
            escape(id, 64)
        ),
        MAX_CONTEXT,
    );
    json!({
        "text": plain(&format!("{head} · {brand}: {headline}"), MAX_TEXT),
        "blocks": blocks,
        "attachments": [{"color": colour(kind, severity), "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}
        ]}],
    })
}

/// Keeps the first blocks and the last two (the link and the buttons) within
/// [`MAX_BLOCKS`].
fn fit(blocks: &mut Vec<Value>) {
    if blocks.len() > MAX_BLOCKS {
        let tail = blocks.split_off(blocks.len() - 2);
        blocks.truncate(MAX_BLOCKS - 2);
        blocks.extend(tail);
    }
}

/// A message for a notice that is not an alert (an ops notice, an unknown body).
pub fn notice(problem: &str) -> Value {
    let text = escape(problem, MAX_SECTION - 16);
    json!({
        "text": plain(&format!("crisiswatch: {problem}"), MAX_TEXT),
        "blocks": [section(&format!(":warning: {text}"))],
    })
}

/// The message after someone acted from it: the same blocks without the buttons, and a
/// context line saying who did what.
pub fn acted(message: &Value, said: &str) -> Value {
    let mut blocks: Vec<Value> = message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] != "actions" && b["block_id"] != "crisiswatch_done")
        .cloned()
        .collect();
    blocks.truncate(MAX_BLOCKS - 1);
    blocks.push(json!({"type": "context", "block_id": "crisiswatch_done",
        "elements": [{"type": "mrkdwn", "text": format!("✅ {}", escape(said, MAX_CONTEXT - 4))}]}));
    let mut out = json!({"text": message["text"].clone(), "blocks": blocks});
    if let Some(a) = message.get("attachments").filter(|a| a.is_array()) {
        out["attachments"] = a.clone();
    }
    out
}

/// The problems of a message against Slack's Block Kit limits and shapes (for tests and
/// the example in `docs/`): unknown block types, too many blocks, texts over their limits.
pub fn problems(message: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let text_ok = |t: &Value, max: usize, what: &str, out: &mut Vec<String>| {
        let s = t["text"].as_str().unwrap_or("");
        if s.is_empty() || len16(s) > max || !matches!(t["type"].as_str(), Some("plain_text" | "mrkdwn")) {
            out.push(format!("{what}: bad text object ({} units)", len16(s)));
        }
    };
    let check = |blocks: &Value, out: &mut Vec<String>| {
        let Some(blocks) = blocks.as_array() else { return };
        if blocks.len() > MAX_BLOCKS {
            out.push(format!("{} blocks", blocks.len()));
        }
        for b in blocks {
            match b["type"].as_str() {
                Some("header") => text_ok(&b["text"], MAX_HEADER, "header", out),
                Some("section") => text_ok(&b["text"], MAX_SECTION, "section", out),
                Some("divider") => {}
                Some("context") => {
                    for e in b["elements"].as_array().into_iter().flatten() {
                        text_ok(e, MAX_SECTION, "context", out);
                    }
                }
                Some("actions") => {
                    for e in b["elements"].as_array().into_iter().flatten() {
                        text_ok(&e["text"], 75, "button", out);
                        if e["type"] != "button" || e["action_id"].as_str().is_none_or(|a| a.len() > 255) {
                            out.push(format!("bad button {e}"));
                        }
                    }
                }
                other => out.push(format!("unknown block type {other:?}")),
            }
        }
    };
    check(&message["blocks"], &mut out);
    for a in message["attachments"].as_array().into_iter().flatten() {
        check(&a["blocks"], &mut out);
    }
    if message["text"].as_str().is_none_or(|t| t.is_empty() || len16(t) > MAX_TEXT) {
        out.push("no fallback text".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile() -> Value {
        let post = format!("<!channel> <b>x</b> & <https://evil|click> \u{202e}nwod\u{202c} {}", "😀".repeat(2600));
        let posts: Vec<Value> = (0..8)
            .map(|i| json!({"text": post, "author": "<@U123>", "url": format!("https://e.com/{i}?a=1&b=|>"), "reshares": 3}))
            .collect();
        json!({"id": "inc-1", "severity": "critical", "brand_name": format!("A<c>me {}", "😀".repeat(200)),
            "rule": "negative-surge", "metric": "negative", "observed": 240.0, "expected": 31.5,
            "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:15:00Z", "p_value": 1e-9,
            "negative_share": 0.64, "baseline_negative_share": 0.19, "top_posts": posts,
            "suggested_responses": [{"lang": "he", "text": format!("סליחה & <3 {}", "😀".repeat(3000))},
                {"lang": "en", "text": "Sorry"}]})
    }

    #[test]
    fn hostile_text_is_escaped_and_within_every_limit() {
        let m =
            render("alert", &hostile(), &[hostile()], "https://cw.example.com/l/x.y?a=1&b=2", true, &Locale::default());
        assert_eq!(problems(&m), Vec::<String>::new(), "{m:#}");
        let all = m.to_string();
        assert!(!all.contains("<!channel>") && !all.contains("<@U123>") && !all.contains("<b>"), "{all}");
        assert!(all.contains("&lt;!channel&gt;") && all.contains("&lt;b&gt;x&lt;/b&gt; &amp;"));
        assert!(!all.contains('\u{202e}') && !all.contains('\u{202c}'), "bidi overrides removed");
        assert!(all.contains("<https://e.com/0?a=1&amp;b=%7C%3E|open post>"), "{all}");
        assert!(all.contains("<https://cw.example.com/l/x.y?a=1&amp;b=2|Open the incident>"));
        let buttons = m["blocks"].as_array().unwrap().last().unwrap();
        assert_eq!(buttons["type"], "actions");
        let ids: Vec<&str> =
            buttons["elements"].as_array().unwrap().iter().map(|b| b["action_id"].as_str().unwrap()).collect();
        assert_eq!(ids, [ACK, ESCALATE, MUTE]);
        assert!(buttons["elements"].as_array().unwrap().iter().all(|b| b["value"] == "inc-1"));
        assert_eq!(m["attachments"][0]["color"], "#e01e5a");
    }

    #[test]
    fn no_buttons_for_a_webhook_or_a_resolution_and_the_block_count_is_capped() {
        let m = render("alert", &hostile(), &[], "https://x", false, &Locale::default());
        assert!(m["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"));
        let r = render("resolved", &hostile(), &[], "https://x", true, &Locale::default());
        assert!(r["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"));
        assert_eq!(r["attachments"][0]["color"], "#2eb67d");
        let mut many: Vec<Value> = (0..80).map(|_| json!({"type": "divider"})).collect();
        many.push(json!({"type": "section"}));
        many.push(json!({"type": "actions"}));
        fit(&mut many);
        assert_eq!(many.len(), MAX_BLOCKS);
        assert_eq!(many[MAX_BLOCKS - 1]["type"], "actions");
    }

    /// `docs/example-slack-message.json` is this rendering of the sample alert
    /// (`CW_WRITE_DOCS=1` writes it again).
    #[test]
    fn the_example_in_docs_is_the_rendered_sample() {
        let now = crate::time::parse_timestamp("2026-03-04T09:30:00Z").unwrap();
        let mut lead = crate::notify::sample_event(now);
        lead["brand_name"] = json!("Acme");
        let open = "https://crisiswatch.example.com/l/eyJpIjoidGVzdC0wMDAwMDAwMDAwMDAwMDAwIiwiYSI6Im8ifQ.c2lnbmF0dXJl";
        let mut m = render("alert", &lead, &[], open, true, &Locale::default());
        m["channel"] = json!("C0123456789");
        assert_eq!(problems(&m), Vec::<String>::new());
        let text = format!("{}\n", serde_json::to_string_pretty(&m).unwrap());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/example-slack-message.json");
        if std::env::var_os("CW_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), text, "CW_WRITE_DOCS=1 rewrites it");
    }

    #[test]
    fn an_acted_message_loses_its_buttons_and_says_who() {
        let m = render("alert", &hostile(), &[], "https://x", true, &Locale::default());
        let a = acted(&m, "Acknowledged by @dana <script> (Slack)");
        assert_eq!(problems(&a), Vec::<String>::new());
        let blocks = a["blocks"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] != "actions"));
        assert!(blocks.last().unwrap().to_string().contains("@dana &lt;script&gt; (Slack)"));
        let again = acted(&a, "Muted for 1 h by @lee (Slack)");
        assert_eq!(
            again["blocks"].as_array().unwrap().iter().filter(|b| b["block_id"] == "crisiswatch_done").count(),
            1
        );
        assert_eq!(problems(&notice(&"<x>".repeat(5000))), Vec::<String>::new());
        assert_eq!(cut("😀😀", 3), "😀…");
    }
}
