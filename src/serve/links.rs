//! The signed action links of notifications (`/l/{payload}.{sig}`, signed by
//! [`crate::notify::link`]): `GET` checks the link and shows the incident, with a confirm
//! button for an acknowledge link (a GET never changes anything, so mail scanners that
//! follow links acknowledge nothing); `POST` checks it again and records the
//! acknowledgement as the link's recipient, once: the link is remembered in the store's
//! `used_links` and refused afterwards with `410`. Altered links answer `403`, expired ones
//! `410`.
//!
//! Also the link key: `[links] secret_env`/`secret_file`, else `<data_dir>/link.key`,
//! 32 random bytes generated at the first start (mode 0600) and kept.

// Helpers return the HTTP answer itself as their error: built once per request, not worth boxing.
#![allow(clippy::result_large_err)]

use super::config::ServeConfig;
use super::login::{escape, page};
use crate::notify::link::{self, LinkAction, LinkClaims, LinkError, Signer};
use crate::store::{self, ActionError, LinkUseError};
use anyhow::Context;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rusqlite::Connection;
use std::sync::{Arc, Mutex};

/// The file in the data directory that holds the generated link key (hex).
pub const LINK_KEY_FILE: &str = "link.key";

/// What the link routes need.
pub struct Links {
    /// Checks the links (same key as the notifier's).
    pub signer: Signer,
    /// The store (shared with the API).
    pub db: Arc<Mutex<Connection>>,
    /// In a cluster: the first use of each link, shared by every node.
    pub shared: Option<Arc<dyn SharedUses>>,
}

/// Who used a link first, and when (RFC 3339).
pub type Use = (String, String);

/// A future of the shared record of link uses.
pub type UseFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

/// The first use of each link, shared by the nodes of a cluster (`serve::cluster::links`),
/// so that a link used at one node is refused at every other; a single node has only its
/// store's `used_links`. Keys are [`link::used_key`]s.
pub trait SharedUses: Send + Sync {
    /// Records the first use of `key` by `who` at `at`: `None`, or the use recorded before.
    fn claim<'a>(&'a self, key: &'a str, who: &'a str, at: &'a str) -> UseFuture<'a, Option<Use>>;
    /// The use of `key` recorded so far, if any.
    fn used<'a>(&'a self, key: &'a str) -> UseFuture<'a, Option<Use>>;
    /// Forgets the claim of `key` made here when its action did not happen (the incident is
    /// not in this node's store yet, or is resolved), so that the link can be used again.
    fn release<'a>(&'a self, key: &'a str) -> UseFuture<'a, ()>;
}

/// The routes, for any router state that holds the [`Links`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Links>: FromRef<S>,
{
    Router::new().route("/l/{link}", get(show).post(act))
}

/// The link key: the configured one, else the one in `<data_dir>/link.key`, created (32
/// random bytes, hex, mode 0600) when missing.
///
/// # Errors
/// The key file cannot be read or written, or holds less than 32 bytes.
pub fn load_key(cfg: &ServeConfig) -> anyhow::Result<Vec<u8>> {
    if let Some(k) = &cfg.links.secret {
        return Ok(k.clone());
    }
    let path = cfg.data_dir.join(LINK_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim().as_bytes().to_vec();
            anyhow::ensure!(
                key.len() >= 32,
                "`{}` holds less than 32 bytes; delete it to get a new key",
                path.display()
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = super::auth::random_hex();
            let tmp = cfg.data_dir.join(format!("{LINK_KEY_FILE}.tmp"));
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&tmp).with_context(|| format!("cannot write `{}`", tmp.display()))?;
            std::io::Write::write_all(&mut f, format!("{key}\n").as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path).with_context(|| format!("cannot write `{}`", path.display()))?;
            tracing::info!(file = %path.display(), "generated the link signing key");
            Ok(key.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// The link's claims, or the page that says why it does not work.
fn check(links: &Links, token: &str) -> Result<LinkClaims, Response> {
    match links.signer.verify(token, crate::clock::wall_ms()) {
        Ok(c) => Ok(c),
        Err(LinkError::Invalid) => Err(page(
            StatusCode::FORBIDDEN,
            "Invalid link",
            "<p>invalid link: it was altered or is not one of ours</p>",
        )),
        Err(LinkError::Expired(_)) => Err(page(
            StatusCode::GONE,
            "Link expired",
            "<p>this link has expired; open the incident in the dashboard instead</p>",
        )),
    }
}

/// Runs a store query off the async workers.
async fn with_db<T: Send + 'static>(
    links: &Links,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let db = links.db.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut c = db.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c)
    })
    .await;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "store query for a link failed");
            Err(page(StatusCode::INTERNAL_SERVER_ERROR, "Error", "<p>the store could not be read; try again</p>"))
        }
        Err(_) => Err(page(StatusCode::INTERNAL_SERVER_ERROR, "Error", "<p>internal error</p>")),
    }
}

/// The cluster's record could not be read or written: the action is not taken.
fn cluster_unreachable(e: &str) -> Response {
    tracing::error!(error = %e, "the cluster's record of used links is out of reach");
    page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "<p>the cluster could not be reached; try again in a minute</p>")
}

fn gone_used(who: &str, at: &str) -> Response {
    let body = format!("<p>this link was already used: acknowledged by {} at {}</p>", escape(who), escape(at));
    page(StatusCode::GONE, "Link already used", &body)
}

async fn show(State(links): State<Arc<Links>>, Path(token): Path<String>) -> Response {
    let claims = match check(&links, &token) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (id, key) = (claims.incident.clone(), link::used_key(&token));
    let found = with_db(&links, move |c| {
        let used: Option<(String, String)> = rusqlite::OptionalExtension::optional(c.query_row(
            "SELECT who, at FROM used_links WHERE key = ?1",
            [&key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ))?;
        Ok((store::incident_history(c, &id)?, used))
    })
    .await;
    let (history, mut used) = match found {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let (LinkAction::Ack, None, Some(shared)) = (claims.action, &used, &links.shared) {
        match shared.used(&link::used_key(&token)).await {
            Ok(u) => used = u,
            Err(e) => return cluster_unreachable(&e),
        }
    }
    let Some(h) = history else {
        return page(StatusCode::NOT_FOUND, "No such incident", "<p>this incident is not in the store</p>");
    };
    if let (LinkAction::Ack, Some((who, at))) = (claims.action, &used) {
        return gone_used(who, at);
    }
    let latest = h["events"].as_array().and_then(|e| e.last()).cloned().unwrap_or_default();
    let brand = latest["brand_name"].as_str().or(latest["brand"].as_str()).unwrap_or("").to_string();
    let status = h["status"].as_str().unwrap_or("");
    let mut body = format!(
        "<p><b>{}</b>: {}</p><p>Status: {}{}</p>",
        escape(&brand),
        escape(&crate::notify::render::headline(&latest, crate::notify::words::of(Default::default()))),
        escape(status),
        h["acknowledged_by"].as_str().map(|w| format!(" (acknowledged by {})", escape(w))).unwrap_or_default()
    );
    if claims.action == LinkAction::Ack && status != "resolved" {
        body.push_str(&format!(
            "<form method=\"post\"><button type=\"submit\">Acknowledge as {}</button></form>",
            escape(&claims.recipient)
        ));
    }
    body.push_str(&format!("<p><a href=\"/incidents/{}\">Open in dashboard</a></p>", escape(&claims.incident)));
    page(StatusCode::OK, "Incident", &body)
}

async fn act(State(links): State<Arc<Links>>, Path(token): Path<String>) -> Response {
    let claims = match check(&links, &token) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if claims.action != LinkAction::Ack {
        return page(StatusCode::METHOD_NOT_ALLOWED, "Incident", "<p>this link only shows the incident</p>");
    }
    let (id, who, key) = (claims.incident.clone(), claims.recipient.clone(), link::used_key(&token));
    let now = crate::clock::wall_ms();
    if let Some(shared) = &links.shared {
        // first claimed for the whole cluster, then recorded here (and shipped to the others)
        match shared.claim(&key, &who, &crate::time::format_rfc3339(now)).await {
            Ok(None) => {}
            Ok(Some((who, at))) => return gone_used(&who, &at),
            Err(e) => return cluster_unreachable(&e),
        }
    }
    let local_key = key.clone();
    let done = with_db(&links, move |c| {
        store::record_link_action(c, &local_key, &id, "ack", &who, Some("via signed link"), now)
    })
    .await;
    if let (Some(shared), Ok(Err(LinkUseError::Action(_))) | Err(_)) = (&links.shared, &done) {
        // not acted on: the link stays usable
        if let Err(e) = shared.release(&key).await {
            tracing::warn!(error = %e, "could not release a link claim; the link counts as used");
        }
    }
    match done {
        Err(r) => r,
        Ok(Ok(())) => {
            tracing::info!(incident = %claims.incident, who = %claims.recipient, "acknowledged through a signed link");
            let body = format!(
                "<p>Acknowledged by {}. Thank you.</p><p><a href=\"/incidents/{}\">Open in dashboard</a></p>",
                escape(&claims.recipient),
                escape(&claims.incident)
            );
            page(StatusCode::OK, "Acknowledged", &body)
        }
        Ok(Err(LinkUseError::Used(who, at))) => gone_used(&who, &at),
        Ok(Err(LinkUseError::Action(ActionError::NotFound))) => {
            page(StatusCode::NOT_FOUND, "No such incident", "<p>this incident is not in the store</p>")
        }
        Ok(Err(LinkUseError::Action(ActionError::Resolved))) => {
            page(StatusCode::CONFLICT, "Already resolved", "<p>this incident is already resolved</p>")
        }
    }
}
