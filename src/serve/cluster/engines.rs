//! How this node builds its partitions' engines, and rebuilds them on a reload.
//!
//! A node builds engines with its own rules and playbooks, as a single node does. A reload
//! (`SIGHUP`, `POST /v1/reload`) gives it new ones ([`reload`]): they must build first (else
//! nothing changes); then every partition engine the node runs is rebuilt with them,
//! restores the old engine's state (what the new rules still have, as on a single node) and
//! is snapshotted at once, so that a later owner does not replay the records before the
//! reload with the new rules. A partition taken meanwhile catches up itself
//! ([`EngineFactory::refresh`] after it registers), and the publisher routes brand-less
//! mentions with the new keywords from its next request on. Each node reloads its own files:
//! reload every node, as for a rolling restart (`docs/deployment.md`).

use super::partition::{self, Router};
use crate::alert::playbook::Playbooks;
use crate::engine::snapshot::RestoreReport;
use crate::engine::Engine;
use crate::rules::RuleSet;
use crate::store;
use anyhow::Context as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A partition's engine and where it stands, shared with the node's queries.
pub struct Partition {
    /// The partition number.
    pub id: u32,
    /// The engine.
    pub engine: Mutex<Engine>,
    /// The reorder buffer (event clock; `None` with the wall clock). Only the owner task
    /// uses it; locked after `engine` where both are.
    pub order: Mutex<Option<crate::serve::order::Order>>,
    /// The last stream sequence applied.
    pub applied: AtomicU64,
    /// Records of the partition not yet applied (the consumer's pending count).
    pub lag: AtomicU64,
    /// The generation of the rules the engine was built with ([`EngineFactory::refresh`]).
    pub generation: AtomicU64,
    /// A reload rebuilt the engine: the owner snapshots it at its next step (within a
    /// second). Only the owner snapshots while it runs, between records, so a snapshot
    /// never holds a record's effect without its sequence, or before its events are stored.
    pub snapshot_due: std::sync::atomic::AtomicBool,
}

/// The partitions this node runs, for its queries.
pub type Registry = Arc<Mutex<std::collections::BTreeMap<u32, Arc<Partition>>>>;

/// A tone model shared by every partition's engine.
struct SharedTone(Arc<dyn crate::tone::ToneModel>);

impl crate::tone::ToneModel for SharedTone {
    fn p_negative(&self, text: &str, lang: Option<&str>) -> Option<f32> {
        self.0.p_negative(text, lang)
    }
    fn negative(&self, text: &str, lang: Option<&str>) -> Option<(f32, bool)> {
        self.0.negative(text, lang)
    }
}

/// What engines are built with, and its generation (one more at each reload).
struct Recipe {
    rules: Arc<RuleSet>,
    playbooks: Option<Arc<Playbooks>>,
    generation: u64,
}

/// Builds partition engines with the node's current rules.
#[derive(Clone)]
pub struct EngineFactory {
    recipe: Arc<Mutex<Arc<Recipe>>>,
    tone: Arc<dyn crate::tone::ToneModel>,
    db: std::path::PathBuf,
    partitions: u32,
}

impl EngineFactory {
    /// A factory of engines with `rules`, `tone` and `playbooks` over `partitions`
    /// partitions; planned events come from the store at `db`.
    pub fn new(
        rules: &RuleSet,
        tone: Box<dyn crate::tone::ToneModel>,
        playbooks: Option<Arc<Playbooks>>,
        db: std::path::PathBuf,
        partitions: u32,
    ) -> Self {
        let recipe = Recipe { rules: Arc::new(rules.clone()), playbooks, generation: 0 };
        EngineFactory { recipe: Arc::new(Mutex::new(Arc::new(recipe))), tone: Arc::from(tone), db, partitions }
    }

    fn current(&self) -> Arc<Recipe> {
        self.recipe.lock().expect("recipe lock").clone()
    }

    /// The engine of partition `p` (its brands only) with the current rules, and their
    /// generation.
    ///
    /// # Errors
    /// The keyword matcher cannot be built, or the planned events cannot be read.
    pub fn build(&self, p: u32) -> anyhow::Result<(Engine, u64)> {
        let recipe = self.current();
        Ok((self.build_with(&recipe, p)?, recipe.generation))
    }

    fn build_with(&self, recipe: &Recipe, p: u32) -> anyhow::Result<Engine> {
        let mut e = Engine::new(&partition::rules_of(&recipe.rules, p, self.partitions))
            .context("cannot build the keyword matcher")?;
        e.set_tone_model(Box::new(SharedTone(self.tone.clone())));
        if let Some(p) = &recipe.playbooks {
            e.set_playbooks(p.clone());
        }
        let c = store::open(&self.db, false)?;
        e.set_planned(store::planned::for_engine(&c).context("cannot read the planned events")?);
        Ok(e)
    }

    /// Rebuilds `part`'s engine with the current rules if it was built with older ones,
    /// carrying its state over; what the restore kept, or `None` when it was up to date.
    ///
    /// # Errors
    /// The new engine cannot be built (the partition keeps its engine).
    pub fn refresh(&self, part: &Partition) -> anyhow::Result<Option<RestoreReport>> {
        let mut engine = part.engine.lock().expect("engine lock");
        let recipe = self.current();
        if part.generation.load(Ordering::Relaxed) >= recipe.generation {
            return Ok(None);
        }
        let mut fresh = self.build_with(&recipe, part.id)?;
        let report = fresh.restore(engine.snapshot());
        *engine = fresh;
        part.generation.store(recipe.generation, Ordering::Relaxed);
        Ok(Some(report))
    }
}

/// Where the publisher finds the router of the rules of the last reload (taken at its next
/// request).
pub type NextRouter = Arc<Mutex<Option<Router>>>;

/// Reloads this node with `rules` and `playbooks` (see the module documentation): what the
/// partitions' restores kept, summed, and the partitions rebuilt (their owners snapshot
/// them: [`Partition::snapshot_due`]).
///
/// # Errors
/// The new rules do not build (nothing changed).
pub fn reload(
    factory: &EngineFactory,
    registry: &Registry,
    next_router: &NextRouter,
    rules: &RuleSet,
    playbooks: Option<Arc<Playbooks>>,
) -> Result<(RestoreReport, Vec<Arc<Partition>>), String> {
    let router =
        Router::new(rules, factory.partitions).map_err(|e| format!("cannot build the keyword matcher: {e}"))?;
    let generation = factory.current().generation + 1;
    let recipe = Recipe { rules: Arc::new(rules.clone()), playbooks, generation };
    for p in 0..factory.partitions {
        // every partition's engine builds, or nothing changes
        factory.build_with(&recipe, p).map_err(|e| format!("partition {p}: {e:#}"))?;
    }
    *factory.recipe.lock().expect("recipe lock") = Arc::new(recipe);
    *next_router.lock().expect("router lock") = Some(router);
    let parts: Vec<Arc<Partition>> = registry.lock().expect("registry lock").values().cloned().collect();
    let mut total = RestoreReport::default();
    let mut rebuilt = Vec::new();
    for part in parts {
        match factory.refresh(&part) {
            Ok(Some(r)) => {
                total.brands += r.brands;
                total.scopes += r.scopes;
                total.open_incidents += r.open_incidents;
                total.dropped += r.dropped;
                rebuilt.push(part);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(partition = part.id, error = format!("{e:#}"), "partition kept its old rules"),
        }
    }
    Ok((total, rebuilt))
}
