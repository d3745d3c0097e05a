//! `POST /v1/slack/interactions`: the button presses of Slack messages. Slack calls it, so
//! it takes no API token; it is authenticated by Slack's request signature instead (the
//! signing secret of a `slack` receiver, a timestamp within five minutes: see
//! `notify::channel::slack::interaction`), and answers `401` otherwise, changing nothing.
//! A signed press acts on the incident through the same actions as the Telegram buttons,
//! recorded as `@user (Slack)`; the answer (`200`, empty) goes back at once, and the message
//! is then edited in place (`chat.update`) to say who did what.

use crate::notify::channel::slack::{blocks, interaction, Slack};
use crate::notify::config::{Notify, Receiver, SlackVia};
use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use rusqlite::Connection;
use std::sync::{Arc, Mutex, RwLock};

/// One Slack receiver that takes button presses.
pub struct Hook {
    /// Its signing secret.
    secret: Vec<u8>,
    /// Its Web API client, to edit the message.
    client: Slack,
    /// The language its messages (and so what a press says) are in.
    lang: crate::notify::locale::Lang,
}

/// What the route needs.
pub struct SlackHooks {
    /// Receivers with a signing secret (bot-token mode); replaced by a reload.
    hooks: RwLock<Arc<Vec<Hook>>>,
    /// The store (shared with the API).
    db: Arc<Mutex<Connection>>,
}

impl SlackHooks {
    /// The Slack receivers of `n` that have a signing secret.
    ///
    /// # Errors
    /// A Web API client cannot be built.
    pub fn new(n: &Notify, db: Arc<Mutex<Connection>>) -> Result<Self, crate::notify::BuildError> {
        Ok(SlackHooks { hooks: RwLock::new(Arc::new(Self::hooks(n)?)), db })
    }

    /// Takes the Slack receivers of `n` from now on (a reload).
    ///
    /// # Errors
    /// A Web API client cannot be built (nothing is replaced then).
    pub fn replace(&self, n: &Notify) -> Result<(), crate::notify::BuildError> {
        let hooks = Arc::new(Self::hooks(n)?);
        *self.hooks.write().unwrap_or_else(|e| e.into_inner()) = hooks;
        Ok(())
    }

    fn current(&self) -> Arc<Vec<Hook>> {
        self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn hooks(n: &Notify) -> Result<Vec<Hook>, crate::notify::BuildError> {
        let mut hooks = Vec::new();
        for r in &n.receivers {
            if let Receiver::Slack {
                name,
                via: SlackVia::Bot { token, channel, api_url },
                signing_secret: Some(secret),
            } = r
            {
                let client = Slack::bot(name, &String::from_utf8_lossy(&token.0), channel, api_url, None)?;
                hooks.push(Hook { secret: secret.0.clone(), client, lang: n.locale(name).lang });
            }
        }
        Ok(hooks)
    }
}

/// The route, for any router state that holds the [`SlackHooks`].
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<SlackHooks>: FromRef<S>,
{
    Router::new().route("/v1/slack/interactions", post(interactions))
}

fn refused(why: &str) -> Response {
    (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response()
}

async fn interactions(State(s): State<Arc<SlackHooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let hooks = s.current();
    let secrets: Vec<&[u8]> = hooks.iter().map(|h| h.secret.as_slice()).collect();
    let now = crate::clock::wall_ms().div_euclid(1000);
    let i = match interaction::verify(
        &secrets,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(reason = %e, "Slack interaction refused");
            return refused(&e.to_string());
        }
    };
    let Some(press) = interaction::parse(&body) else {
        return StatusCode::OK.into_response(); // not one of our buttons: nothing to do
    };
    let (db, id, action, who) = (s.db.clone(), press.incident.clone(), press.action, press.who.clone());
    let done = tokio::task::spawn_blocking(move || {
        let mut c = db.lock().unwrap_or_else(|e| e.into_inner());
        crate::serve::actions::apply(&mut c, &id, action, &who, "via Slack", crate::clock::wall_ms())
    })
    .await;
    let w = crate::notify::words::of(hooks[i].lang);
    let said = match done {
        Ok(Ok(())) => {
            tracing::info!(incident = %press.incident, who = %press.who, action = press.label, "Slack button");
            let phrase = match press.action {
                crate::notify::channel::IncidentAction::Acknowledge => w.acked_by,
                crate::notify::channel::IncidentAction::EscalateNow => w.escalated_by,
                crate::notify::channel::IncidentAction::Mute(_) => w.muted_by,
            };
            crate::notify::words::fill(phrase, &[("who", &press.who)])
        }
        Ok(Err(e)) => crate::notify::words::fill(w.not_done, &[("reason", &format!("{e} ({})", press.who))]),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // answer Slack at once (it waits 3 s); the message is edited after
    if let (Some(channel), Some(ts)) = (press.channel.clone(), press.ts.clone()) {
        tokio::spawn(async move {
            let message = blocks::acted(&press.message, &said);
            if let Err(e) = hooks[i].client.update(&channel, &ts, &message).await {
                tracing::warn!(error = %e, "Slack: the message could not be updated");
            }
        });
    }
    StatusCode::OK.into_response()
}
