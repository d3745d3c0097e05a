//! The fake Slack (the parts crisiswatch uses), on [`HttpFake`]: the Web API
//! (`POST /api/chat.postMessage`, `POST /api/chat.update`, with `Authorization: Bearer`; the
//! file upload flow: form-encoded `files.getUploadURLExternal` giving an upload URL here, the
//! bytes POSTed to it, checked against the declared `length`, and
//! `files.completeUploadExternal` naming an uploaded file) and
//! an incoming webhook (`POST /hooks/…`). Every message is checked as Slack would check it:
//! JSON, a `text` fallback, only known block types, Block Kit's limits (50 blocks, 3,000
//! characters per section, 150 per header, 75 per button, 255 per `action_id`); a malformed
//! one is answered as Slack does (`invalid_blocks`, `invalid_payload`) and noted in
//! [`FakeSlack::malformed`]. `chat.postMessage` can be scripted to fail first
//! (`ratelimited` with `Retry-After`, …).

use super::http::{HttpFake, Reply, Request};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The incoming webhook's path.
pub const HOOK_PATH: &str = "/hooks/services/T000/B000/XXXXsecretXXXX";

/// One call as received: (method or `webhook`, JSON body, when).
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, `chat.update` or `webhook`.
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

/// A Slack on `127.0.0.1:0`; stops when dropped.
pub struct FakeSlack {
    http: HttpFake,
    calls: Arc<Mutex<Vec<Call>>>,
    malformed: Arc<Mutex<Vec<String>>>,
    uploads: Uploads,
}

/// The files uploaded: (file id, bytes).
type Uploads = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// The fields of a form-encoded body, as a JSON object of strings.
fn form_fields(body: &[u8]) -> Value {
    let url = reqwest::Url::parse(&format!("http://f.invalid/?{}", String::from_utf8_lossy(body))).unwrap();
    Value::Object(url.query_pairs().map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect())
}

/// A Web API error: HTTP `status`, `{"ok": false, "error": error}`.
pub fn error(status: u16, error: &str) -> Reply {
    Reply::json(status, &json!({"ok": false, "error": error}))
}

fn len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// What is wrong with a message, as Block Kit's rules say.
pub fn block_kit_problems(m: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let text = |t: &Value, max: usize, what: &str, out: &mut Vec<String>| match (t["type"].as_str(), t["text"].as_str())
    {
        (Some("plain_text" | "mrkdwn"), Some(s)) if !s.is_empty() && len(s) <= max => {}
        _ => out.push(format!("{what}: bad text object {t}")),
    };
    let blocks = |bs: &Value, out: &mut Vec<String>| {
        let Some(bs) = bs.as_array() else { return };
        if bs.len() > 50 {
            out.push(format!("{} blocks", bs.len()));
        }
        for b in bs {
            match b["type"].as_str().unwrap_or("") {
                "header" => {
                    text(&b["text"], 150, "header", out);
                    if b["text"]["type"] != "plain_text" {
                        out.push("header must be plain_text".into());
                    }
                }
                "section" => text(&b["text"], 3000, "section", out),
                "divider" => {}
                "context" => {
                    let els = b["elements"].as_array().cloned().unwrap_or_default();
                    if els.is_empty() || els.len() > 10 {
                        out.push("context needs 1..10 elements".into());
                    }
                    els.iter().for_each(|e| text(e, 3000, "context", out));
                }
                "actions" => {
                    let els = b["elements"].as_array().cloned().unwrap_or_default();
                    if els.is_empty() || els.len() > 25 {
                        out.push("actions needs 1..25 elements".into());
                    }
                    for e in els {
                        text(&e["text"], 75, "button", out);
                        let id = e["action_id"].as_str().unwrap_or("");
                        if e["type"] != "button"
                            || id.is_empty()
                            || id.len() > 255
                            || len(e["value"].as_str().unwrap_or("")) > 2000
                        {
                            out.push(format!("bad button {e}"));
                        }
                    }
                }
                other => out.push(format!("unknown block type `{other}`")),
            }
        }
    };
    if m["text"].as_str().is_none_or(str::is_empty) {
        out.push("no `text` fallback".into());
    }
    blocks(&m["blocks"], &mut out);
    for a in m["attachments"].as_array().into_iter().flatten() {
        blocks(&a["blocks"], &mut out);
    }
    out
}

impl FakeSlack {
    /// A Slack that accepts every well-formed call from a client with `token`.
    pub fn start(token: &str) -> FakeSlack {
        FakeSlack::scripted(token, Vec::new())
    }

    /// A Slack whose first `chat.postMessage` calls get `plan`'s replies, in order.
    pub fn scripted(token: &str, plan: Vec<Reply>) -> FakeSlack {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let malformed: Arc<Mutex<Vec<String>>> = Arc::default();
        let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
        let uploads: Uploads = Arc::default();
        let (c, bad, up) = (calls.clone(), malformed.clone(), uploads.clone());
        // file id → declared length, and whether its bytes came
        let pending: Arc<Mutex<Vec<(String, usize, bool)>>> = Arc::default();
        let bearer = format!("Bearer {token}");
        let next_ts = Arc::new(Mutex::new(1_700_000_000u64));
        let base: Arc<Mutex<String>> = Arc::default();
        let base2 = base.clone();
        let http = HttpFake::start(move |req: &Request| {
            let path = req.path.split('?').next().unwrap_or("");
            if let Some(id) = path.strip_prefix("/upload/") {
                // the upload URL: no token, the raw bytes (or a multipart form)
                let mut p = pending.lock().unwrap();
                let Some(entry) = p.iter_mut().find(|(f, _, _)| f == id) else {
                    return Reply::status(404).body(b"no such upload".to_vec());
                };
                if req.body.len() != entry.1 {
                    return Reply::status(400).body(b"length mismatch".to_vec());
                }
                entry.2 = true;
                up.lock().unwrap().push((id.to_string(), req.body.clone()));
                return Reply::status(200).body(format!("OK - {}", req.body.len()).into_bytes());
            }
            let files_method = path.starts_with("/api/files.");
            let body: Value = if files_method { form_fields(&req.body) } else { req.json() };
            let method = if path == HOOK_PATH {
                "webhook".to_string()
            } else if let Some(m) = path.strip_prefix("/api/") {
                m.to_string()
            } else {
                return Reply::status(404).body(b"no_service".to_vec());
            };
            c.lock().unwrap().push(Call { method: method.clone(), body: body.clone(), at: Instant::now() });
            let problems = if files_method { Vec::new() } else { block_kit_problems(&body) };
            if !problems.is_empty() {
                bad.lock().unwrap().push(format!("{method}: {problems:?}"));
            }
            if method == "webhook" {
                return if body.is_null() || !problems.is_empty() {
                    Reply::status(400).body(b"invalid_payload".to_vec())
                } else {
                    Reply::status(200).header("content-type", "text/plain").body(b"ok".to_vec())
                };
            }
            if req.header("authorization") != bearer {
                return error(200, "invalid_auth");
            }
            if files_method {
                if !req.header("content-type").starts_with("application/x-www-form-urlencoded") {
                    return error(200, "invalid_arguments");
                }
                return match method.as_str() {
                    "files.getUploadURLExternal" => {
                        let len = body["length"].as_str().and_then(|l| l.parse::<usize>().ok()).unwrap_or(0);
                        if len == 0 || body["filename"].as_str().is_none_or(str::is_empty) {
                            return error(200, "missing_argument");
                        }
                        let mut p = pending.lock().unwrap();
                        let id = format!("F{:09}", p.len() + 1);
                        p.push((id.clone(), len, false));
                        let url = format!("{}/upload/{id}", base2.lock().unwrap());
                        Reply::json(200, &json!({"ok": true, "upload_url": url, "file_id": id}))
                    }
                    "files.completeUploadExternal" => {
                        let files: Value =
                            body["files"].as_str().and_then(|f| serde_json::from_str(f).ok()).unwrap_or_default();
                        let p = pending.lock().unwrap();
                        let all_up = files.as_array().is_some_and(|a| {
                            !a.is_empty()
                                && a.iter().all(|f| p.iter().any(|(id, _, done)| f["id"] == id.as_str() && *done))
                        });
                        if !all_up {
                            return error(200, "file_not_found");
                        }
                        if body["thread_ts"].is_string() && !body["channel_id"].is_string() {
                            return error(200, "invalid_arguments");
                        }
                        Reply::json(200, &json!({"ok": true, "files": files}))
                    }
                    _ => error(200, "unknown_method"),
                };
            }
            if !req.header("content-type").starts_with("application/json") || body.is_null() {
                return error(200, "invalid_arguments");
            }
            if !problems.is_empty() {
                return error(200, "invalid_blocks");
            }
            match method.as_str() {
                "chat.postMessage" => {
                    if let Some(r) = plan.lock().unwrap().pop_front() {
                        return r;
                    }
                    let Some(channel) = body["channel"].as_str() else { return error(200, "channel_not_found") };
                    let mut n = next_ts.lock().unwrap();
                    *n += 1;
                    Reply::json(
                        200,
                        &json!({"ok": true, "channel": channel, "ts": format!("{n}.000100"),
                        "message": {"text": body["text"], "blocks": body["blocks"]}}),
                    )
                }
                "chat.update" => match (body["channel"].as_str(), body["ts"].as_str()) {
                    (Some(ch), Some(ts)) => {
                        Reply::json(200, &json!({"ok": true, "channel": ch, "ts": ts, "text": body["text"]}))
                    }
                    _ => error(200, "message_not_found"),
                },
                _ => error(200, "unknown_method"),
            }
        });
        *base.lock().unwrap() = http.base();
        FakeSlack { http, calls, malformed, uploads }
    }

    /// The files uploaded (file id, bytes), in order.
    pub fn uploads(&self) -> Vec<(String, Vec<u8>)> {
        self.uploads.lock().unwrap().clone()
    }

    /// The `api_url` to configure: `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.http.base())
    }

    /// The incoming webhook URL.
    pub fn webhook_url(&self) -> String {
        format!("{}{HOOK_PATH}", self.http.base())
    }

    /// Every request as received.
    pub fn requests(&self) -> Vec<Request> {
        self.http.requests()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The messages that broke Block Kit's rules.
    pub fn malformed(&self) -> Vec<String> {
        self.malformed.lock().unwrap().clone()
    }

    /// The calls of `method`, once `n` of them came (or after `secs`).
    pub fn wait_for(&self, method: &str, n: usize, secs: u64) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got: Vec<Call> = self.calls().into_iter().filter(|c| c.method == method).collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
