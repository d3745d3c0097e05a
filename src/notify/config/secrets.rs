//! The step after validation that reads secrets: every secret the file names (by
//! environment variable, never inline) is looked up through an injected environment (or,
//! when the variable is unset, read from the file `{VAR}_FILE` names), and
//! each one missing is reported at the place that names it. Secret values never reach a
//! log or a diagnostic.

use super::model::{Notify, Receiver, Secret, SlackVia};
use crate::diag::{Diagnostic, Source};
use std::ops::Range;
use toml::Spanned;

/// Which secret of the settings a slot fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretTarget {
    /// The HMAC key of the webhook receiver at this index.
    WebhookKey(usize),
    /// The SMTP user name.
    SmtpUser,
    /// The SMTP password.
    SmtpPassword,
    /// The Telegram bot token.
    TelegramToken,
    /// The incoming-webhook URL of the Slack receiver at this index.
    SlackWebhookUrl(usize),
    /// The bot token of the Slack receiver at this index.
    SlackBotToken(usize),
    /// The signing secret of the Slack receiver at this index.
    SlackSigningSecret(usize),
    /// The workflow webhook URL of the Teams receiver at this index.
    TeamsUrl(usize),
}

/// A secret named in the file: the environment variable, where it was named, and what it
/// fills.
#[derive(Debug, Clone)]
pub struct SecretSlot {
    /// Environment variable.
    pub var: String,
    /// Where the variable is named.
    pub span: Range<usize>,
    /// What it fills.
    pub target: SecretTarget,
    /// Prefix of its diagnostics (`[notify.smtp]`, ``[notify] receiver `crm`:``).
    pub context: String,
}

impl SecretSlot {
    /// A slot for the variable named at `var`.
    pub fn new(var: &Spanned<String>, target: SecretTarget, context: &str) -> Self {
        SecretSlot { var: var.get_ref().clone(), span: var.span(), target, context: context.to_string() }
    }
}

/// Whether a Teams workflow URL may be posted to: `https://`, or plain `http://` to this
/// machine only (a local relay, tests).
fn teams_url_ok(value: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(value) else { return false };
    let host = u.host_str().unwrap_or("");
    let local = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => !host.is_empty(),
        "http" => local,
        _ => false,
    }
}

/// Fills the secrets of `n` from `env`. Empty values count as missing, except the SMTP user
/// name and password, which a server may accept empty.
///
/// # Errors
/// One diagnostic per missing secret, at the place that names its variable; so is a Teams
/// workflow URL that is not `https://` (plain `http://` only to this machine), the value
/// never shown.
pub fn resolve(
    n: &mut Notify,
    slots: &[SecretSlot],
    src: &Source<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    file: ReadFile<'_>,
) -> Result<(), Vec<Diagnostic>> {
    let mut errs = Vec::new();
    let mut user = None;
    let mut password = None;
    for s in slots {
        let may_be_empty = matches!(s.target, SecretTarget::SmtpUser | SecretTarget::SmtpPassword);
        let value = match env_or_file(&s.var, env, file) {
            Ok(v) if may_be_empty || !v.is_empty() => v,
            Ok(_) | Err(None) => {
                errs.push(src.at(
                    s.span.clone(),
                    format!(
                        "{} environment variable `{}` is not set (nor `{}_FILE`, the path of a file holding it)",
                        s.context, s.var, s.var
                    ),
                ));
                continue;
            }
            Err(Some(why)) => {
                errs.push(src.at(s.span.clone(), format!("{} {why}", s.context)));
                continue;
            }
        };
        match s.target {
            SecretTarget::WebhookKey(i) => {
                if let Some(Receiver::Webhook { secret, .. }) = n.receivers.get_mut(i) {
                    *secret = Secret(value.into_bytes());
                }
            }
            SecretTarget::SmtpUser => user = Some(value),
            SecretTarget::SmtpPassword => password = Some(value),
            SecretTarget::TelegramToken => {
                if let Some(t) = n.telegram.as_mut() {
                    t.token = Secret(value.into_bytes());
                }
            }
            SecretTarget::SlackWebhookUrl(i) | SecretTarget::SlackBotToken(i) | SecretTarget::SlackSigningSecret(i) => {
                if let Some(Receiver::Slack { via, signing_secret, .. }) = n.receivers.get_mut(i) {
                    let value = Secret(value.into_bytes());
                    match (s.target, via) {
                        (SecretTarget::SlackWebhookUrl(_), SlackVia::Webhook { url }) => *url = value,
                        (SecretTarget::SlackBotToken(_), SlackVia::Bot { token, .. }) => *token = value,
                        (SecretTarget::SlackSigningSecret(_), _) => *signing_secret = Some(value),
                        _ => {}
                    }
                }
            }
            SecretTarget::TeamsUrl(i) => {
                if !teams_url_ok(&value) {
                    errs.push(src.at(
                        s.span.clone(),
                        format!(
                            "{} environment variable `{}` does not hold an https:// URL (plain http:// only to \
                             this machine): the workflow's \"HTTP POST URL\"",
                            s.context, s.var
                        ),
                    ));
                    continue;
                }
                if let Some(Receiver::Teams { url, .. }) = n.receivers.get_mut(i) {
                    *url = Secret(value.into_bytes());
                }
            }
        }
    }
    if let (Some(smtp), Some(u)) = (n.smtp.as_mut(), user) {
        smtp.credentials = Some((u, Secret(password.unwrap_or_default().into_bytes())));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Reads a file's contents (the filesystem, or a test's).
pub type ReadFile<'a> = &'a dyn Fn(&std::path::Path) -> std::io::Result<String>;

/// A secret named by environment variable `var`: its value; or, when it is unset, the first
/// line (trimmed) of the file that `{var}_FILE` names (the convention of container secrets,
/// e.g. `CW_SLACK_BOT_TOKEN_FILE=/run/secrets/slack`), read through `file`.
///
/// # Errors
/// `None` when neither is set; `Some(why)` when the file cannot be read (neither the path
/// nor the contents are shown: both come from the environment).
pub fn env_or_file(
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
    file: ReadFile<'_>,
) -> Result<String, Option<String>> {
    if let Some(v) = env(var) {
        return Ok(v);
    }
    let file_var = format!("{var}_FILE");
    let Some(path) = env(&file_var).filter(|p| !p.trim().is_empty()) else { return Err(None) };
    match file(std::path::Path::new(path.trim())) {
        Ok(text) => Ok(text.lines().next().unwrap_or("").trim().to_string()),
        Err(e) => Err(Some(format!("the file `{file_var}` names cannot be read: {}", e.kind()))),
    }
}

/// Reads at most 64 KiB of a real file (a secret is short; `/dev/zero` must not hang a start).
pub fn read_small_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)?.take(64 << 10).read_to_string(&mut s)?;
    Ok(s)
}

/// The process environment, for [`resolve`].
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_its_variable_or_from_the_file_its_file_variable_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slack-token");
        std::fs::write(&path, "xoxb-from-file \n").unwrap();
        let file = path.to_str().unwrap().to_string();
        let missing = dir.path().join("nope").to_str().unwrap().to_string();
        let env = move |v: &str| match v {
            "SET" => Some("xoxb-from-env".to_string()),
            "SET_FILE" | "VIA_FILE" => Some(file.clone()),
            "BROKEN_FILE" => Some(missing.clone()),
            _ => None,
        };
        assert_eq!(env_or_file("SET", &env, &read_small_file), Ok("xoxb-from-env".into()), "the variable wins");
        assert_eq!(env_or_file("VIA", &env, &read_small_file), Ok("xoxb-from-file".into()));
        assert_eq!(env_or_file("UNSET", &env, &read_small_file), Err(None));
        let why = env_or_file("BROKEN", &env, &read_small_file).unwrap_err().unwrap();
        assert_eq!(why, "the file `BROKEN_FILE` names cannot be read: entity not found");
    }
}
