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
//!
//! The card is in the receiver's language and time zone ([`Locale`]): its fixed wording
//! from [`words`], the window in the zone with the zone shown, and for Hebrew, Persian and
//! Arabic the card marked right to left (`"rtl": true`, which Adaptive Cards have since
//! schema 1.5, so such a card declares [`VERSION_RTL`]; the others stay at [`VERSION`]).

use crate::notify::locale::Locale;
use crate::notify::words;
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
/// The schema version of a right-to-left card: `rtl` came with 1.5.
pub const VERSION_RTL: &str = "1.5";
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

/// Our own words for a fact (markdown-capable in Teams): markdown's characters dropped,
/// `_` made a space (`America/New_York`, `positive_viral` stay readable); parentheses stay:
/// without brackets they make no link.
fn fact(s: &str) -> String {
    let clean: String =
        s.chars().filter(|c| !"*[]`~#<>|{}\\!".contains(*c)).map(|c| if c == '_' { ' ' } else { c }).collect();
    plain(&clean, 200, false)
}

/// `s` with its first letter in upper case (a label made of a phrase in lower case).
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
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
/// the most severe incident's latest event, `related` the brand's other incidents in it; in
/// `loc`'s language and zone. Within [`MAX_PAYLOAD`].
pub fn render(kind: &str, lead: &Value, related: &[Value], links: &Links, loc: &Locale) -> Value {
    render_within(kind, lead, related, links, loc, MAX_PAYLOAD)
}

/// [`render`] within `max` bytes: the top posts are dropped from the last first, then the
/// drafts, then the related incidents, until the message fits (the rest is bounded).
pub fn render_within(kind: &str, lead: &Value, related: &[Value], links: &Links, loc: &Locale, max: usize) -> Value {
    let count = |k: &str, cap: usize| lead[k].as_array().map_or(0, Vec::len).min(cap);
    let mut a = Amounts {
        posts: if kind == "resolved" { 0 } else { count("top_posts", MAX_POSTS) },
        drafts: if kind == "resolved" { 0 } else { count("suggested_responses", MAX_DRAFTS) },
        related: if kind == "resolved" { 0 } else { related.len().min(MAX_RELATED) },
    };
    loop {
        let m = build(kind, lead, related, links, loc, a);
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

fn build(kind: &str, lead: &Value, related: &[Value], links: &Links, loc: &Locale, a: Amounts) -> Value {
    let w = words::of(loc.lang);
    let brand = lead["brand_name"].as_str().or(lead["brand"].as_str()).unwrap_or("");
    let severity = lead["severity"].as_str().unwrap_or("");
    let colour = colour(kind, severity);
    let sev = w.severity_name(severity).to_uppercase();
    let status = match kind {
        "resolved" => format!("✅ {}", w.resolved),
        "escalated" => format!("⬆ {}", words::fill(w.escalated_to, &[("severity", &sev)])),
        "test" => format!("🧪 {} · {sev}", w.test),
        _ => match severity {
            "critical" => format!("🔴 {sev}"),
            "warning" => format!("🟠 {sev}"),
            _ => format!("🔵 {sev}"),
        },
    };
    let headline = crate::notify::render::headline(lead, w);
    let banner = json!({"type": "Container", "style": colour, "bleed": true, "items": [
        rich(vec![json!({"type": "TextRun", "text": plain(&format!("{status} · {brand}"), 200, false),
            "size": "Large", "weight": "Bolder", "color": colour})]),
        rich(vec![json!({"type": "TextRun", "text": plain(&headline, 300, false), "weight": "Bolder"})]),
    ]});
    let mut body = vec![banner];
    let pct = |k: &str| lead[k].as_f64().map_or("?".to_string(), |x| format!("{:.0}%", x * 100.0));
    let window = crate::notify::render::window(lead, loc);
    let mut facts = vec![
        (w.observed.to_string(), crate::notify::render::thousands(lead["observed"].as_f64().unwrap_or(0.0))),
        (w.usual.to_string(), format!("{:.1}", lead["expected"].as_f64().unwrap_or(0.0))),
        (w.window.to_string(), if window.is_empty() { "?".to_string() } else { window }),
        (w.chance.to_string(), crate::notify::render::odds(lead["p_value"].as_f64().unwrap_or(1.0), w)),
        (
            capitalised(w.negative_share),
            format!("{} ({} {})", pct("negative_share"), w.usually, pct("baseline_negative_share")),
        ),
    ];
    if let Some(c) = lead["category"].as_str() {
        facts.push((w.category.to_string(), c.to_string()));
    }
    let facts: Vec<Value> = facts.iter().map(|(t, v)| json!({"title": fact(t), "value": fact(v)})).collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    let posts: Vec<&Value> = lead["top_posts"].as_array().into_iter().flatten().take(a.posts).collect();
    if !posts.is_empty() {
        body.push(heading(w.top_posts));
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
            by.push(words::fill(w.reshared, &[("n", &reshares.to_string())]));
        }
        if !by.is_empty() {
            items.push(rich(vec![
                json!({"type": "TextRun", "text": by.join(" · "), "isSubtle": true, "size": "Small"}),
            ]));
        }
        if let Some(u) = p["url"].as_str().and_then(usable_link) {
            items.push(json!({"type": "ActionSet", "actions": [open_url(w.open_post, &u)]}));
        }
        body.push(json!({"type": "Container", "separator": true, "items": items}));
    }
    let drafts: Vec<&Value> = lead["suggested_responses"].as_array().into_iter().flatten().take(a.drafts).collect();
    if !drafts.is_empty() {
        body.push(heading(w.drafts));
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
        body.push(rich(vec![run(words::fill(w.also_open_brand, &[("rules", &rules.join(", "))]))]));
    }
    if links.open.is_none() && links.ack.is_none() {
        body.push(rich(vec![json!({"type": "TextRun", "text": w.no_links, "isSubtle": true, "size": "Small"})]));
    }
    let id = lead["id"].as_str().unwrap_or("");
    let rule = lead["rule"].as_str().unwrap_or("");
    let footer = format!(
        "{}: {} · {} {} · {}",
        w.severity,
        plain(w.severity_name(severity), 32, false),
        w.rule,
        plain(rule, 64, false),
        plain(id, 64, false)
    );
    body.push(rich(vec![json!({"type": "TextRun", "text": footer, "isSubtle": true, "size": "Small"})]));
    let mut actions = Vec::new();
    if let Some(u) = &links.open {
        actions.push(open_url(w.open_dashboard, u));
    }
    if let (Some(u), false) = (&links.ack, kind == "resolved") {
        let mut ack = open_url(w.acknowledge, u);
        ack["style"] = json!("positive");
        actions.push(ack);
    }
    let fallback = plain(&format!("{status} · {brand}: {headline}"), 300, false);
    message(body, actions, &fallback, loc.lang.is_rtl())
}

/// The envelope a workflow webhook takes around a card of `body` and `actions`; `rtl` for a
/// card in a right-to-left language (then of schema [`VERSION_RTL`]).
fn message(body: Vec<Value>, actions: Vec<Value>, fallback: &str, rtl: bool) -> Value {
    let mut card = json!({
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": if rtl { VERSION_RTL } else { VERSION },
        "fallbackText": fallback,
        "msteams": {"width": "Full"},
        "body": body,
    });
    if rtl {
        card["rtl"] = json!(true);
    }
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
        false,
    )
}

/// The problems of a message against the workflow envelope and the Adaptive Card shapes
/// used here (for tests and the example in `docs/`): the envelope, the card's required
/// fields (the version [`VERSION`], or [`VERSION_RTL`] exactly when the card is `rtl`), unknown
/// element types, empty texts, actions without an absolute http(s) URL, and the size.
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
        let version = if card["rtl"] == true { VERSION_RTL } else { VERSION };
        if card["type"] != "AdaptiveCard" || card["version"] != version || card["$schema"] != SCHEMA {
            out.push("card `type`, `version` or `$schema` missing".into());
        }
        if !matches!(card.get("rtl"), None | Some(Value::Bool(true))) {
            out.push(format!("card `rtl` {} (only `true` is set)", card["rtl"]));
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
    use crate::notify::locale::Lang;

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
        let m = render("alert", &crate::notify::sample_event(now), &[], &links(), &Locale::default());
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
        let m = render("alert", &hostile(), &[hostile(), hostile()], &links(), &Locale::default());
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
        let m = render("alert", &hostile(), &[], &links(), &Locale::default());
        let posts = posts_shown(&m);
        assert!(!posts.is_empty() && posts.len() < MAX_POSTS, "some posts dropped: {}", posts.len());
        assert!(posts[0].starts_with("#0 "), "the first post is kept: {}", &posts[0][..10]);
        assert_eq!(drafts_shown(&m), MAX_DRAFTS, "drafts kept while posts can go");
        // a tighter cap: every post goes, then drafts
        let m = render_within("alert", &hostile(), &[], &links(), &Locale::default(), 9_000);
        assert_eq!(problems(&m).into_iter().filter(|p| !p.contains("bytes")).count(), 0);
        assert!(m.to_string().len() <= 9_000, "{}", m.to_string().len());
        assert!(posts_shown(&m).is_empty());
        assert!(drafts_shown(&m) < MAX_DRAFTS);
        // the headline and the actions stay whatever the cap
        let m = render_within("alert", &hostile(), &[hostile()], &links(), &Locale::default(), 1);
        assert_eq!(card(&m)["actions"].as_array().unwrap().len(), 2);
        assert!(m.to_string().len() < 8_000, "bounded without posts and drafts: {}", m.to_string().len());
    }

    #[test]
    fn resolved_and_escalated_cards_say_so_and_a_resolution_has_no_acknowledge() {
        let r = render("resolved", &hostile(), &[hostile()], &links(), &Locale::default());
        assert_eq!(card(&r)["body"][0]["style"], "good");
        let titles: Vec<&str> =
            card(&r)["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Open in dashboard"]);
        assert!(posts_shown(&r).is_empty() && r.to_string().contains("RESOLVED"));
        let e = render("escalated", &hostile(), &[], &links(), &Locale::default());
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
        let m = render("alert", &hostile(), &[], &Links::checked("http://0.0.0.0:1/l/x", "/l/y"), &Locale::default());
        assert_eq!(problems(&m), Vec::<String>::new());
        assert!(card(&m).get("actions").is_none(), "no broken actions");
        assert!(m.to_string().contains("No links: [notify] public_url"));
        assert_eq!(plain("😀😀😀", 2, false), "😀…");
        assert_eq!(plain("a{{b}}", 10, false), "a{\u{200b}{b}}");
        assert_eq!(plain("a\nb\u{202e}", 10, false), "ab");
    }

    /// The sample alert of 2026-03-04 09:30 UTC (window 09:15 to 09:30 UTC).
    fn sample() -> Value {
        let now = crate::time::parse_timestamp("2026-03-04T09:30:00Z").unwrap();
        let mut lead = crate::notify::sample_event(now);
        lead["brand_name"] = json!("Acme");
        lead
    }

    fn titles(v: &Value, key: &str) -> Vec<String> {
        v.as_array().into_iter().flatten().map(|x| x[key].as_str().unwrap_or("").to_string()).collect()
    }

    /// The card with every text emptied and the language's marks (`rtl`, `version`) taken
    /// out: what does not depend on the language.
    fn skeleton(v: &Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .filter(|(k, _)| !["rtl", "version"].contains(&k.as_str()))
                    .map(|(k, x)| (k.clone(), if k == "type" { x.clone() } else { skeleton(x) }))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(skeleton).collect()),
            Value::String(_) => json!(""),
            other => other.clone(),
        }
    }

    #[test]
    fn a_hebrew_card_is_right_to_left_in_hebrew_with_the_times_in_jerusalem() {
        let he = Locale::new("he", "Asia/Jerusalem").unwrap();
        let w = words::of(he.lang);
        let m = render("alert", &sample(), &[], &links(), &he);
        assert_eq!(problems(&m), Vec::<String>::new(), "{m:#}");
        let c = card(&m);
        assert_eq!((c["rtl"].as_bool(), c["version"].as_str()), (Some(true), Some("1.5")));
        let banner = c["body"][0]["items"][0]["inlines"][0]["text"].as_str().unwrap();
        assert_eq!(banner, "🟠 אזהרה · Acme");
        let headline = c["body"][0]["items"][1]["inlines"][0]["text"].as_str().unwrap();
        assert_eq!(headline, "אזכורים שליליים: פי 8 מהרגיל (240 ב-15 דק׳)");
        let facts = &c["body"][1]["facts"];
        assert_eq!(titles(facts, "title"), ["נספרו", "הרגיל", "חלון זמן", "סיכוי", "שיעור השליליים", "סוג"]);
        // 09:15 UTC is 11:15 in Jerusalem in March (UTC+2), the zone shown
        assert_eq!(facts[2]["value"], "2026-03-04 11:15 – 11:30 (Asia/Jerusalem, UTC+02:00)");
        assert_eq!(facts[4]["value"], "64% (בדרך כלל 19%)");
        assert_eq!(titles(&c["actions"], "title"), [w.open_dashboard, w.acknowledge]);
        let all = m.to_string();
        for he_word in
            [w.top_posts, w.drafts, w.open_post, "פוסט אחד ששותף 120 פעמים", "חומרה: אזהרה · כלל negative-surge"]
        {
            assert!(all.contains(he_word), "{he_word}: {all}");
        }
        for en_word in [
            "Observed",
            "Usual",
            "Window",
            "Chance",
            "Top posts",
            "Open post",
            "Open in",
            "Acknowledge",
            "re-shared",
            "Severity",
        ] {
            assert!(!all.contains(en_word), "{en_word} left in English: {all}");
        }
        let e = render("escalated", &hostile(), &[hostile()], &links(), &he);
        assert!(
            e.to_string().contains("⬆ הסלמה: קריטי · A")
                && e.to_string().contains("פתוחים גם למותג הזה: negative_surge")
        );
        let r = render("resolved", &hostile(), &[], &Links::default(), &he);
        assert!(r.to_string().contains("✅ נסגר") && r.to_string().contains(w.no_links), "{r}");
    }

    #[test]
    fn an_english_card_keeps_its_shape_and_every_language_the_same_shape() {
        let en = render("alert", &sample(), &[], &links(), &Locale::default());
        let c = card(&en);
        assert_eq!((c.get("rtl"), c["version"].as_str()), (None, Some(VERSION)), "no `rtl`, schema 1.4");
        assert_eq!(
            titles(&c["body"][1]["facts"], "title"),
            ["Observed", "Usual", "Window", "Chance", "Negative share", "Category"]
        );
        assert_eq!(c["body"][1]["facts"][2]["value"], "2026-03-04 09:15 – 09:30 UTC");
        assert_eq!(titles(&c["actions"], "title"), ["Open in dashboard", "Acknowledge"]);
        for lang in Lang::ALL {
            let other = render("alert", &sample(), &[], &links(), &Locale::new(lang.code(), "Asia/Tehran").unwrap());
            assert_eq!(skeleton(&other), skeleton(&en), "{}", lang.code());
            assert_eq!(card(&other).get("rtl").is_some(), lang.is_rtl(), "{}", lang.code());
        }
        // a zone name's `_` (markdown's emphasis) is a space in a fact, not dropped
        let ny = render("alert", &sample(), &[], &links(), &Locale::new("en", "America/New_York").unwrap());
        assert_eq!(card(&ny)["body"][1]["facts"][2]["value"], "2026-03-04 04:15 – 04:30 (America/New York, UTC-05:00)");
    }

    #[test]
    fn every_language_renders_hostile_text_plain_and_within_every_limit() {
        let zones = [
            ("en", "UTC"),
            ("he", "Asia/Jerusalem"),
            ("fa", "Asia/Tehran"),
            ("ru", "Europe/Moscow"),
            ("ar", "Asia/Riyadh"),
        ];
        for (code, zone) in zones {
            let loc = Locale::new(code, zone).unwrap();
            let w = words::of(loc.lang);
            for kind in ["alert", "escalated", "resolved", "test"] {
                let m = render(kind, &hostile(), &[hostile(), hostile()], &links(), &loc);
                assert_eq!(problems(&m), Vec::<String>::new(), "{code} {kind}: {m:#}");
                assert!(m.to_string().len() <= MAX_PAYLOAD, "{code} {kind}");
                assert_eq!(card(&m)["rtl"] == true, loc.lang.is_rtl(), "{code} {kind}");
                let (mut markdown, mut runs) = (Vec::new(), Vec::new());
                texts(&m, &mut markdown, &mut runs);
                for t in &markdown {
                    assert!(!t.contains(['[', ']', '*', '_', '<', '{']) && !t.contains("evil"), "{code}: {t:?}");
                }
                for r in &runs {
                    assert!(!r.contains(['\u{202e}', '\u{202c}', '\u{7}']) && !r.contains("{{"), "{code}: {r:?}");
                }
                let banner = card(&m)["body"][0]["items"][0]["inlines"][0]["text"].as_str().unwrap().to_string();
                let expect = if kind == "resolved" { w.resolved.to_string() } else { w.critical.to_uppercase() };
                assert!(banner.contains(&expect), "{code} {kind}: {banner}");
                if kind == "alert" {
                    assert!(!posts_shown(&m).is_empty(), "{code}: a post fits");
                    assert_eq!(drafts_shown(&m), MAX_DRAFTS, "{code}");
                }
            }
            let m = render_within("alert", &hostile(), &[hostile()], &links(), &loc, 9_000);
            assert!(m.to_string().len() <= 9_000, "{code}: {}", m.to_string().len());
            assert_eq!(card(&m)["actions"].as_array().map(Vec::len), Some(2), "{code}");
        }
    }

    /// `docs/example-teams-message.json` is this rendering of the sample alert
    /// (`CW_WRITE_DOCS=1` writes it again).
    #[test]
    fn the_example_in_docs_is_the_rendered_sample() {
        let m = render("alert", &sample(), &[], &links(), &Locale::default());
        assert_eq!(problems(&m), Vec::<String>::new());
        let text = format!("{}\n", serde_json::to_string_pretty(&m).unwrap());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/example-teams-message.json");
        if std::env::var_os("CW_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), text, "CW_WRITE_DOCS=1 rewrites it");
    }
}
