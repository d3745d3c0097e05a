//! The connection to NATS and the JetStream resources of a cluster, created by whichever
//! node starts first and checked by every other (their settings are the cluster's, not the
//! node's):
//!
//! | resource | kind | what it holds |
//! |---|---|---|
//! | `CW_MENTIONS` | stream, subjects `cw.mentions.<p>`, records kept `retention` | every accepted mention and clock record, per partition; de-duplicated by message id |
//! | `CW_ALERTS` | stream, subjects `cw.alerts`, `cw.actions`, `cw.outbox`, `cw.silences`, `cw.planned` | every alert event (message id: the event's store key), every person's action, every notification planned and delivered, every silence and planned event made or ended |
//! | `cw_leases` | KV, TTL `lease_ttl` | `p<N>`: the node that owns partition N; `notify`: the node that sends notifications |
//! | `cw_nodes` | KV, TTL `lease_ttl` | one key per live node, renewed by its heartbeat |
//! | `cw_meta` | KV | `partitions` (fixed at creation), `installation` (the id in idempotency keys) |
//! | `cw_links` | KV, kept | one key per signed link used, created by its first use on any node (`links`) |
//! | `cw_snapshots` | object store | `p<N>`: partition N's engine snapshot and the stream sequence it covers |

use crate::serve::config::cluster::Cluster;
use anyhow::{bail, Context as _};
use async_nats::jetstream::{self, kv, object_store, stream};
use std::time::Duration;

/// The mention stream.
pub const MENTIONS: &str = "CW_MENTIONS";
/// The alert stream.
pub const ALERTS: &str = "CW_ALERTS";
/// The alert stream's subject: alert events.
pub const ALERT_SUBJECT: &str = "cw.alerts";
/// The alert stream's subject for people's actions (acknowledge, resolve, …).
pub const ACTION_SUBJECT: &str = "cw.actions";
/// The alert stream's subject for the notifying node's outbox: planned and delivered.
pub const OUTBOX_SUBJECT: &str = "cw.outbox";

/// The alert stream's subject for silences made and ended.
pub const SILENCE_SUBJECT: &str = "cw.silences";
/// The alert stream's subject for planned events declared and deleted.
pub const PLANNED_SUBJECT: &str = "cw.planned";
/// Every subject of the alert stream.
const ALERT_SUBJECTS: [&str; 5] = [ALERT_SUBJECT, ACTION_SUBJECT, OUTBOX_SUBJECT, SILENCE_SUBJECT, PLANNED_SUBJECT];

/// A connected node's handles.
#[derive(Clone)]
pub struct Bus {
    /// The NATS connection.
    pub client: async_nats::Client,
    /// JetStream.
    pub js: jetstream::Context,
    /// Partition and notifier leases.
    pub leases: kv::Store,
    /// Live nodes.
    pub nodes: kv::Store,
    /// Cluster-wide settings.
    pub meta: kv::Store,
    /// The signed links used, cluster-wide.
    pub links: kv::Store,
    /// The brands created from `brand` fields, cluster-wide, and their count.
    pub brands: kv::Store,
    /// Partition snapshots.
    pub snapshots: object_store::ObjectStore,
    /// The partition count.
    pub partitions: u32,
    /// The installation id shared by every node.
    pub installation: String,
}

/// How often the connection pings its server: a quarter of the lease TTL (250 ms at
/// least). The client gives a connection up when a third ping goes unanswered, so a server
/// that vanished without a word (its host cut off the network: no reset, no close) is left
/// for another within about three quarters of a TTL, before this node's leases lapse. The
/// client's default, a ping a minute, left a node talking to a dead server for minutes,
/// unable to renew anything, while its partitions were handed to others.
pub fn ping_interval(lease_ttl: Duration) -> Duration {
    (lease_ttl / 4).max(Duration::from_millis(250))
}

/// Connects and creates (or checks) the cluster's resources. `dedup_window` is the mention
/// stream's de-duplication window (the service's `dedup_window`).
///
/// # Errors
/// No server answers, JetStream is not enabled, or the cluster was created with another
/// partition count.
pub async fn connect(cfg: &Cluster, node: &str, dedup_window: Duration) -> anyhow::Result<Bus> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("crisiswatch {node}"))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5))
        .ping_interval(ping_interval(cfg.lease_ttl))
        .connect(cfg.servers.as_slice())
        .await
        .with_context(|| format!("cannot connect to NATS at {}", cfg.servers.join(", ")))?;
    let js = jetstream::new(client.clone());
    let replicas = cfg.replicas;
    let setup = || async {
        js.get_or_create_stream(stream::Config {
            name: MENTIONS.into(),
            subjects: vec!["cw.mentions.*".into()],
            num_replicas: replicas,
            duplicate_window: dedup_window.min(cfg.retention),
            max_age: cfg.retention,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .context("cannot create the mention stream")?;
        let mut alerts = js
            .get_or_create_stream(stream::Config {
                name: ALERTS.into(),
                subjects: ALERT_SUBJECTS.iter().map(|s| s.to_string()).collect(),
                num_replicas: replicas,
                duplicate_window: Duration::from_secs(600),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .context("cannot create the alert stream")?;
        // a cluster made by an earlier version: the subjects added since
        let config = alerts.info().await.context("cannot read the alert stream")?.config.clone();
        if ALERT_SUBJECTS.iter().any(|s| !config.subjects.iter().any(|have| have == s)) {
            let subjects = ALERT_SUBJECTS.iter().map(|s| s.to_string()).collect();
            js.update_stream(stream::Config { subjects, ..config }).await.context("cannot update the alert stream")?;
        }
        let bucket = |name: &str, ttl: Duration| kv::Config {
            bucket: name.into(),
            history: 1,
            max_age: ttl,
            num_replicas: replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        let leases = get_or_create_kv(&js, bucket("cw_leases", cfg.lease_ttl)).await?;
        let nodes = get_or_create_kv(&js, bucket("cw_nodes", cfg.lease_ttl)).await?;
        let meta = get_or_create_kv(&js, bucket("cw_meta", Duration::ZERO)).await?;
        // kept: a small entry per link a person used, which only notifications create
        let links = get_or_create_kv(&js, bucket("cw_links", Duration::ZERO)).await?;
        // kept: a small entry per brand created from `brand` fields (max_new_brands at most)
        let brands = get_or_create_kv(&js, bucket("cw_brands", Duration::ZERO)).await?;
        let snapshots = match js.get_object_store("cw_snapshots").await {
            Ok(s) => s,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: "cw_snapshots".into(),
                    num_replicas: replicas,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .context("cannot create the snapshot store")?,
        };
        anyhow::Ok((leases, nodes, meta, links, brands, snapshots))
    };
    // a cluster that is still electing its JetStream leader refuses for a while: retry
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (leases, nodes, meta, links, brands, snapshots) = loop {
        match tokio::time::timeout(Duration::from_secs(20), setup()).await {
            Ok(Ok(r)) => break r,
            Ok(Err(e)) if tokio::time::Instant::now() >= deadline => {
                return Err(e).with_context(|| {
                    format!(
                        "no JetStream cluster answered at {} within 60 s (is nats-server running there, with -js?)",
                        cfg.servers.join(", ")
                    )
                })
            }
            Err(_) if tokio::time::Instant::now() >= deadline => {
                bail!(
                    "no JetStream cluster answered at {} within 60 s (is nats-server running there, with -js?)",
                    cfg.servers.join(", ")
                )
            }
            Ok(Err(e)) => tracing::info!(error = format!("{e:#}"), "JetStream not ready yet; retrying"),
            Err(_) => tracing::info!("JetStream not answering yet; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let partitions = adopt(&meta, "partitions", cfg.partitions.to_string()).await?;
    let partitions: u32 = partitions.parse().context("cw_meta partitions is not a number")?;
    if partitions != cfg.partitions {
        bail!(
            "this cluster was created with {partitions} partitions and this node is configured with {}: \
             the count is fixed at creation (set [cluster] partitions = {partitions})",
            cfg.partitions
        );
    }
    let installation = adopt(&meta, "installation", crate::serve::auth::random_hex()[..16].to_string()).await?;
    Ok(Bus { client, js, leases, nodes, meta, links, brands, snapshots, partitions, installation })
}

async fn get_or_create_kv(js: &jetstream::Context, cfg: kv::Config) -> anyhow::Result<kv::Store> {
    if let Ok(s) = js.get_key_value(&cfg.bucket).await {
        return Ok(s);
    }
    let name = cfg.bucket.clone();
    match js.create_key_value(cfg).await {
        Ok(s) => Ok(s),
        // another node created it meanwhile
        Err(e) => js.get_key_value(&name).await.with_context(|| format!("cannot create bucket {name}: {e}")),
    }
}

/// The value of `key` in `meta`, set to `proposed` when the key does not exist yet (the
/// first node's proposal wins).
async fn adopt(meta: &kv::Store, key: &str, proposed: String) -> anyhow::Result<String> {
    if let Some(v) = meta.get(key).await.with_context(|| format!("cannot read cw_meta {key}"))? {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    match meta.create(key, proposed.clone().into()).await {
        Ok(_) => Ok(proposed),
        Err(_) => {
            let v = meta.get(key).await?.with_context(|| format!("cw_meta {key} vanished"))?;
            Ok(String::from_utf8_lossy(&v).into_owned())
        }
    }
}

/// How long a stream's follower may hear nothing before it checks that it missed nothing.
pub const STALL_CHECK: Duration = Duration::from_secs(5);

/// Watches a follower of a stream (an ordered consumer) for a silent stall: after a server
/// fails, a consumer can stop delivering without an error. When the follower has heard
/// nothing for [`STALL_CHECK`], [`StallCheck::stalled`] asks the stream for the last message
/// on the follower's subject; a message after the follower's last one at two checks in a row
/// means the consumer stalled, and the follower starts it again from where it is. A check
/// the stream cannot answer (its servers failing) finds nothing either way: it neither
/// clears a suspicion nor confirms one (it used to clear it, and a stall that began while
/// servers were killed went unnoticed for 30 s in a stress run).
pub struct StallCheck {
    idle_since: std::time::Instant,
    suspect: bool,
}

impl Default for StallCheck {
    fn default() -> Self {
        StallCheck { idle_since: std::time::Instant::now(), suspect: false }
    }
}

impl StallCheck {
    /// A message arrived.
    pub fn heard(&mut self) {
        self.idle_since = std::time::Instant::now();
        self.suspect = false;
    }

    /// Whether the follower, which applied up to stream sequence `last` of `subject`, has
    /// stalled (see the type). Asks the stream at most once per [`STALL_CHECK`].
    pub async fn stalled(&mut self, stream: &stream::Stream, subject: &str, last: u64) -> bool {
        if self.idle_since.elapsed() < STALL_CHECK {
            return false;
        }
        self.idle_since = std::time::Instant::now();
        let missed = stream.get_last_raw_message_by_subject(subject).await.ok().map(|m| m.sequence > last);
        self.checked(missed)
    }

    /// One check's finding (whether the stream holds a message after the follower's last;
    /// `None`: it could not say): a stall when the check before that could say found the
    /// same and nothing was heard since.
    fn checked(&mut self, missed: Option<bool>) -> bool {
        let Some(missed) = missed else { return false };
        let stalled = missed && self.suspect;
        self.suspect = missed;
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::StallCheck;

    #[test]
    fn a_stall_is_two_checks_in_a_row_that_find_more_with_nothing_heard_between() {
        let (yes, no) = (Some(true), Some(false));
        let mut c = StallCheck::default();
        assert!(!c.checked(yes), "one check: the message may be on its way");
        assert!(c.checked(yes), "two in a row: stalled");
        let mut c = StallCheck::default();
        assert!(!c.checked(yes));
        c.heard();
        assert!(!c.checked(yes), "a message came between the checks");
        let mut c = StallCheck::default();
        assert!(!c.checked(yes));
        assert!(!c.checked(no), "the stream holds nothing more: caught up");
        assert!(!c.checked(yes));
        assert!(!StallCheck::default().checked(no));
        // checks the stream cannot answer (servers failing) neither clear nor confirm
        let mut c = StallCheck::default();
        assert!(!c.checked(yes));
        assert!(!c.checked(None));
        assert!(!c.checked(None));
        assert!(c.checked(yes), "the suspicion stands through the failed checks");
        assert!(!StallCheck::default().checked(None));
    }
}
