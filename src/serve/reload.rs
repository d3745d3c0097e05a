//! Reloading while the service runs: on `SIGHUP` and `POST /v1/reload` (admin), the
//! configuration file, the rules and the playbooks are read again from where the service was
//! started from, and **validated first, all of them**: when anything is wrong the reload is
//! refused with every positioned error (`422`, and the log for `SIGHUP`) and the running
//! configuration stays, untouched.
//!
//! What a valid reload applies, in this order:
//! 1. **rules and playbooks**: the engine thread builds a new engine, carries the old one's
//!    state over (baselines, windows, open incidents of the rules and scopes that still
//!    exist; see `Engine::restore`) and snapshots at once, so that a restart replays only
//!    what came after the reload with the new rules;
//! 2. **brands**: the sequencer admits the brands of the new rules without counting them
//!    against `max_new_brands`;
//! 3. **receivers and routes** (`[notify]`): the notifier thread rebuilds its clients, the
//!    Slack button endpoint takes the new signing secrets. Notifications already planned
//!    keep their receiver by name (one no longer configured fails, and says so).
//!
//! Settings that only take effect at a start (listen address, data directory, clock,
//! tokens and users, limits, sources and their keyword filters, the Telegram bot's button
//! polling, the rules' `max_clock_jump_min` and `allowed_lateness_min`) are reported as `restart_needed` when they
//! changed; they are not applied. Silences live in the store and need no reload.
//!
//! Reloads are serialised. Explanations of incidents open at the reload lose the posts seen
//! before it (the engine's post log is not part of its state snapshot).
//!
//! In a cluster, a reload that succeeded on the node it was sent to is then asked of every
//! other live node ([`Peers`], implemented by `serve::cluster`), each reading its own files;
//! their answers are in the summary's `others`. A node asked by a peer does not ask further.

use crate::alert::playbook::Playbooks;
use crate::diag::{Diagnostic, Diagnostics};
use crate::rules::RuleSet;
use crate::serve::config::{self, Overrides, ServeConfig};
use crate::serve::pipeline::{EngineMsg, Shared, WriterMsg};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// Where the running service's configuration came from: what a reload reads again.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `--config`, if any.
    pub config: Option<PathBuf>,
    /// The command-line overrides (they still win over the file).
    pub overrides: Overrides,
    /// `--playbooks`, if any (else the built-in ones).
    pub playbooks: Option<PathBuf>,
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The service was not started from files (an embedded run): nothing to read again.
    #[error("this service was not started from configuration files; nothing to reload")]
    NoOrigin,
    /// The new configuration is invalid: every problem, positioned. Nothing was changed.
    #[error("the new configuration is invalid; the running one stays ({} error(s))", .0.0.len())]
    Invalid(Diagnostics),
    /// The service is stopping.
    #[error("shutting down")]
    ShuttingDown,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Who asked (`SIGHUP` or the identity).
    pub by: String,
    /// Brands configured by the rules now in force.
    pub brands: usize,
    /// Rules now in force (over all brands).
    pub rules: usize,
    /// Playbooks now in force.
    pub playbooks: usize,
    /// Receivers now in force.
    pub receivers: usize,
    /// Routes now in force.
    pub routes: usize,
    /// Brands whose state was carried over to the new engine.
    pub brands_kept: usize,
    /// Scopes whose baselines and windows were carried over.
    pub scopes_kept: usize,
    /// Incidents still open under the new rules.
    pub open_incidents: usize,
    /// Scope or rule states dropped because the new rules no longer have them.
    pub states_dropped: usize,
    /// Changed settings that need a restart to take effect (not applied).
    pub restart_needed: Vec<String>,
    /// In a cluster: what the other nodes answered when asked to reload in turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<PeerReload>,
}

/// One other node's reload, asked by this one.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct PeerReload {
    /// The node.
    pub node: String,
    /// Whether it applied the reload.
    pub ok: bool,
    /// Its summary, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
    /// Why not, when it did not (with every diagnostic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PeerReload {
    /// `node`'s answer for `result`.
    pub fn of(node: &str, result: &Result<Summary, ReloadError>) -> Self {
        match result {
            Ok(s) => PeerReload {
                node: node.to_string(),
                ok: true,
                summary: Some(serde_json::to_value(s).expect("a summary serialises")),
                error: None,
            },
            Err(e) => {
                let error = match e {
                    ReloadError::Invalid(d) => format!("{e}\n{d}"),
                    e => e.to_string(),
                };
                PeerReload { node: node.to_string(), ok: false, summary: None, error: Some(error) }
            }
        }
    }
}

/// The other nodes of a cluster, asked to reload their own files after this node did.
pub trait Peers: Send + Sync {
    /// Asks every other live node to reload (`by`: who asked here); their answers, one per
    /// node that answered in time, and one saying so per node that did not.
    fn reload_others<'a>(
        &'a self,
        by: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<PeerReload>> + Send + 'a>>;
}

/// What was applied last: the reference a new configuration is compared with.
struct Applied {
    cfg: ServeConfig,
    rules: RuleSet,
}

/// Reloads the service's configuration (see the module documentation).
pub struct Reloader {
    origin: Option<Origin>,
    shared: Arc<Shared>,
    engine: Sender<EngineMsg>,
    writer: Sender<WriterMsg>,
    slack: Arc<crate::serve::slack::SlackHooks>,
    bound: SocketAddr,
    applied: tokio::sync::Mutex<Applied>,
    /// In a cluster, the other nodes (set once the node runs).
    peers: std::sync::OnceLock<Arc<dyn Peers>>,
}

impl Reloader {
    /// A reloader for the service started from `origin` (`None`: an embedded run, which
    /// cannot reload) with `cfg` as loaded (before the bound address was adopted) and `rules`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        origin: Option<Origin>,
        cfg: ServeConfig,
        rules: RuleSet,
        shared: Arc<Shared>,
        engine: Sender<EngineMsg>,
        writer: Sender<WriterMsg>,
        slack: Arc<crate::serve::slack::SlackHooks>,
        bound: SocketAddr,
    ) -> Self {
        let applied = tokio::sync::Mutex::new(Applied { cfg, rules });
        Reloader { origin, shared, engine, writer, slack, bound, applied, peers: std::sync::OnceLock::new() }
    }

    /// In a cluster: the other nodes, asked to reload after each reload here.
    pub fn set_peers(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// Reads everything again and applies it when all of it is valid. `by` is recorded in
    /// the log and the summary.
    ///
    /// # Errors
    /// [`ReloadError::Invalid`] with every problem (nothing changed), or no origin, or a
    /// stopping service.
    pub async fn reload(&self, by: &str) -> Result<Summary, ReloadError> {
        let mut result = self.reload_here(by).await;
        if let (Ok(summary), Some(peers)) = (&mut result, self.peers.get()) {
            summary.others = peers.reload_others(by).await;
        }
        result
    }

    /// [`Reloader::reload`] of this node only: what a peer asks.
    ///
    /// # Errors
    /// As [`Reloader::reload`].
    pub async fn reload_here(&self, by: &str) -> Result<Summary, ReloadError> {
        let result = self.apply(by).await;
        let m = &self.shared.metrics;
        match &result {
            Ok(_) => m.reloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            Err(ReloadError::Invalid(_)) => m.reloads_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            Err(_) => 0,
        };
        result
    }

    async fn apply(&self, by: &str) -> Result<Summary, ReloadError> {
        let origin = self.origin.clone().ok_or(ReloadError::NoOrigin)?;
        let mut applied = self.applied.lock().await;
        let running_rules_dir = applied.cfg.rules.clone();
        let (cfg, rules, playbooks) = tokio::task::spawn_blocking(move || read_all(&origin, running_rules_dir))
            .await
            .map_err(|_| ReloadError::ShuttingDown)?
            .map_err(ReloadError::Invalid)?;
        let mut notify = cfg.notify.clone();
        notify.links = self.shared.notify.get().links.clone();
        if notify.public_url == format!("http://{}", cfg.listen) {
            notify.public_url = format!("http://{}", self.bound); // the port actually served
        }
        // the receivers' clients must build (they are built again by the notifier thread)
        if let Err(e) = crate::notify::notifiers(&notify) {
            return Err(ReloadError::Invalid(Diagnostics(vec![Diagnostic::file(
                origin_file(&self.origin),
                e.to_string(),
            )])));
        }
        let restart_needed = restart_needed(&applied.cfg, &cfg, &applied.rules, &rules);

        // 1. the engine
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = EngineMsg::Reload { rules: Box::new(rules.clone()), playbooks: playbooks.clone(), reply: tx };
        self.engine.send(msg).map_err(|_| ReloadError::ShuttingDown)?;
        let report = match rx.await.map_err(|_| ReloadError::ShuttingDown)? {
            Ok(r) => r,
            Err(e) => {
                return Err(ReloadError::Invalid(Diagnostics(vec![Diagnostic::file(
                    cfg.rules.as_deref().unwrap_or(std::path::Path::new("<rules>")),
                    e,
                )])))
            }
        };
        // 2. the brands
        let ids: Vec<String> = rules.brands.iter().map(|b| b.id.clone()).collect();
        self.writer.send(WriterMsg::Brands(ids)).map_err(|_| ReloadError::ShuttingDown)?;
        // 3. the receivers
        if let Err(e) = self.slack.replace(&notify) {
            tracing::error!(error = %e, "reload: the Slack button endpoint keeps the old receivers");
        }
        let summary = Summary {
            by: by.to_string(),
            brands: rules.brands.len(),
            rules: rules.brands.iter().map(|b| b.rules.len()).sum(),
            playbooks: playbooks.as_ref().map_or(0, |p| p.books.len()),
            receivers: notify.receivers.len(),
            routes: notify.routes.len(),
            brands_kept: report.brands,
            scopes_kept: report.scopes,
            open_incidents: report.open_incidents,
            states_dropped: report.dropped,
            restart_needed: restart_needed.iter().map(|s| s.to_string()).collect(),
            others: Vec::new(),
        };
        self.shared.notify.set(notify);
        self.shared.known.set(crate::rules::names::Names::of(&rules));
        *self.shared.rules_digest.lock().expect("digest lock") = crate::rules::digest_dir(cfg.rules.as_deref());
        self.shared.notify_wake.notify_one();
        *applied = Applied { cfg, rules };
        tracing::info!(
            by, brands = summary.brands, rules = summary.rules, receivers = summary.receivers,
            states_dropped = summary.states_dropped, restart_needed = ?summary.restart_needed,
            "configuration reloaded"
        );
        Ok(summary)
    }
}

impl From<ReloadError> for crate::serve::error::ApiError {
    fn from(e: ReloadError) -> Self {
        use crate::serve::error::ApiError;
        let message = e.to_string();
        match e {
            ReloadError::Invalid(d) => ApiError::InvalidConfig(message, d),
            ReloadError::NoOrigin => ApiError::Conflict(message),
            ReloadError::ShuttingDown => ApiError::shutting_down(),
        }
    }
}

fn origin_file(origin: &Option<Origin>) -> &std::path::Path {
    origin.as_ref().and_then(|o| o.config.as_deref()).unwrap_or(std::path::Path::new("<defaults>"))
}

/// Reads the configuration file, the rules and the playbooks; every diagnostic of all three
/// at once. The rules directory is the new configuration's (the running one's when the
/// configuration itself is invalid, so its rules are still checked).
fn read_all(
    origin: &Origin,
    running_rules: Option<PathBuf>,
) -> Result<(ServeConfig, RuleSet, Option<Arc<Playbooks>>), Diagnostics> {
    let mut diags = Vec::new();
    let cfg = config::load(origin.config.as_deref(), &origin.overrides).map_err(|d| diags.extend(d.0)).ok();
    let rules_dir = cfg.as_ref().map_or(running_rules, |c| c.rules.clone());
    let rules = match rules_dir.as_deref() {
        None => Ok(RuleSet::builtin()),
        Some(d) => crate::rules::load_dir(d),
    }
    .map_err(|d| diags.extend(d.0))
    .ok();
    let playbooks = match origin.playbooks.as_deref() {
        Some(d) => Playbooks::load_dir(d).map(|p| Some(Arc::new(p))),
        None => Ok(Some(Arc::new(Playbooks::builtin()))),
    }
    .map_err(|d| diags.extend(d.0))
    .ok();
    match (cfg, rules, playbooks) {
        (Some(c), Some(r), Some(p)) if diags.is_empty() => Ok((c, r, p)),
        _ => Err(Diagnostics(diags)),
    }
}

/// The settings that differ between `old` and `new` but only take effect at a start.
pub fn restart_needed(
    old: &ServeConfig,
    new: &ServeConfig,
    old_rules: &RuleSet,
    new_rules: &RuleSet,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |changed: bool, name: &'static str| {
        if changed {
            out.push(name);
        }
    };
    check(old.listen != new.listen, "listen");
    check(old.data_dir != new.data_dir, "data_dir");
    check(old.clock != new.clock, "clock");
    check(old.log_format != new.log_format, "log_format");
    check(!same_by(&old.tokens, &new.tokens, |t| (t.name.clone(), t.secret.clone(), t.scopes.clone())), "tokens");
    check(!same_by(&old.users, &new.users, |u| (u.name.clone(), u.role, u.credential.clone())), "users");
    check(old.links.secret != new.links.secret || old.links.ttl != new.links.ttl, "links");
    check(
        (old.max_body, old.max_decoded_body, old.max_line, old.max_queued_mentions, old.max_decoded_in_flight)
            != (new.max_body, new.max_decoded_body, new.max_line, new.max_queued_mentions, new.max_decoded_in_flight),
        "body and queue limits",
    );
    check(
        (old.rate_per_token, old.burst_per_token, old.dedup_ids, old.dedup_window)
            != (new.rate_per_token, new.burst_per_token, new.dedup_ids, new.dedup_window),
        "rate limits and de-duplication",
    );
    check(
        (old.max_connections, old.header_timeout, old.body_timeout)
            != (new.max_connections, new.header_timeout, new.body_timeout),
        "connection limits",
    );
    check(
        (
            old.snapshot_interval,
            old.segment_size,
            old.fsync,
            old.reorder_hold,
            old.reorder_max_mentions,
            old.max_new_brands,
        ) != (
            new.snapshot_interval,
            new.segment_size,
            new.fsync,
            new.reorder_hold,
            new.reorder_max_mentions,
            new.max_new_brands,
        ),
        "storage and ordering",
    );
    check(
        (old.dead_letters.max_bytes, old.dead_letters.max_age)
            != (new.dead_letters.max_bytes, new.dead_letters.max_age),
        "dead_letters",
    );
    check(format!("{:?}", old.sources) != format!("{:?}", new.sources), "sources");
    let keywords = |r: &RuleSet| r.brands.iter().map(|b| (b.id.clone(), b.keywords.clone())).collect::<Vec<_>>();
    check(
        !new.sources.is_empty() && keywords(old_rules) != keywords(new_rules),
        "sources' keyword filters (the engine matches the new keywords)",
    );
    check(
        old.notify.telegram.as_ref().map(|t| (t.token.0.clone(), t.api_url.clone()))
            != new.notify.telegram.as_ref().map(|t| (t.token.0.clone(), t.api_url.clone())),
        "notify.telegram (button presses: sending uses the new bot)",
    );
    check(old.notify.public_url != new.notify.public_url, "notify.public_url (login cookies; links use the new one)");
    check(
        (old_rules.settings.max_clock_jump_min, old_rules.settings.allowed_lateness_min)
            != (new_rules.settings.max_clock_jump_min, new_rules.settings.allowed_lateness_min),
        "settings.max_clock_jump_min and allowed_lateness_min",
    );
    out
}

fn same_by<T, K: PartialEq>(a: &[T], b: &[T], key: impl Fn(&T) -> K) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

/// Reloads on every `SIGHUP` until `stop`; a refused reload is logged with every error.
pub async fn on_sighup(reloader: Arc<Reloader>, stop: tokio_util::sync::CancellationToken) {
    #[cfg(unix)]
    {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: reload with POST /v1/reload");
                return;
            }
        };
        loop {
            tokio::select! {
                got = hup.recv() => if got.is_none() { return },
                () = stop.cancelled() => return,
            }
            match reloader.reload("SIGHUP").await {
                Ok(_) => {}
                Err(ReloadError::Invalid(d)) => {
                    tracing::error!("reload refused, the running configuration stays:\n{d}");
                }
                Err(e) => tracing::error!(error = %e, "reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (reloader, stop);
    }
}
