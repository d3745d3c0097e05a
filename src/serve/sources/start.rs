//! Starting the sources: [`prepare`] builds each configured source's context (its HTTP
//! client, keywords and stored cursor) before the service listens, [`spawn`] starts each
//! kind's task on the runtime. Kept apart from the shared runtime in `mod.rs` so that the
//! kinds depend on it and it on them, never both ways.

use super::{bluesky, hackernews, mastodon, rss, telegram};
use super::{Ctx, Keywords, Running, SourceStats, USER_AGENT};
use crate::rules::RuleSet;
use crate::serve::config::sources::SourceKind;
use crate::serve::pipeline::{Shared, WriterMsg};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Prepares every configured source: its stats (for the API) and its task's context.
///
/// # Errors
/// When an HTTP client or a keyword automaton cannot be built.
pub fn prepare(
    shared: &Arc<Shared>,
    rules: &RuleSet,
    writer: &Sender<WriterMsg>,
    cursors: &[(String, String)],
    shutdown: &CancellationToken,
) -> anyhow::Result<(Vec<Arc<Running>>, Vec<Ctx>)> {
    let mut list = Vec::new();
    let mut ctxs = Vec::new();
    // one client (connection pool, TLS roots) for every source: a client per source cost
    // about 200 KiB each (benches/sources.rs)
    let http = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(90))
        .build()?;
    for spec in &shared.cfg.sources {
        if let Some(b) = spec.brand.as_deref().filter(|b| !rules.brands.iter().any(|r| r.id == *b)) {
            tracing::warn!(source = %spec.name, brand = b, "the pinned brand is not in the rules: it is created from the mentions' `brand` field (max_new_brands) and has no keywords");
        }
        let http = http.clone();
        let running = Arc::new(Running { spec: spec.clone(), stats: SourceStats::default() });
        let lateness_ms = (shared.cfg.clock == crate::serve::config::ClockMode::Wall)
            .then(|| shared.cfg.allowed_lateness_min.saturating_mul(60_000));
        ctxs.push(Ctx {
            spec: spec.clone(),
            http,
            keywords: Keywords::new(rules, spec.brand.as_deref())?,
            shutdown: shutdown.clone(),
            running: running.clone(),
            cursor: cursors.iter().find(|(n, _)| *n == spec.name).map(|(_, c)| c.clone()),
            shared: shared.clone(),
            writer: writer.clone(),
            attempt: 0,
            lateness_ms,
        });
        list.push(running);
    }
    Ok((list, ctxs))
}

/// Spawns the sources' tasks on the current runtime.
pub fn spawn(ctxs: Vec<Ctx>) {
    for ctx in ctxs {
        let spec = &ctx.spec;
        tracing::info!(source = %spec.name, kind = spec.kind.name(), url = %spec.url, resumes = ctx.cursor.is_some(), "source started");
        let name = spec.name.clone();
        let task = match spec.kind {
            SourceKind::Rss => tokio::spawn(rss::run(ctx)),
            SourceKind::Hackernews => tokio::spawn(hackernews::run(ctx)),
            SourceKind::Telegram => tokio::spawn(telegram::run(ctx)),
            SourceKind::Mastodon => tokio::spawn(mastodon::run(ctx)),
            SourceKind::Bluesky => tokio::spawn(bluesky::run(ctx)),
        };
        tokio::spawn(async move {
            match task.await {
                Ok(()) => tracing::info!(source = %name, "source stopped"),
                Err(e) => tracing::error!(source = %name, error = %e, "source task ended abnormally"),
            }
        });
    }
}
