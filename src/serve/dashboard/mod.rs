//! The crisis room in the browser, served by `serve` (and so by `demo`) at `/`:
//!
//! * `/`: one row per brand, most urgent first (state, a 24 h sparkline against the
//!   baseline band, volume and negative share now against usual, open incidents, last alert);
//! * `/incidents`: incidents with status filters;
//! * `/incidents/{id}`: what happened in one sentence, the curves, the odds in words, the
//!   posts (re-shares collapsed), terms, sources, first-reply drafts with a copy button, the
//!   timeline, and the actions (acknowledge, resolve, escalate now, mute) with a note;
//! * `/silences`: the active and pending silences, a form to make one, delete buttons
//!   (`silences`);
//! * `/events`: server-sent events telling open pages that something changed, so they update
//!   without a reload.
//!
//! Server-rendered HTML; charts are SVG drawn here (`chart`); a small embedded script formats
//! times in the viewer's zone, copies drafts and applies live updates. Nothing is fetched
//! from another origin.

// Helpers return the HTTP answer itself as their error, as in `api`.
#![allow(clippy::result_large_err)]

pub mod chart;
pub mod page;
pub mod reply;
pub mod silences;

use crate::serve::api::{resolve_in_engine, with_db, App};
use crate::serve::pipeline::EngineMsg;
use crate::store;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use page::{badge, count, dir_of, esc, frame, odds, rank, summary_html, time, Viewer};
use reply::{error_page, html_for, same_origin, urlencode, viewer};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;
use tokio::sync::oneshot;

/// The dashboard's routes, with their state (the service merges them beside the API's).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/", get(brands_page))
        .route("/incidents", get(incidents_page))
        .route("/incidents/{id}", get(incident_page))
        .route("/incidents/{id}/act", post(act))
        .route("/silences", get(silences::page).post(silences::create))
        .route("/silences/{id}/delete", post(silences::delete))
        .route("/events", get(events))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("app.css")) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", include_str!("app.js")) }))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(app)
}

fn asset(ct: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "max-age=300")], body).into_response()
}

#[derive(Debug, Deserialize, Default)]
struct BrandsQuery {
    q: Option<String>,
    team: Option<String>,
}

async fn brands_page(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<BrandsQuery>, QueryRejection>,
) -> Response {
    let v = match viewer(&app, &headers, "/") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error_page(&v, StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let (tx, rx) = oneshot::channel();
    if app.engine.send(EngineMsg::Overview(1440, tx)).is_err() {
        return error_page(&v, StatusCode::SERVICE_UNAVAILABLE, "the service is shutting down");
    }
    let Ok(all) = rx.await else {
        return error_page(&v, StatusCode::SERVICE_UNAVAILABLE, "the service is shutting down");
    };
    let latest = match with_db(&app, |c| store::list_incidents(c, None, None, None, None, 1000)).await {
        Ok((alerts, _)) => alerts,
        Err(r) => return r,
    };
    let notify = &*app.shared.notify.get();
    let team_brands: Option<Vec<String>> = q.team.as_deref().filter(|t| !t.is_empty()).map(|team| {
        let idx = notify.receivers.iter().position(|r| r.name() == team);
        notify
            .routes
            .iter()
            .filter(|r| r.ladder.iter().any(|s| idx.is_some_and(|i| s.receivers.contains(&i))))
            .flat_map(|r| if r.brands.is_empty() { vec!["*".to_string()] } else { r.brands.clone() })
            .collect()
    });
    let needle = q.q.as_deref().unwrap_or("").trim().to_lowercase();
    struct Row {
        state: &'static str,
        ratio: f64,
        html: String,
    }
    let mut rows: Vec<Row> = Vec::new();
    for (b, points) in &all {
        if !needle.is_empty() && !b.id.to_lowercase().contains(&needle) && !b.name.to_lowercase().contains(&needle) {
            continue;
        }
        if let Some(tb) = &team_brands {
            if !tb.iter().any(|x| x == "*" || x == &b.id) {
                continue;
            }
        }
        let state =
            b.open_incidents.iter().map(|o| o.severity.as_str()).max_by_key(|s| rank(s)).map_or("calm", |s| match s {
                "critical" => "critical",
                "warning" => "warning",
                _ => "watch",
            });
        let hour = b.mentions.iter().find(|w| w.window == "1h");
        let (obs, exp) = hour.map_or((0.0, 0.0), |w| (f64::from(w.observed), w.expected));
        let ratio = if exp > 0.0 { obs / exp } else { 0.0 };
        let neg = b.negative_share_1h.map_or_else(|| "–".to_string(), |n| format!("{:.0} %", n * 100.0));
        let last = latest.iter().find(|a| a["brand"] == b.id.as_str());
        let last_html = last.map_or_else(
            || "none".to_string(),
            |a| {
                format!(
                    r#"<a href="/incidents/{id}">{sev} {rule}</a><br>{t}"#,
                    id = esc(a["id"].as_str().unwrap_or("")),
                    sev = esc(a["severity"].as_str().unwrap_or("")),
                    rule = esc(a["rule"].as_str().unwrap_or("")),
                    t = time(a["at"].as_str().unwrap_or(""))
                )
            },
        );
        let open = if b.open_incidents.is_empty() {
            "0".to_string()
        } else {
            b.open_incidents
                .iter()
                .map(|o| {
                    format!(r#"<a href="/incidents/{}">{} {}</a>"#, esc(&o.id), esc(o.severity.as_str()), esc(&o.rule))
                })
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let name_dir = if b.name.chars().any(|c| ('\u{0590}'..='\u{08FF}').contains(&c)) { "rtl" } else { "ltr" };
        let html = format!(
            r#"<tr class="brand" data-brand="{id}" data-state="{state}"><td class="name"><a href="/incidents?brand={id}&amp;status=all" dir="{name_dir}">{name}</a><span class="id">{id}</span>{warm}</td><td>{badge}</td><td class="sparkcell">{spark}</td><td class="num" data-label="Mentions 1 h">{obs} <span class="usual">usual {exp}</span></td><td class="num" data-label="Negative 1 h">{neg} <span class="usual">usual {uneg:.0} %</span></td><td data-label="Open">{open}</td><td data-label="Last alert">{last_html}</td></tr>"#,
            id = esc(&b.id),
            name = esc(&b.name),
            warm = if b.warm { "" } else { r#"<span class="usual"> (learning its baseline)</span>"# },
            badge = badge(state),
            spark = chart::sparkline(points, &format!("{} mentions, last 24 hours, against the usual band", b.name)),
            obs = count(obs),
            exp = count(exp),
            uneg = b.baseline_negative_share * 100.0,
        );
        rows.push(Row { state, ratio, html });
    }
    rows.sort_by(|a, b| rank(b.state).cmp(&rank(a.state)).then(b.ratio.total_cmp(&a.ratio)));
    let mut body = String::with_capacity(4096 + rows.len() * 2048);
    let n_alarm = rows.iter().filter(|r| r.state != "calm").count();
    let _ = write!(
        body,
        r#"<h1>Brands</h1><p class="lead">{} brands, {} with an open incident. Most urgent first; the grey band is the usual range for the hour and weekday.</p>"#,
        rows.len(),
        n_alarm
    );
    let teams: Vec<&str> = notify.receivers.iter().map(|r| r.name()).collect();
    let _ = write!(
        body,
        r#"<form class="filter" method="get" action="/"><label>Brand <input type="search" name="q" id="brand-filter" value="{}" placeholder="name or id"></label>"#,
        esc(q.q.as_deref().unwrap_or(""))
    );
    if !teams.is_empty() {
        body.push_str(r#"<label>Team <select name="team"><option value="">all</option>"#);
        for t in teams {
            let sel = if q.team.as_deref() == Some(t) { " selected" } else { "" };
            let _ = write!(body, r#"<option{sel}>{}</option>"#, esc(t));
        }
        body.push_str("</select></label>");
    }
    body.push_str(r#"<button type="submit">Filter</button></form>"#);
    if rows.is_empty() {
        body.push_str(
            r#"<p class="empty">No brand has been mentioned yet. Send mentions to <code>POST /v1/mentions</code>.</p>"#,
        );
    } else {
        body.push_str(r#"<table class="brands"><thead><tr><th>Brand</th><th>State</th><th>Last 24 h</th><th>Mentions 1 h</th><th>Negative 1 h</th><th>Open</th><th>Last alert</th></tr></thead><tbody>"#);
        for r in &rows {
            body.push_str(&r.html);
        }
        body.push_str("</tbody></table>");
    }
    html_for(&headers, frame("Brands", &v, "brands", true, &body))
}

#[derive(Debug, Deserialize, Default)]
struct IncidentsQuery {
    status: Option<String>,
    brand: Option<String>,
}

async fn incidents_page(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<IncidentsQuery>, QueryRejection>,
) -> Response {
    let v = match viewer(&app, &headers, "/incidents") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error_page(&v, StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    let filter = match status.as_str() {
        "all" => None,
        s @ ("open" | "firing" | "escalated" | "acknowledged" | "resolved") => Some(s.to_string()),
        other => return error_page(&v, StatusCode::BAD_REQUEST, &format!("unknown status filter `{other}`")),
    };
    let brand = q.brand.clone().filter(|b| !b.is_empty());
    let (f2, b2) = (filter.clone(), brand.clone());
    let alerts = match with_db(&app, move |c| {
        let (mut a, _) = store::list_incidents(c, f2.as_deref(), b2.as_deref(), None, None, 200)?;
        store::silences::annotate(c, &mut a, crate::clock::wall_ms())?;
        Ok(a)
    })
    .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut body = String::from("<h1>Incidents</h1><nav class=\"tabs\" aria-label=\"Status\">");
    for s in ["open", "firing", "acknowledged", "resolved", "all"] {
        let cur = if s == status { r#" aria-current="page""# } else { "" };
        let b = brand.as_deref().map(|b| format!("&amp;brand={}", esc(&urlencode(b)))).unwrap_or_default();
        let _ = write!(body, r#"<a href="/incidents?status={s}{b}"{cur}>{s}</a>"#);
    }
    body.push_str("</nav>");
    if let Some(b) = &brand {
        let _ = write!(
            body,
            r#"<p class="lead">Brand <b>{}</b> · <a href="/incidents?status={}">all brands</a></p>"#,
            esc(b),
            esc(&status)
        );
    }
    if alerts.is_empty() {
        body.push_str(r#"<p class="empty">No incidents here.</p>"#);
    } else {
        body.push_str(r#"<table class="incidents"><thead><tr><th>When</th><th>Brand</th><th>Severity</th><th>Status</th><th>What happened</th></tr></thead><tbody>"#);
        for a in &alerts {
            let st = a["status"].as_str().unwrap_or("");
            let acked = a["acknowledged_by"].as_str().map(|w| format!(" by {}", esc(w))).unwrap_or_default();
            let held = if a.get("silenced_by").is_some() { r#" <span class="usual">silenced</span>"# } else { "" };
            let _ = write!(
                body,
                r#"<tr class="incident" data-id="{id}"><td data-label="When">{t}</td><td data-label="Brand">{brand}</td><td>{sev}</td><td data-label="Status">{st}{acked}{held}</td><td><a href="/incidents/{id}">{sum}</a></td></tr>"#,
                id = esc(a["id"].as_str().unwrap_or("")),
                t = time(a["at"].as_str().unwrap_or("")),
                brand = esc(a["brand_name"].as_str().or(a["brand"].as_str()).unwrap_or("")),
                sev = badge(a["severity"].as_str().unwrap_or("")),
                st = esc(st),
                sum = summary_html(a),
            );
        }
        body.push_str("</tbody></table>");
    }
    html_for(&headers, frame("Incidents", &v, "incidents", true, &body))
}

async fn incident_page(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let v = match viewer(&app, &headers, &format!("/incidents/{id}")) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id2 = id.clone();
    let found = with_db(&app, move |c| {
        let mut h = store::incident_history(c, &id2)?;
        if let Some(h) = &mut h {
            store::silences::annotate_history(c, h, crate::clock::wall_ms())?;
        }
        let n = store::notifications_for(c, &id2)?;
        Ok(h.map(|h| (h, n)))
    })
    .await;
    let (hist, notes) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return error_page(&v, StatusCode::NOT_FOUND, "no such incident"),
        Err(r) => return r,
    };
    let brand = hist["events"][0]["brand"].as_str().unwrap_or("").to_string();
    let (tx, rx) = oneshot::channel();
    let series = if app.engine.send(EngineMsg::Series(brand, 1440, tx)).is_ok() {
        rx.await.ok().flatten().unwrap_or_default()
    } else {
        Vec::new()
    };
    let body = incident_body(&hist, &notes, &series, &v);
    let title = hist["events"][0]["brand_name"].as_str().unwrap_or("Incident").to_string();
    html_for(&headers, frame(&title, &v, "incidents", true, &body))
}

/// The incident page's `main`: pure, from the stored history, its notifications and the
/// brand's series.
pub fn incident_body(
    hist: &Value,
    notes: &[store::NotificationRow],
    series: &[crate::engine::SeriesPoint],
    v: &Viewer,
) -> String {
    let empty = Vec::new();
    let events = hist["events"].as_array().unwrap_or(&empty);
    let status = hist["status"].as_str().unwrap_or("");
    let id = hist["id"].as_str().unwrap_or("");
    // the evidence: the latest event that carries posts (a resolution carries none)
    let Some(ev) =
        events.iter().rev().find(|e| e["top_posts"].as_array().is_some_and(|p| !p.is_empty())).or(events.last())
    else {
        return "<p>No events.</p>".into();
    };
    let severity = events.iter().map(|e| e["severity"].as_str().unwrap_or("")).max_by_key(|s| rank(s)).unwrap_or("");
    let mut b = String::with_capacity(16 * 1024);
    let _ = write!(
        b,
        r#"<h1><bdi>{}</bdi> {} <span class="status st-{st}">{st}</span></h1><p class="summary">{}</p>"#,
        esc(ev["brand_name"].as_str().or(ev["brand"].as_str()).unwrap_or("")),
        badge(severity),
        summary_html(ev),
        st = esc(status),
    );
    if let Some(who) = hist["acknowledged_by"].as_str() {
        let _ = write!(b, r#"<p class="acked">Acknowledged by <b>{}</b>.</p>"#, esc(who));
    }
    b.push_str(&silences::held_note(hist));
    // actions first: in the first ten minutes this is what the page is for
    if status != "resolved" {
        if v.can_respond {
            let csrf = esc(v.csrf.as_deref().unwrap_or(""));
            let _ = write!(
                b,
                r#"<section class="actions" aria-label="Actions"><form method="post" action="/incidents/{id}/act"><input type="hidden" name="csrf" value="{csrf}"><label for="note">Note (optional)</label><textarea id="note" name="note" rows="2" maxlength="2000" placeholder="what you are doing about it"></textarea><div class="buttons"><button name="action" value="ack" class="primary">Acknowledge</button><button name="action" value="escalate">Escalate now</button><span class="mute"><select name="minutes" aria-label="Mute for"><option value="30">30 min</option><option value="60" selected>1 hour</option><option value="240">4 hours</option><option value="1440">1 day</option></select><button name="action" value="mute">Mute</button></span><button name="action" value="resolve" class="danger">Resolve</button></div></form></section>"#,
                id = esc(id),
            );
        } else {
            b.push_str(r#"<p class="note">You can view this incident; acknowledging and resolving need the responder role.</p>"#);
        }
    }
    let observed = ev["observed"].as_f64().unwrap_or(0.0);
    let expected = ev["expected"].as_f64().unwrap_or(0.0);
    let p = ev["p_value"].as_f64().unwrap_or(1.0);
    let _ = write!(
        b,
        r#"<section class="facts"><dl><dt>Observed</dt><dd>{}</dd><dt>Expected</dt><dd>{}</dd><dt>How unusual</dt><dd>{}</dd><dt>Category</dt><dd>{}</dd><dt>Rule</dt><dd>{} ({})</dd><dt>Window</dt><dd>{} – {}</dd><dt>Mentions · authors · re-shares</dt><dd>{} · {} · {}</dd></dl></section>"#,
        fmt_value(ev, observed),
        fmt_value(ev, expected),
        esc(&odds(p)),
        esc(ev["category"].as_str().unwrap_or("other")),
        esc(ev["rule"].as_str().unwrap_or("")),
        esc(ev["metric"].as_str().unwrap_or("")),
        time(ev["window_start"].as_str().unwrap_or("")),
        time(ev["window_end"].as_str().unwrap_or("")),
        count(ev["mentions"].as_f64().unwrap_or(0.0)),
        count(ev["authors"].as_f64().unwrap_or(0.0)),
        count(ev["reshares"].as_f64().unwrap_or(0.0)),
    );
    let t = |k: &str| ev[k].as_str().and_then(|s| crate::time::parse_timestamp(s).ok());
    let window = t("window_start").zip(t("window_end"));
    b.push_str(r#"<section class="charts"><h2>The curve</h2>"#);
    let covers = window.is_some_and(|(s, _)| series.first().is_some_and(|p| p.minute * crate::time::MINUTE_MS <= s));
    if covers {
        b.push_str("<figure><figcaption>Last 24 hours: mentions (dark), negatives (red), the usual range (grey), the alert window (shaded)</figcaption>");
        b.push_str(&chart::curve(series, window, "mentions over the last 24 hours against the usual range"));
        b.push_str("</figure>");
    }
    if let Some(curve) = ev["curve"].as_array().filter(|c| !c.is_empty()) {
        let counts: Vec<u64> = curve.iter().map(|x| x.as_u64().unwrap_or(0)).collect();
        let end = window.map_or(0, |w| w.1);
        b.push_str("<figure><figcaption>The hour before the alert, per minute</figcaption>");
        b.push_str(&chart::window_curve(&counts, end, window, "mentions per minute in the hour before the alert"));
        b.push_str("</figure>");
    }
    b.push_str("</section>");
    // drafts
    if let Some(drafts) = ev["suggested_responses"].as_array().filter(|d| !d.is_empty()) {
        b.push_str(r#"<section class="drafts"><h2>First-reply drafts</h2><p class="note">Reply in the same channel, as a person, with a direct contact; verify the facts first; never delete criticism.</p>"#);
        for (i, d) in drafts.iter().enumerate() {
            let lang = d["lang"].as_str().unwrap_or("en");
            let _ = write!(
                b,
                r#"<div class="draft"><div class="lang">{lang}</div><p id="draft-{i}" lang="{lang}" dir="{dir}">{text}</p><button type="button" class="copy" data-copy="draft-{i}">Copy</button></div>"#,
                lang = esc(lang),
                dir = dir_of(lang),
                text = esc(d["text"].as_str().unwrap_or("")),
            );
        }
        b.push_str("</section>");
    }
    // posts
    if let Some(posts) = ev["top_posts"].as_array().filter(|p| !p.is_empty()) {
        b.push_str(r#"<section class="posts"><h2>Posts driving it</h2><ol>"#);
        for p in posts {
            let reshares = p["reshares"].as_u64().unwrap_or(0);
            let shared = if reshares > 0 {
                format!(r#"<span class="reshares">1 post re-shared {} times</span>"#, count(reshares as f64))
            } else {
                String::new()
            };
            let url = p["url"].as_str().filter(|u| u.starts_with("https://") || u.starts_with("http://"));
            let link = url.map_or_else(String::new, |u| {
                format!(r#" · <a href="{}" rel="noopener noreferrer" target="_blank">open</a>"#, esc(u))
            });
            let _ = write!(
                b,
                r#"<li class="post{neg}"><p dir="auto">{text}</p><div class="meta">{shared}<span>{author}</span> · {followers} followers · {source}{link}</div></li>"#,
                neg = if p["negative"].as_bool() == Some(true) { " negative" } else { "" },
                text = esc(p["text"].as_str().unwrap_or("")),
                author = esc(p["author"].as_str().unwrap_or("unknown author")),
                followers = count(p["author_followers"].as_f64().unwrap_or(0.0)),
                source = esc(p["source"].as_str().unwrap_or("unknown source")),
            );
        }
        b.push_str("</ol></section>");
    }
    if let Some(terms) = ev["top_terms"].as_array().filter(|t| !t.is_empty()) {
        b.push_str(r#"<section class="terms"><h2>Terms that are new</h2><ul>"#);
        for term in terms {
            let _ = write!(
                b,
                r#"<li dir="auto">{} <span class="usual">×{}</span></li>"#,
                esc(term["term"].as_str().unwrap_or("")),
                term["count"].as_u64().unwrap_or(0)
            );
        }
        b.push_str("</ul></section>");
    }
    if let Some(sources) = ev["sources"].as_array().filter(|s| !s.is_empty()) {
        b.push_str(r#"<section class="sources"><h2>Where</h2><ul>"#);
        for s in sources {
            let _ = write!(
                b,
                "<li>{} <span class=\"usual\">{}</span></li>",
                esc(s[0].as_str().unwrap_or("")),
                s[1].as_u64().unwrap_or(0)
            );
        }
        b.push_str("</ul></section>");
    }
    b.push_str(&timeline(events, hist["actions"].as_array().unwrap_or(&empty), notes));
    b
}

fn fmt_value(ev: &Value, x: f64) -> String {
    match ev["metric"].as_str() {
        Some("negative") => format!("{} negative mentions", count(x)),
        Some("reach") => format!("{} mentions by large accounts", count(x)),
        _ => format!("{} mentions", count(x)),
    }
}

/// Fired, escalated, notified whom, acted by whom, resolved: one list in time order.
fn timeline(events: &[Value], actions: &[Value], notes: &[store::NotificationRow]) -> String {
    let mut items: Vec<(String, String)> = Vec::new();
    let mut last_sev = "";
    for e in events {
        let at = e["at"].as_str().unwrap_or("").to_string();
        let sev = e["severity"].as_str().unwrap_or("");
        let what = match e["status"].as_str().unwrap_or("") {
            "firing" if last_sev.is_empty() => format!("Fired as {}", esc(sev)),
            "resolved" => "Resolved (back to usual)".to_string(),
            _ if rank(sev) > rank(last_sev) => format!("Escalated to {}", esc(sev)),
            _ if rank(sev) < rank(last_sev) => format!("Eased to {}", esc(sev)),
            s => format!("{} ({})", esc(s), esc(sev)),
        };
        last_sev = sev;
        items.push((at, what));
    }
    for a in actions {
        let verb = match a["action"].as_str().unwrap_or("") {
            "ack" => "Acknowledged",
            "resolve" => "Resolved",
            "escalate" => "Escalated now",
            "mute" => "Muted",
            other => other,
        };
        let note = a["note"].as_str().map(|n| format!(": <q>{}</q>", esc(n))).unwrap_or_default();
        items.push((
            a["at"].as_str().unwrap_or("").to_string(),
            format!(r#"{verb} by <b class="actor">{}</b>{note}"#, esc(a["who"].as_str().unwrap_or(""))),
        ));
    }
    for n in notes {
        let state = match n.status.as_str() {
            "delivered" => "delivered".to_string(),
            "dead" => format!("failed after {} attempts: {}", n.attempts, esc(n.last_error.as_deref().unwrap_or(""))),
            _ if n.attempts > 0 => format!("retrying ({} attempts)", n.attempts),
            _ => "queued".to_string(),
        };
        items.push((
            crate::time::format_rfc3339(n.created_ms),
            format!("Notified <b>{}</b> ({}): {state}", esc(&n.receiver), esc(&n.kind)),
        ));
    }
    // RFC 3339 strings of one format sort by time; wall-clock action times and event times
    // differ on the event clock (a backfill), so the order is by each one's own time
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::from(r#"<section class="timeline"><h2>Timeline</h2><ol>"#);
    for (at, what) in items {
        let _ = write!(s, "<li>{} {what}</li>", time(&at));
    }
    s.push_str("</ol></section>");
    s
}

#[derive(Debug, Deserialize)]
struct ActForm {
    action: String,
    #[serde(default)]
    note: String,
    minutes: Option<i64>,
    #[serde(default)]
    csrf: String,
}

async fn act(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>, form: Form<ActForm>) -> Response {
    let v = match viewer(&app, &headers, &format!("/incidents/{id}")) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Form(f) = form;
    if !same_origin(&headers)
        || v.csrf
            .as_deref()
            .is_some_and(|t| !bool::from(subtle::ConstantTimeEq::ct_eq(t.as_bytes(), f.csrf.as_bytes())))
    {
        return error_page(
            &v,
            StatusCode::FORBIDDEN,
            "this form was not sent from this dashboard; reload the page and try again",
        );
    }
    if !v.can_respond {
        return error_page(
            &v,
            StatusCode::FORBIDDEN,
            "acknowledging, resolving, escalating and muting need the responder role",
        );
    }
    let note = Some(f.note.trim().to_string()).filter(|n| !n.is_empty());
    let now = crate::clock::wall_ms();
    let (who, id2, action) = (v.name.clone(), id.clone(), f.action.clone());
    let minutes = f.minutes.unwrap_or(60).clamp(1, 7 * 1440);
    let done = with_db(&app, move |c| match action.as_str() {
        "ack" => store::record_action(c, &id2, "ack", &who, note.as_deref(), now).map(Some),
        "resolve" => store::record_action(c, &id2, "resolve", &who, note.as_deref(), now).map(Some),
        "escalate" => store::escalate_now(c, &id2, &who, note.as_deref(), now).map(Some),
        "mute" => {
            let span = crate::serve::actions::span(minutes * 60_000);
            let reason = match note.as_deref() {
                Some(n) => format!("Mute {span} from the dashboard: {n}"),
                None => format!("Mute {span} from the dashboard"),
            };
            store::silences::mute_incident(c, &id2, &who, &reason, now, minutes * 60_000).map(|r| Some(r.map(|_| ())))
        }
        _ => Ok(None),
    })
    .await;
    match done {
        Err(r) => return r,
        Ok(None) => return error_page(&v, StatusCode::BAD_REQUEST, &format!("unknown action `{}`", f.action)),
        Ok(Some(Err(store::ActionError::NotFound))) => {
            return error_page(&v, StatusCode::NOT_FOUND, "no such incident")
        }
        Ok(Some(Err(store::ActionError::Resolved))) => {
            return error_page(&v, StatusCode::CONFLICT, "this incident is already resolved")
        }
        Ok(Some(Ok(()))) => {}
    }
    if f.action == "resolve" {
        if let Err(e) = resolve_in_engine(&app, &id).await {
            return error_page(&v, e.status(), &format!("resolve: {e}"));
        }
    }
    tracing::info!(incident = %id, action = %f.action, who = %v.name, "dashboard action");
    Redirect::to(&format!("/incidents/{}", urlencode(&id))).into_response()
}

/// Server-sent events: `change` whenever an alert event, action or notification is
/// recorded (checked every second), so open pages update themselves. Ends when the service
/// stops.
async fn events(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = viewer(&app, &headers, "/") {
        return r;
    }
    let stopping = app.stopping.clone();
    let stream = futures_util::stream::unfold((app, String::new(), true), move |(app, last, first)| {
        let stopping = stopping.clone();
        async move {
            loop {
                if !first {
                    tokio::select! {
                        () = stopping.cancelled() => return None,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
                let mark = with_db(&app, |c| store::change_mark(c)).await.ok()?;
                if first || mark != last {
                    let ev = Event::default().event(if first { "hello" } else { "change" }).data(mark.clone());
                    return Some((Ok::<_, std::convert::Infallible>(ev), (app, mark, false)));
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cross_site_posts_are_refused() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8686".parse().unwrap());
        assert!(same_origin(&h), "no Origin: a same-site form of an old browser, or curl");
        h.insert("origin", "http://127.0.0.1:8686".parse().unwrap());
        assert!(same_origin(&h));
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("origin", "http://127.0.0.1:8686".parse().unwrap());
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
    }

    fn viewer(can_respond: bool) -> Viewer {
        Viewer { name: "dana".into(), can_respond, csrf: Some("t0k".into()), session: true }
    }

    #[test]
    fn the_incident_body_has_the_evidence_the_drafts_rtl_and_the_actions() {
        let ev = json!({"id": "abc", "brand": "shahaf", "brand_name": "שחף", "metric": "volume", "severity": "critical",
            "status": "firing", "at": "2026-11-30T10:05:00Z", "observed": 300.0, "expected": 40.0, "p_value": 1e-9,
            "window_start": "2026-11-30T10:00:00Z", "window_end": "2026-11-30T10:05:00Z", "mentions": 300, "authors": 280,
            "reshares": 800, "category": "outage", "rule": "volume-spike",
            "top_posts": [{"text": "<img src=x> האפליקציה נפלה", "author": "a", "author_followers": 12000, "source": "twitter",
                "url": "https://x.example/1", "reshares": 800, "negative": true},
                {"text": "p2", "url": "javascript:alert(1)", "reshares": 0}],
            "top_terms": [{"term": "נפלה", "count": 40}], "sources": [["twitter", 200]],
            "suggested_responses": [{"lang": "he", "text": "שלום, אנחנו בודקים"}, {"lang": "en", "text": "Hi"}],
            "curve": [1, 2, 3]});
        let resolved = json!({"id": "abc", "brand": "shahaf", "status": "resolved", "severity": "critical", "at": "2026-11-30T12:00:00Z", "top_posts": []});
        let hist = json!({"id": "abc", "status": "acknowledged", "acknowledged_by": "dana", "events": [ev, resolved],
            "actions": [{"action": "ack", "who": "dana", "note": "on it", "at": "2026-11-30T10:07:00Z"}]});
        let notes = vec![store::NotificationRow {
            receiver: "pr-oncall".into(),
            kind: "firing".into(),
            status: "delivered".into(),
            attempts: 1,
            created_ms: crate::time::parse_timestamp("2026-11-30T10:06:00Z").unwrap(),
            delivered_ms: None,
            last_error: None,
        }];
        let b = incident_body(&hist, &notes, &[], &viewer(true));
        assert!(b.contains("1 post re-shared 800 times"), "{b}");
        assert!(b.contains(r#"lang="he" dir="rtl""#) && b.contains(r#"lang="en" dir="ltr""#));
        assert!(b.contains("&lt;img src=x&gt;") && !b.contains("<img src=x>"), "post text is escaped");
        assert!(!b.contains("javascript:"), "only http(s) links");
        assert!(b.contains(r#"value="ack""#) && b.contains(r#"name="csrf" value="t0k""#));
        assert!(b.contains("Acknowledged by <b class=\"actor\">dana</b>: <q>on it</q>"));
        assert!(b.contains("Notified <b>pr-oncall</b> (firing): delivered"));
        assert!(b.contains("Fired as critical") && b.contains("Resolved (back to usual)"));
        let fired = b.find("Fired as critical").unwrap();
        let acked = b.find("Acknowledged by <b class").unwrap();
        assert!(fired < b.find("Notified").unwrap() && b.find("Notified").unwrap() < acked, "timeline in time order");
        assert!(b.contains("years of this brand"), "odds in words");
        let b = incident_body(&hist, &notes, &[], &viewer(false));
        assert!(!b.contains(r#"value="ack""#) && b.contains("need the responder role"));
    }
}
