//! The planned-events API: `POST /v1/planned` (respond scope, bearer token),
//! `GET /v1/planned` (read) and `DELETE /v1/planned/{id}` (respond, bearer token). A planned
//! event declares that a brand will be talked about more on purpose (a launch, a TV ad) and
//! by how much: its volume and reach rules expect the uplift in that window, its
//! negative-share rules stay armed (`detect::planned`). Validated here ([`validate`], pure),
//! kept in the store (`store::planned`), and handed whole to the engine after every change
//! and at start. The rules files declare theirs in `[[planned]]` tables.
//!
//! Time is event time: a planned event shapes the mentions whose timestamps fall in it,
//! whenever they arrive (a backfill with `--clock event` included), so a past window is
//! accepted. Creating or deleting one changes what the engine expects from the next mention
//! on; a restart replays the ingest log after the last snapshot with the events as they are
//! then.

// Helpers return the HTTP answer itself as their error, as in `api`.
#![allow(clippy::result_large_err)]

use crate::rules::names::Names;
use crate::rules::planned as rule;
use crate::serve::api::{authenticate, run_db, App};
use crate::serve::auth::Scope;
use crate::serve::error::ApiError;
use crate::serve::pipeline::EngineMsg;
use crate::serve::silences::brands_seen_beyond_rules;
use crate::store::planned::{self as stored, NewPlanned, PlannedRefused};
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// A request body of `POST /v1/planned`: the fields of a rules file's `[[planned]]` table,
/// and the brand.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedBody {
    /// Brand id (required).
    pub brand: Option<String>,
    /// What it is (required), e.g. "spring launch".
    pub name: Option<String>,
    /// RFC 3339 (required).
    pub start: Option<String>,
    /// RFC 3339; or give `duration`.
    pub end: Option<String>,
    /// From `start`, e.g. `6h`; or give `end`.
    pub duration: Option<String>,
    /// Expected volume as a multiple of the usual, 1 to 1000 (required).
    pub uplift: Option<f64>,
    /// Refused unless it equals the authenticated name.
    pub creator: Option<String>,
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, PlannedRefused> {
    Err(PlannedRefused::Invalid(msg.into()))
}

/// Validates a request into the planned event to store. `seen` are brand ids the engine
/// knows beyond the rules files; `creator` is the authenticated name. Pure.
///
/// # Errors
/// [`PlannedRefused::Invalid`]: the first thing wrong, said precisely.
pub fn validate(
    body: PlannedBody,
    known: &Names,
    seen: &[String],
    creator: &str,
) -> Result<NewPlanned, PlannedRefused> {
    if let Some(c) = body.creator.as_deref().filter(|c| *c != creator) {
        return invalid(format!(
            "`creator` is recorded from the credentials (`{creator}`), not from the body: leave it out (got `{c}`)"
        ));
    }
    let Some(brand) = body.brand.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()) else {
        return invalid("`brand` is required: a brand id");
    };
    if !known.brands.contains_key(&brand) && !seen.contains(&brand) {
        let mut ids: Vec<&str> =
            known.brands.keys().map(String::as_str).chain(seen.iter().map(String::as_str)).collect();
        ids.sort_unstable();
        ids.dedup();
        let ids: Vec<String> = ids.iter().map(|i| format!("`{i}`")).collect();
        let ids = if ids.is_empty() { "none".to_string() } else { ids.join(", ") };
        return invalid(format!("unknown brand `{brand}` (known brands: {ids})"));
    }
    let name = body.name.unwrap_or_default().trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return invalid("`name` is required, at most 200 characters: what the event is (e.g. \"spring launch\")");
    }
    let Some(start) = body.start else {
        return invalid("`start` (RFC 3339) is required");
    };
    let (start_ms, end_ms) =
        rule::span(&start, body.end.as_deref(), body.duration.as_deref()).or_else(|e| invalid(e.to_string()))?;
    let Some(uplift) = body.uplift else {
        return invalid("`uplift` is required: the expected volume as a multiple of the usual (e.g. 5)");
    };
    let uplift = rule::uplift(uplift).or_else(|e| invalid(e.to_string()))?;
    Ok(NewPlanned { brand, name, start_ms, end_ms, uplift, creator: creator.to_string() })
}

/// Hands every planned event not deleted to the engine.
async fn refresh_engine(app: &App) -> Result<(), ApiError> {
    let all = run_db(app, |c| stored::for_engine(c)).await?;
    app.engine.send(EngineMsg::Planned(all)).map_err(|_| ApiError::shutting_down())
}

/// The routes, with their state (the service merges them beside the API's).
pub fn router(app: App) -> Router {
    Router::new()
        .route("/v1/planned", get(list).post(create))
        .route("/v1/planned/{id}", delete(remove))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(app)
}

async fn create(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Response {
    let identity = match authenticate(&app, &headers, Scope::Respond, true) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body: PlannedBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return ApiError::BadRequest(format!("body: {e}")).into_response(),
    };
    let seen = match brands_seen_beyond_rules(&app, body.brand.as_deref()).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let new = match validate(body, &app.shared.known.get(), &seen, &identity.name) {
        Ok(n) => n,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = crate::clock::wall_ms();
    let made = match run_db(&app, move |c| stored::create(c, &new, now)).await.and_then(|r| r.map_err(ApiError::from)) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = refresh_engine(&app).await {
        return e.into_response();
    }
    tracing::info!(planned = made.id, brand = %made.event.brand, uplift = made.event.uplift, creator = %made.event.creator, "planned event declared");
    (StatusCode::CREATED, Json(made.to_json(now))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Include deleted ones.
    deleted: Option<bool>,
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
    let (deleted, limit) = (q.deleted.unwrap_or(false), q.limit.unwrap_or(1000).clamp(1, 1000));
    let now = crate::clock::wall_ms();
    match run_db(&app, move |c| stored::list(c, deleted, limit)).await {
        Ok(rows) => {
            let planned: Vec<_> = rows.iter().map(|p| p.to_json(now)).collect();
            Json(json!({ "planned": planned })).into_response()
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
        return ApiError::NotFound(format!("no planned event `{id}` (their ids are numbers)")).into_response();
    };
    let now = crate::clock::wall_ms();
    let who = identity.name.clone();
    let gone =
        match run_db(&app, move |c| stored::delete(c, id, &who, now)).await.and_then(|r| r.map_err(ApiError::from)) {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
    if let Err(e) = refresh_engine(&app).await {
        return e.into_response();
    }
    tracing::info!(planned = id, who = %identity.name, "planned event deleted");
    Json(gone.to_json(now)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Names {
        let rules =
            crate::rules::load_dir(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"))).unwrap();
        Names::of(&rules)
    }

    fn body(v: serde_json::Value) -> PlannedBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn requests_are_validated_precisely() {
        let k = known();
        let brand = k.brands.keys().next().expect("the shipped rules name a brand").clone();
        let ok = validate(
            body(json!({"brand": brand, "name": "launch", "start": "2026-03-04T10:00:00+02:00", "duration": "6h", "uplift": 5})),
            &k,
            &[],
            "ops",
        )
        .unwrap();
        assert_eq!((ok.end_ms - ok.start_ms, ok.uplift, ok.creator.as_str()), (6 * 3_600_000, 5.0, "ops"));
        let err = |v: serde_json::Value, seen: &[String]| match validate(body(v), &k, seen, "ops") {
            Err(PlannedRefused::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        let base = json!({"brand": brand, "name": "x", "start": "2026-03-04T10:00:00Z", "duration": "1h", "uplift": 2});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert!(err(with("brand", json!("nope")), &[]).contains("unknown brand `nope`"));
        assert!(validate(body(with("brand", json!("seen-only"))), &k, &["seen-only".into()], "ops").is_ok());
        assert!(err(with("uplift", json!(0.2)), &[]).contains("`uplift` = 0.2"));
        assert!(err(with("start", json!("2026-13-01T00:00:00Z")), &[]).contains("`start`"));
        assert!(err(with("end", json!("2026-03-04T12:00:00Z")), &[]).contains("exactly one"));
        assert!(err(with("name", json!(" ")), &[]).contains("`name` is required"));
        assert!(err(with("creator", json!("boss")), &[]).contains("from the credentials"));
        let mut no_uplift = base.clone();
        no_uplift.as_object_mut().unwrap().remove("uplift");
        assert!(err(no_uplift, &[]).contains("`uplift` is required"));
    }
}
