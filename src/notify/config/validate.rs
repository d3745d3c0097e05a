//! Raw `[notify]` → [`Notify`]: a pure function of the text (no environment, no files),
//! reporting every problem at once, each at the exact value it is about. Secrets are not
//! read here: each is recorded as a [`SecretSlot`] (which variable, where it was named)
//! for [`super::secrets::resolve`].

use super::model::{Notify, Receiver, Route, Secret, SlackVia, Smtp, SmtpTls, Step, TelegramBot};
use super::raw::{NotifyConfig, ReceiverConfig};
use super::secrets::{SecretSlot, SecretTarget};
use crate::alert::Severity;
use crate::diag::{Diagnostic, Source};
use crate::notify::locale::Locale;
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// The validated settings and the secrets still to be read.
#[derive(Debug)]
pub struct Validated {
    /// Settings; secret fields are empty until resolved.
    pub notify: Notify,
    /// Every secret named in the file.
    pub secrets: Vec<SecretSlot>,
}

fn duration(
    src: &Source<'_>,
    errs: &mut Vec<Diagnostic>,
    v: &Option<Spanned<String>>,
    key: &str,
    d: Duration,
) -> Duration {
    src.parsed(errs, v, &format!("[notify] `{key}`"), d, crate::units::parse_duration)
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A people-facing receiver's `lang` and `timezone` (the zone defaults to `[notify]`'s);
/// `None` for the defaults. Webhook receivers take neither (their consumers are programs).
fn locale(r: &ReceiverConfig, zone: &Locale, src: &Source<'_>, errs: &mut Vec<Diagnostic>) -> Option<Locale> {
    if r.kind.get_ref() == "webhook" {
        for (key, v) in [("lang", &r.lang), ("timezone", &r.timezone)] {
            if let Some(v) = v {
                errs.push(src.at(
                    v.span(),
                    format!("receiver `{}`: `{key}` is for people-facing receivers, not webhooks", r.name.get_ref()),
                ));
            }
        }
        return None;
    }
    if r.lang.is_none() && r.timezone.is_none() && zone.zone_name == "UTC" {
        return None;
    }
    let mut out = zone.clone();
    if let Some(l) = &r.lang {
        match crate::notify::locale::parse_lang(l.get_ref()) {
            Some(lang) => out.lang = lang,
            None => errs.push(src.at(
                l.span(),
                format!(
                    "receiver `{}`: `lang` `{}` is not one of \"en\", \"he\", \"fa\", \"ru\", \"ar\"",
                    r.name.get_ref(),
                    l.get_ref()
                ),
            )),
        }
    }
    if let Some(z) = &r.timezone {
        match crate::notify::locale::zone(z.get_ref()) {
            Ok(tz) => {
                out.zone = tz;
                out.zone_name = z.get_ref().clone();
            }
            Err(e) => errs.push(src.at(z.span(), format!("receiver `{}`: `timezone`: {e}", r.name.get_ref()))),
        }
    }
    Some(out)
}

/// Validates `[notify]`. `listen` is the service's address, the default base of the
/// acknowledge links.
///
/// # Errors
/// Every problem found, each positioned at its value.
pub fn validate(c: &NotifyConfig, src: &Source<'_>, listen: &str) -> Result<Validated, Vec<Diagnostic>> {
    let mut errs = Vec::new();
    let mut secrets = Vec::new();
    let group_wait = duration(src, &mut errs, &c.group_wait, "group_wait", Duration::from_secs(5));
    let retry_base = duration(src, &mut errs, &c.retry_base, "retry_base", Duration::from_secs(2));
    let retry_max = duration(src, &mut errs, &c.retry_max, "retry_max", Duration::from_secs(300));
    let quiet = c.quiet_hours.as_ref().and_then(|q| {
        let parsed = q.get_ref().split_once('-').and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
        if parsed.is_none() {
            errs.push(
                src.at(q.span(), format!("[notify] `quiet_hours`: `{}` is not like \"22:00-07:00\"", q.get_ref())),
            );
        }
        parsed
    });
    let smtp = c.smtp.as_ref().map(|m| {
        let m = m.get_ref();
        let tls = match m.tls.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
            None | Some(("starttls", _)) => SmtpTls::StartTls,
            Some(("tls", _)) => SmtpTls::Tls,
            Some(("none", span)) => {
                let host = m.host.get_ref();
                let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if !local {
                    errs.push(src.at(
                        span,
                        format!("[notify.smtp] `tls = \"none\"` only for a server on this machine, not `{host}`"),
                    ));
                }
                SmtpTls::None
            }
            Some((other, span)) => {
                errs.push(src.at(span, format!("[notify.smtp] `tls` must be starttls, tls or none, not `{other}`")));
                SmtpTls::StartTls
            }
        };
        if m.from.get_ref().parse::<lettre::message::Mailbox>().is_err() {
            errs.push(src.at(m.from.span(), format!("[notify.smtp] `from` is not an address: `{}`", m.from.get_ref())));
        }
        if let Some(u) = &m.username_env {
            secrets.push(SecretSlot::new(u, SecretTarget::SmtpUser, "[notify.smtp]"));
        }
        if let Some(p) = &m.password_env {
            secrets.push(SecretSlot::new(p, SecretTarget::SmtpPassword, "[notify.smtp]"));
        }
        let port = m.port.unwrap_or(match tls {
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
        });
        Smtp { host: m.host.get_ref().clone(), port, tls, from: m.from.get_ref().clone(), credentials: None }
    });
    let telegram = c.telegram.as_ref().map(|t| {
        let t = t.get_ref();
        secrets.push(SecretSlot::new(&t.token_env, SecretTarget::TelegramToken, "[notify.telegram]"));
        if let Some(u) = &t.api_url {
            if !matches!(
                reqwest::Url::parse(u.get_ref()).map(|u| u.scheme().to_string()).as_deref(),
                Ok("http" | "https")
            ) {
                errs.push(src.at(
                    u.span(),
                    format!("[notify.telegram] `api_url` must be an http(s) URL, not `{}`", u.get_ref()),
                ));
            }
        }
        TelegramBot { token: Secret::default(), api_url: t.api_url.as_ref().map(|u| u.get_ref().clone()) }
    });
    let zone = match &c.timezone {
        None => Locale::default(),
        Some(z) => Locale::new("en", z.get_ref()).unwrap_or_else(|e| {
            errs.push(src.at(z.span(), format!("[notify] `timezone`: {e}")));
            Locale::default()
        }),
    };
    let mut locales = BTreeMap::new();
    let mut receivers: Vec<Receiver> = Vec::new();
    for r in &c.receiver {
        let r = r.get_ref();
        if receivers.iter().any(|x| x.name() == r.name.get_ref()) {
            errs.push(src.at(r.name.span(), format!("[notify] receiver `{}` is defined twice", r.name.get_ref())));
        }
        if let Some(locale) = locale(r, &zone, src, &mut errs) {
            locales.insert(r.name.get_ref().clone(), locale);
        }
        if let Some(rec) = receiver(r, src, &mut errs, &mut secrets, receivers.len()) {
            receivers.push(rec);
        }
    }
    let team_receivers = |team: &Spanned<String>, errs: &mut Vec<Diagnostic>| -> Vec<usize> {
        let Some(t) = c.team.iter().map(Spanned::get_ref).find(|t| t.name.get_ref() == team.get_ref()) else {
            errs.push(src.at(team.span(), format!("[notify] unknown team `{}`", team.get_ref())));
            return Vec::new();
        };
        t.receivers
            .iter()
            .filter_map(|n| {
                let i = receivers.iter().position(|r| r.name() == n.get_ref());
                if i.is_none() {
                    errs.push(src.at(
                        n.span(),
                        format!("[notify] team `{}`: unknown receiver `{}`", t.name.get_ref(), n.get_ref()),
                    ));
                }
                i
            })
            .collect()
    };
    let mut routes = Vec::new();
    for r in &c.route {
        let r = r.get_ref();
        if r.ladder.get_ref().is_empty() {
            errs.push(src.at(r.ladder.span(), "[notify] a route needs at least one ladder step"));
        }
        let mut ladder = Vec::new();
        for s in r.ladder.get_ref() {
            let mut rec = Vec::new();
            for t in &s.teams {
                for i in team_receivers(t, &mut errs) {
                    if !rec.contains(&i) {
                        rec.push(i);
                    }
                }
            }
            let after = duration(src, &mut errs, &s.after, "after", Duration::ZERO);
            ladder.push(Step { receivers: rec, after_ms: after.as_millis() as i64, severity: s.severity });
        }
        let repeat = duration(src, &mut errs, &r.repeat, "repeat", Duration::ZERO);
        routes.push(Route {
            brands: r.brands.clone(),
            min_severity: r.min_severity.unwrap_or(Severity::Watch),
            ladder,
            repeat_ms: repeat.as_millis() as i64,
        });
    }
    let exposed = listen.parse::<std::net::SocketAddr>().is_ok_and(|a| !a.ip().is_loopback());
    if c.public_url.is_none() && !receivers.is_empty() && exposed {
        errs.push(Diagnostic::file(
            src.path,
            format!(
                "[notify] `public_url` is required when the service listens on {listen}: the links in \
                 messages would point at an address recipients cannot open (e.g. public_url = \
                 \"https://crisiswatch.example.com\")"
            ),
        ));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let notify = Notify {
        public_url: c.public_url.as_ref().map_or_else(|| format!("http://{listen}"), |u| u.get_ref().clone()),
        group_wait,
        max_attempts: c.max_attempts.as_ref().map_or(300, |m| *m.get_ref()).max(1),
        retry_base,
        retry_max,
        smtp,
        telegram,
        quiet,
        zone,
        locales,
        templates: Default::default(),
        receivers,
        routes,
        links: None,
    };
    Ok(Validated { notify, secrets })
}

/// Fields that belong to other kinds of receiver, as (name, span) where given.
fn foreign_fields(r: &ReceiverConfig, kind: &str) -> Vec<(&'static str, Range<usize>)> {
    let mut v = Vec::new();
    let allowed: &[&str] = match kind {
        "webhook" => &["url", "secret_env", "timeout", "format"],
        "email" => &["to"],
        "slack" => &["webhook_url_env", "bot_token_env", "channel", "signing_secret_env", "api_url"],
        "teams" => &["url_env"],
        _ => &["chat_id"],
    };
    let mut check = |name: &'static str, span: Option<Range<usize>>| {
        if let Some(s) = span.filter(|_| !allowed.contains(&name)) {
            v.push((name, s));
        }
    };
    check("url", r.url.as_ref().map(Spanned::span));
    check("secret_env", r.secret_env.as_ref().map(Spanned::span));
    check("timeout", r.timeout.as_ref().map(Spanned::span));
    check("format", r.format.as_ref().map(Spanned::span));
    check("to", r.to.as_ref().map(Spanned::span));
    check("chat_id", r.chat_id.as_ref().map(Spanned::span));
    check("webhook_url_env", r.webhook_url_env.as_ref().map(Spanned::span));
    check("bot_token_env", r.bot_token_env.as_ref().map(Spanned::span));
    check("channel", r.channel.as_ref().map(Spanned::span));
    check("signing_secret_env", r.signing_secret_env.as_ref().map(Spanned::span));
    check("api_url", r.api_url.as_ref().map(Spanned::span));
    check("url_env", r.url_env.as_ref().map(Spanned::span));
    v
}

/// One receiver of its kind, or `None` (with its problems in `errs`).
fn receiver(
    r: &ReceiverConfig,
    src: &Source<'_>,
    errs: &mut Vec<Diagnostic>,
    secrets: &mut Vec<SecretSlot>,
    index: usize,
) -> Option<Receiver> {
    let name = r.name.get_ref().clone();
    let kind = r.kind.get_ref().as_str();
    if !["webhook", "email", "telegram", "slack", "teams"].contains(&kind) {
        errs.push(src.at(
            r.kind.span(),
            format!("[notify] receiver `{name}`: unknown kind `{kind}` (webhook, email, telegram, slack, teams)"),
        ));
        return None;
    }
    for (field, span) in foreign_fields(r, kind) {
        errs.push(src.at(span, format!("[notify] receiver `{name}`: `{field}` is not a field of a {kind} receiver")));
    }
    match kind {
        "webhook" => {
            let Some(url) = &r.url else {
                errs.push(src.at(r.kind.span(), format!("[notify] receiver `{name}`: a webhook needs `url`")));
                return None;
            };
            let url_parsed = match reqwest::Url::parse(url.get_ref()) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
                Ok(u) => {
                    errs.push(src.at(
                        url.span(),
                        format!("[notify] receiver `{name}`: only http(s) URLs, not `{}:`", u.scheme()),
                    ));
                    return None;
                }
                Err(e) => {
                    errs.push(src.at(url.span(), format!("[notify] receiver `{name}`: bad URL: {e}")));
                    return None;
                }
            };
            match &r.secret_env {
                Some(var) => secrets.push(SecretSlot::new(
                    var,
                    SecretTarget::WebhookKey(index),
                    &format!("[notify] receiver `{name}`:"),
                )),
                None => errs.push(src.at(
                    r.kind.span(),
                    format!("[notify] receiver `{name}`: a webhook needs `secret_env` (its signing key)"),
                )),
            }
            let timeout = duration(src, errs, &r.timeout, "timeout", Duration::from_secs(10));
            let alertmanager = match r.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
                None | Some(("crisiswatch", _)) => false,
                Some(("alertmanager", _)) => true,
                Some((other, span)) => {
                    errs.push(src.at(
                        span,
                        format!(
                            "[notify] receiver `{name}`: `format` `{other}` is not `crisiswatch` or `alertmanager`"
                        ),
                    ));
                    false
                }
            };
            Some(Receiver::Webhook { name, url: url_parsed, secret: Secret::default(), timeout, alertmanager })
        }
        "email" => {
            let to = r.to.as_ref().map(|t| t.get_ref().clone()).unwrap_or_default();
            if to.is_empty() || to.iter().any(|a| a.parse::<lettre::message::Mailbox>().is_err()) {
                let span = r.to.as_ref().map_or(r.kind.span(), Spanned::span);
                errs.push(src.at(span, format!("[notify] receiver `{name}`: `to` must list email addresses")));
            }
            Some(Receiver::Email { name, to })
        }
        "slack" => slack(r, src, errs, secrets, index),
        "teams" => {
            let Some(var) = &r.url_env else {
                errs.push(src.at(
                    r.kind.span(),
                    format!(
                        "[notify] receiver `{name}`: a teams receiver needs `url_env` (the environment variable \
                         holding its workflow webhook URL)"
                    ),
                ));
                return None;
            };
            secrets.push(SecretSlot::new(var, SecretTarget::TeamsUrl(index), &format!("[notify] receiver `{name}`:")));
            Some(Receiver::Teams { name, url: Secret::default() })
        }
        _ => match &r.chat_id {
            Some(chat_id) => Some(Receiver::Telegram { name, chat_id: *chat_id.get_ref() }),
            None => {
                errs.push(
                    src.at(r.kind.span(), format!("[notify] receiver `{name}`: a telegram receiver needs `chat_id`")),
                );
                None
            }
        },
    }
}

/// A Slack receiver: exactly one of `webhook_url_env` or `bot_token_env` + `channel`;
/// `signing_secret_env` and `api_url` only with the bot token.
fn slack(
    r: &ReceiverConfig,
    src: &Source<'_>,
    errs: &mut Vec<Diagnostic>,
    secrets: &mut Vec<SecretSlot>,
    index: usize,
) -> Option<Receiver> {
    let name = r.name.get_ref().clone();
    let ctx = format!("[notify] receiver `{name}`:");
    let via = match (&r.webhook_url_env, &r.bot_token_env) {
        (Some(_), Some(bot)) => {
            errs.push(src.at(
                bot.span(),
                format!("{ctx} give either `webhook_url_env` or `bot_token_env` (with `channel`), not both"),
            ));
            return None;
        }
        (None, None) => {
            errs.push(src.at(
                r.kind.span(),
                format!("{ctx} a slack receiver needs `webhook_url_env` (an incoming webhook) or `bot_token_env` and `channel`"),
            ));
            return None;
        }
        (Some(url), None) => {
            for (field, span) in [
                ("channel", r.channel.as_ref().map(Spanned::span)),
                ("signing_secret_env", r.signing_secret_env.as_ref().map(Spanned::span)),
                ("api_url", r.api_url.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    errs.push(
                        src.at(span, format!("{ctx} `{field}` goes with `bot_token_env`, not an incoming webhook")),
                    );
                }
            }
            secrets.push(SecretSlot::new(url, SecretTarget::SlackWebhookUrl(index), &ctx));
            SlackVia::Webhook { url: Secret::default() }
        }
        (None, Some(bot)) => {
            let channel = match &r.channel {
                Some(c) if !c.get_ref().trim().is_empty() => c.get_ref().trim().to_string(),
                Some(c) => {
                    errs.push(src.at(c.span(), format!("{ctx} `channel` is empty")));
                    String::new()
                }
                None => {
                    errs.push(src.at(
                        bot.span(),
                        format!("{ctx} `bot_token_env` needs `channel` (a channel id such as \"C0123456789\")"),
                    ));
                    String::new()
                }
            };
            let api_url = match &r.api_url {
                Some(u) => {
                    if !matches!(
                        reqwest::Url::parse(u.get_ref()).map(|u| u.scheme().to_string()).as_deref(),
                        Ok("http" | "https")
                    ) {
                        errs.push(
                            src.at(u.span(), format!("{ctx} `api_url` must be an http(s) URL, not `{}`", u.get_ref())),
                        );
                    }
                    u.get_ref().clone()
                }
                None => "https://slack.com/api".to_string(),
            };
            secrets.push(SecretSlot::new(bot, SecretTarget::SlackBotToken(index), &ctx));
            SlackVia::Bot { token: Secret::default(), channel, api_url }
        }
    };
    if let Some(s) = &r.signing_secret_env {
        if matches!(via, SlackVia::Bot { .. }) {
            secrets.push(SecretSlot::new(s, SecretTarget::SlackSigningSecret(index), &ctx));
        }
    }
    Some(Receiver::Slack { name, via, signing_secret: None })
}
