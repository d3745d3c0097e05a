//! `[notify]` as written in the service configuration: serde structs with the position of
//! every value (`toml::Spanned`), so that validation can point at the exact value. Secrets
//! are named by environment variable here, never written.

use crate::alert::Severity;
use serde::Deserialize;
use toml::Spanned;

/// `[notify]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Base URL of this service, for the acknowledge links in messages.
    pub public_url: Option<Spanned<String>>,
    /// How long to wait for more events of the same brand before sending (grouping).
    pub group_wait: Option<Spanned<String>>,
    /// Delivery attempts before a notification is dead-lettered.
    pub max_attempts: Option<Spanned<u32>>,
    /// First retry delay (default 2 s); doubles per attempt.
    pub retry_base: Option<Spanned<String>>,
    /// Longest retry delay (default 5 min).
    pub retry_max: Option<Spanned<String>>,
    /// `watch` notifications are held during these hours, e.g. `"22:00-07:00"`, in
    /// `timezone`.
    pub quiet_hours: Option<Spanned<String>>,
    /// The directory of the email templates (`email.subject.j2`, `email.txt.j2`,
    /// `email.html.j2`; default `alerts/templates` when it exists, else the built-in ones).
    pub templates: Option<Spanned<String>>,
    /// The IANA time zone of `quiet_hours` and the default of the receivers' `timezone`
    /// (default `UTC`).
    pub timezone: Option<Spanned<String>>,
    /// The SMTP server for email receivers.
    pub smtp: Option<Spanned<SmtpConfig>>,
    /// The bot for Telegram receivers.
    pub telegram: Option<Spanned<TelegramConfig>>,
    /// Receivers.
    #[serde(default)]
    pub receiver: Vec<Spanned<ReceiverConfig>>,
    /// Teams.
    #[serde(default)]
    pub team: Vec<Spanned<TeamConfig>>,
    /// Routes, first match wins.
    #[serde(default)]
    pub route: Vec<Spanned<RouteConfig>>,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host.
    pub host: Spanned<String>,
    /// Port (default 587 for starttls, 465 for tls, 25 for none).
    pub port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` (only for a server on this machine).
    pub tls: Option<Spanned<String>>,
    /// Sender, e.g. `"crisiswatch <alerts@example.com>"`.
    pub from: Spanned<String>,
    /// Environment variable holding the user name.
    pub username_env: Option<Spanned<String>>,
    /// Environment variable holding the password.
    pub password_env: Option<Spanned<String>>,
}

/// `[notify.telegram]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Environment variable holding the bot token.
    pub token_env: Spanned<String>,
    /// Bot API base URL (default `https://api.telegram.org`).
    pub api_url: Option<Spanned<String>>,
}

/// One `[[notify.receiver]]`: the fields of every kind; validation turns it into the
/// typed [`Receiver`](super::Receiver) of its kind and refuses fields of other kinds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name.
    pub name: Spanned<String>,
    /// `webhook`, `email`, `telegram`, `slack` or `teams`.
    pub kind: Spanned<String>,
    /// Webhook: `http(s)://` URL.
    pub url: Option<Spanned<String>>,
    /// Webhook: environment variable holding the HMAC key.
    pub secret_env: Option<Spanned<String>>,
    /// Webhook: `crisiswatch` (default: the alert event) or `alertmanager` (the Alertmanager
    /// webhook format, version 4).
    pub format: Option<Spanned<String>>,
    /// Webhook: request timeout (default 10 s).
    pub timeout: Option<Spanned<String>>,
    /// Email: recipients.
    pub to: Option<Spanned<Vec<String>>>,
    /// Telegram: chat id.
    pub chat_id: Option<Spanned<i64>>,
    /// Slack: environment variable holding an incoming-webhook URL.
    pub webhook_url_env: Option<Spanned<String>>,
    /// Slack: environment variable holding a bot token (`xoxb-…`), with `channel`.
    pub bot_token_env: Option<Spanned<String>>,
    /// Slack: channel id for the bot token.
    pub channel: Option<Spanned<String>>,
    /// Slack: environment variable holding the app's signing secret (button presses).
    pub signing_secret_env: Option<Spanned<String>>,
    /// Slack: Web API base URL (default `https://slack.com/api`).
    pub api_url: Option<Spanned<String>>,
    /// People-facing kinds: the language of the fixed wording (`en`, `he`, `fa`, `ru`, `ar`;
    /// default `en`).
    pub lang: Option<Spanned<String>>,
    /// People-facing kinds: the IANA time zone times are shown in (default: `[notify]`'s).
    pub timezone: Option<Spanned<String>>,
    /// Teams: environment variable holding the workflow webhook URL (a secret: its `sig`
    /// parameter is the only credential).
    pub url_env: Option<Spanned<String>>,
}

/// A named group of receivers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Name.
    pub name: Spanned<String>,
    /// Receiver names.
    pub receivers: Vec<Spanned<String>>,
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
    pub ladder: Spanned<Vec<StepConfig>>,
    /// Re-notify the reached steps this often while unacknowledged (default: never).
    pub repeat: Option<Spanned<String>>,
}

/// One rung of the ladder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Teams notified.
    pub teams: Vec<Spanned<String>>,
    /// Reached when the incident is unacknowledged this long after it opened (default 0).
    pub after: Option<Spanned<String>>,
    /// Also reached at once when the incident is at least this severe.
    pub severity: Option<Severity>,
}
