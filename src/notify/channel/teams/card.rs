//! The Teams message of a notification, as an Adaptive Card (pure): the message a workflow
//! webhook takes (`{"type": "message", "attachments": [{"contentType":
//! "application/vnd.microsoft.card.adaptive", "content": <card>}]}`), the card holding a
//! banner in the severity's colour (`attention`, `warning`, `good` when resolved) with the
//! severity, the brand and the headline; observed vs usual, the window, the odds and the
//! negative share as facts; the top posts, each with an *Open post* button; the suggested
//! first replies (drafts); and the card's actions *Open in dashboard* and *Acknowledge*
//! (`Action.OpenUrl` to the signed links). A link that is not an absolute http(s) URL to an
//! address people can open is left out, never sent broken.
//!
//! Every piece of outside text (posts, authors, drafts, brand and rule names) goes into
//! `TextRun`s of a `RichTextBlock`, which Adaptive Cards show as plain text (no markdown, so
//! no `[disguised](links)`, no `**` or `_` formatting), with control and bidirectional
//! override characters removed, `{{` broken (no `{{DATE(…)}}` substitution) and each piece
//! cut to a length; the only markdown-capable fields used (`TextBlock`s, facts) carry our
//! own words, and facts lose markdown's characters anyway. Links are parsed and
//! re-serialised URLs in `Action.OpenUrl`, never markdown. The whole message is kept under
//! Teams' 28 KB: the top posts go first, then the drafts, then the related incidents.

use serde_json::{json, Value};

/// The most a message may weigh, in bytes of its JSON (Teams refuses messages over about
/// 28 KB).
pub const MAX_PAYLOAD: usize = 28_000;
/// The most top posts shown.
pub const MAX_POSTS: usize = 5;
/// A post's text is cut to this many characters.
pub const MAX_POST: usize = 1000;
/// The most drafts shown.
pub const MAX_DRAFTS: usize = 3;
/// A draft is cut to this many characters.
pub const MAX_DRAFT: usize = 1000;
/// The most related incidents named.
pub const MAX_RELATED: usize = 10;
/// A link longer than this is left out.
pub const MAX_URL: usize = 2048;
/// The card schema version (Teams renders up to 1.5; 1.4 is what workflows document).
pub const VERSION: &str = "1.4";
/// The card's `$schema`.
pub const SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
/// The attachment's content type.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// The links a card carries, each only when usable (see [`usable_link`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// The incident, read-only (the signed open link, or the dashboard page).
    pub open: Option<String>,
    /// Acknowledges the incident (the signed acknowledge link).
    pub ack: Option<String>,
}

impl Links {
    /// The links of a message, each kept only when [`usable_link`] says so.
    pub fn checked(open: &str, ack: &str) -> Links {
        Links { open: usable_link(open), ack: usable_link(ack) }
    }
}

/// `url` re-serialised when it is an absolute `http(s)` URL with a host people can open
/// (not `0.0.0.0` or `[::]`) and at most [`MAX_URL`] long; `None` otherwise, so that a card
/// never carries a broken link (an unset or relative `public_url`, a post without a link).
pub fn usable_link(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url.trim()).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
    let unspecified = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    let ok = matches!(u.scheme(), "http" | "https") && !host.is_empty() && !unspecified;
    let s = u.to_string();
    (ok && s.len() <= MAX_URL).then_some(s)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Outside text for a `TextRun`: control and bidirectional override characters removed
/// (newlines kept when `lines`), `{{` broken with a zero-width space, cut to `max`
/// characters with `…`.
pub fn plain(s: &str, max: usize, lines: bool) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut prev = '\0';
    let mut chars = s.chars().filter(|c| !is_bidi_control(*c) && ((lines && *c == '\n') || !c.is_control())).peekable();
    while let Some(c) = chars.next() {
        if n + 1 > max || (n + 1 == max && chars.peek().is_some()) {
            out.push('…');
            return out;
        }
        if c == '{' && prev == '{' {
            out.push('\u{200b}');
        }
        out.push(c);
        prev = c;
        n += 1;
    }
    out
}

/// Our own words for a fact (markdown-capable in Teams): markdown's characters dropped
/// (parentheses stay: without brackets they make no link).
fn fact(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !"*_[]`~#<>|{}\\!".contains(*c)).collect();
    plain(&clean, 200, false)
}

fn run(text: String) -> Value {
    json!({"type": "TextRun", "text": text})
}

fn rich(inlines: Vec<Value>) -> Value {
    json!({"type": "RichTextBlock", "inlines": inlines})
}

fn heading(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "wrap": true, "separator": true, "spacing": "Medium"})
}

fn open_url(title: &str, url: &str) -> Value {
    json!({"type": "Action.OpenUrl", "title": title, "url": url})
}

/// The colour of a notification: `attention` (critical), `warning`, `good` (resolved), else
/// `accent`. Used as the banner's container style and its text colour.
pub fn colour(kind: &str, severity: &str) -> &'static str {
    match (kind, severity) {
        ("resolved", _) => "good",
        (_, "critical") => "attention",
        (_, "warning") => "warning",
        _ => "accent",
    }
}

/// How much of the optional content a card shows.
#[derive(Debug, Clone, Copy)]
struct Amounts {
    posts: usize,
    drafts: usize,
    related: usize,
}

/// The message of a notification: `kind` (`alert`, `escalated`, `resolved`, `test`), `lead`
/// the most severe incident's latest event, `related` the brand's other incidents in it.
/// Within [`MAX_PAYLOAD`].
pub fn render(kind: &str, lead: &Value, related: &[Value], links: &Links) -> Value {
    render_within(kind, lead, related, links, MAX_PAYLOAD)
}

/// [`render`] within `max` bytes: the top posts are dropped from the last first, then the
/// drafts, then the related incidents, until the message fits (the rest is bounded).
pub fn render_within(kind: &str, lead: &Value, related: &[Value], links: &Links, max: usize) -> Value {
    let count = |k: &str, cap: usize| lead[k].as_array().map_or(0, Vec::len).min(cap);
    let mut a = Amounts {
        posts: if kind == "resolved" { 0 } else { count("top_posts", MAX_POSTS) },
        drafts: if kind == "resolved" { 0 } else { count("suggested_responses", MAX_DRAFTS) },
        related: if kind == "resolved" { 0 } else { related.len().min(MAX_RELATED) },
    };
    loop {
        let m = build(kind, lead, related, links, a);
        if m.to_string().len() <= max {
            return m;
        }
        if a.posts > 0 {
            a.posts -= 1;
        } else if a.drafts > 0 {
            a.drafts -= 1;
        } else if a.related > 0 {
            a.related = 0;
        } else {
            return m;
        }
    }
}

fn build(kind: &str, lead: &Value, related: &[Value], links: &Links, a: Amounts) -> Value {
    let brand = lead["brand_name"].as_str().or(lead["brand"].as_str()).unwrap_or("");
    let severity = lead["severity"].as_str().unwrap_or("");
    let colour = colour(kind, severity);
    let sev = severity.to_uppercase();
    let status = match kind {
        "resolved" => "✅ RESOLVED".to_string(),
        "escalated" => format!("⬆ ESCALATED to {sev}"),
        "test" => format!("🧪 TEST · {sev}"),
        _ => match severity {
            "critical" => format!("🔴 {sev}"),
            "warning" => format!("🟠 {sev}"),
            _ => format!("🔵 {sev}"),
        },
    };
    let headline = crate::notify::render::headline(lead, crate::notify::words::of(Default::default()));
    let banner = json!({"type": "Container", "style": colour, "bleed": true, "items": [
        rich(vec![json!({"type": "TextRun", "text": plain(&format!("{status} · {brand}"), 200, false),
            "size": "Large", "weight": "Bolder", "color": colour})]),
        rich(vec![json!({"type": "TextRun", "text": plain(&headline, 300, false), "weight": "Bolder"})]),
    ]});
    let mut body = vec![banner];
    let pct = |k: &str| lead[k].as_f64().map_or("?".to_string(), |x| format!("{:.0}%", x * 100.0));
    let time = |k: &str| {
        let t = lead[k].as_str().unwrap_or("?");
        t.get(..16).unwrap_or(t).replace('T', " ")
    };
    let mut facts = vec![
        ("Observed", crate::notify::render::thousands(lead["observed"].as_f64().unwrap_or(0.0))),
        ("Usual", format!("{:.1}", lead["expected"].as_f64().unwrap_or(0.0))),
        ("Window", format!("{} → {} UTC", time("window_start"), time("window_end"))),
        (
            "Chance",
            crate::notify::render::odds(
                lead["p_value"].as_f64().unwrap_or(1.0),
                crate::notify::words::of(Default::default()),
            ),
        ),
        ("Negative share", format!("{} (usually {})", pct("negative_share"), pct("baseline_negative_share"))),
    ];
    if let Some(c) = lead["category"].as_str() {
        facts.push(("Category", c.to_string()));
    }
    let facts: Vec<Value> = facts.iter().map(|(t, v)| json!({"title": t, "value": fact(v)})).collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    let posts: Vec<&Value> = lead["top_posts"].as_array().into_iter().flatten().take(a.posts).collect();
    if !posts.is_empty() {
        body.push(heading("Top posts"));
    }
    for p in posts {
        let mut items = vec![rich(vec![
            json!({"type": "TextRun", "text": plain(p["text"].as_str().unwrap_or(""), MAX_POST, true), "italic": true}),
        ])];
        let mut by = Vec::new();
        if let Some(au) = p["author"].as_str() {
            by.push(format!("@{}", plain(au, 64, false)));
        }
        if let Some(s) = p["source"].as_str() {
            by.push(plain(s, 32, false));
        }
        let reshares = p["reshares"].as_u64().unwrap_or(0);
        if reshares > 0 {
            by.push(format!("1 post re-shared {reshares} times"));
        }
        if !by.is_empty() {
            items.push(rich(vec![
                json!({"type": "TextRun", "text": by.join(" · "), "isSubtle": true, "size": "Small"}),
            ]));
        }
        if let Some(u) = p["url"].as_str().and_then(usable_link) {
            items.push(json!({"type": "ActionSet", "actions": [open_url("Open post", &u)]}));
        }
        body.push(json!({"type": "Container", "separator": true, "items": items}));
    }
    let drafts: Vec<&Value> = lead["suggested_responses"].as_array().into_iter().flatten().take(a.drafts).collect();
    if !drafts.is_empty() {
        body.push(heading("Suggested first replies (drafts)"));
    }
    for r in drafts {
        body.push(rich(vec![
            json!({"type": "TextRun", "text": format!("{}: ", plain(r["lang"].as_str().unwrap_or("?"), 8, false)), "weight": "Bolder"}),
            run(plain(r["text"].as_str().unwrap_or(""), MAX_DRAFT, true)),
        ]));
    }
    if a.related > 0 {
        let rules: Vec<String> =
            related.iter().take(a.related).map(|r| plain(r["rule"].as_str().unwrap_or(""), 64, false)).collect();
        body.push(rich(vec![run(format!("Also open for this brand: {}", rules.join(", ")))]));
    }
    if links.open.is_none() && links.ack.is_none() {
        let note = "No links: [notify] public_url is not an address people can open.";
        body.push(rich(vec![json!({"type": "TextRun", "text": note, "isSubtle": true, "size": "Small"})]));
    }
    let id = lead["id"].as_str().unwrap_or("");
    let rule = lead["rule"].as_str().unwrap_or("");
    body.push(rich(vec![json!({"type": "TextRun",
        "text": format!("Severity: {} · rule {} · {}", plain(severity, 16, false), plain(rule, 64, false), plain(id, 64, false)),
        "isSubtle": true, "size": "Small"})]));
    let mut actions = Vec::new();
    if let Some(u) = &links.open {
        actions.push(open_url("Open in dashboard", u));
    }
    if let (Some(u), false) = (&links.ack, kind == "resolved") {
        let mut ack = open_url("Acknowledge", u);
        ack["style"] = json!("positive");
        actions.push(ack);
    }
    let fallback = plain(&format!("{status} · {brand}: {headline}"), 300, false);
    message(body, actions, &fallback)
}

/// The envelope a workflow webhook takes around a card of `body` and `actions`.
fn message(body: Vec<Value>, actions: Vec<Value>, fallback: &str) -> Value {
    let mut card = json!({
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": VERSION,
        "fallbackText": fallback,
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": null, "content": card}]})
}

/// A message for a notice that is not an alert (an ops notice, an unknown body).
pub fn notice(problem: &str) -> Value {
    let text = plain(problem, 4000, true);
    message(
        vec![
            json!({"type": "TextBlock", "text": "⚠ crisiswatch", "weight": "Bolder", "color": "warning", "wrap": true}),
            rich(vec![run(text)]),
        ],
        Vec::new(),
        &plain(&format!("crisiswatch: {problem}"), 300, false),
    )
}

/// The problems of a message against the workflow envelope and the Adaptive Card shapes
/// used here (for tests and the example in `docs/`): the envelope, the card's required
/// fields, unknown element types, empty texts, actions without an absolute http(s) URL, and
/// the size.
pub fn problems(message: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let size = message.to_string().len();
    if size > MAX_PAYLOAD {
        out.push(format!("{size} bytes, over {MAX_PAYLOAD}"));
    }
    if message["type"] != "message" {
        out.push("envelope `type` is not `message`".into());
    }
    let attachments = message["attachments"].as_array().cloned().unwrap_or_default();
    if attachments.len() != 1 {
        out.push(format!("{} attachments", attachments.len()));
    }
    for att in &attachments {
        if att["contentType"] != CONTENT_TYPE || !att["contentUrl"].is_null() {
            out.push(format!("attachment `contentType` {} / `contentUrl` {}", att["contentType"], att["contentUrl"]));
        }
        let card = &att["content"];
        if card["type"] != "AdaptiveCard" || card["version"] != VERSION || card["$schema"] != SCHEMA {
            out.push("card `type`, `version` or `$schema` missing".into());
        }
        match card["body"].as_array() {
            Some(b) if !b.is_empty() => b.iter().for_each(|e| element(e, &mut out)),
            _ => out.push("card without a body".into()),
        }
        for act in card["actions"].as_array().into_iter().flatten() {
            action(act, &mut out);
        }
    }
    out
}

fn action(a: &Value, out: &mut Vec<String>) {
    let url = a["url"].as_str().unwrap_or("");
    if a["type"] != "Action.OpenUrl" || a["title"].as_str().is_none_or(str::is_empty) || usable_link(url).is_none() {
        out.push(format!("bad action {a}"));
    }
}

fn element(e: &Value, out: &mut Vec<String>) {
    match e["type"].as_str() {
        Some("TextBlock") => {
            if e["text"].as_str().is_none_or(str::is_empty) {
                out.push("empty TextBlock".into());
            }
        }
        Some("RichTextBlock") => {
            let inlines = e["inlines"].as_array().cloned().unwrap_or_default();
            if inlines.is_empty() || inlines.iter().any(|i| i["type"] != "TextRun" || !i["text"].is_string()) {
                out.push(format!("bad RichTextBlock {e}"));
            }
        }
        Some("FactSet") => {
            let facts = e["facts"].as_array().cloned().unwrap_or_default();
            if facts.is_empty() || facts.iter().any(|f| !f["title"].is_string() || !f["value"].is_string()) {
                out.push("bad FactSet".into());
            }
        }
        Some("Container") => match e["items"].as_array() {
            Some(items) if !items.is_empty() => items.iter().for_each(|i| element(i, out)),
            _ => out.push("empty Container".into()),
        },
        Some("ActionSet") => match e["actions"].as_array() {
            Some(acts) if !acts.is_empty() => acts.iter().for_each(|a| action(a, out)),
            _ => out.push("empty ActionSet".into()),
        },
        other => out.push(format!("unknown element type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &str = "https://cw.example.com/l/eyJpIjoiaW5jLTEifQ.c2ln";
    const ACK: &str = "https://cw.example.com/l/eyJpIjoiaW5jLTEiLCJhIjoiYWNrIn0.c2ln";

    fn links() -> Links {
        Links::checked(OPEN, ACK)
    }

    /// Markdown, a disguised link, a mention tag, a date substitution, bidi overrides, a
    /// control character and 4 KB of emoji in every post; eight posts, hostile drafts.
    fn hostile() -> Value {
        let post = format!(
            "[click me](https://evil.example) **bold** _it_ <at>everyone</at> {{{{DATE(2017-02-14T06:08:39Z, SHORT)}}}} \
             \u{202e}nwod\u{202c}\u{7}\n> quote {}",
            "😀".repeat(1000)
        );
        let posts: Vec<Value> = (0..8)
            .map(|i| {
                let url = if i == 1 { "javascript:alert(1)".to_string() } else { format!("https://e.example/{i}?a=(1)&b=[2] x") };
                json!({"text": format!("#{i} {post}"), "author": "**admin**](x)", "source": "twitter", "url": url, "reshares": 3})
            })
            .collect();
        json!({"id": "inc-1", "severity": "critical", "brand_name": format!("A*c*me [x](y) {}", "😀".repeat(300)),
            "rule": "negative_surge", "metric": "negative", "observed": 240.0, "expected": 31.5,
            "window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:15:00Z", "p_value": 1e-9,
            "negative_share": 0.64, "baseline_negative_share": 0.19, "category": "out_age*", "top_posts": posts,
            "suggested_responses": [
                {"lang": "he", "text": format!("סליחה [x](y) {}", "😀".repeat(3000))},
                {"lang": "en**", "text": format!("Sorry **{}", "😀".repeat(3000))},
                {"lang": "fa", "text": format!("ببخشید {}", "😀".repeat(3000))},
                {"lang": "ru", "text": "never shown: three at most"}]})
    }

    fn card(m: &Value) -> &Value {
        &m["attachments"][0]["content"]
    }

    /// Every string of the card that Teams may read as markdown (`TextBlock` texts, facts),
    /// and every `TextRun` text.
    fn texts(v: &Value, markdown: &mut Vec<String>, runs: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                match o.get("type").and_then(Value::as_str) {
                    Some("TextBlock") => markdown.push(o["text"].as_str().unwrap_or("").to_string()),
                    Some("TextRun") => runs.push(o["text"].as_str().unwrap_or("").to_string()),
                    _ => {}
                }
                if let (Some(t), Some(val)) = (o.get("title"), o.get("value")) {
                    markdown.push(format!("{} {}", t.as_str().unwrap_or(""), val.as_str().unwrap_or("")));
                }
                o.values().for_each(|x| texts(x, markdown, runs));
            }
            Value::Array(a) => a.iter().for_each(|x| texts(x, markdown, runs)),
            _ => {}
        }
    }

    fn posts_shown(m: &Value) -> Vec<String> {
        card(m)["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "Container" && e["separator"] == true)
            .map(|e| e["items"][0]["inlines"][0]["text"].as_str().unwrap().to_string())
            .collect()
    }

    fn drafts_shown(m: &Value) -> usize {
        card(m)["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "RichTextBlock" && e["inlines"].as_array().unwrap().len() == 2)
            .count()
    }

    #[test]
    fn the_envelope_and_the_card_have_every_required_field() {
        let now = crate::time::parse_timestamp("2026-03-04T09:30:00Z").unwrap();
        let m = render("alert", &crate::notify::sample_event(now), &[], &links());
        assert_eq!(problems(&m), Vec::<String>::new(), "{m:#}");
        let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["attachments", "type"]);
        assert_eq!(m["type"], "message");
        let att = &m["attachments"][0];
        assert_eq!(att["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(att.as_object().unwrap().contains_key("contentUrl") && att["contentUrl"].is_null());
        let c = card(&m);
        assert_eq!((c["type"].as_str(), c["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
        assert_eq!(c["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
        assert_eq!(c["body"][0]["style"], "warning", "the sample is a warning");
        let actions: Vec<(&str, &str)> = c["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["title"].as_str().unwrap(), a["url"].as_str().unwrap()))
            .collect();
        assert_eq!(actions, [("Open in dashboard", OPEN), ("Acknowledge", ACK)]);
        let all = m.to_string();
        assert!(all.contains("Acme (TEST)") && all.contains("negative mentions 8x usual (240 in 15 min)"), "{all}");
        assert!(
            all.contains("\"title\":\"Observed\",\"value\":\"240\"") && all.contains("\"value\":\"31.5\""),
            "{all}"
        );
        assert!(all.contains("https://example.com/post/1") && all.contains("Open post"), "{all}");
        assert!(all.contains("(test) We're sorry"), "the draft: {all}");
    }

    #[test]
    fn hostile_text_is_plain_and_within_every_limit() {
        let m = render("alert", &hostile(), &[hostile(), hostile()], &links());
        assert_eq!(problems(&m), Vec::<String>::new(), "{m:#}");
        assert!(m.to_string().len() <= MAX_PAYLOAD);
        let (mut markdown, mut runs) = (Vec::new(), Vec::new());
        texts(&m, &mut markdown, &mut runs);
        for t in &markdown {
            assert!(!t.contains(['[', ']', '*', '_', '<', '{']), "markdown-capable text is ours only: {t:?}");
            assert!(!t.contains("evil") && !t.contains("admin"), "{t:?}");
        }
        assert!(runs.iter().any(|r| r.contains("[click me](https://evil.example) **bold** _it_")), "shown as written");
        for r in &runs {
            assert!(!r.contains(['\u{202e}', '\u{202c}', '\u{7}']), "controls removed: {r:?}");
            assert!(!r.contains("{{"), "no date substitution: {r:?}");
            assert!(r.chars().count() <= MAX_POST.max(MAX_DRAFT) + 10, "cut: {}", r.chars().count());
        }
        // links are parsed URLs in actions, never markdown; a javascript: link is dropped
        let all = m.to_string();
        assert!(!all.contains("javascript:"), "{all}");
        assert!(all.contains("\"url\":\"https://e.example/0?a=(1)&b=[2]%20x\""), "re-serialised: {all}");
    }

    #[test]
    fn the_top_posts_go_first_then_the_drafts_to_stay_under_the_size_cap() {
        let m = render("alert", &hostile(), &[], &links());
        let posts = posts_shown(&m);
        assert!(!posts.is_empty() && posts.len() < MAX_POSTS, "some posts dropped: {}", posts.len());
        assert!(posts[0].starts_with("#0 "), "the first post is kept: {}", &posts[0][..10]);
        assert_eq!(drafts_shown(&m), MAX_DRAFTS, "drafts kept while posts can go");
        // a tighter cap: every post goes, then drafts
        let m = render_within("alert", &hostile(), &[], &links(), 9_000);
        assert_eq!(problems(&m).into_iter().filter(|p| !p.contains("bytes")).count(), 0);
        assert!(m.to_string().len() <= 9_000, "{}", m.to_string().len());
        assert!(posts_shown(&m).is_empty());
        assert!(drafts_shown(&m) < MAX_DRAFTS);
        // the headline and the actions stay whatever the cap
        let m = render_within("alert", &hostile(), &[hostile()], &links(), 1);
        assert_eq!(card(&m)["actions"].as_array().unwrap().len(), 2);
        assert!(m.to_string().len() < 8_000, "bounded without posts and drafts: {}", m.to_string().len());
    }

    #[test]
    fn resolved_and_escalated_cards_say_so_and_a_resolution_has_no_acknowledge() {
        let r = render("resolved", &hostile(), &[hostile()], &links());
        assert_eq!(card(&r)["body"][0]["style"], "good");
        let titles: Vec<&str> =
            card(&r)["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Open in dashboard"]);
        assert!(posts_shown(&r).is_empty() && r.to_string().contains("RESOLVED"));
        let e = render("escalated", &hostile(), &[], &links());
        assert_eq!(card(&e)["body"][0]["style"], "attention");
        assert!(e.to_string().contains("ESCALATED to CRITICAL"));
        assert_eq!(problems(&notice(&"<x> [y](z) ".repeat(2000))), Vec::<String>::new());
    }

    #[test]
    fn links_people_cannot_open_are_left_out() {
        for bad in ["", "/incidents/x", "http://0.0.0.0:8686/l/x", "http://[::]:8686/l/x", "ftp://h/x", "javascript:x"]
        {
            assert_eq!(usable_link(bad), None, "{bad}");
        }
        assert_eq!(usable_link(&format!("https://h/{}", "a".repeat(MAX_URL))), None, "too long");
        assert_eq!(usable_link("http://127.0.0.1:8686/l/a.b").as_deref(), Some("http://127.0.0.1:8686/l/a.b"));
        let m = render("alert", &hostile(), &[], &Links::checked("http://0.0.0.0:1/l/x", "/l/y"));
        assert_eq!(problems(&m), Vec::<String>::new());
        assert!(card(&m).get("actions").is_none(), "no broken actions");
        assert!(m.to_string().contains("No links: [notify] public_url"));
        assert_eq!(plain("😀😀😀", 2, false), "😀…");
        assert_eq!(plain("a{{b}}", 10, false), "a{\u{200b}{b}}");
        assert_eq!(plain("a\nb\u{202e}", 10, false), "ab");
    }

    /// `docs/example-teams-message.json` is this rendering of the sample alert
    /// (`CW_WRITE_DOCS=1` writes it again).
    #[test]
    fn the_example_in_docs_is_the_rendered_sample() {
        let now = crate::time::parse_timestamp("2026-03-04T09:30:00Z").unwrap();
        let mut lead = crate::notify::sample_event(now);
        lead["brand_name"] = json!("Acme");
        let m = render("alert", &lead, &[], &links());
        assert_eq!(problems(&m), Vec::<String>::new());
        let text = format!("{}\n", serde_json::to_string_pretty(&m).unwrap());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/example-teams-message.json");
        if std::env::var_os("CW_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), text, "CW_WRITE_DOCS=1 rewrites it");
    }
}
