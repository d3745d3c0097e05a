//! The fake Teams workflow endpoint (Power Automate's *When a Teams webhook request is
//! received*), on [`HttpFake`]: `POST /workflows/{id}/triggers/manual/paths/invoke` with the
//! query of a real workflow URL, its `sig` the credential. A request without the right `sig`
//! is answered `401` (`DirectApiAuthorizationRequired`), as the real one does. Every body is
//! checked on its own terms, not with crisiswatch's code: JSON, the message envelope (`type`
//! `message`, one attachment of content type `application/vnd.microsoft.card.adaptive`
//! with `contentUrl` null), an `AdaptiveCard` with `$schema` and a `version` Teams renders
//! (≤ 1.5), only element and action types Teams shows in a card posted by a workflow
//! (`Action.OpenUrl` with an absolute http(s) URL; no `Action.Submit` or `Action.Execute`,
//! which need a bot), texts where they are required, and the 28 KB message limit. A
//! malformed message is answered `400` (`InvalidRequestContent`) and noted in
//! [`FakeTeams::malformed`]. Well-formed ones get the scripted replies first (`429` with
//! `Retry-After`, …), then `202 Accepted` with an empty body, like a workflow.

use super::http::{HttpFake, Reply, Request};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The workflow's path.
pub const WORKFLOW_PATH: &str = "/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke";
/// The `sig` query parameter: the URL's secret.
pub const SIG: &str = "fakeTeamsSig-S3cr3t-AbCdEfGhIjKlMnOp";
/// Teams' limit on a message, in bytes.
pub const MAX_MESSAGE: usize = 28 * 1024;

/// One well-formed, authorised message as received.
#[derive(Debug, Clone)]
pub struct Post {
    /// The JSON body.
    pub body: Value,
    /// The status it was answered with.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Post {
    /// The Adaptive Card of the message.
    pub fn card(&self) -> &Value {
        &self.body["attachments"][0]["content"]
    }
}

/// A Teams workflow endpoint on `127.0.0.1:0`; stops when dropped.
pub struct FakeTeams {
    http: HttpFake,
    posts: Arc<Mutex<Vec<Post>>>,
    malformed: Arc<Mutex<Vec<String>>>,
}

/// A Power Automate error answer: HTTP `status`, `{"error": {"code", "message"}}`.
pub fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"error": {"code": code, "message": message}}))
}

const ELEMENTS: &[&str] =
    &["TextBlock", "RichTextBlock", "FactSet", "Container", "ColumnSet", "Image", "ImageSet", "ActionSet", "Table"];
const COLOURS: &[&str] = &["default", "dark", "light", "accent", "good", "warning", "attention"];
const STYLES: &[&str] = &["default", "emphasis", "good", "attention", "warning", "accent"];

fn check_action(a: &Value, out: &mut Vec<String>) {
    match a["type"].as_str().unwrap_or("") {
        "Action.OpenUrl" => {
            let url = a["url"].as_str().unwrap_or("");
            let absolute = reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !absolute {
                out.push(format!("Action.OpenUrl needs an absolute http(s) url: {a}"));
            }
            if a["title"].as_str().is_none_or(str::is_empty) {
                out.push(format!("action without a title: {a}"));
            }
        }
        "Action.ToggleVisibility" | "Action.ShowCard" => {}
        other => out.push(format!("action `{other}` does nothing in a card a workflow posts")),
    }
}

fn check_element(e: &Value, out: &mut Vec<String>) {
    let kind = e["type"].as_str().unwrap_or("");
    if !ELEMENTS.contains(&kind) {
        out.push(format!("unknown element `{kind}`"));
        return;
    }
    if let Some(c) = e.get("color").and_then(Value::as_str) {
        if !COLOURS.contains(&c) {
            out.push(format!("bad color `{c}`"));
        }
    }
    if let Some(s) = e.get("style").and_then(Value::as_str) {
        if kind == "Container" && !STYLES.contains(&s) {
            out.push(format!("bad container style `{s}`"));
        }
    }
    match kind {
        "TextBlock" if !e["text"].is_string() => out.push("TextBlock needs `text`".into()),
        "RichTextBlock" => {
            for i in e["inlines"].as_array().into_iter().flatten() {
                if i["type"] != "TextRun" || !i["text"].is_string() {
                    out.push(format!("bad inline {i}"));
                }
                if let Some(c) = i.get("color").and_then(Value::as_str) {
                    if !COLOURS.contains(&c) {
                        out.push(format!("bad color `{c}`"));
                    }
                }
            }
            if !e["inlines"].is_array() {
                out.push("RichTextBlock needs `inlines`".into());
            }
        }
        "FactSet" => {
            let facts = e["facts"].as_array().cloned().unwrap_or_default();
            if facts.iter().any(|f| !f["title"].is_string() || !f["value"].is_string()) {
                out.push("facts need `title` and `value`".into());
            }
        }
        "Container" => match e["items"].as_array() {
            Some(items) => items.iter().for_each(|i| check_element(i, out)),
            None => out.push("Container needs `items`".into()),
        },
        "ActionSet" => match e["actions"].as_array() {
            Some(a) => a.iter().for_each(|a| check_action(a, out)),
            None => out.push("ActionSet needs `actions`".into()),
        },
        _ => {}
    }
}

/// What is wrong with a message a workflow webhook got, as Teams would see it.
pub fn workflow_problems(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if raw.len() > MAX_MESSAGE {
        out.push(format!("{} bytes: over Teams' 28 KB", raw.len()));
    }
    let Ok(m) = serde_json::from_slice::<Value>(raw) else {
        return vec!["not JSON".into()];
    };
    if m["type"] != "message" {
        out.push("`type` must be `message`".into());
    }
    let atts = m["attachments"].as_array().cloned().unwrap_or_default();
    if atts.is_empty() {
        out.push("no attachments".into());
    }
    for a in &atts {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            out.push(format!("contentType {}", a["contentType"]));
        }
        if !a.as_object().is_some_and(|o| o.contains_key("contentUrl")) || !a["contentUrl"].is_null() {
            out.push("contentUrl must be null".into());
        }
        let c = &a["content"];
        if c["type"] != "AdaptiveCard" {
            out.push("content is not an AdaptiveCard".into());
        }
        if c["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
            out.push(format!("$schema {}", c["$schema"]));
        }
        let version: Option<f64> = c["version"].as_str().and_then(|v| v.parse().ok());
        if !version.is_some_and(|v| (1.0..=1.5).contains(&v)) {
            out.push(format!("version {} (Teams renders up to 1.5)", c["version"]));
        }
        match c["body"].as_array() {
            Some(b) => b.iter().for_each(|e| check_element(e, &mut out)),
            None => out.push("card without `body`".into()),
        }
        for a in c["actions"].as_array().into_iter().flatten() {
            check_action(a, &mut out);
        }
    }
    out
}

impl FakeTeams {
    /// Answers every well-formed message `202`.
    pub fn start() -> FakeTeams {
        FakeTeams::scripted(Vec::new())
    }

    /// Answers well-formed messages with `plan`'s replies in order, then `202`.
    pub fn scripted(plan: Vec<Reply>) -> FakeTeams {
        let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let malformed = Arc::new(Mutex::new(Vec::new()));
        let (p, bad) = (posts.clone(), malformed.clone());
        let http = HttpFake::start(move |req: &Request| {
            let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
            let sig_ok = query.split('&').any(|kv| kv == format!("sig={SIG}"));
            if req.method != "POST" || path != WORKFLOW_PATH || !sig_ok {
                return error(401, "DirectApiAuthorizationRequired", "The request must be authenticated.");
            }
            if !req.header("content-type").starts_with("application/json") {
                bad.lock().unwrap().push(format!("content-type {:?}", req.header("content-type")));
                return error(400, "InvalidRequestContent", "The request content type must be application/json.");
            }
            let problems = workflow_problems(&req.body);
            if !problems.is_empty() {
                bad.lock().unwrap().extend(problems.iter().cloned());
                return error(400, "InvalidRequestContent", &problems.join("; "));
            }
            let reply = plan.lock().unwrap().pop_front().unwrap_or_else(|| Reply::status(202));
            p.lock().unwrap().push(Post { body: req.json(), status: reply.status, at: Instant::now() });
            reply
        });
        FakeTeams { http, posts, malformed }
    }

    /// The workflow's URL, as Teams shows it when the workflow is created.
    pub fn url(&self) -> String {
        format!(
            "{}{WORKFLOW_PATH}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}",
            self.http.base()
        )
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn base(&self) -> String {
        self.http.base()
    }

    /// Every well-formed, authorised message so far, with its answer.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Every request as received (headers and bodies).
    pub fn requests(&self) -> Vec<Request> {
        self.http.requests()
    }

    /// The messages once `done(messages)` holds, or whatever came within `secs` seconds.
    pub fn wait_until(&self, secs: u64, done: impl Fn(&[Post]) -> bool) -> Vec<Post> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.posts();
            if done(&got) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What was wrong with the malformed messages.
    pub fn malformed(&self) -> Vec<String> {
        self.malformed.lock().unwrap().clone()
    }
}
