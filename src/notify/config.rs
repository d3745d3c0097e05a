//! The `[notify]` part of the service configuration: receivers (webhook, email, Telegram),
//! teams of receivers, and routes with an escalation ladder. Secrets (webhook keys, SMTP
//! passwords, bot tokens) are named by environment variable, never written in the file.

use crate::alert::Severity;
use serde::Deserialize;
use std::time::Duration;

/// `[notify]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Base URL of this service, for the acknowledge links in messages.
    pub public_url: Option<String>,
    /// How long to wait for more events of the same brand before sending (grouping).
    pub group_wait: Option<String>,
    /// Delivery attempts before a notification is dead-lettered.
    pub max_attempts: Option<u32>,
    /// First retry delay (default 2 s); doubles per attempt.
    pub retry_base: Option<String>,
    /// Longest retry delay (default 5 min).
    pub retry_max: Option<String>,
    /// `watch` notifications are held during these UTC hours, e.g. `"22:00-07:00"`.
    pub quiet_hours: Option<String>,
    /// The SMTP server for email receivers.
    pub smtp: Option<SmtpConfig>,
    /// The bot for Telegram receivers.
    pub telegram: Option<TelegramConfig>,
    /// Receivers.
    #[serde(default)]
    pub receiver: Vec<ReceiverConfig>,
    /// Teams.
    #[serde(default)]
    pub team: Vec<TeamConfig>,
    /// Routes, first match wins.
    #[serde(default)]
    pub route: Vec<RouteConfig>,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Port (default 587 for starttls, 465 for tls, 25 for none).
    pub port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` (only for a server on this machine).
    pub tls: Option<String>,
    /// Sender, e.g. `"crisiswatch <alerts@example.com>"`.
    pub from: String,
    /// Environment variable holding the user name.
    pub username_env: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
}

/// `[notify.telegram]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Environment variable holding the bot token.
    pub token_env: String,
    /// Bot API base URL (default `https://api.telegram.org`).
    pub api_url: Option<String>,
}

/// Telegram settings, resolved.
#[derive(Debug, Clone)]
pub struct TelegramBot {
    /// Bot token (never logged).
    pub token: Secret,
    /// Bot API base URL.
    pub api_url: Option<String>,
}

/// SMTP settings, resolved.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub tls: String,
    /// Sender.
    pub from: String,
    /// Credentials.
    pub credentials: Option<(String, Secret)>,
}

/// One receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name.
    pub name: String,
    /// `webhook`, `email` or `telegram`.
    pub kind: String,
    /// Webhook: `http(s)://` URL.
    pub url: Option<String>,
    /// Webhook: environment variable holding the HMAC key.
    pub secret_env: Option<String>,
    /// Webhook: request timeout (default 10 s).
    pub timeout: Option<String>,
    /// Email: recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Telegram: chat id.
    pub chat_id: Option<i64>,
}

/// A named group of receivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Name.
    pub name: String,
    /// Receiver names.
    pub receivers: Vec<String>,
}

/// Which incidents go where, and how they escalate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Brand ids (empty: all).
    #[serde(default)]
    pub brands: Vec<String>,
    /// Least severity routed (default `watch`).
    pub min_severity: Option<Severity>,
    /// Escalation ladder, in order.
    pub ladder: Vec<StepConfig>,
    /// Re-notify the reached steps this often while unacknowledged (default: never).
    pub repeat: Option<String>,
}

/// One rung of the ladder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Teams notified.
    pub teams: Vec<String>,
    /// Reached when the incident is unacknowledged this long after it opened (default 0).
    pub after: Option<String>,
    /// Also reached at once when the incident is at least this severe.
    pub severity: Option<Severity>,
}

/// A receiver, resolved.
#[derive(Debug, Clone)]
pub enum Receiver {
    /// Signed JSON POST.
    Webhook {
        /// Name.
        name: String,
        /// URL.
        url: reqwest::Url,
        /// HMAC key (never logged).
        secret: Secret,
        /// Timeout.
        timeout: Duration,
    },
    /// Email through the configured SMTP server.
    Email {
        /// Name.
        name: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// Telegram chat through the configured bot.
    Telegram {
        /// Name.
        name: String,
        /// Chat id.
        chat_id: i64,
    },
}

impl Receiver {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Receiver::Webhook { name, .. } | Receiver::Email { name, .. } | Receiver::Telegram { name, .. } => name,
        }
    }
}

/// A secret value whose `Debug` does not show it.
#[derive(Clone, Default)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A resolved ladder step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Receiver indices.
    pub receivers: Vec<usize>,
    /// Milliseconds unacknowledged before it is reached.
    pub after_ms: i64,
    /// Severity that reaches it at once.
    pub severity: Option<Severity>,
}

/// A resolved route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Brands (empty: all).
    pub brands: Vec<String>,
    /// Least severity.
    pub min_severity: Severity,
    /// Ladder.
    pub ladder: Vec<Step>,
    /// Repeat interval in milliseconds (0: never).
    pub repeat_ms: i64,
}

/// The notification settings the service runs with.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    /// Base URL for links.
    pub public_url: String,
    /// Grouping wait.
    pub group_wait: Duration,
    /// Attempts before dead-lettering.
    pub max_attempts: u32,
    /// First retry delay.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Quiet hours (UTC minutes of day, start..end, wrapping midnight).
    pub quiet: Option<(u32, u32)>,
    /// SMTP server.
    pub smtp: Option<Smtp>,
    /// Telegram bot.
    pub telegram: Option<TelegramBot>,
    /// Receivers.
    pub receivers: Vec<Receiver>,
    /// Routes.
    pub routes: Vec<Route>,
}

impl Notify {
    /// The first route for `brand` at `severity`.
    pub fn route(&self, brand: &str, severity: Severity) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| (r.brands.is_empty() || r.brands.iter().any(|b| b == brand)) && severity >= r.min_severity)
    }

    /// Whether `minute_of_day` (UTC) is within quiet hours.
    pub fn is_quiet(&self, minute_of_day: u32) -> bool {
        match self.quiet {
            Some((s, e)) if s <= e => (s..e).contains(&minute_of_day),
            Some((s, e)) => minute_of_day >= s || minute_of_day < e,
            None => false,
        }
    }
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Resolves `[notify]`: every problem is returned as (key, message) for positioning by the
/// caller.
pub fn resolve(c: &NotifyConfig, listen: &str) -> Result<Notify, Vec<(&'static str, String)>> {
    let mut errs: Vec<(&'static str, String)> = Vec::new();
    let dur = |key: &'static str, v: &Option<String>, d: Duration, errs: &mut Vec<(&'static str, String)>| match v {
        None => d,
        Some(s) => crate::units::parse_duration(s).unwrap_or_else(|e| {
            errs.push((key, format!("`{key}`: {e}")));
            d
        }),
    };
    let group_wait = dur("group_wait", &c.group_wait, Duration::from_secs(5), &mut errs);
    let retry_base = dur("retry_base", &c.retry_base, Duration::from_secs(2), &mut errs);
    let retry_max = dur("retry_max", &c.retry_max, Duration::from_secs(300), &mut errs);
    let quiet = c.quiet_hours.as_ref().and_then(|q| {
        let parsed = q.split_once('-').and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
        if parsed.is_none() {
            errs.push(("quiet_hours", format!("`quiet_hours`: `{q}` is not like \"22:00-07:00\" (UTC)")));
        }
        parsed
    });
    let smtp = c.smtp.as_ref().map(|m| {
        let tls = m.tls.clone().unwrap_or_else(|| "starttls".into());
        if !["starttls", "tls", "none"].contains(&tls.as_str()) {
            errs.push(("tls", format!("[notify.smtp] `tls` must be starttls, tls or none, not `{tls}`")));
        }
        let local = m.host == "localhost" || m.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if tls == "none" && !local {
            errs.push((
                "tls",
                format!("[notify.smtp] `tls = \"none\"` only for a server on this machine, not `{}`", m.host),
            ));
        }
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            errs.push(("from", format!("[notify.smtp] `from` is not an address: `{}`", m.from)));
        }
        let env = |v: &Option<String>, errs: &mut Vec<(&'static str, String)>| {
            v.as_ref().and_then(|var| match std::env::var(var) {
                Ok(x) => Some(x),
                Err(_) => {
                    errs.push(("username_env", format!("[notify.smtp] environment variable `{var}` is not set")));
                    None
                }
            })
        };
        let user = env(&m.username_env, &mut errs);
        let pass = env(&m.password_env, &mut errs);
        let port = m.port.unwrap_or(match tls.as_str() {
            "tls" => 465,
            "none" => 25,
            _ => 587,
        });
        Smtp {
            host: m.host.clone(),
            port,
            tls,
            from: m.from.clone(),
            credentials: user.map(|u| (u, Secret(pass.unwrap_or_default().into_bytes()))),
        }
    });
    let telegram = c.telegram.as_ref().map(|t| {
        let token = match std::env::var(&t.token_env) {
            Ok(v) if !v.is_empty() => Secret(v.into_bytes()),
            _ => {
                errs.push((
                    "token_env",
                    format!("[notify.telegram] environment variable `{}` is not set", t.token_env),
                ));
                Secret::default()
            }
        };
        if let Some(u) = &t.api_url {
            if !matches!(reqwest::Url::parse(u).map(|u| u.scheme().to_string()).as_deref(), Ok("http" | "https")) {
                errs.push(("api_url", format!("[notify.telegram] `api_url` must be an http(s) URL, not `{u}`")));
            }
        }
        TelegramBot { token, api_url: t.api_url.clone() }
    });
    let mut receivers = Vec::new();
    for r in &c.receiver {
        if receivers.iter().any(|x: &Receiver| x.name() == r.name) {
            errs.push(("name", format!("receiver `{}` is defined twice", r.name)));
        }
        match r.kind.as_str() {
            "webhook" => {
                let url = match r.url.as_deref().map(reqwest::Url::parse) {
                    Some(Ok(u)) if u.scheme() == "http" || u.scheme() == "https" => u,
                    Some(Ok(u)) => {
                        errs.push(("url", format!("receiver `{}`: only http(s) URLs, not `{}:`", r.name, u.scheme())));
                        continue;
                    }
                    Some(Err(e)) => {
                        errs.push(("url", format!("receiver `{}`: bad URL: {e}", r.name)));
                        continue;
                    }
                    None => {
                        errs.push(("kind", format!("receiver `{}`: a webhook needs `url`", r.name)));
                        continue;
                    }
                };
                let secret = match &r.secret_env {
                    Some(var) => match std::env::var(var) {
                        Ok(v) if !v.is_empty() => Secret(v.into_bytes()),
                        _ => {
                            errs.push((
                                "secret_env",
                                format!("receiver `{}`: environment variable `{var}` is not set", r.name),
                            ));
                            Secret::default()
                        }
                    },
                    None => {
                        errs.push((
                            "kind",
                            format!("receiver `{}`: a webhook needs `secret_env` (its signing key)", r.name),
                        ));
                        Secret::default()
                    }
                };
                let timeout = dur("timeout", &r.timeout, Duration::from_secs(10), &mut errs);
                receivers.push(Receiver::Webhook { name: r.name.clone(), url, secret, timeout });
            }
            "email" => {
                if r.to.is_empty() || r.to.iter().any(|a| a.parse::<lettre::message::Mailbox>().is_err()) {
                    errs.push(("to", format!("receiver `{}`: `to` must list email addresses", r.name)));
                }
                receivers.push(Receiver::Email { name: r.name.clone(), to: r.to.clone() });
            }
            "telegram" => match r.chat_id {
                Some(chat_id) => receivers.push(Receiver::Telegram { name: r.name.clone(), chat_id }),
                None => errs.push(("kind", format!("receiver `{}`: a telegram receiver needs `chat_id`", r.name))),
            },
            other => {
                errs.push(("kind", format!("receiver `{}`: unknown kind `{other}` (webhook, email, telegram)", r.name)))
            }
        }
    }
    let team_receivers = |team: &str, errs: &mut Vec<(&'static str, String)>| -> Vec<usize> {
        let Some(t) = c.team.iter().find(|t| t.name == team) else {
            errs.push(("teams", format!("unknown team `{team}`")));
            return Vec::new();
        };
        t.receivers
            .iter()
            .filter_map(|n| {
                let i = receivers.iter().position(|r| r.name() == n);
                if i.is_none() {
                    errs.push(("receivers", format!("team `{team}`: unknown receiver `{n}`")));
                }
                i
            })
            .collect()
    };
    let mut routes = Vec::new();
    for r in &c.route {
        if r.ladder.is_empty() {
            errs.push(("ladder", "a route needs at least one ladder step".into()));
        }
        let mut ladder = Vec::new();
        for s in &r.ladder {
            let mut rec = Vec::new();
            for t in &s.teams {
                for i in team_receivers(t, &mut errs) {
                    if !rec.contains(&i) {
                        rec.push(i);
                    }
                }
            }
            let after = dur("after", &s.after, Duration::ZERO, &mut errs);
            ladder.push(Step { receivers: rec, after_ms: after.as_millis() as i64, severity: s.severity });
        }
        let repeat = dur("repeat", &r.repeat, Duration::ZERO, &mut errs);
        routes.push(Route {
            brands: r.brands.clone(),
            min_severity: r.min_severity.unwrap_or(Severity::Watch),
            ladder,
            repeat_ms: repeat.as_millis() as i64,
        });
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Notify {
        public_url: c.public_url.clone().unwrap_or_else(|| format!("http://{listen}")),
        group_wait,
        max_attempts: c.max_attempts.unwrap_or(8).max(1),
        retry_base,
        retry_max,
        smtp,
        telegram,
        quiet,
        receivers,
        routes,
    })
}
