//! A fake Mastodon instance (the parts the `mastodon` source uses), on `127.0.0.1:0` in a
//! thread of its own: the hashtag streaming endpoint as real server-sent events (a `:)`
//! comment on connection, `event: update` per status posted while a stream is open, raw
//! frames on demand, the stream dropped on demand) and the hashtag timeline
//! (`since_id`, `max_id`, `limit`, newest first) over every status posted.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Default)]
struct Inner {
    statuses: Vec<Value>,
    live: Option<UnboundedSender<Bytes>>,
    refuse: bool,
    streams: usize,
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake instance; stops when dropped.
pub struct FakeMastodon {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    inner: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A status shaped like Mastodon's `Status` entity: id `id` (numeric), HTML `text`, now.
pub fn status(id: u64, text: &str) -> Value {
    let now = crisiswatch::time::format_rfc3339(crisiswatch::clock::wall_ms());
    json!({
        "id": id.to_string(),
        "created_at": now,
        "in_reply_to_id": null,
        "sensitive": false,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": format!("https://social.example/users/dana/statuses/{id}"),
        "url": format!("https://social.example/@dana/{id}"),
        "reblogs_count": 0,
        "content": format!("<p>{text}</p>"),
        "reblog": null,
        "account": {"id": "1", "username": "dana", "acct": "dana", "followers_count": 10},
        "tags": [],
    })
}

fn frame(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

async fn stream(State(s): State<Shared>, uri: axum::http::Uri) -> Response {
    let mut g = s.lock().unwrap();
    g.requests.push(uri.to_string());
    if g.refuse {
        return Response::builder().status(503).body(Body::from("down for maintenance")).unwrap();
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let _ = tx.send(Bytes::from_static(b":)\n"));
    g.live = Some(tx);
    g.streams += 1;
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn timeline(State(s): State<Shared>, uri: axum::http::Uri, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut g = s.lock().unwrap();
    g.requests.push(uri.to_string());
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let (since, max, limit) =
        (num("since_id").unwrap_or(0), num("max_id").unwrap_or(u64::MAX), num("limit").unwrap_or(20));
    let mut page: Vec<&Value> = g
        .statuses
        .iter()
        .filter(|v| {
            let id: u64 = v["id"].as_str().unwrap().parse().unwrap();
            id > since && id < max
        })
        .collect();
    page.sort_by_key(|v| std::cmp::Reverse(v["id"].as_str().unwrap().parse::<u64>().unwrap()));
    page.truncate(limit as usize);
    let body = serde_json::to_vec(&page).unwrap();
    Response::builder().header("content-type", "application/json").body(Body::from(body)).unwrap()
}

impl FakeMastodon {
    /// Starts the instance.
    pub fn start() -> FakeMastodon {
        let inner: Shared = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/api/v1/streaming/hashtag", axum::routing::get(stream))
                    .route("/api/v1/timelines/tag/{tag}", axum::routing::get(timeline))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().unwrap();
        FakeMastodon { base: format!("http://{addr}"), inner, _stop: stop }
    }

    /// Posts a status: stored for the timeline, sent to the open stream if there is one.
    pub fn post(&self, status: Value) {
        let mut g = self.inner.lock().unwrap();
        if let Some(tx) = &g.live {
            let _ = tx.send(frame("update", &status.to_string()));
        }
        g.statuses.push(status);
    }

    /// Sends raw bytes on the open stream.
    pub fn send_raw(&self, bytes: &str) {
        let g = self.inner.lock().unwrap();
        g.live.as_ref().expect("a stream is open").send(Bytes::from(bytes.to_string())).unwrap();
    }

    /// Ends the open stream (cleanly: the response body ends).
    pub fn drop_stream(&self) {
        self.inner.lock().unwrap().live = None;
    }

    /// While set, stream requests are answered 503.
    pub fn refuse_streams(&self, refuse: bool) {
        self.inner.lock().unwrap().refuse = refuse;
    }

    /// Streams opened so far.
    pub fn streams(&self) -> usize {
        self.inner.lock().unwrap().streams
    }

    /// Paths and queries of every request.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Waits (30 s at most) until `n` streams have been opened.
    pub fn wait_streams(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.streams() < n {
            assert!(Instant::now() < deadline, "stream {n} never opened: {:?}", self.requests());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
