//! The HTTP listener: accepts TCP connections and serves the router on each (hyper,
//! HTTP/1.1), so that no client holds a connection, a task or memory for long by sending
//! slowly or not at all. It owns one job — connections — and knows nothing of the routes.
//!
//! * **A cap**: at most `max_connections` are served at once. A connection beyond it is
//!   accepted and closed at once (with a best-effort `503` and `Retry-After: 1`) and counted,
//!   rather than left waiting in the kernel's accept queue: there it could not be timed out,
//!   its client could not tell a full service from a slow one, and it would be served late
//!   with whatever it sent long ago. Closing is cheap, visible in the metrics, and tells a
//!   client or load balancer to go elsewhere or come back.
//! * **`header_timeout`**: a request's headers must have arrived this long after the
//!   connection starts waiting for them, or it is closed: a new connection's first request
//!   (counted as a header timeout), and the next request of a keep-alive connection (an idle
//!   keep-alive connection is closed after this long; hyper cannot tell it from one stalled
//!   in its second request's headers, so neither is counted).
//! * **`body_timeout`**: once the headers are in, the whole request body must arrive within
//!   this; if it has not, the request is answered `408` with `Connection: close` and the
//!   handler, which is still waiting for the body, is dropped (handlers read their body
//!   before they change anything). Only reading the body is timed: a response, however
//!   long (the dashboard's `/events` stream), is not.
//! * **Shutdown**: when `shutdown` completes, stop accepting, let each connection finish the
//!   request in flight (idle ones close at once), and return once all have ended. Long-lived
//!   responses must end by themselves (the service's `stopping` token ends `/events`).
//!
//! HTTP/1.1 only (no HTTP/2 prior-knowledge sniffing): the header timeout then covers a
//! connection from its first byte, and every request's body is timed the same way.

use crate::metrics::Connections;
use crate::serve::error::ApiError;
use axum::body::HttpBody;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// What one client may hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Time to receive a request's headers (and idle time of a keep-alive connection).
    pub header_timeout: Duration,
    /// Time to receive a whole request body, from its headers.
    pub body_timeout: Duration,
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then stops
/// accepting and returns once every connection has finished its request in flight.
/// Connections are counted in `stats`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stats: Arc<Connections>,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let slots = Arc::new(Semaphore::new(max));
    let draining = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // the client gave up between its connect and our accept: nothing to do
            Err(e) if is_connection_error(&e) => continue,
            // out of file descriptors, most likely: the pending connection stays queued
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection; retrying in 1 s");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            refuse(&stream);
            continue;
        };
        let slot = Slot::new(permit, stats.clone());
        tokio::spawn(serve_connection(stream, router.clone(), limits, slot, draining.clone()));
    }
    drop(listener);
    draining.cancel();
    // each connection holds a slot until it has ended
    let _all = slots.acquire_many(max as u32).await;
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// What a connection over the cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
    retry-after: 1\r\nconnection: close\r\ncontent-length: 21\r\n\r\ntoo many connections\n";

/// Tells a connection over the cap so, if its socket takes the bytes now; it is closed when
/// dropped.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(BUSY);
}

/// One connection's place under the cap, counted in `open` while it is held.
struct Slot {
    _permit: OwnedSemaphorePermit,
    stats: Arc<Connections>,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, stats: Arc<Connections>) -> Slot {
        stats.open.fetch_add(1, Ordering::Relaxed);
        Slot { _permit: permit, stats }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection until it ends, or, once `draining`, until its request in flight
/// has been answered.
async fn serve_connection(stream: TcpStream, router: Router, limits: Limits, slot: Slot, draining: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let stats = slot.stats.clone();
    let requests = Arc::new(AtomicU64::new(0));
    let service = Timed {
        router: TowerToHyperService::new(router),
        body_timeout: limits.body_timeout,
        stats: stats.clone(),
        requests: requests.clone(),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let ended = tokio::select! {
        r = conn.as_mut() => r,
        () = draining.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = ended {
        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
            // after a request, the timeout also ends an idle keep-alive connection
            if requests.load(Ordering::Relaxed) == 0 {
                stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
    drop(slot);
}

/// The router behind a body timeout.
#[derive(Clone)]
struct Timed {
    router: TowerToHyperService<Router>,
    body_timeout: Duration,
    stats: Arc<Connections>,
    /// Requests received on this connection.
    requests: Arc<AtomicU64>,
}

impl hyper::service::Service<Request<Incoming>> for Timed {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let deadline = tokio::time::Instant::now() + self.body_timeout;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let received = Arc::new(AtomicBool::new(req.body().is_end_stream()));
        let req = req.map(|inner| Watched { inner, received: received.clone() });
        let handled = hyper::service::Service::call(&self.router, req);
        let (timeout, stats) = (self.body_timeout, self.stats.clone());
        Box::pin(async move {
            let mut handled = pin!(handled);
            tokio::select! {
                r = handled.as_mut() => return r,
                () = tokio::time::sleep_until(deadline) => {}
            }
            if received.load(Ordering::Acquire) {
                // the body is in; the handler is working on it
                return handled.await;
            }
            stats.body_timeouts.fetch_add(1, Ordering::Relaxed);
            Ok(ApiError::RequestTimeout(format!("the request body did not arrive within {timeout:?}")).into_response())
        })
    }
}

/// A request body that records when it has been received to its end.
struct Watched<B> {
    inner: B,
    received: Arc<AtomicBool>,
}

impl<B: HttpBody + Unpin> HttpBody for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let end = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if end {
            self.received.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::routing::{get, post};
    use std::net::SocketAddr;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MS: Duration = Duration::from_millis(1);

    struct Running {
        addr: SocketAddr,
        stats: Arc<Connections>,
        stop: tokio::sync::oneshot::Sender<()>,
        done: tokio::task::JoinHandle<()>,
    }

    /// `/echo` answers with the body's length, `/slow` after 300 ms, `/stream` with five
    /// chunks 100 ms apart.
    async fn start(max_connections: usize, header_ms: u64, body_ms: u64) -> Running {
        let router = Router::new()
            .route("/echo", post(|b: Bytes| async move { b.len().to_string() }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(300 * MS).await;
                    "slow"
                }),
            )
            .route(
                "/stream",
                get(|| async {
                    let chunks = futures_util::stream::unfold(0, |i| async move {
                        if i == 5 {
                            return None;
                        }
                        tokio::time::sleep(100 * MS).await;
                        Some((Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))), i + 1))
                    });
                    Body::from_stream(chunks)
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits =
            Limits { max_connections, header_timeout: MS * header_ms as u32, body_timeout: MS * body_ms as u32 };
        let stats = Arc::new(Connections::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(serve(listener, router, limits, stats.clone(), async move {
            let _ = stopped.await;
        }));
        Running { addr, stats, stop, done }
    }

    /// Sends `bytes` and reads until the server closes (at most 5 s): what was read, and when
    /// the close came.
    async fn send_and_read(addr: SocketAddr, bytes: &[u8]) -> (String, Duration) {
        let t = Instant::now();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await.expect("closed by the server");
        (String::from_utf8_lossy(&out).into_owned(), t.elapsed())
    }

    fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn silent_and_partial_heads_are_closed_after_the_header_timeout() {
        let r = start(8, 200, 5000).await;
        let (silent, partial) =
            tokio::join!(send_and_read(r.addr, b""), send_and_read(r.addr, b"POST /echo HTTP/1.1\r\nHost: x\r\n"));
        for (out, took) in [silent, partial] {
            assert!(out.is_empty() && took >= 190 * MS && took < 2000 * MS, "{out:?} after {took:?}");
        }
        assert_eq!(count(&r.stats.header_timeouts), 2);
        // a keep-alive connection left idle is closed too, but is not a timeout
        let (out, took) = send_and_read(r.addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 200") && took >= 490 * MS && took < 2000 * MS, "{out:?} {took:?}");
        assert_eq!(count(&r.stats.header_timeouts), 2);
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_closed() {
        let r = start(8, 5000, 300).await;
        let (out, took) =
            send_and_read(r.addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789").await;
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        assert!(out.to_ascii_lowercase().contains("connection: close"), "{out}");
        assert!(took >= 290 * MS && took < 2000 * MS, "{took:?}");
        assert_eq!(count(&r.stats.body_timeouts), 1);
        // the same body sent whole is read
        let whole = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{}",
            "x".repeat(10)
        );
        let (out, _) = send_and_read(r.addr, whole.as_bytes()).await;
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("10"), "{out}");
        assert_eq!(count(&r.stats.body_timeouts), 1);
    }

    #[tokio::test]
    async fn a_slow_but_complete_body_and_a_long_response_are_not_cut() {
        let r = start(8, 5000, 800).await;
        let mut s = tokio::net::TcpStream::connect(r.addr).await.unwrap();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        for _ in 0..5 {
            tokio::time::sleep(100 * MS).await;
            s.write_all(b"0123456789").await.unwrap();
        }
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("50"), "{out}");
        // a response longer than both timeouts
        let (out, took) = send_and_read(r.addr, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 200") && out.contains("chunk 4"), "{out}");
        assert!(took >= 490 * MS, "{took:?}");
        assert_eq!((count(&r.stats.body_timeouts), count(&r.stats.header_timeouts)), (0, 0));
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_at_once_and_counted() {
        let r = start(2, 1000, 1000).await;
        let held: Vec<_> = {
            let mut v = Vec::new();
            for _ in 0..2 {
                v.push(tokio::net::TcpStream::connect(r.addr).await.unwrap());
            }
            v
        };
        while count(&r.stats.open) < 2 {
            tokio::time::sleep(MS).await;
        }
        let (out, took) = send_and_read(r.addr, b"").await;
        assert!(out.is_empty() || out.starts_with("HTTP/1.1 503"), "{out}");
        assert!(took < 500 * MS, "closed at once, not after a timeout: {took:?}");
        assert_eq!(count(&r.stats.refused), 1);
        drop(held);
        while count(&r.stats.open) > 0 {
            tokio::time::sleep(MS).await;
        }
        let (out, _) = send_and_read(r.addr, b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }

    #[tokio::test]
    async fn shutdown_answers_the_request_in_flight_then_returns() {
        let r = start(8, 5000, 5000).await;
        let client = tokio::spawn(send_and_read(r.addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
        while count(&r.stats.open) < 1 {
            tokio::time::sleep(MS).await;
        }
        tokio::time::sleep(50 * MS).await;
        r.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), r.done).await.expect("serve returns").unwrap();
        let (out, _) = client.await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("slow"), "{out}");
        assert!(tokio::net::TcpStream::connect(r.addr).await.is_err(), "no longer accepting");
    }
}
