//! One table of receiver answers, run against every [`Notifier`] (webhook, Telegram, email,
//! Slack through the Web API and through an incoming webhook, Teams through a workflow
//! webhook), each talking to a real local server of its protocol (`support::webhook`,
//! `support::telegram`, `support::smtp`, `support::slack`, `support::teams`) scripted to
//! answer one way once:
//!
//! * accepted → `Delivered`;
//! * a server error (HTTP 5xx; SMTP 4xx transient) → `Retry`;
//! * too many requests (HTTP 429) → `Retry`, after the wait the receiver asked for, in both
//!   forms of `Retry-After` (delta-seconds and HTTP-date) where the protocol carries it: HTTP
//!   headers for webhooks; for Telegram the Bot API's `parameters.retry_after` (seconds) and a
//!   proxy's `Retry-After` header; for Slack's Web API `ratelimited` with `Retry-After`. SMTP
//!   has no such field: there a rate limit is a transient 4xx reply, retried on the usual
//!   backoff;
//! * Slack's Web API refuses with HTTP 200 and `{"ok": false, "error": …}`:
//!   `channel_not_found`, `not_in_channel`, `invalid_auth` → `Fail`;
//! * a refusal (HTTP 4xx; SMTP 5xx permanent) → `Fail`, not retried (the Teams workflow's
//!   403 here echoes the URL it was called at, `sig` and all: the reason must not);
//! * a receiver that is down (connections closed unanswered) → `Retry`.
//!
//! And in every case the channel's secret (webhook signing key, bot token, SMTP password)
//! appears in no outcome, in nothing logged (every `tracing` event and `log` record, at
//! every level, is captured), and in nothing the receiver got outside the place its protocol
//! puts it (the token in the Bot API path, the password in `AUTH`, Slack's bot token in
//! `Authorization`, its webhook URL's path, the `sig` of a Teams workflow URL's query).

mod support;

use crisiswatch::notify::channel::{email::Email, slack, teams, telegram, webhook};
use crisiswatch::notify::config::{Secret, Smtp, SmtpTls};
use crisiswatch::notify::{Delivery, Notifier, Outgoing};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::http::{HttpFake, Reply};
use support::slack::FakeSlack;
use support::smtp::FakeSmtp;
use support::teams::FakeTeams;
use support::telegram::FakeTelegram;
use support::webhook::Webhook;

const WEBHOOK_SECRET: &str = "whsec-conformance-9f8e7d6c5b4a";
const BOT_TOKEN: &str = "123456789:AAconformanceBotToken-S3cr3t";
const SMTP_PASSWORD: &str = "smtp-conformance-pa55word-S3cr3t";
const SLACK_TOKEN: &str = "xoxb-conformance-S3cr3t-token";
const SLACK_HOOK_SECRET: &str = "conformanceS3cr3tHookPath";
/// The fake workflow's `sig`.
const TEAMS_SIG: &str = support::teams::SIG;

/// A `Retry-After` as the receiver sends it.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// None given.
    Unsaid,
    /// `Retry-After: N`
    Seconds(u64),
    /// `Retry-After: <HTTP-date N seconds ahead>`
    HttpDate(u64),
}

/// How the receiver answers the one attempt.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Accepted,
    ServerError(u16, Wait),
    TooManyRequests(Wait),
    Refused(u16),
    Down,
}

/// What the notifier must make of it.
#[derive(Debug, Clone)]
enum Expect {
    Delivered,
    /// Retried; after a wait in this range (seconds) where the protocol carries one.
    Retry(Option<RangeInclusive<u64>>),
    Fail,
}

struct Case {
    name: &'static str,
    answer: Answer,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    use Answer::*;
    use Wait::*;
    vec![
        Case { name: "accepted", answer: Accepted, expect: Expect::Delivered },
        Case { name: "500", answer: ServerError(500, Unsaid), expect: Expect::Retry(None) },
        Case { name: "502 (a proxy's page)", answer: ServerError(502, Unsaid), expect: Expect::Retry(None) },
        Case { name: "503 + Retry-After: 5", answer: ServerError(503, Seconds(5)), expect: Expect::Retry(Some(5..=5)) },
        Case { name: "429", answer: TooManyRequests(Unsaid), expect: Expect::Retry(None) },
        Case { name: "429 + Retry-After: 7", answer: TooManyRequests(Seconds(7)), expect: Expect::Retry(Some(7..=7)) },
        Case {
            name: "429 + Retry-After: HTTP-date +30 s",
            answer: TooManyRequests(HttpDate(30)),
            expect: Expect::Retry(Some(28..=30)),
        },
        Case { name: "400", answer: Refused(400), expect: Expect::Fail },
        Case { name: "403", answer: Refused(403), expect: Expect::Fail },
        Case { name: "404", answer: Refused(404), expect: Expect::Fail },
        Case { name: "down", answer: Down, expect: Expect::Retry(None) },
    ]
}

fn retry_after_value(w: Wait) -> Option<String> {
    match w {
        Wait::Unsaid => None,
        Wait::Seconds(s) => Some(s.to_string()),
        Wait::HttpDate(s) => Some(httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(s))),
    }
}

/// `r` with the `Retry-After` header of `w`, when it says one.
fn with_wait(r: Reply, w: Wait) -> Reply {
    match retry_after_value(w) {
        Some(v) => r.header("retry-after", &v),
        None => r,
    }
}

/// What a proxy in front of an API answers when it is down: 502 with an HTML page.
fn bad_gateway_page() -> Reply {
    Reply::status(502)
        .header("content-type", "text/html")
        .body(b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec())
}

/// A receiver set up for one case, and a notifier pointed at it.
struct Arranged {
    notifier: Box<dyn Notifier>,
    /// What the receiver got, outside where its protocol carries the secret.
    received: Box<dyn Fn() -> String>,
    _receiver: Box<dyn std::any::Any>,
}

trait Channel {
    fn name(&self) -> &'static str;
    fn secret(&self) -> &'static str;
    /// Whether the protocol can say how long to wait.
    fn carries_wait(&self) -> bool;
    /// The receiver answering `answer` once, or why the protocol has no such answer.
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str>;
}

struct WebhookChannel;

impl Channel for WebhookChannel {
    fn name(&self) -> &'static str {
        "webhook"
    }
    fn secret(&self) -> &'static str {
        WEBHOOK_SECRET
    }
    fn carries_wait(&self) -> bool {
        true
    }
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str> {
        let hook = match answer {
            Answer::Accepted => Webhook::start(&[]),
            Answer::ServerError(502, w) => Webhook::scripted(vec![with_wait(bad_gateway_page(), w)]),
            Answer::ServerError(s, w) => Webhook::scripted(vec![with_wait(Reply::status(s), w)]),
            Answer::TooManyRequests(w) => Webhook::scripted(vec![with_wait(Reply::status(429), w)]),
            Answer::Refused(s) => Webhook::start(&[s]),
            Answer::Down => Webhook::down(),
        };
        let notifier = webhook::Webhook::new(
            hook.url().parse().unwrap(),
            WEBHOOK_SECRET.as_bytes().to_vec(),
            Duration::from_secs(10),
        )
        .unwrap();
        let hook = Arc::new(hook);
        let h = hook.clone();
        Ok(Arranged {
            notifier: Box::new(notifier),
            received: Box::new(move || format!("{:?}", h.requests())),
            _receiver: Box::new(hook),
        })
    }
}

struct TelegramChannel;

impl Channel for TelegramChannel {
    fn name(&self) -> &'static str {
        "telegram"
    }
    fn secret(&self) -> &'static str {
        BOT_TOKEN
    }
    fn carries_wait(&self) -> bool {
        true
    }
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str> {
        use support::telegram::error;
        let plan = match answer {
            Answer::Accepted => vec![],
            // nginx in front of the Bot API answers 502 with a page, not JSON
            Answer::ServerError(502, w) => vec![with_wait(bad_gateway_page(), w)],
            Answer::ServerError(s, w) => vec![with_wait(error(s, "Internal Server Error", None), w)],
            // the Bot API's own form: seconds in `parameters.retry_after`
            Answer::TooManyRequests(Wait::Seconds(n)) => vec![error(
                429,
                &format!("Too Many Requests: retry after {n}"),
                Some(serde_json::json!({ "retry_after": n })),
            )],
            // a proxy's header (the Bot API has no date form)
            Answer::TooManyRequests(w) => vec![with_wait(error(429, "Too Many Requests", None), w)],
            Answer::Refused(400) => vec![error(400, "Bad Request: chat not found", None)],
            Answer::Refused(403) => vec![error(403, "Forbidden: bot was blocked by the user", None)],
            Answer::Refused(s) => vec![error(s, "Not Found", None)],
            Answer::Down => {
                let down = HttpFake::dropping();
                let bot = telegram::bot(BOT_TOKEN, Some(&format!("{}/", down.base()))).unwrap();
                return Ok(Arranged {
                    notifier: Box::new(telegram::Telegram::new(bot, 4242)),
                    received: Box::new(String::new),
                    _receiver: Box::new(down),
                });
            }
        };
        let tg = Arc::new(FakeTelegram::scripted(plan));
        let bot = telegram::bot(BOT_TOKEN, Some(&tg.api_url())).unwrap();
        let t = tg.clone();
        Ok(Arranged {
            notifier: Box::new(telegram::Telegram::new(bot, 4242)),
            // the token travels in the path (`/bot<token>/…`) by the protocol: only headers
            // and bodies are checked
            received: Box::new(move || {
                t.requests().iter().map(|r| format!("{:?} {}\n", r.headers, r.text())).collect::<String>()
            }),
            _receiver: Box::new(tg),
        })
    }
}

struct SlackBotChannel;

impl Channel for SlackBotChannel {
    fn name(&self) -> &'static str {
        "slack (Web API)"
    }
    fn secret(&self) -> &'static str {
        SLACK_TOKEN
    }
    fn carries_wait(&self) -> bool {
        true
    }
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str> {
        use support::slack::error;
        let plan = match answer {
            Answer::Accepted => vec![],
            Answer::ServerError(502, w) => vec![with_wait(bad_gateway_page(), w)],
            Answer::ServerError(s, w) => vec![with_wait(error(s, "internal_error"), w)],
            Answer::TooManyRequests(w) => vec![with_wait(error(429, "ratelimited"), w)],
            // the Web API refuses with HTTP 200 and `ok: false`
            Answer::Refused(400) => vec![error(200, "channel_not_found")],
            Answer::Refused(403) => vec![error(200, "not_in_channel")],
            Answer::Refused(_) => vec![error(200, "invalid_auth")],
            Answer::Down => {
                let down = HttpFake::dropping();
                let notifier = slack::Slack::bot("comms", SLACK_TOKEN, "C1", &down.base(), None).unwrap();
                return Ok(Arranged {
                    notifier: Box::new(notifier),
                    received: Box::new(String::new),
                    _receiver: Box::new(down),
                });
            }
        };
        let fake = Arc::new(FakeSlack::scripted(SLACK_TOKEN, plan));
        let notifier = slack::Slack::bot("comms", SLACK_TOKEN, "C1", &fake.api_url(), None).unwrap();
        let f = fake.clone();
        Ok(Arranged {
            notifier: Box::new(notifier),
            // the token travels in `Authorization` by the protocol: every other header and
            // the bodies are checked
            received: Box::new(move || {
                let malformed = f.malformed();
                assert!(malformed.is_empty(), "{malformed:?}");
                f.requests()
                    .iter()
                    .map(|r| {
                        let h: Vec<_> = r.headers.iter().filter(|(k, _)| k != "authorization").collect();
                        format!("{h:?} {}\n", r.text())
                    })
                    .collect::<String>()
            }),
            _receiver: Box::new(fake),
        })
    }
}

struct SlackWebhookChannel;

impl Channel for SlackWebhookChannel {
    fn name(&self) -> &'static str {
        "slack (incoming webhook)"
    }
    fn secret(&self) -> &'static str {
        SLACK_HOOK_SECRET
    }
    fn carries_wait(&self) -> bool {
        true
    }
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str> {
        let word = |status: u16, w: &str| {
            Reply::status(status).header("content-type", "text/plain").body(w.as_bytes().to_vec())
        };
        let hook = match answer {
            Answer::Accepted => Webhook::scripted(vec![word(200, "ok")]),
            Answer::ServerError(s, w) => Webhook::scripted(vec![with_wait(word(s, "internal error"), w)]),
            Answer::TooManyRequests(w) => Webhook::scripted(vec![with_wait(word(429, "rate_limited"), w)]),
            Answer::Refused(400) => Webhook::scripted(vec![word(400, "invalid_payload")]),
            Answer::Refused(403) => Webhook::scripted(vec![word(403, "action_prohibited")]),
            Answer::Refused(s) => Webhook::scripted(vec![word(s, "no_service")]),
            Answer::Down => Webhook::down(),
        };
        let url = format!("{}/services/T0/B0/{SLACK_HOOK_SECRET}", hook.url());
        let notifier = slack::Slack::webhook("comms", &url).unwrap();
        let hook = Arc::new(hook);
        let h = hook.clone();
        Ok(Arranged {
            notifier: Box::new(notifier),
            // the secret is the URL's path, where the protocol puts it: headers and bodies
            received: Box::new(move || {
                h.requests().iter().map(|r| format!("{:?} {}\n", r.headers, r.text())).collect()
            }),
            _receiver: Box::new(hook),
        })
    }
}

struct TeamsChannel;

impl Channel for TeamsChannel {
    fn name(&self) -> &'static str {
        "teams (workflow webhook)"
    }
    fn secret(&self) -> &'static str {
        TEAMS_SIG
    }
    fn carries_wait(&self) -> bool {
        true
    }
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str> {
        use support::teams::{error, WORKFLOW_PATH};
        let plan = match answer {
            Answer::Accepted => vec![], // 202 Accepted, as a workflow answers
            Answer::ServerError(502, w) => vec![with_wait(bad_gateway_page(), w)],
            Answer::ServerError(s, w) => vec![with_wait(error(s, "InternalServerError", "Try again later."), w)],
            Answer::TooManyRequests(w) => {
                vec![with_wait(error(429, "WorkflowRequestsThrottled", "Rate limit is exceeded."), w)]
            }
            Answer::Refused(400) => vec![error(
                400,
                "TriggerInputSchemaMismatch",
                "The input body for trigger 'manual' of type 'Request' did not match its schema definition.",
            )],
            // a server that echoes the URL it was called at, `sig` and all
            Answer::Refused(403) => vec![error(
                403,
                "WorkflowTriggerIsNotEnabled",
                &format!("The workflow at '{WORKFLOW_PATH}?sv=1.0&sig={TEAMS_SIG}' is disabled."),
            )],
            Answer::Refused(s) => vec![error(s, "WorkflowNotFound", "The workflow could not be found.")],
            Answer::Down => {
                let down = HttpFake::dropping();
                let url = format!("{}{WORKFLOW_PATH}?sig={TEAMS_SIG}", down.base());
                return Ok(Arranged {
                    notifier: Box::new(teams::Teams::new("comms", &url).unwrap()),
                    received: Box::new(String::new),
                    _receiver: Box::new(down),
                });
            }
        };
        let fake = Arc::new(FakeTeams::scripted(plan));
        let notifier = teams::Teams::new("comms", &fake.url()).unwrap();
        let f = fake.clone();
        Ok(Arranged {
            notifier: Box::new(notifier),
            // the `sig` travels in the URL's query by the protocol: headers and bodies
            received: Box::new(move || {
                let malformed = f.malformed();
                assert!(malformed.is_empty(), "{malformed:?}");
                f.requests().iter().map(|r| format!("{:?} {}\n", r.headers, r.text())).collect()
            }),
            _receiver: Box::new(fake),
        })
    }
}

struct EmailChannel {
    dir: tempfile::TempDir,
}

impl Channel for EmailChannel {
    fn name(&self) -> &'static str {
        "email"
    }
    fn secret(&self) -> &'static str {
        SMTP_PASSWORD
    }
    fn carries_wait(&self) -> bool {
        false // SMTP replies say transient (4xx) or permanent (5xx), never how long
    }
    fn arrange(&self, answer: Answer) -> Result<Arranged, &'static str> {
        let reply = match answer {
            Answer::Accepted => None,
            Answer::ServerError(500, _) => Some("451 4.3.0 Temporary server error, try again later"),
            Answer::ServerError(502, _) => Some("421 4.3.2 Service not available"),
            Answer::ServerError(_, _) => Some("452 4.3.1 Insufficient system storage"),
            Answer::TooManyRequests(Wait::HttpDate(_)) => return Err("SMTP replies carry no date"),
            Answer::TooManyRequests(_) => Some("450 4.7.1 Too many messages, slow down"),
            Answer::Refused(400) => Some("554 5.6.0 Message content rejected"),
            Answer::Refused(403) => Some("550 5.7.1 Relaying denied"),
            Answer::Refused(_) => Some("550 5.1.1 Mailbox unavailable"),
            Answer::Down => {
                let down = HttpFake::dropping(); // accepts, then closes before the greeting
                let smtp = self.smtp(down.addr().port());
                return Ok(Arranged {
                    notifier: Box::new(Email::new(&smtp, &["pr@acme.example".into()]).unwrap()),
                    received: Box::new(String::new),
                    _receiver: Box::new(down),
                });
            }
        };
        let maildir = tempfile::tempdir_in(self.dir.path()).unwrap();
        let server = FakeSmtp::start(maildir.path(), Some(("crisiswatch", SMTP_PASSWORD)), reply.as_slice());
        let smtp = self.smtp(server.port);
        let new = maildir.path().join("new");
        Ok(Arranged {
            notifier: Box::new(Email::new(&smtp, &["pr@acme.example".into()]).unwrap()),
            received: Box::new(move || {
                std::fs::read_dir(&new)
                    .into_iter()
                    .flatten()
                    .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect::<String>()
            }),
            _receiver: Box::new((server, maildir)),
        })
    }
}

impl EmailChannel {
    fn smtp(&self, port: u16) -> Smtp {
        Smtp {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            from: "crisiswatch <alerts@acme.example>".into(),
            credentials: Some(("crisiswatch".into(), Secret(SMTP_PASSWORD.as_bytes().to_vec()))),
        }
    }
}

/// Everything logged by any test in this binary: every `tracing` event and `log` record.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let writer = move || Capture(b.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(writer)
            .try_init()
            .expect("the only subscriber in this test binary");
        buf
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sample() -> Outgoing {
    let body = serde_json::json!({
        "schema": "crisiswatch.ops.v1",
        "problem": "conformance check: a notification could not be delivered",
    });
    Outgoing {
        id: 1,
        idempotency_key: "crisiswatch-conformance-0001".into(),
        kind: "ops".into(),
        body: body.to_string(),
    }
}

/// Runs every case against `channel`, prints the table, and fails listing every case that
/// did not conform (not only the first).
fn run_table(channel: &dyn Channel) {
    let logs = captured_logs();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for case in cases() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let arranged = {
            let _inside = rt.enter();
            channel.arrange(case.answer)
        };
        let a = match arranged {
            Ok(a) => a,
            Err(why) => {
                rows.push(format!("{:<36} n/a: {why}", case.name));
                continue;
            }
        };
        let out = sample();
        let got = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), a.notifier.deliver(&out)).await.expect("delivery hangs")
        });
        let expect = match case.expect.clone() {
            Expect::Retry(Some(_)) if !channel.carries_wait() => Expect::Retry(None),
            e => e,
        };
        let ok = match (&expect, &got) {
            (Expect::Delivered, Delivery::Delivered) => true,
            (Expect::Fail, Delivery::Fail(_)) => true,
            (Expect::Retry(None), Delivery::Retry { after: None, .. }) => true,
            (Expect::Retry(Some(r)), Delivery::Retry { after: Some(d), .. }) => {
                // an HTTP-date has whole seconds: allow the one being in progress
                r.contains(&d.as_secs()) || (d.subsec_nanos() > 0 && r.contains(&(d.as_secs() + 1)))
            }
            _ => false,
        };
        let secret = channel.secret();
        let leaked = format!("{got:?}").contains(secret) || (a.received)().contains(secret);
        rows.push(format!("{:<36} {:<8} {got:?}", case.name, if ok && !leaked { "ok" } else { "FAIL" }));
        if !ok {
            failures.push(format!("{} / {}: expected {expect:?}, got {got:?}", channel.name(), case.name));
        }
        if leaked {
            failures.push(format!(
                "{} / {}: the secret is in the outcome or was sent in the clear",
                channel.name(),
                case.name
            ));
        }
        // a pooled SMTP transport hands its connections back to the runtime when dropped
        let _inside = rt.enter();
        drop(a);
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    if logged.contains(channel.secret()) {
        failures.push(format!("{}: the secret was logged", channel.name()));
    }
    println!("{}:\n  {}", channel.name(), rows.join("\n  "));
    assert!(failures.is_empty(), "{}\n\n{}", failures.join("\n"), rows.join("\n"));
}

#[test]
fn webhook_conforms() {
    run_table(&WebhookChannel);
}

#[test]
fn telegram_conforms() {
    run_table(&TelegramChannel);
}

#[test]
fn slack_web_api_conforms() {
    run_table(&SlackBotChannel);
}

#[test]
fn slack_incoming_webhook_conforms() {
    run_table(&SlackWebhookChannel);
}

#[test]
fn teams_workflow_webhook_conforms() {
    run_table(&TeamsChannel);
}

#[test]
fn email_conforms() {
    run_table(&EmailChannel { dir: tempfile::tempdir().unwrap() });
}

/// The capture works, for `tracing` events and for the `log` records of the HTTP client (its
/// debug line for each new connection), so "not logged" above means something.
#[test]
fn the_log_capture_sees_what_is_logged() {
    let logs = captured_logs();
    tracing::warn!(probe = "conformance-capture-probe", "probe");
    let fake = HttpFake::start(|_| Reply::status(204));
    let r = reqwest::blocking::get(format!("{}/probe", fake.base())).unwrap();
    assert_eq!(r.status(), 204);
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logged.contains("conformance-capture-probe"), "{logged}");
    assert!(logged.contains("starting new connection"), "log records are captured too: {logged}");
}
