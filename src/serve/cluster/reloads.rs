//! Reloads across the cluster. A node that reloaded (`SIGHUP`, `POST /v1/reload`) asks every
//! other live node to reload its own files: a NATS request on `cw.reload.<node>` to each, at
//! once, answered within [`PEER_TIMEOUT`]; their answers go in the reload's summary
//! (`others`). Each node answers the requests on its own subject with
//! [`Reloader::reload_here`], which asks nobody further.

use crate::serve::pipeline::Shared;
use crate::serve::reload::{PeerReload, Peers, Reloader};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a peer may take to reload (it validates its files and rebuilds its engines).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// The subject node `node` takes reload requests on.
fn subject(node: &str) -> String {
    format!("cw.reload.{node}")
}

/// A reload request: who asked, at which node.
#[derive(serde::Serialize, serde::Deserialize)]
struct Ask {
    by: String,
    from: String,
}

/// The other live nodes, asked over NATS.
pub struct NatsPeers {
    client: async_nats::Client,
    node: String,
    shared: Arc<Shared>,
}

impl NatsPeers {
    /// Node `node`'s peers, as its last cluster status lists them.
    pub fn new(client: async_nats::Client, node: String, shared: Arc<Shared>) -> Self {
        NatsPeers { client, node, shared }
    }
}

impl Peers for NatsPeers {
    fn reload_others<'a>(
        &'a self,
        by: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<PeerReload>> + Send + 'a>> {
        Box::pin(async move {
            let others: Vec<String> = {
                let status = self.shared.cluster_status.lock().expect("status lock");
                let live = status.as_ref().and_then(|s| s["nodes"].as_array().cloned()).unwrap_or_default();
                live.iter().filter_map(|n| n.as_str()).filter(|n| *n != self.node).map(str::to_string).collect()
            };
            tracing::info!(nodes = ?others, "asking the other nodes to reload");
            let body = serde_json::to_vec(&Ask { by: by.to_string(), from: self.node.clone() }).expect("JSON");
            let asks = others.iter().map(|n| {
                let request = async_nats::Request::new().payload(body.clone().into()).timeout(Some(PEER_TIMEOUT));
                async move {
                    let failed =
                        |why: String| PeerReload { node: n.clone(), ok: false, summary: None, error: Some(why) };
                    match self.client.send_request(subject(n), request).await {
                        Ok(m) => serde_json::from_slice::<PeerReload>(&m.payload)
                            .unwrap_or_else(|e| failed(format!("an answer that is not a reload's: {e}"))),
                        Err(e) => failed(format!("no answer within {} s: {e}", PEER_TIMEOUT.as_secs())),
                    }
                }
            });
            let answers = futures_util::future::join_all(asks).await;
            for a in answers.iter().filter(|a| !a.ok) {
                tracing::warn!(node = %a.node, error = a.error.as_deref().unwrap_or(""), "another node did not reload");
            }
            answers
        })
    }
}

/// Answers the reload requests of the other nodes until `stop`.
pub async fn answer(client: async_nats::Client, node: String, reloader: Arc<Reloader>, stop: CancellationToken) {
    super::respond::serve(client, subject(&node), "reloads", stop, |payload| {
        let (node, reloader) = (node.clone(), reloader.clone());
        async move {
            let answer = match serde_json::from_slice::<Ask>(&payload) {
                Ok(ask) => {
                    let result = reloader.reload_here(&format!("{} (via {})", ask.by, ask.from)).await;
                    if let Err(e) = &result {
                        tracing::error!(error = %e, from = %ask.from, "reload asked by another node refused");
                    }
                    PeerReload::of(&node, &result)
                }
                Err(e) => PeerReload {
                    node: node.clone(),
                    ok: false,
                    summary: None,
                    error: Some(format!("not a reload request: {e}")),
                },
            };
            Some(serde_json::to_vec(&answer).expect("JSON"))
        }
    })
    .await;
}
