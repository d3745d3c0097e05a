//! A fake Jetstream on `127.0.0.1:0` (tokio-tungstenite's `accept_hdr_async`), in a thread of
//! its own: every connection's request URI is recorded; a connection gets every event pushed
//! so far from its `cursor` (`time_us` ≥ cursor; all of them without one), then each new one
//! as it is pushed. Raw messages (not events) can be pushed too; they have no time.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Inner {
    /// (time_us, message); raw messages have the time of the event before them.
    events: Vec<(i64, String)>,
    uris: Vec<String>,
}

/// A running fake; its thread ends with the test.
pub struct FakeJetstream {
    /// `ws://127.0.0.1:PORT/subscribe`
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// A post creation event as Jetstream sends it.
pub fn post(did: &str, rkey: &str, time_us: i64, text: &str) -> String {
    let created = crisiswatch::time::format_rfc3339(time_us / 1000);
    serde_json::json!({
        "did": did, "time_us": time_us, "kind": "commit",
        "commit": {"rev": rkey, "operation": "create", "collection": "app.bsky.feed.post", "rkey": rkey,
            "record": {"$type": "app.bsky.feed.post", "createdAt": created, "langs": ["en"], "text": text},
            "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"}
    })
    .to_string()
}

/// An identity event.
pub fn identity(did: &str, time_us: i64) -> String {
    serde_json::json!({"did": did, "time_us": time_us, "kind": "identity",
        "identity": {"did": did, "handle": "someone.bsky.social", "seq": 1409752997, "time": "2024-09-05T06:11:04.870Z"}})
    .to_string()
}

fn cursor_of(uri: &str) -> Option<i64> {
    uri.split(['?', '&']).find_map(|kv| kv.strip_prefix("cursor=")).and_then(|v| v.parse().ok())
}

async fn serve(stream: tokio::net::TcpStream, inner: Arc<Mutex<Inner>>) {
    let rec = inner.clone();
    // the signature is tungstenite's `Callback`, its large error type included
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, resp: Response| {
        rec.lock().unwrap().uris.push(req.uri().to_string());
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    let uri = inner.lock().unwrap().uris.last().cloned().unwrap_or_default();
    let cursor = cursor_of(&uri);
    let mut next = {
        let g = inner.lock().unwrap();
        cursor.map_or(0, |c| g.events.iter().position(|(t, _)| *t >= c).unwrap_or(g.events.len()))
    };
    loop {
        let batch: Vec<String> = inner.lock().unwrap().events[next..].iter().map(|(_, m)| m.clone()).collect();
        next += batch.len();
        for m in batch {
            if ws.send(Message::text(m)).await.is_err() {
                return;
            }
        }
        // read what the client sends (pongs, close) without blocking the pushes
        let read = tokio::time::timeout(Duration::from_millis(10), ws.next()).await;
        if let Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) = read {
            return;
        }
    }
}

impl FakeJetstream {
    /// Starts the fake.
    pub fn start() -> FakeJetstream {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((s, _)) = listener.accept().await else { continue };
                    tokio::spawn(serve(s, state.clone()));
                }
            });
        });
        let addr = addr_rx.recv().unwrap();
        FakeJetstream { url: format!("ws://{addr}/subscribe"), inner }
    }

    /// Pushes an event with its `time_us`.
    pub fn push(&self, time_us: i64, message: String) {
        self.inner.lock().unwrap().events.push((time_us, message));
    }

    /// Pushes a message that is not an event (sent once to the connections of the moment and
    /// to those replaying past it).
    pub fn push_raw(&self, message: String) {
        let mut g = self.inner.lock().unwrap();
        let t = g.events.last().map_or(0, |(t, _)| *t);
        g.events.push((t, message));
    }

    /// The request URIs of every connection so far.
    pub fn connections(&self) -> Vec<String> {
        self.inner.lock().unwrap().uris.clone()
    }

    /// Waits (30 s at most) until `n` connections were made.
    pub fn wait_connections(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.connections().len() < n {
            assert!(Instant::now() < deadline, "connection {n} never came: {:?}", self.connections());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
