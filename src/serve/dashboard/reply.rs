//! The dashboard's responses: security headers on every page, gzip when the browser
//! takes it, who is looking (or the redirect to log in), the same-origin check of forms, and
//! the error page. Shared by the pages in `dashboard` and `dashboard::silences`.

// Helpers return the HTTP answer itself as their error, as in `api`.
#![allow(clippy::result_large_err)]

use super::page::{esc, frame, Viewer};
use crate::serve::api::App;
use crate::serve::auth::{self, Scope};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::fmt::Write as _;
use std::io::Write as _;

/// Security headers of every page: no framing, no sniffing, scripts and styles from here only.
pub fn html(status: StatusCode, body: String) -> Response {
    (status, SECURITY, Html(body)).into_response()
}

/// The headers of [`html`]: a strict Content-Security-Policy, no sniffing, no caching.
pub const SECURITY: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::CACHE_CONTROL, "no-store"),
];

/// [`html`], gzipped when the browser accepts it (a hundred brands' page is ~4x smaller).
pub fn html_for(headers: &HeaderMap, body: String) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    if !gzip || body.len() < 2048 {
        return html(StatusCode::OK, body);
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::new(5));
    if enc.write_all(body.as_bytes()).is_err() {
        return html(StatusCode::OK, body);
    }
    match enc.finish() {
        Ok(z) => (
            StatusCode::OK,
            SECURITY,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_ENCODING, "gzip")],
            [(header::VARY, "Accept-Encoding")],
            z,
        )
            .into_response(),
        Err(_) => html(StatusCode::OK, body),
    }
}

/// Who is looking (a session cookie, a bearer token, or anybody when the service is open),
/// or the answer that sends them to log in.
pub fn viewer(app: &App, headers: &HeaderMap, path: &str) -> Result<Viewer, Response> {
    match auth::require(&app.auth, headers, Scope::Read) {
        Ok(id) => {
            Ok(Viewer { can_respond: id.can(Scope::Respond), session: id.csrf.is_some(), csrf: id.csrf, name: id.name })
        }
        Err(r) if r.status() == StatusCode::UNAUTHORIZED => {
            Err(Redirect::to(&format!("/login?next={}", urlencode(path))).into_response())
        }
        Err(r) => Err(r),
    }
}

/// Percent-encodes `s` for a query string or a path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_./~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A form post from another site is refused whatever its cookies (`Origin`, and
/// `Sec-Fetch-Site` where the browser sends it, must name this site).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (h("origin"), h("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, o)| o == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// The page that says what went wrong, with `status`.
pub fn error_page(viewer: &Viewer, status: StatusCode, msg: &str) -> Response {
    let body =
        format!(r#"<h1>{}</h1><p class="error">{}</p><p><a href="/">Back to the brands</a></p>"#, status, esc(msg));
    html(status, frame("Error", viewer, "", false, &body))
}
