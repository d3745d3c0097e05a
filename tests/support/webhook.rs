//! The fake webhook receiver: a real HTTP server on `127.0.0.1:0` that records every request
//! (headers and body) and answers a scripted sequence (`500`, `429` with `Retry-After`, …),
//! then `200` to everything after.

use super::http::{HttpFake, Reply, Request};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A webhook receiver; stops when dropped.
pub struct Webhook {
    http: HttpFake,
}

impl Webhook {
    /// Answers `plan`'s statuses in order (empty bodies), then 200.
    pub fn start(plan: &[u16]) -> Webhook {
        Webhook::scripted(plan.iter().map(|&s| Reply::status(s)).collect())
    }

    /// Answers 200 to everything, on address `ip` (the bridge of `support::netns`, say).
    pub fn start_on(ip: &str) -> Webhook {
        Webhook { http: HttpFake::start_on(ip, |_| Reply::status(200)) }
    }

    /// Answers `plan`'s replies in order, then 200.
    pub fn scripted(plan: Vec<Reply>) -> Webhook {
        let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
        Webhook {
            http: HttpFake::start(move |_| plan.lock().unwrap().pop_front().unwrap_or_else(|| Reply::status(200))),
        }
    }

    /// A receiver that is down (its port taken, every connection closed unanswered) until
    /// [`Webhook::set_down`]`(false)`; then it answers 200.
    pub fn down() -> Webhook {
        let w = Webhook::start(&[]);
        w.set_down(true);
        w
    }

    /// Takes the receiver down or brings it back.
    pub fn set_down(&self, down: bool) {
        self.http.set_down(down);
    }

    /// `http://ADDR:PORT/hook`
    pub fn url(&self) -> String {
        format!("{}/hook", self.http.base())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.http.requests()
    }

    /// The requests once there are `n`, or whatever came within `secs` seconds.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Request> {
        self.http.wait_until(secs, |r| r.len() >= n)
    }
}
