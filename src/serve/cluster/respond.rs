//! Answering the other nodes' NATS requests on a subject of this node's, until stopped:
//! subscribes again after a failure, and replies with what the handler returns (nothing: no
//! reply). `query` and `reloads` answer through it.

use futures_util::StreamExt;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Serves the requests on `subject` with `handle` (the request's payload → the reply's)
/// until `stop`; `what` names them in the log.
pub async fn serve<F, Fut>(
    client: async_nats::Client,
    subject: String,
    what: &'static str,
    stop: CancellationToken,
    mut handle: F,
) where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = Option<Vec<u8>>>,
{
    loop {
        let mut sub = match client.subscribe(subject.clone()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, what, "cannot take requests from the other nodes; trying again");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let msg = tokio::select! {
                () = stop.cancelled() => return,
                m = sub.next() => m,
            };
            let Some(msg) = msg else { break };
            let Some(reply) = msg.reply else { continue };
            if let Some(body) = handle(msg.payload.to_vec()).await {
                if let Err(e) = client.publish(reply, body.into()).await {
                    tracing::warn!(error = %e, what, "cannot answer another node");
                }
            }
        }
    }
}
