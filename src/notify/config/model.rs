//! The notification settings the service runs with, validated and with their secrets
//! resolved: receivers (a typed enum, one variant per kind), routes with their escalation
//! ladders, SMTP server and Telegram bot.

use crate::alert::Severity;
use std::time::Duration;

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
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// Sender.
    pub from: String,
    /// Credentials.
    pub credentials: Option<(String, Secret)>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only to a server on this machine.
    None,
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
        /// The body: ours, or Alertmanager's webhook format.
        alertmanager: bool,
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
    /// A Slack channel, through an incoming webhook or the Web API.
    Slack {
        /// Name.
        name: String,
        /// How messages are posted.
        via: SlackVia,
        /// The app's signing secret, for its button presses (bot-token mode).
        signing_secret: Option<Secret>,
    },
    /// A Teams chat or channel, through a workflow webhook (Adaptive Cards).
    Teams {
        /// Name.
        name: String,
        /// The workflow webhook URL (a secret: never logged).
        url: Secret,
    },
}

/// How a Slack receiver posts.
#[derive(Debug, Clone)]
pub enum SlackVia {
    /// An incoming webhook: one message per notification, no buttons.
    Webhook {
        /// The webhook URL (a secret: never logged).
        url: Secret,
    },
    /// The Web API with a bot token: messages updated in place, buttons.
    Bot {
        /// The bot token (never logged).
        token: Secret,
        /// Channel id.
        channel: String,
        /// Web API base URL.
        api_url: String,
    },
}

impl Receiver {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Receiver::Webhook { name, .. }
            | Receiver::Email { name, .. }
            | Receiver::Telegram { name, .. }
            | Receiver::Slack { name, .. }
            | Receiver::Teams { name, .. } => name,
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
    /// Quiet hours (minutes of day in `zone`, start..end, wrapping midnight).
    pub quiet: Option<(u32, u32)>,
    /// The zone of `quiet` (and the default of the receivers').
    pub zone: crate::notify::locale::Locale,
    /// The email templates.
    pub templates: std::sync::Arc<crate::notify::render::Templates>,
    /// Each people-facing receiver's language and zone, by name (absent: English, `zone`).
    pub locales: std::collections::BTreeMap<String, crate::notify::locale::Locale>,
    /// SMTP server.
    pub smtp: Option<Smtp>,
    /// Telegram bot.
    pub telegram: Option<TelegramBot>,
    /// Receivers.
    pub receivers: Vec<Receiver>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Signs the acknowledge and open links of messages; set by the service once its link
    /// key is known (`None`: messages link to the dashboard only).
    pub links: Option<crate::notify::link::Signer>,
}

impl Notify {
    /// The first route for `brand` at `severity`.
    pub fn route(&self, brand: &str, severity: Severity) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| (r.brands.is_empty() || r.brands.iter().any(|b| b == brand)) && severity >= r.min_severity)
    }

    /// Whether `minute_of_day` (UTC) is within quiet hours.
    /// The language and zone of receiver `name`'s messages.
    pub fn locale(&self, name: &str) -> crate::notify::locale::Locale {
        self.locales.get(name).cloned().unwrap_or_else(|| self.zone.clone())
    }

    /// Whether `minute_of_day` (in [`Notify::zone`]) is in the quiet hours.
    pub fn is_quiet(&self, minute_of_day: u32) -> bool {
        match self.quiet {
            Some((s, e)) if s <= e => (s..e).contains(&minute_of_day),
            Some((s, e)) => minute_of_day >= s || minute_of_day < e,
            None => false,
        }
    }
}
