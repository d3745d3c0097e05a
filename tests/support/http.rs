//! The one local HTTP server behind the fakes (webhook receiver, Telegram Bot API): axum on
//! `127.0.0.1:0` in a thread of its own, recording every request and answering each through
//! a handler. It can be switched *down*: it keeps its port (no other process can take it)
//! but closes every new connection unanswered, which a client sees as a network error.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `GET`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lower case), or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), delay: Duration::ZERO }
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::status(status).header("content-type", "application/json").body(body.to_string().into_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Reply {
        self.body = body;
        self
    }

    /// Answers after `d`.
    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

#[derive(Clone)]
struct Inner {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// A running fake HTTP server; stops when dropped.
pub struct HttpFake {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    down: Arc<AtomicBool>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Accepts like a `TcpListener`, but while `down` closes each connection at once.
struct Switchable {
    inner: tokio::net::TcpListener,
    down: Arc<AtomicBool>,
}

impl axum::serve::Listener for Switchable {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((s, _)) if self.down.load(Ordering::SeqCst) => drop(s),
                Ok(conn) => return conn,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

async fn serve(State(s): State<Inner>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let req = Request {
        method: method.to_string(),
        path: uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: body.to_vec(),
    };
    s.requests.lock().unwrap().push(req.clone());
    let reply = (s.handler)(&req);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut r = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        r = r.header(k, v);
    }
    r.body(Body::from(reply.body)).unwrap()
}

impl HttpFake {
    /// Starts a server on `127.0.0.1:0` answering every request with `handler` (called after
    /// the request is recorded).
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpFake {
        HttpFake::start_on("127.0.0.1", handler)
    }

    /// The same on address `ip`, port 0.
    pub fn start_on(ip: &str, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpFake {
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let inner = Inner { handler: Arc::new(handler), requests: requests.clone() };
        let d = down.clone();
        std::thread::Builder::new()
            .name(format!("fake-http-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async move {
                    let listener = Switchable { inner: tokio::net::TcpListener::from_std(listener).unwrap(), down: d };
                    let app = axum::Router::new()
                        .fallback(serve)
                        .layer(axum::extract::DefaultBodyLimit::disable())
                        .with_state(inner);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .unwrap();
        HttpFake { addr, requests, down, _stop: stop }
    }

    /// A port that accepts connections and closes them unanswered (a receiver that is down,
    /// without giving its port away).
    pub fn dropping() -> HttpFake {
        let f = HttpFake::start(|_| Reply::status(500));
        f.set_down(true);
        f
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// While `down`, new connections are closed without an answer.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests once `done(requests)` holds, or whatever came within `secs` seconds.
    pub fn wait_until(&self, secs: u64, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.requests();
            if done(&got) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
