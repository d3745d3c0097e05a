//! The fake Telegram Bot API (the parts crisiswatch uses): records every call but
//! `getUpdates` as (method, parameters), answers `getUpdates` with the updates queued by
//! [`FakeTelegram::push_update`] (each kept until a call's `offset` passes its `update_id`,
//! as Telegram does), and can answer `sendMessage` with scripted failures
//! (`{"ok":false,"error_code":429,"parameters":{"retry_after":7}}`, a `502`, …) first.

use super::http::{HttpFake, Reply};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A Bot API server on `127.0.0.1:0`; stops when dropped.
pub struct FakeTelegram {
    http: HttpFake,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    updates: Arc<Mutex<Vec<Value>>>,
}

/// A Bot API error answer: `{"ok": false, "error_code": status, "description": …}`, with
/// `parameters` when given.
pub fn error(status: u16, description: &str, parameters: Option<Value>) -> Reply {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    Reply::json(status, &body)
}

impl FakeTelegram {
    /// A Bot API that answers every call successfully.
    pub fn start() -> FakeTelegram {
        FakeTelegram::scripted(Vec::new())
    }

    /// A Bot API whose first `sendMessage` calls get `send_message_plan`'s replies, in
    /// order; everything else succeeds.
    pub fn scripted(send_message_plan: Vec<Reply>) -> FakeTelegram {
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::new(Mutex::new(Vec::new()));
        let updates: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
        let plan = Arc::new(Mutex::new(VecDeque::from(send_message_plan)));
        let (c, u) = (calls.clone(), updates.clone());
        let next_id = Arc::new(Mutex::new(100i64));
        let http = HttpFake::start(move |req| {
            // /bot<token>/<Method>: teloxide writes methods in PascalCase
            let path = req.path.split('?').next().unwrap_or("");
            let method = path.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
            let params = req.json();
            if method != "getupdates" {
                // multipart bodies (sendPhoto) are not JSON: keep their size
                let params = if params.is_null() { json!({ "bytes": req.body.len() }) } else { params.clone() };
                c.lock().unwrap().push((method.clone(), params));
            }
            if method == "sendmessage" {
                if let Some(r) = plan.lock().unwrap().pop_front() {
                    return r;
                }
            }
            let message = |id: i64, text: &str, chat: &Value| {
                json!({"message_id": id, "date": 1_700_000_000, "text": text,
                    "chat": {"id": chat, "type": "private", "first_name": "PR"}})
            };
            let mut delay = Duration::ZERO;
            let result = match method.as_str() {
                "sendphoto" => {
                    let mut n = next_id.lock().unwrap();
                    *n += 1;
                    json!({"message_id": *n, "date": 1_700_000_000,
                        "chat": {"id": 4242, "type": "private", "first_name": "PR"},
                        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 720, "height": 260}]})
                }
                "sendmessage" | "editmessagetext" => {
                    let mut n = next_id.lock().unwrap();
                    *n += 1;
                    let id = params["message_id"].as_i64().unwrap_or(*n);
                    message(id, params["text"].as_str().unwrap_or(""), &params["chat_id"])
                }
                "answercallbackquery" => Value::Bool(true),
                "getupdates" => {
                    // as Telegram does: an update stays until a call asks for a higher offset
                    let offset = params["offset"].as_i64().unwrap_or(0);
                    let mut queued = u.lock().unwrap();
                    queued.retain(|x| x["update_id"].as_i64().is_none_or(|id| id >= offset));
                    let limit = params["limit"].as_u64().unwrap_or(100) as usize;
                    let answer: Vec<Value> = queued.iter().take(limit).cloned().collect();
                    if answer.is_empty() {
                        delay = Duration::from_millis(100); // a short long poll
                    }
                    Value::Array(answer)
                }
                _ => Value::Null,
            };
            Reply::json(200, &json!({"ok": true, "result": result})).after(delay)
        });
        FakeTelegram { http, calls, updates }
    }

    /// The `api_url` to configure: `http://127.0.0.1:PORT/`.
    pub fn api_url(&self) -> String {
        format!("{}/", self.http.base())
    }

    /// Every request, as received (paths hold the bot token, as in the real API).
    pub fn requests(&self) -> Vec<super::http::Request> {
        self.http.requests()
    }

    /// Every call but `getUpdates`, as (method in lower case, parameters).
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    /// Queues an update for the next `getUpdates`.
    pub fn push_update(&self, update: Value) {
        self.updates.lock().unwrap().push(update);
    }

    /// The parameters of the first call of `method` (lower case), waiting up to `secs`.
    pub fn wait_for(&self, method: &str, secs: u64) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((_, p)) = self.calls.lock().unwrap().iter().find(|(m, _)| m == method) {
                return Some(p.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
