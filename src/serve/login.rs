//! The login and logout pages of named users with passwords: `GET /login` (a form),
//! `POST /login` (argon2 check off the async workers; a session cookie and a redirect to
//! the local page asked for, or the form again with `401`; at most five failures a minute
//! per name), `POST /logout` (CSRF-checked). The HTML is minimal and self-contained (no
//! external requests); [`page`] and [`escape`] are shared with the other pages.

use super::auth::{self, Auth};
use axum::extract::{FromRef, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// The routes, for any router state that holds the [`Auth`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Auth>: FromRef<S>,
{
    Router::new().route("/login", get(login_form).post(login)).route("/logout", post(logout))
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole HTML page with `status`: `title` (escaped here) and `body` (HTML, escaped by the
/// caller). Never cached, never framed.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} · crisiswatch</title>\
         <style>body{{font-family:-apple-system,Segoe UI,Roboto,Arial,sans-serif;color:#1a1a1a;max-width:28rem;\
         margin:3rem auto;padding:0 1rem}}label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem;\
         box-sizing:border-box}}button{{margin-top:1rem;padding:.5rem 1.2rem}}.msg{{color:#b00020}}</style>\
         </head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, "text/html; charset=utf-8".parse().expect("valid header"));
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("valid header"));
    h.insert("x-frame-options", "DENY".parse().expect("valid header"));
    r
}

/// `next` if it is a path on this site (`/…`, not `//…` or `/\…`, which browsers read as
/// another host), else `/`.
pub fn local_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n
        }
        _ => "/",
    }
}

#[derive(Debug, Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn form(status: StatusCode, next: &str, name: &str, message: Option<&str>) -> Response {
    let msg = message.map(|m| format!("<p class=\"msg\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "{msg}<form method=\"post\" action=\"/login\">\
         <label for=\"name\">Name</label><input id=\"name\" name=\"name\" value=\"{}\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <input type=\"hidden\" name=\"next\" value=\"{}\"><button type=\"submit\">Log in</button></form>",
        escape(name),
        escape(next)
    );
    page(status, "Log in", &body)
}

async fn login_form(q: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    form(StatusCode::OK, local_next(q.next.as_deref()), "", None)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(
    State(auth): State<Arc<Auth>>,
    f: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = f else {
        return form(StatusCode::BAD_REQUEST, "/", "", Some("the form could not be read; try again"));
    };
    let next = local_next(f.next.as_deref()).to_string();
    let name = f.name.trim().to_string();
    if auth.throttled(&name, Instant::now()) {
        tracing::warn!(user = %name, "login refused: too many failures");
        return form(StatusCode::TOO_MANY_REQUESTS, &next, &name, Some("too many failed attempts; wait a minute"));
    }
    let user = auth.password_of(&name);
    let hash = user.as_ref().map_or_else(|| auth::decoy_hash().to_string(), |(h, _)| h.clone());
    let password = f.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password)).await.unwrap_or(false);
    match user {
        Some((_, role)) if ok => {
            tracing::info!(user = %name, "logged in");
            let cookie = auth.start_session(&name, role, Instant::now());
            let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie.parse().expect("cookie is ASCII"));
            r
        }
        _ => {
            auth.record_failure(&name, Instant::now());
            tracing::warn!(user = %name, "login failed");
            form(StatusCode::UNAUTHORIZED, &next, &name, Some("wrong name or password"))
        }
    }
}

#[derive(Debug, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    f: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = f.map(|Form(f)| f.csrf).unwrap_or_default();
    let identity = match auth::require(&auth, &headers, auth::Scope::Read) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if identity.csrf.is_none() || !auth::csrf_ok(&identity, &token) {
        return page(StatusCode::FORBIDDEN, "Log out", "<p class=\"msg\">this form has expired; reload the page</p>");
    }
    let cookie = auth.end_session(&headers);
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie.parse().expect("cookie is ASCII"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        for (given, want) in [
            (Some("/incidents/abc?x=1"), "/incidents/abc?x=1"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("/a\r\nSet-Cookie: x"), "/"),
            (Some(""), "/"),
            (None, "/"),
        ] {
            assert_eq!(local_next(given), want, "{given:?}");
        }
    }

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(escape("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;");
    }
}
