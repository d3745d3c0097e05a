//! A TCP forwarder on loopback that can cut the line: a network partition between one
//! process and a server, without root or namespaces. Cut, it forwards nothing either way
//! and takes new connections without answering them (what was sent is dropped, as across a
//! partition: each side finds out by its own timeouts only); healed, it resets the
//! connections it held and forwards again.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One forwarder to one upstream port.
pub struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, held, s) = (cut.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                held.lock().unwrap().push(client.try_clone().unwrap());
                if c.load(Ordering::SeqCst) {
                    // across a partition: no answer, what is sent is dropped
                    pump(client.try_clone().unwrap(), None, c.clone());
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                held.lock().unwrap().push(server.try_clone().unwrap());
                pump(client.try_clone().unwrap(), Some(server.try_clone().unwrap()), c.clone());
                pump(server, Some(client), c.clone());
            }
        });
        Proxy { port, cut, conns, stop }
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Nothing gets through from now on.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// The held connections are reset (their ends reconnect) and new ones are forwarded.
    pub fn heal(&self) {
        let held = std::mem::take(&mut *self.conns.lock().unwrap());
        self.cut.store(false, Ordering::SeqCst);
        for c in held {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.heal();
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accepting thread
    }
}

/// Copies `from` to `to` until either end closes; while `cut`, reads and drops.
fn pump(mut from: TcpStream, mut to: Option<TcpStream>, cut: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if cut.load(Ordering::SeqCst) {
                continue;
            }
            if let Some(to) = to.as_mut() {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        if let Some(to) = to {
            let _ = to.shutdown(Shutdown::Both);
        }
    });
}
