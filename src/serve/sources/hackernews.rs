//! `kind = "hackernews"`: Hacker News stories and comments through the public, key-less
//! Algolia search API (`{url}/search_by_date`), polled every `interval` with one query per
//! brand keyword (the pinned brand's only, when the source pins one), newest first, for
//! what was posted since the cursor. Every hit is checked against the brands' keywords
//! again, also for a pinned brand (the search matches loosely, `acme` finds `acmeology`);
//! the rest are counted as filtered.
//!
//! The cursor is the newest `created_at_i` taken and the ids taken in its last minute: the
//! next poll asks from a minute before it (the index lags a little) and skips those ids.
//! The public API allows about 10,000 requests an hour per address; at the default
//! interval of 2 minutes that leaves room for 300 keywords.

use super::{Bad, Ctx, Item, SourceError};
use crate::clock::wall_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How far back from the cursor each poll asks again, in seconds.
const OVERLAP_S: i64 = 60;
/// Keywords queried per poll at most.
const MAX_TERMS: usize = 100;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// Newest `created_at_i` taken.
    since: i64,
    /// Ids taken within [`OVERLAP_S`] of it.
    #[serde(default)]
    recent: Vec<String>,
}

/// Polls until the service stops.
pub async fn run(ctx: Ctx) {
    let every = ctx.spec.interval;
    super::poll_loop(ctx, Some(every), poll).await;
}

async fn poll(ctx: &mut Ctx) -> Result<(), SourceError> {
    let cursor: Cursor = ctx.cursor().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_else(|| Cursor {
        since: wall_ms() / 1000 - 3600, // a first start looks back one hour
        recent: Vec::new(),
    });
    let terms: Vec<String> = ctx.keywords.terms().iter().take(MAX_TERMS).cloned().collect();
    let from = cursor.since - OVERLAP_S;
    let mut hits: Vec<Value> = Vec::new();
    for term in &terms {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/search_by_date", ctx.spec.url.trim_end_matches('/')),
            &[
                ("query", term.as_str()),
                ("tags", "(story,comment)"),
                ("numericFilters", &format!("created_at_i>{from}")),
                ("hitsPerPage", "100"),
            ],
        )
        .map_err(|e| SourceError::Protocol(format!("search URL: {e}")))?;
        let (_, _, body) = ctx.get(url.as_str(), &[]).await?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| SourceError::Protocol(format!("search answer is not JSON: {e}")))?;
        let Some(list) = v["hits"].as_array() else {
            return Err(SourceError::Protocol("search answer without `hits`".into()));
        };
        hits.extend(list.iter().cloned());
    }
    let mut next = Cursor { since: cursor.since, recent: Vec::new() };
    let mut items = Vec::new();
    let mut bad = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    for h in &hits {
        match hit_item(h) {
            Ok((item, at)) => {
                if taken.contains(&item.id) || cursor.recent.contains(&item.id) {
                    continue; // the same hit for two keywords, or taken by the last poll
                }
                taken.push(item.id.clone());
                ctx.stats().items.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                next.since = next.since.max(at);
                if ctx.keywords.names_brand(&item.text) {
                    items.push((item, at));
                } else {
                    ctx.stats().filtered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(why) => bad.push(Bad::new(h.to_string().as_bytes(), format!("source `{}`: {why}", ctx.spec.name))),
        }
    }
    // what the next poll will see again: the ids of its overlap
    next.recent = cursor
        .recent
        .iter()
        .cloned()
        .chain(taken)
        .filter(|id| recent_at(&hits, id).is_some_and(|at| at >= next.since - OVERLAP_S))
        .collect();
    next.recent.sort();
    next.recent.dedup();
    let items: Vec<Item> = items.into_iter().map(|(i, _)| i).collect();
    let next = serde_json::to_string(&next).map_err(|e| SourceError::Protocol(e.to_string()))?;
    ctx.submit(items, bad, Some(next)).await?;
    Ok(())
}

fn recent_at(hits: &[Value], id: &str) -> Option<i64> {
    hits.iter().find(|h| h["objectID"].as_str().is_some_and(|o| format!("hn:{o}") == id))?["created_at_i"].as_i64()
}

/// A search hit (story or comment) as an item and its `created_at_i`.
///
/// # Errors
/// A hit without `objectID` or `created_at_i`.
pub fn hit_item(h: &Value) -> Result<(Item, i64), String> {
    let (Some(id), Some(at)) = (h["objectID"].as_str(), h["created_at_i"].as_i64()) else {
        return Err("hit without objectID or created_at_i".into());
    };
    let title = h["title"].as_str().unwrap_or("");
    let body = h["comment_text"].as_str().or(h["story_text"].as_str()).map(super::rss::strip_html).unwrap_or_default();
    let text = match (title.is_empty(), body.is_empty()) {
        (false, false) => format!("{title}. {body}"),
        (false, true) => title.to_string(),
        _ => body,
    };
    let ts = h["created_at"].as_str().and_then(|s| crate::time::parse_timestamp(s).ok()).unwrap_or(at * 1000);
    let reply_to = h["parent_id"].as_i64().filter(|_| h["comment_text"].is_string()).map(|p| format!("hn:{p}"));
    Ok((
        Item {
            id: format!("hn:{id}"),
            ts,
            text,
            url: Some(format!("https://news.ycombinator.com/item?id={id}")),
            author: h["author"].as_str().map(str::to_string),
            reply_to,
            lang: None,
            ..Item::default()
        },
        at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_and_comments_become_items() {
        // shaped like hn.algolia.com/api's search_by_date hits
        let story = serde_json::json!({"created_at": "2026-11-30T10:00:00Z", "title": "Acme leaks user data",
            "url": "https://example.com/acme", "author": "pg", "points": 12, "story_text": null,
            "num_comments": 3, "objectID": "41000001", "created_at_i": 1_796_032_800i64, "_tags": ["story"]});
        let (it, at) = hit_item(&story).unwrap();
        assert_eq!((it.id.as_str(), it.text.as_str(), at), ("hn:41000001", "Acme leaks user data", 1_796_032_800));
        assert_eq!(it.url.as_deref(), Some("https://news.ycombinator.com/item?id=41000001"));
        let comment = serde_json::json!({"created_at": "2026-11-30T10:05:00Z", "author": "dang",
            "comment_text": "<p>I left Acme &amp; never looked back</p>", "story_id": 41000001, "parent_id": 41000001,
            "objectID": "41000002", "created_at_i": 1_796_033_100i64, "_tags": ["comment"]});
        let (it, _) = hit_item(&comment).unwrap();
        assert_eq!(it.text, "I left Acme & never looked back");
        assert_eq!(it.reply_to.as_deref(), Some("hn:41000001"));
        assert!(hit_item(&serde_json::json!({"title": "x"})).is_err());
    }
}
