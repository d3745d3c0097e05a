//! Signed links used once in the whole cluster: the first use of a link, on any node, creates
//! its key in the `cw_links` bucket (a create fails when the key exists), so the link answers
//! `410` at every other node. The node that took the use then records the acknowledgement in
//! its store, and `share` ships it to the others like any action. A claim names its node: a
//! node that finds its own claim (its answer was lost, the person tried again) lets its store
//! decide, which refuses a second use itself.

use crate::serve::links::{SharedUses, Use, UseFuture};
use async_nats::jetstream::kv;

/// The `cw_links` bucket as the link routes' [`SharedUses`].
pub struct KvUses {
    kv: kv::Store,
    node: String,
}

impl KvUses {
    /// Over the cluster's `cw_links` bucket, for node `node`.
    pub fn new(kv: kv::Store, node: String) -> Self {
        KvUses { kv, node }
    }
}

/// A claim's value: who, when, at which node.
fn value(who: &str, at: &str, node: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "who": who, "at": at, "node": node })).expect("JSON")
}

/// A claim's use and node.
fn parse(bytes: &[u8]) -> (Use, String) {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
    ((field("who"), field("at")), field("node"))
}

impl KvUses {
    /// A claim as the bucket's leader holds it (a replica may lag).
    async fn read_leader(&self, key: &str) -> Result<Option<(Use, String)>, String> {
        use async_nats::jetstream::stream::LastRawMessageErrorKind;
        let m = match self.kv.stream.get_last_raw_message_by_subject(&format!("$KV.cw_links.{key}")).await {
            Ok(m) => m,
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(e) => return Err(format!("cannot read cw_links: {e}")),
        };
        let removed = m.headers.get("KV-Operation").is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
        Ok((!removed).then(|| parse(&m.payload)))
    }

    async fn read(&self, key: &str) -> Result<Option<(Use, String)>, String> {
        match self.kv.get(key).await {
            Ok(v) => Ok(v.map(|b| parse(&b))),
            Err(e) => Err(format!("cannot read cw_links: {e}")),
        }
    }
}

impl SharedUses for KvUses {
    fn claim<'a>(&'a self, key: &'a str, who: &'a str, at: &'a str) -> UseFuture<'a, Option<Use>> {
        Box::pin(async move {
            match self.kv.create(key, value(who, at, &self.node).into()).await {
                Ok(_) => Ok(None),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => match self.read_leader(key).await? {
                    // this node's own claim: its store knows whether the action happened
                    Some((_, node)) if node == self.node => Ok(None),
                    Some((u, _)) => Ok(Some(u)),
                    // released meanwhile
                    None => Err("a link claim changed while it was read".into()),
                },
                // the answer was lost (a timeout): the claim may have landed. Read it back
                // where the bucket's leader has it: this node's claim lets its store decide,
                // as above; another node's is that node's use; none means nothing landed
                Err(e) => match self.read_leader(key).await {
                    Ok(Some((_, node))) if node == self.node => Ok(None),
                    Ok(Some((u, _))) => Ok(Some(u)),
                    Ok(None) => Err(format!("cannot write cw_links: {e}")),
                    Err(_) => Err(format!("cannot write cw_links: {e}")),
                },
            }
        })
    }

    fn used<'a>(&'a self, key: &'a str) -> UseFuture<'a, Option<Use>> {
        Box::pin(async move { Ok(self.read(key).await?.map(|(u, _)| u)) })
    }

    fn release<'a>(&'a self, key: &'a str) -> UseFuture<'a, ()> {
        Box::pin(async move { self.kv.purge(key).await.map_err(|e| format!("cannot release a link claim: {e}")) })
    }
}
