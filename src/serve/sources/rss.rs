//! `kind = "rss"`: RSS 2.0, RSS 1.0 (RDF) and Atom feeds, polled every `interval` with
//! conditional requests (`If-None-Match` / `If-Modified-Since` from the last answer's `ETag`
//! and `Last-Modified`; a `304` costs nothing). Each entry becomes a mention: its id from
//! `guid`/`id`/`link`, its text the title and the summary with HTML stripped, its link kept,
//! its time from `pubDate`/`published`/`updated`/`dc:date` (the fetch time when it has none).
//!
//! The cursor is the validators and the ids of the entries in the last feed taken: an entry
//! is new when its id was not in it. A feed that is not XML is dead-lettered (its first
//! bytes) and counted as an error; an entry without any id is dead-lettered alone.

use super::{Bad, Ctx, Item, SourceError};
use crate::clock::wall_ms;
use crate::time::Millis;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

/// At most this many entry ids are remembered (feeds are far shorter).
const MAX_SEEN: usize = 5000;

/// What the cursor holds.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    #[serde(default)]
    seen: Vec<String>,
}

/// Polls the feed until the service stops.
pub async fn run(ctx: Ctx) {
    let every = ctx.spec.interval;
    super::poll_loop(ctx, Some(every), poll).await;
}

async fn poll(ctx: &mut Ctx) -> Result<(), SourceError> {
    let cursor: Cursor = ctx.cursor().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    let mut headers = Vec::new();
    if let Some(e) = &cursor.etag {
        headers.push(("if-none-match", e.as_str()));
    }
    if let Some(m) = &cursor.last_modified {
        headers.push(("if-modified-since", m.as_str()));
    }
    let url = ctx.spec.url.clone();
    let (status, head, body) = ctx.get(&url, &headers).await?;
    if status == 304 {
        return Ok(());
    }
    let now = wall_ms();
    let entries = match parse_feed(&body, now) {
        Ok(e) => e,
        Err(reason) => {
            let err = SourceError::Protocol(format!("the feed cannot be read: {reason}"));
            ctx.submit(Vec::new(), vec![Bad::new(&body, format!("source `{}`: {err}", ctx.spec.name))], None).await?;
            return Err(err);
        }
    };
    ctx.stats().items.fetch_add(entries.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let mut items = Vec::new();
    let mut bad = Vec::new();
    let mut seen = Vec::with_capacity(entries.len());
    for e in entries {
        match e {
            Ok(item) => {
                if !cursor.seen.contains(&item.id) {
                    if ctx.keywords.matches(&item.text) {
                        items.push(item.clone());
                    } else {
                        ctx.stats().filtered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                if seen.len() < MAX_SEEN {
                    seen.push(item.id);
                }
            }
            Err((raw, reason)) => bad.push(Bad::new(raw.as_bytes(), format!("source `{}`: {reason}", ctx.spec.name))),
        }
    }
    let header = |k: &str| head.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let next = Cursor { etag: header("etag"), last_modified: header("last-modified"), seen };
    let next = serde_json::to_string(&next).map_err(|e| SourceError::Protocol(e.to_string()))?;
    ctx.submit(items, bad, Some(next)).await?;
    Ok(())
}

/// One entry: an item, or (its raw text, why not).
type Entry = Result<Item, (String, String)>;

#[derive(Default)]
struct Draft {
    id: Option<String>,
    link: Option<String>,
    title: String,
    summary: String,
    content: String,
    author: Option<String>,
    published: Option<String>,
    updated: Option<String>,
    lang: Option<String>,
}

/// Parses an RSS or Atom document into its entries (`now` for entries without a time).
///
/// # Errors
/// When it is not a well-formed feed.
pub(crate) fn parse_feed(body: &[u8], now: Millis) -> Result<Vec<Entry>, String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut root: Option<String> = None;
    let mut path: Vec<String> = Vec::new();
    let mut draft: Option<Draft> = None;
    let mut feed_lang: Option<String> = None;
    let mut entry_start = 0usize;
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event_into(&mut buf).map_err(|e| format!("{e} at byte {}", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_lowercase();
                if root.is_none() {
                    if !matches!(name.as_str(), "rss" | "feed" | "rdf") {
                        return Err(format!("the document is `<{name}>`, not an RSS or Atom feed"));
                    }
                    root = Some(name.clone());
                    feed_lang = attr(&e, "lang");
                }
                if matches!(name.as_str(), "item" | "entry") && draft.is_none() {
                    draft = Some(Draft { lang: attr(&e, "lang").or(feed_lang.clone()), ..Draft::default() });
                    entry_start = pos;
                } else if name == "link" {
                    link_attr(&e, &mut draft);
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_lowercase();
                if name == "link" {
                    link_attr(&e, &mut draft);
                }
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                if matches!(name.as_str(), "item" | "entry") && !path.iter().any(|p| p == "item" || p == "entry") {
                    if let Some(d) = draft.take() {
                        let end = reader.buffer_position() as usize;
                        out.push(finish(d, now).map_err(|why| {
                            (String::from_utf8_lossy(&body[entry_start..end.min(body.len())]).into_owned(), why)
                        }));
                    }
                }
            }
            Event::Text(t) => {
                let raw = String::from_utf8_lossy(&t).into_owned();
                let text = t.unescape().map(|c| c.into_owned()).unwrap_or_else(|_| decode_entities(&raw));
                field(&path, &mut draft, &mut feed_lang, text);
            }
            Event::CData(c) => {
                let text = String::from_utf8_lossy(&c).into_owned();
                field(&path, &mut draft, &mut feed_lang, text);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if root.is_none() {
        return Err("no RSS or Atom root element".into());
    }
    Ok(out)
}

fn attr(e: &quick_xml::events::BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| {
            let k = a.key.as_ref();
            k == key.as_bytes() || k.ends_with(format!(":{key}").as_bytes())
        })
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
        .filter(|v| !v.trim().is_empty())
}

/// Atom's `<link rel="alternate" href="…"/>` (or without `rel`).
fn link_attr(e: &quick_xml::events::BytesStart<'_>, draft: &mut Option<Draft>) {
    let Some(d) = draft.as_mut() else { return };
    let rel = attr(e, "rel");
    if let (Some(href), true) = (attr(e, "href"), rel.as_deref().is_none_or(|r| r == "alternate")) {
        if d.link.is_none() {
            d.link = Some(href);
        }
    }
}

fn field(path: &[String], draft: &mut Option<Draft>, feed_lang: &mut Option<String>, text: String) {
    let Some(last) = path.last().map(String::as_str) else { return };
    let Some(d) = draft.as_mut() else {
        if last == "language" && feed_lang.is_none() {
            *feed_lang = Some(text);
        }
        return;
    };
    let parent = path.len().checked_sub(2).map(|i| path[i].as_str());
    match last {
        "guid" | "id" => d.id = d.id.take().or(Some(text)),
        "link" => d.link = d.link.take().or(Some(text)),
        "title" => d.title.push_str(&text),
        "description" | "summary" => d.summary.push_str(&text),
        "encoded" | "content" => d.content.push_str(&text),
        "pubdate" | "published" | "issued" | "date" => d.published = d.published.take().or(Some(text)),
        "updated" | "modified" => d.updated = d.updated.take().or(Some(text)),
        "creator" | "author" => d.author = d.author.take().or(Some(text)),
        "name" if parent == Some("author") => d.author = d.author.take().or(Some(text)),
        "language" => d.lang = Some(text),
        _ => {}
    }
}

fn finish(d: Draft, now: Millis) -> Result<Item, String> {
    let link = d.link.map(|l| l.trim().to_string()).filter(|l| !l.is_empty());
    let id = d.id.map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).or(link.clone());
    let Some(id) = id else { return Err("entry without guid, id or link".into()) };
    let title = strip_html(&d.title);
    let body = strip_html(if d.summary.trim().is_empty() { &d.content } else { &d.summary });
    let text = match (title.is_empty(), body.is_empty()) {
        (false, false) if body.starts_with(&title) => body,
        (false, false) => format!("{title}. {body}"),
        (false, true) => title,
        _ => body,
    };
    let ts = d.published.as_deref().or(d.updated.as_deref()).and_then(parse_date).unwrap_or(now).min(now);
    let lang =
        d.lang.map(|l| l.trim().chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_lowercase());
    Ok(Item {
        id,
        ts,
        text,
        url: link,
        author: d.author.map(|a| strip_html(&a)).filter(|a| !a.is_empty()),
        lang: lang.filter(|l| l.len() == 2),
        ..Item::default()
    })
}

/// RFC 3339 (Atom, `dc:date`) or RFC 822/2822 (RSS `pubDate`, with a numeric or named zone).
pub fn parse_date(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(t) = crate::time::parse_timestamp(s) {
        return Some(t);
    }
    let s = s.split_once(',').map_or(s, |(_, rest)| rest).trim();
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() < 4 {
        return None;
    }
    let day: u32 = parts[0].parse().ok()?;
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let mon = parts[1].get(..3)?.to_lowercase();
    let month = MONTHS.iter().position(|m| *m == mon)? + 1;
    let mut year: u32 = parts[2].parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let hms: Vec<&str> = parts[3].split(':').collect();
    let (h, mi, sec) = match hms.as_slice() {
        [h, m] => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?, 0),
        [h, m, s] => (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?),
        _ => return None,
    };
    let zone = parts.get(4).copied().unwrap_or("GMT");
    let offset = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => "+00:00".to_string(),
        "EST" => "-05:00".into(),
        "EDT" => "-04:00".into(),
        "CST" => "-06:00".into(),
        "CDT" => "-05:00".into(),
        "MST" => "-07:00".into(),
        "MDT" => "-06:00".into(),
        "PST" => "-08:00".into(),
        "PDT" => "-07:00".into(),
        z if z.len() == 5
            && (z.starts_with('+') || z.starts_with('-'))
            && z[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{}:{}", &z[..3], &z[3..])
        }
        _ => return None,
    };
    crate::time::parse_timestamp(&format!("{year:04}-{month:02}-{day:02}T{h:02}:{mi:02}:{sec:02}{offset}")).ok()
}

/// HTML to plain text: tags dropped (`script` and `style` with their content), block tags
/// and `<br>` as spaces, entities decoded, whitespace collapsed.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find('>') else {
            rest = after;
            out.push('<');
            continue;
        };
        let tag = after[..j].trim_start_matches('/').to_ascii_lowercase();
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        rest = &after[j + 1..];
        if (name == "script" || name == "style") && !after.starts_with('/') {
            let close = format!("</{name}");
            rest = rest.to_ascii_lowercase().find(&close).map_or("", |k| &rest[k..]);
            continue;
        }
        if matches!(name.as_str(), "br" | "p" | "div" | "li" | "tr" | "td" | "h1" | "h2" | "h3" | "h4" | "blockquote") {
            out.push(' ');
        }
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decodes the HTML entities feeds use: the XML five, `&nbsp;` and friends, numeric ones.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" | "#39" => '\'',
                "nbsp" => ' ',
                "ndash" => '–',
                "mdash" => '—',
                "hellip" => '…',
                "laquo" => '«',
                "raquo" => '»',
                "lsquo" => '‘',
                "rsquo" => '’',
                "ldquo" => '“',
                "rdquo" => '”',
                _ => {
                    let n = name.strip_prefix('#')?;
                    let v = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(v)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_800_000_000_000;

    #[test]
    fn rss2_items_become_mentions() {
        let feed = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>News</title><language>he-IL</language>
<item><title>Acme &amp; the outage</title><link>https://news.example/1</link>
<description>&lt;p&gt;Customers of &lt;b&gt;Acme&lt;/b&gt; cannot log in&amp;nbsp;today.&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description>
<guid isPermaLink="false">news-1</guid><pubDate>Tue, 10 Jun 2025 04:00:00 +0300</pubDate><dc:creator>Dana</dc:creator></item>
<item><title><![CDATA[Second <i>story</i>]]></title><link>https://news.example/2</link><pubDate>Tue, 10 Jun 2025 01:00:00 GMT</pubDate></item>
<item><description>no id at all</description></item>
</channel></rss>"#;
        let e = parse_feed(feed.as_bytes(), NOW).unwrap();
        assert_eq!(e.len(), 3);
        let a = e[0].as_ref().unwrap();
        assert_eq!(a.id, "news-1");
        assert_eq!(a.url.as_deref(), Some("https://news.example/1"));
        assert_eq!(a.text, "Acme & the outage. Customers of Acme cannot log in today.");
        assert_eq!(a.ts, crate::time::parse_timestamp("2025-06-10T01:00:00Z").unwrap());
        assert_eq!(a.author.as_deref(), Some("Dana"));
        assert_eq!(a.lang.as_deref(), Some("he"));
        let b = e[1].as_ref().unwrap();
        assert_eq!((b.id.as_str(), b.text.as_str()), ("https://news.example/2", "Second story"));
        let (raw, why) = e[2].as_ref().unwrap_err();
        assert!(raw.contains("no id at all") && why.contains("without guid"), "{raw} {why}");
    }

    #[test]
    fn atom_entries_become_mentions() {
        let feed = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ru">
  <title>Example Feed</title>
  <entry>
    <title type="html">Сбербанк &lt;em&gt;снова&lt;/em&gt; не работает</title>
    <link rel="alternate" href="http://example.org/2003/12/13/atom03"/>
    <link rel="edit" href="http://example.org/edit/1"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2003-12-13T18:30:02Z</updated>
    <published>2003-12-13T18:30:00+01:00</published>
    <summary>Some text.</summary>
    <author><name>John Doe</name></author>
  </entry>
</feed>"#;
        let e = parse_feed(feed.as_bytes(), NOW).unwrap();
        let a = e[0].as_ref().unwrap();
        assert_eq!(a.id, "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a");
        assert_eq!(a.url.as_deref(), Some("http://example.org/2003/12/13/atom03"));
        assert_eq!(a.text, "Сбербанк снова не работает. Some text.");
        assert_eq!(a.ts, crate::time::parse_timestamp("2003-12-13T17:30:00Z").unwrap());
        assert_eq!(a.author.as_deref(), Some("John Doe"));
        assert_eq!(a.lang.as_deref(), Some("ru"));
    }

    #[test]
    fn what_is_not_a_feed_is_refused() {
        assert!(parse_feed(b"<html><body>hi</body></html>", NOW).unwrap_err().contains("not an RSS"));
        assert!(parse_feed(b"{\"json\": true}", NOW).is_err());
        assert!(parse_feed(b"<rss><channel><item><title>x</title></chanel></rss>", NOW).is_err());
    }

    #[test]
    fn dates_and_html() {
        assert_eq!(
            parse_date("Sat, 07 Sep 2002 00:00:01 GMT"),
            crate::time::parse_timestamp("2002-09-07T00:00:01Z").ok()
        );
        assert_eq!(parse_date("7 Sep 2002 09:00 EDT"), crate::time::parse_timestamp("2002-09-07T13:00:00Z").ok());
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(strip_html("a<br/>b &amp;&#x41;&#66; <style>p{}</style>c &bogus; x&y"), "a b &AB c &bogus; x&y");
        assert_eq!(strip_html("1 < 2"), "1 < 2");
    }
}
