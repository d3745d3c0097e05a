//! The silences API: `POST /v1/silences` (respond scope, bearer token), `GET /v1/silences`
//! (read) and `DELETE /v1/silences/{id}` (respond, bearer token). A request is validated
//! here ([`validate`], pure) against what the rules name ([`Names`]: brands, their rules,
//! the metrics the rules use); the creator is the authenticated name, never the body's. The
//! store keeps them (`store::silences`) and the notifier holds what they cover.

// Helpers return the HTTP answer itself as their error, as in `api`.
#![allow(clippy::result_large_err)]

use crate::rules::names::Names;
use crate::serve::api::{authenticate, run_db, App};
use crate::serve::auth::Scope;
use crate::serve::error::ApiError;
use crate::serve::pipeline::EngineMsg;
use crate::store::silences::{self as stored, NewSilence, SilenceRefused, State, MAX_DURATION_MS, MAX_START_AHEAD_MS};
use crate::time::{format_rfc3339, parse_timestamp, Millis};
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;

/// Longest `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// Most rules or metrics one silence names.
pub const MAX_NAMES: usize = 100;

/// A request body of `POST /v1/silences` (and, from a form, of the dashboard).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    /// Brand id, or `*` for every brand.
    pub brand: Option<String>,
    /// Rule names (absent or empty: every rule).
    pub rules: Option<Vec<String>>,
    /// Metrics (absent or empty: every metric).
    pub metrics: Option<Vec<String>>,
    /// RFC 3339; absent: now.
    pub start: Option<String>,
    /// RFC 3339; or give `duration`.
    pub end: Option<String>,
    /// From `start`, e.g. `2h`, `3d`; or give `end`.
    pub duration: Option<String>,
    /// Why (required).
    pub reason: Option<String>,
    /// Refused unless it equals the authenticated name.
    pub creator: Option<String>,
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, SilenceRefused> {
    Err(SilenceRefused::Invalid(msg.into()))
}

fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let all: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// Validates a request into the silence to store. `seen` are brand ids the engine knows
/// beyond the rules files (brands first seen in mentions); `creator` is the authenticated
/// name. Pure: `now` is given.
///
/// # Errors
/// [`SilenceRefused::Invalid`]: the first thing wrong, said precisely.
pub fn validate(
    body: SilenceBody,
    known: &Names,
    seen: &[String],
    creator: &str,
    now: Millis,
) -> Result<NewSilence, SilenceRefused> {
    if let Some(c) = body.creator.as_deref().filter(|c| *c != creator) {
        return invalid(format!(
            "`creator` is recorded from the credentials (`{creator}`), not from the body: leave it out (got `{c}`)"
        ));
    }
    let Some(brand) = body.brand.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()) else {
        return invalid("`brand` is required: a brand id, or `*` for every brand");
    };
    if brand != "*" && !known.brands.contains_key(&brand) && !seen.contains(&brand) {
        let mut ids: BTreeSet<&str> = known.brands.keys().map(String::as_str).collect();
        ids.extend(seen.iter().map(String::as_str));
        return invalid(format!("unknown brand `{brand}` (known brands: {}; or `*` for every brand)", listed(ids)));
    }
    let mut rules = body.rules.unwrap_or_default();
    rules.sort();
    rules.dedup();
    if rules.len() > MAX_NAMES {
        return invalid(format!("`rules` names {} rules; at most {MAX_NAMES}", rules.len()));
    }
    let allowed = known.rules_of(&brand);
    if let Some(r) = rules.iter().find(|r| !allowed.contains(r.as_str())) {
        let whose = if brand == "*" { "any brand".to_string() } else { format!("brand `{brand}`") };
        return invalid(format!("unknown rule `{r}` for {whose} (its rules: {})", listed(allowed)));
    }
    let mut metrics = body.metrics.unwrap_or_default();
    metrics.sort();
    metrics.dedup();
    if let Some(m) = metrics.iter().find(|m| !known.metrics.contains(*m)) {
        return invalid(format!(
            "unknown metric `{m}` (metrics: {})",
            listed(known.metrics.iter().map(String::as_str))
        ));
    }
    let start_ms = match body.start.as_deref() {
        None => now,
        Some(s) => parse_timestamp(s).or_else(|e| invalid(format!("`start`: {e}")))?,
    };
    let end_ms = match (body.end.as_deref(), body.duration.as_deref()) {
        (Some(_), Some(_)) => return invalid("give `end` or `duration`, not both"),
        (None, None) => return invalid("`end` (RFC 3339) or `duration` (e.g. \"2h\") is required"),
        (Some(e), None) => parse_timestamp(e).or_else(|err| invalid(format!("`end`: {err}")))?,
        (None, Some(d)) => {
            let d = crate::units::parse_duration(d).or_else(|e| invalid(format!("`duration`: {e}")))?;
            start_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }
    };
    if end_ms <= start_ms {
        return invalid(format!(
            "`end` ({}) must be after `start` ({})",
            format_rfc3339(end_ms),
            format_rfc3339(start_ms)
        ));
    }
    if end_ms <= now {
        return invalid(format!("`end` ({}) is in the past", format_rfc3339(end_ms)));
    }
    if end_ms - start_ms > MAX_DURATION_MS {
        let days = (end_ms - start_ms) as f64 / 86_400_000.0;
        return invalid(format!("a silence lasts at most 90 days (this one: {days:.1} days)"));
    }
    if start_ms - now > MAX_START_AHEAD_MS {
        return invalid(format!("`start` ({}) is more than 90 days ahead", format_rfc3339(start_ms)));
    }
    let reason = body.reason.unwrap_or_default().trim().to_string();
    if reason.is_empty() {
        return invalid("`reason` is required: say why (it is shown with the incidents the silence holds)");
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return invalid(format!("`reason` is longer than {MAX_REASON_CHARS} characters"));
    }
    Ok(NewSilence { brand, rules, metrics, start_ms, end_ms, reason, creator: creator.to_string() })
}

/// The brand ids the engine knows (brands first seen in mentions included).
pub(crate) async fn engine_brands(app: &App) -> Result<Vec<String>, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if app.engine.send(EngineMsg::Status(tx)).is_err() {
        return Err(ApiError::shutting_down());
    }
    match rx.await {
        Ok(brands) => Ok(brands.into_iter().map(|b| b.id).collect()),
        Err(_) => Err(ApiError::shutting_down()),
    }
}

/// What a request naming `brand` must be checked against beyond the rules files: the
/// brands the engine has seen, asked only when `brand` is not in the rules files (nor empty,
/// nor `*`).
pub(crate) async fn brands_seen_beyond_rules(app: &App, brand: Option<&str>) -> Result<Vec<String>, ApiError> {
    let brand = brand.unwrap_or("").trim();
    if brand.is_empty() || brand == "*" || app.shared.known.get().brands.contains_key(brand) {
        Ok(Vec::new())
    } else {
        engine_brands(app).await
    }
}

/// Validates `body` for `creator` (asking the engine about brands not in the rules files)
/// and stores it: the dashboard's form and the API share this.
pub(crate) async fn create_silence(app: &App, body: SilenceBody, creator: &str) -> Result<stored::Silence, ApiError> {
    let seen = brands_seen_beyond_rules(app, body.brand.as_deref()).await?;
    let now = crate::clock::wall_ms();
    let new = validate(body, &app.shared.known.get(), &seen, creator, now)?;
    let made = run_db(app, move |c| stored::create(c, &new, now)).await??;
    tracing::info!(silence = made.id, brand = %made.brand, creator = %made.creator, "silence created");
    Ok(made)
}

/// Ends silence `id` for `who`; the notifier is woken, so what it held goes out now.
pub(crate) async fn end_silence(app: &App, id: i64, who: &str) -> Result<stored::Silence, ApiError> {
    let now = crate::clock::wall_ms();
    let who2 = who.to_string();
    let ended = run_db(app, move |c| stored::end(c, id, &who2, now)).await??;
    app.shared.notify_wake.notify_one();
    tracing::info!(silence = id, who, "silence deleted");
    Ok(ended)
}

/// The routes, with their state (the service merges them beside the API's).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/v1/silences", get(list).post(create))
        .route("/v1/silences/{id}", delete(remove))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(app)
}

async fn create(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Response {
    let identity = match authenticate(&app, &headers, Scope::Respond, true) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body: SilenceBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return ApiError::BadRequest(format!("body: {e}")).into_response(),
    };
    match create_silence(&app, body, &identity.name).await {
        Ok(s) => (StatusCode::CREATED, Json(s.to_json(crate::clock::wall_ms()))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    limit: Option<usize>,
}

async fn list(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = authenticate(&app, &headers, Scope::Read, false) {
        return r;
    }
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::BadRequest(e.body_text()).into_response(),
    };
    let state = match q.state.as_deref() {
        None | Some("current") => None,
        Some("active") => Some(Some(State::Active)),
        Some("pending") => Some(Some(State::Pending)),
        Some("expired") => Some(Some(State::Expired)),
        Some("all") => Some(None),
        Some(s) => {
            return ApiError::BadRequest(format!("`state` must be current, active, pending, expired or all, not `{s}`"))
                .into_response()
        }
    };
    let limit = q.limit.unwrap_or(1000).clamp(1, 1000);
    let now = crate::clock::wall_ms();
    let found = run_db(&app, move |c| match state {
        None => stored::list(c, None, now, limit),
        Some(Some(s)) => stored::list(c, Some(s), now, limit),
        Some(None) => {
            let mut all = stored::list(c, None, now, limit)?;
            all.extend(stored::list(c, Some(State::Expired), now, limit)?);
            all.sort_by_key(|s| std::cmp::Reverse(s.id));
            all.truncate(limit);
            Ok(all)
        }
    })
    .await;
    match found {
        Ok(list) => {
            let silences: Vec<_> = list.iter().map(|s| s.to_json(now)).collect();
            Json(json!({ "silences": silences })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn remove(AxState(app): AxState<App>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let identity = match authenticate(&app, &headers, Scope::Respond, true) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return ApiError::NotFound(format!("no silence `{id}` (silence ids are numbers)")).into_response();
    };
    match end_silence(&app, id, &identity.name).await {
        Ok(s) => Json(s.to_json(crate::clock::wall_ms())).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_767_268_800_000; // 2026-01-01T12:00:00Z

    fn known() -> Names {
        let rules =
            crate::rules::load_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"))).unwrap();
        Names::of(&rules)
    }

    fn body(json: serde_json::Value) -> SilenceBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_valid_request_becomes_a_silence_from_now() {
        let k = known();
        let s = validate(
            body(json!({"brand": "acme", "rules": ["volume-spike", "volume-spike"], "duration": "2h", "reason": " launch "})),
            &k,
            &[],
            "dana",
            NOW,
        )
        .unwrap();
        assert_eq!(
            (s.brand.as_str(), s.rules.clone(), s.start_ms, s.end_ms),
            ("acme", vec!["volume-spike".into()], NOW, NOW + 7_200_000)
        );
        assert_eq!((s.reason.as_str(), s.creator.as_str()), ("launch", "dana"));
        let s = validate(
            body(json!({"brand": "*", "metrics": ["volume"], "start": "2026-01-02T00:00:00Z", "end": "2026-01-03T00:00:00Z", "reason": "tv ad"})),
            &k,
            &[],
            "dana",
            NOW,
        )
        .unwrap();
        assert_eq!(s.end_ms - s.start_ms, 86_400_000);
        assert!(
            validate(body(json!({"brand": "newco", "duration": "1h", "reason": "r"})), &k, &["newco".into()], "d", NOW)
                .is_ok(),
            "a brand the engine has seen"
        );
    }

    #[test]
    fn each_mistake_is_named() {
        let k = known();
        let cases: &[(&str, serde_json::Value, &str)] = &[
            ("no brand", json!({"duration": "1h", "reason": "r"}), "`brand` is required"),
            (
                "unknown brand",
                json!({"brand": "nope", "duration": "1h", "reason": "r"}),
                "unknown brand `nope` (known brands: `acme`",
            ),
            (
                "unknown rule",
                json!({"brand": "acme", "rules": ["volume-spikes"], "duration": "1h", "reason": "r"}),
                "unknown rule `volume-spikes` for brand `acme` (its rules: ",
            ),
            (
                "unknown metric",
                json!({"brand": "acme", "metrics": ["volume_share"], "duration": "1h", "reason": "r"}),
                "unknown metric `volume_share` (metrics: `flatline`, `negative`, `reach`, `volume`)",
            ),
            (
                "no end",
                json!({"brand": "acme", "reason": "r"}),
                "`end` (RFC 3339) or `duration` (e.g. \"2h\") is required",
            ),
            (
                "both",
                json!({"brand": "acme", "end": "2026-01-02T00:00:00Z", "duration": "1h", "reason": "r"}),
                "give `end` or `duration`, not both",
            ),
            (
                "end before start",
                json!({"brand": "acme", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T13:00:00Z", "reason": "r"}),
                "`end` (2026-01-01T13:00:00Z) must be after `start` (2026-01-02T00:00:00Z)",
            ),
            (
                "end in the past",
                json!({"brand": "acme", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "reason": "r"}),
                "`end` (2026-01-01T01:00:00Z) is in the past",
            ),
            (
                "too long",
                json!({"brand": "acme", "duration": "91d", "reason": "r"}),
                "a silence lasts at most 90 days (this one: 91.0 days)",
            ),
            (
                "too far ahead",
                json!({"brand": "acme", "start": "2026-06-01T00:00:00Z", "duration": "1h", "reason": "r"}),
                "is more than 90 days ahead",
            ),
            ("bad time", json!({"brand": "acme", "end": "tomorrow", "reason": "r"}), "`end`: "),
            ("bad duration", json!({"brand": "acme", "duration": "soon", "reason": "r"}), "`duration`: "),
            ("no reason", json!({"brand": "acme", "duration": "1h", "reason": "  "}), "`reason` is required"),
            (
                "long reason",
                json!({"brand": "acme", "duration": "1h", "reason": "x".repeat(1001)}),
                "`reason` is longer than 1000 characters",
            ),
            (
                "another creator",
                json!({"brand": "acme", "duration": "1h", "reason": "r", "creator": "eve"}),
                "`creator` is recorded from the credentials (`dana`), not from the body",
            ),
        ];
        for (name, json, want) in cases {
            let SilenceRefused::Invalid(err) = validate(body(json.clone()), &k, &[], "dana", NOW).expect_err(name)
            else {
                panic!("{name}: not Invalid")
            };
            assert!(err.contains(want), "{name}: {err}");
        }
        assert!(
            serde_json::from_value::<SilenceBody>(json!({"brand": "acme", "matchers": []})).is_err(),
            "unknown fields"
        );
    }
}
