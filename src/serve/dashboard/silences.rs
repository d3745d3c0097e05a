//! The dashboard's silences: `/silences` lists the active and pending ones, each with a
//! delete button, and has a small form to make one (brand, optionally a rule, how long,
//! why); `POST /silences` and `POST /silences/{id}/delete` go through the same validation
//! and store as `/v1/silences` (`serve::silences`). [`held_note`] is the incident page's
//! "silenced by …" line.

// Helpers return the HTTP answer itself as their error, as in `api`.
#![allow(clippy::result_large_err)]

use super::page::{esc, frame, time, Viewer};
use super::reply::{error_page, html_for, same_origin, viewer};
use crate::serve::api::{run_db, App};
use crate::serve::silences::{create_silence, end_silence, engine_brands, SilenceBody};
use crate::store::silences::{self as stored, Silence};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// How long a silence made here lasts: the form's choices.
const DURATIONS: [(&str, &str); 5] =
    [("1h", "1 hour"), ("4h", "4 hours"), ("1d", "1 day"), ("7d", "7 days"), ("30d", "30 days")];

/// `GET /silences`.
pub async fn page(State(app): State<App>, headers: HeaderMap) -> Response {
    let v = match viewer(&app, &headers, "/silences") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = crate::clock::wall_ms();
    let list = match run_db(&app, move |c| stored::list(c, None, now, 1000)).await {
        Ok(l) => l,
        Err(e) => return error_page(&v, e.status(), &e.to_string()),
    };
    let known = app.shared.known.get();
    let mut brands: BTreeSet<String> = known.brands.keys().cloned().collect();
    brands.extend(engine_brands(&app).await.unwrap_or_default());
    let body = body(&list, &brands, &known.rules_of("*"), &v, now);
    html_for(&headers, frame("Silences", &v, "silences", true, &body))
}

/// The page's `main`: pure, from the silences, the brand ids and rule names, the viewer.
pub fn body(list: &[Silence], brands: &BTreeSet<String>, rules: &BTreeSet<&str>, v: &Viewer, now: i64) -> String {
    let mut b = String::from(
        r#"<h1>Silences</h1><p class="lead">A silence holds notifications: the incidents it covers are recorded and shown here and on their pages, but nobody is told until it ends or is deleted; then their escalation goes on where it stands.</p>"#,
    );
    let csrf = esc(v.csrf.as_deref().unwrap_or(""));
    if v.can_respond {
        let _ = write!(
            b,
            r#"<form class="filter silence-new" method="post" action="/silences"><input type="hidden" name="csrf" value="{csrf}"><label>Brand <select name="brand"><option value="*">every brand</option>"#
        );
        for id in brands {
            let _ = write!(b, "<option>{}</option>", esc(id));
        }
        b.push_str(r#"</select></label><label>Rule <select name="rule"><option value="">every rule</option>"#);
        for r in rules {
            let _ = write!(b, "<option>{}</option>", esc(r));
        }
        b.push_str(r#"</select></label><label>For <select name="duration">"#);
        for (d, words) in DURATIONS {
            let _ = write!(b, r#"<option value="{d}">{words}</option>"#);
        }
        b.push_str(r#"</select></label><label>Reason <input type="text" name="reason" required maxlength="1000" placeholder="product launch, TV ad, …"></label><button type="submit" class="primary">Silence</button></form>"#);
    } else {
        b.push_str(
            r#"<p class="note">You can view the silences; making and deleting them needs the responder role.</p>"#,
        );
    }
    if list.is_empty() {
        b.push_str(r#"<p class="empty">No silences: every incident is notified.</p>"#);
        return b;
    }
    b.push_str(r#"<table class="silences"><thead><tr><th>Silence</th><th>Brand</th><th>Holds</th><th>From</th><th>Until</th><th>Reason</th><th>By</th><th></th></tr></thead><tbody>"#);
    for s in list {
        let scope = match (s.rules.is_empty(), s.metrics.is_empty()) {
            (true, true) => "every rule".to_string(),
            (false, true) => format!("rules {}", esc(&s.rules.join(", "))),
            (true, false) => format!("metrics {}", esc(&s.metrics.join(", "))),
            (false, false) => format!("rules {}; metrics {}", esc(&s.rules.join(", ")), esc(&s.metrics.join(", "))),
        };
        let state = s.state(now).as_str();
        let delete = if v.can_respond {
            format!(
                r#"<form method="post" action="/silences/{id}/delete" class="inline"><input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="danger" aria-label="Delete silence {id}">Delete</button></form>"#,
                id = s.id
            )
        } else {
            String::new()
        };
        let _ = write!(
            b,
            r#"<tr class="silence" data-id="{id}" data-state="{state}"><td>#{id} <span class="usual">{state}</span></td><td data-label="Brand">{brand}</td><td data-label="Holds">{scope}</td><td data-label="From">{from}</td><td data-label="Until">{until}</td><td data-label="Reason" dir="auto">{reason}</td><td data-label="By"><bdi>{creator}</bdi></td><td>{delete}</td></tr>"#,
            id = s.id,
            brand = if s.brand == "*" { "every brand".to_string() } else { esc(&s.brand) },
            from = time(&crate::time::format_rfc3339(s.start_ms)),
            until = time(&crate::time::format_rfc3339(s.end_ms)),
            reason = esc(&s.reason),
            creator = esc(&s.creator),
        );
    }
    b.push_str("</tbody></table>");
    b
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct NewForm {
    brand: String,
    #[serde(default)]
    rule: String,
    duration: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    csrf: String,
}

/// The delete form.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
}

/// A form from this dashboard (same origin, the session's CSRF token) by someone who may
/// respond; else the page that says why not.
fn allowed(headers: &HeaderMap, v: &Viewer, csrf: &str) -> Result<(), Response> {
    let forged =
        v.csrf.as_deref().is_some_and(|t| !bool::from(subtle::ConstantTimeEq::ct_eq(t.as_bytes(), csrf.as_bytes())));
    if !same_origin(headers) || forged {
        return Err(error_page(
            v,
            StatusCode::FORBIDDEN,
            "this form was not sent from this dashboard; reload the page and try again",
        ));
    }
    if !v.can_respond {
        return Err(error_page(v, StatusCode::FORBIDDEN, "making and deleting silences needs the responder role"));
    }
    Ok(())
}

/// `POST /silences`.
pub async fn create(State(app): State<App>, headers: HeaderMap, Form(f): Form<NewForm>) -> Response {
    let v = match viewer(&app, &headers, "/silences") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = allowed(&headers, &v, &f.csrf) {
        return r;
    }
    let body = SilenceBody {
        brand: Some(f.brand),
        rules: Some(f.rule).filter(|r| !r.is_empty()).map(|r| vec![r]),
        duration: Some(f.duration),
        reason: Some(f.reason),
        ..SilenceBody::default()
    };
    match create_silence(&app, body, &v.name).await {
        Ok(_) => Redirect::to("/silences").into_response(),
        Err(e) => error_page(&v, e.status(), &e.to_string()),
    }
}

/// `POST /silences/{id}/delete`.
pub async fn delete(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<DeleteForm>,
) -> Response {
    let v = match viewer(&app, &headers, "/silences") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = allowed(&headers, &v, &f.csrf) {
        return r;
    }
    match end_silence(&app, id, &v.name).await {
        Ok(_) => Redirect::to("/silences").into_response(),
        Err(e) => error_page(&v, e.status(), &e.to_string()),
    }
}

/// "Silenced by …" for an incident whose history carries `silenced_by` (see
/// `store::silences::annotate_history`); empty otherwise.
pub fn held_note(hist: &Value) -> String {
    let Some(held) = hist["silenced_by"].as_array().filter(|h| !h.is_empty()) else { return String::new() };
    let mut b = String::from(r#"<p class="silenced">Silenced: recorded, not notified. Held by "#);
    for (i, s) in held.iter().enumerate() {
        if i > 0 {
            b.push_str("; ");
        }
        let _ = write!(
            b,
            r#"<a href="/silences">silence #{}</a> by <bdi>{}</bdi> (<q dir="auto">{}</q>) until {}"#,
            s["id"].as_i64().unwrap_or(0),
            esc(s["creator"].as_str().unwrap_or("")),
            esc(s["reason"].as_str().unwrap_or("")),
            time(s["end"].as_str().unwrap_or("")),
        );
    }
    b.push_str(".</p>");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(id: i64, brand: &str, rules: &[&str]) -> Silence {
        Silence {
            id,
            brand: brand.into(),
            rules: rules.iter().map(|s| s.to_string()).collect(),
            metrics: Vec::new(),
            start_ms: 0,
            end_ms: 7_200_000,
            reason: "<launch>".into(),
            creator: "dana".into(),
            created_ms: 0,
            incident: None,
            ended_by: None,
        }
    }

    #[test]
    fn the_list_the_form_and_the_note() {
        let v = Viewer { name: "dana".into(), can_respond: true, csrf: Some("t0k".into()), session: true };
        let brands: BTreeSet<String> = ["acme".to_string()].into();
        let rules: BTreeSet<&str> = ["volume-spike"].into();
        let b = body(&[silence(3, "acme", &["volume-spike"]), silence(4, "*", &[])], &brands, &rules, &v, 1000);
        assert!(b.contains(r#"action="/silences/3/delete""#) && b.contains(r#"name="csrf" value="t0k""#));
        assert!(b.contains("rules volume-spike") && b.contains("every brand") && b.contains("&lt;launch&gt;"));
        assert!(b.contains(r#"<option value="*">every brand</option><option>acme</option>"#));
        let viewer = Viewer { can_respond: false, ..v };
        let b = body(&[silence(3, "acme", &[])], &brands, &rules, &viewer, 1000);
        assert!(!b.contains("/delete") && !b.contains(r#"action="/silences""#) && b.contains("responder role"));
        let hist = serde_json::json!({"silenced_by": [{"id": 3, "creator": "@dana (Telegram)", "reason": "Mute 1h from Telegram", "end": "2026-01-01T13:00:00Z"}]});
        let note = held_note(&hist);
        assert!(
            note.contains("silence #3</a> by <bdi>@dana (Telegram)</bdi>") && note.contains("Mute 1h from Telegram"),
            "{note}"
        );
        assert_eq!(held_note(&serde_json::json!({})), "");
    }
}
