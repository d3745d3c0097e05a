//! `crisiswatch serve --config FILE`: read the file, validate it with the command-line
//! overrides, resolve its secrets.

use super::model::{Overrides, ServeConfig};
use super::raw::FileConfig;
use super::secrets::{self, Env};
use super::validate;
use crate::diag::{Diagnostic, Diagnostics, Source};
use std::path::{Path, PathBuf};

/// Reads the config file (if any), applies the overrides and resolves the secrets from the
/// process environment and files.
///
/// # Errors
/// Every problem found, positioned in the file where it has a position.
pub fn load(path: Option<&Path>, o: &Overrides) -> Result<ServeConfig, Diagnostics> {
    let (file, text) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Diagnostics(vec![Diagnostic::file(p, format!("cannot read config: {e}"))]))?;
            (p.to_path_buf(), text)
        }
        None => (PathBuf::from("<defaults>"), String::new()),
    };
    load_str(&file, &text, o, &Env::process())
}

/// [`load`] from text, with the secrets read from `env`.
///
/// # Errors
/// The TOML error, or every problem of validation, or every missing secret.
pub fn load_str(file: &Path, text: &str, o: &Overrides, env: &Env<'_>) -> Result<ServeConfig, Diagnostics> {
    let src = Source { path: file, text };
    let fc: FileConfig = toml::from_str(text)
        .map_err(|e| Diagnostics(vec![Diagnostic::at(file, text, e.span(), e.message().trim().to_string())]))?;
    let v = validate::validate(&fc, &src, o).map_err(Diagnostics)?;
    let mut cfg = v.cfg.clone();
    secrets::resolve(&mut cfg, &v, &src, env).map_err(Diagnostics)?;
    cfg.notify.templates = crate::notify::config::load::templates(&fc.notify, &src).map_err(Diagnostics)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::model::{ClockMode, Credential, Role, Scope};
    use crate::serve::config::raw;
    use crate::serve::config::validate;
    use std::collections::HashMap;

    #[test]
    fn unknown_keys_and_bad_values_are_positioned() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9\"\n\n[limits]\nmax_bodyy = \"1MiB\"\n").unwrap();
        let e = load(Some(&p), &Overrides::default()).unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].col), (4, 1), "{e}");
        assert!(e.0[0].message.contains("max_bodyy"), "{e}");
        std::fs::write(&p, "[limits]\nmax_body = \"lots\"\n").unwrap();
        let e = load(Some(&p), &Overrides::default()).unwrap_err();
        assert_eq!(e.0[0].line, 2, "{e}");
    }

    #[test]
    fn non_loopback_without_tokens_is_refused_and_flags_override() {
        let o = Overrides { listen: Some("0.0.0.0:8686".into()), ..Overrides::default() };
        let e = load(None, &o).unwrap_err();
        assert!(e.to_string().contains("refusing to listen"), "{e}");
        let o = Overrides { listen: Some("127.0.0.1:1".into()), clock: Some(ClockMode::Event), ..Overrides::default() };
        let c = load(None, &o).unwrap();
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.clock, ClockMode::Event);
        assert_eq!(c.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn the_shipped_example_is_valid_and_states_the_defaults() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("crisiswatch.example.toml");
        let c = load(Some(&p), &Overrides::default()).unwrap();
        let d = load(None, &Overrides::default()).unwrap();
        assert_eq!(format!("{c:?}"), format!("{d:?}"), "run from the project root, where ./rules exists");
    }

    #[test]
    fn inline_tokens_are_not_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[[tokens]]\nname = \"tool\"\nsecret = \"abc\"\n").unwrap();
        let e = load(Some(&p), &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("secret"), "{e}");
        let tf = dir.path().join("tok");
        std::fs::write(&tf, "s3cret\n").unwrap();
        std::fs::write(&p, format!("[[tokens]]\nname = \"tool\"\nfile = {:?}\n", tf.to_str().unwrap())).unwrap();
        let c = load(Some(&p), &Overrides::default()).unwrap();
        assert_eq!(c.tokens[0].secret, b"s3cret");
        assert!(!format!("{:?}", c.tokens).contains("s3cret"));
    }

    fn env_of(vars: &[(&str, &str)]) -> HashMap<String, String> {
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Loads `text` with the secrets from `vars` only (no process environment, no files).
    fn load_with(text: &str, vars: &[(&str, &str)]) -> Result<ServeConfig, Diagnostics> {
        let vars = env_of(vars);
        let var = move |k: &str| vars.get(k).cloned();
        let file = |_: &Path| -> std::io::Result<String> { Err(std::io::Error::other("no files in this test")) };
        load_str(Path::new("c.toml"), text, &Overrides::default(), &Env { var: &var, file: &file })
    }

    fn positions(e: &Diagnostics) -> Vec<(usize, usize)> {
        e.0.iter().map(|d| (d.line, d.col)).collect()
    }

    #[test]
    fn every_error_at_once_each_at_its_own_value() {
        let text = "listen = \"nowhere\"\n[limits]\nmax_body = \"lots\"\ndedup_window = \"1 fortnight\"\n\
                    [notify]\ngroup_wait = \"soon\"\n[[notify.receiver]]\nname = \"a\"\nkind = \"email\"\nto = [\"x@example.com\"]\n\
                    [[notify.receiver]]\nname = \"a\"\nkind = \"pager\"\n";
        let e = load_with(text, &[]).unwrap_err();
        assert_eq!(positions(&e), vec![(1, 10), (3, 12), (4, 16), (6, 14), (12, 8), (13, 8)], "{e}");
        assert!(e.0[4].message.contains("defined twice"), "{e}");
        assert!(e.0[5].message.contains("unknown kind `pager` (webhook, email, telegram, slack, teams)"), "{e}");
    }

    #[test]
    fn connection_limits_have_defaults_and_zero_is_refused_at_the_value() {
        let c = load_with("", &[]).unwrap();
        let secs = std::time::Duration::from_secs;
        assert_eq!((c.max_connections, c.header_timeout, c.body_timeout), (1024, secs(10), secs(30)));
        let c =
            load_with("[limits]\nmax_connections = 64\nheader_timeout = \"2s\"\nbody_timeout = \"1m\"\n", &[]).unwrap();
        assert_eq!((c.max_connections, c.header_timeout, c.body_timeout), (64, secs(2), secs(60)));
        let text = "[limits]\nmax_connections = 0\nheader_timeout = \"0s\"\nbody_timeout = \"soon\"\n";
        let e = load_with(text, &[]).unwrap_err();
        assert_eq!(positions(&e), vec![(2, 19), (3, 18), (4, 16)], "{e}");
        assert!(e.0[0].message.contains("`max_connections`: must be at least 1"), "{e}");
        assert!(e.0[1].message.contains("`header_timeout`: must be longer than 0"), "{e}");
        let e = load_with("[limits]\nmax_connections = -1\n", &[]).unwrap_err();
        assert_eq!(positions(&e), vec![(2, 19)], "{e}");
    }

    #[test]
    fn a_repeated_key_is_reported_where_it_repeats() {
        // two webhooks with bad URLs: each error points at its own `url`, not the first
        let text = "[[notify.receiver]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"ftp://x\"\nsecret_env = \"K\"\n\
                    [[notify.receiver]]\nname = \"b\"\nkind = \"webhook\"\nurl = \"gopher://y\"\nsecret_env = \"K\"\n";
        let e = load_with(text, &[("K", "k")]).unwrap_err();
        assert_eq!(positions(&e), vec![(4, 7), (9, 7)], "{e}");
    }

    #[test]
    fn secrets_are_reported_at_the_key_that_names_them() {
        // `env` of a token must not be found inside `secret_env`; a missing password is
        // reported as the password
        let text = "[notify.smtp]\nhost = \"localhost\"\nfrom = \"a@example.com\"\nusername_env = \"U\"\npassword_env = \"P\"\n\
                    [[notify.receiver]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"KEY\"\n\
                    [[tokens]]\nname = \"tool\"\nenv = \"TOOL_TOKEN\"\n";
        let e = load_with(text, &[("U", "user")]).unwrap_err();
        let msgs: Vec<String> = e.0.iter().map(|d| format!("{}:{} {}", d.line, d.col, d.message)).collect();
        assert_eq!(e.0.len(), 3, "{msgs:?}");
        assert!(msgs[0].starts_with("13:7 ") && msgs[0].contains("TOOL_TOKEN"), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("5:16 ") && m.contains("`P`")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.starts_with("10:14 ") && m.contains("`KEY`")), "{msgs:?}");
        let ok = load_with(text, &[("U", "user"), ("P", "pw"), ("KEY", "k3y"), ("TOOL_TOKEN", "t0k")]).unwrap();
        assert_eq!(ok.tokens[0].secret, b"t0k");
        let dbg = format!("{ok:?}");
        assert!(
            !dbg.contains("pw") && !dbg.contains("k3y") && !dbg.contains("t0k"),
            "secrets stay out of Debug: {dbg}"
        );
    }

    #[test]
    fn fields_of_another_kind_are_refused() {
        let text = "[[notify.receiver]]\nname = \"m\"\nkind = \"email\"\nto = [\"a@example.com\"]\nchat_id = 5\n";
        let e = load_with(text, &[]).unwrap_err();
        assert_eq!(positions(&e), vec![(5, 11)], "{e}");
        assert!(e.0[0].message.contains("`chat_id` is not a field of a email receiver"), "{e}");
    }

    #[test]
    fn validation_reads_no_environment() {
        // the pure step succeeds whatever the environment holds; only resolution needs it
        let text = "[[tokens]]\nname = \"tool\"\nenv = \"SURELY_UNSET_CW_VAR\"\n";
        let fc: raw::FileConfig = toml::from_str(text).unwrap();
        let src = Source { path: Path::new("c.toml"), text };
        let v = validate::validate(&fc, &src, &Overrides::default()).unwrap();
        assert_eq!(v.tokens.len(), 1);
        assert!(v.cfg.tokens.is_empty());
    }

    /// argon2id of `password` (m=256 KiB: cheap, for tests), from the argon2 crate's vectors.
    const PHC: &str = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

    #[test]
    fn token_scopes_default_to_ingest_and_read_and_unknown_ones_are_positioned() {
        let text = "[[tokens]]\nname = \"tool\"\nenv = \"T1\"\n\
                    [[tokens]]\nname = \"ops\"\nenv = \"T2\"\nscopes = [\"read\", \"respond\"]\n";
        let c = load_with(text, &[("T1", "a"), ("T2", "b"), ("CRISISWATCH_API_TOKENS", "c")]).unwrap();
        let scopes: Vec<Vec<Scope>> = c.tokens.iter().map(|t| t.scopes.clone()).collect();
        assert_eq!(
            scopes,
            vec![vec![Scope::Ingest, Scope::Read], vec![Scope::Read, Scope::Respond], vec![Scope::Ingest, Scope::Read]]
        );
        let bad = "[[tokens]]\nname = \"ops\"\nenv = \"T2\"\nscopes = [\"read\", \"ack\"]\n";
        let e = load_with(bad, &[("T2", "b")]).unwrap_err();
        assert_eq!(positions(&e), vec![(4, 19)], "{e}");
        assert!(e.0[0].message.contains("unknown scope `ack` (ingest, read, respond, admin)"), "{e}");
    }

    #[test]
    fn users_need_a_known_role_and_exactly_one_hashed_credential() {
        let ok = format!(
            "[[users]]\nname = \"dana\"\nrole = \"responder\"\npassword_hash = \"{PHC}\"\n\
             [[users]]\nname = \"vic\"\nrole = \"viewer\"\ntoken_env = \"VIC\"\n"
        );
        let c = load_with(&ok, &[("VIC", "v1")]).unwrap();
        assert_eq!(c.users.len(), 2);
        assert_eq!((c.users[0].role, c.users[1].role), (Role::Responder, Role::Viewer));
        assert!(matches!(&c.users[1].credential, Credential::Token(t) if t == b"v1"));
        assert!(
            !format!("{c:?}").contains("nf65E") && !format!("{c:?}").contains("v1\""),
            "credentials stay out of Debug"
        );

        let both =
            format!("[[users]]\nname = \"dana\"\nrole = \"responder\"\npassword_hash = \"{PHC}\"\ntoken_env = \"D\"\n");
        let e = load_with(&both, &[("D", "x")]).unwrap_err();
        assert_eq!(positions(&e), vec![(5, 13)], "{e}");
        assert!(e.0[0].message.contains("give only one credential"), "{e}");

        let role = "[[users]]\nname = \"dana\"\nrole = \"owner\"\ntoken_env = \"D\"\n";
        let e = load_with(role, &[("D", "x")]).unwrap_err();
        assert_eq!(positions(&e), vec![(3, 8)], "{e}");
        assert!(e.0[0].message.contains("unknown role `owner` (viewer, responder, admin)"), "{e}");

        let plain = "[[users]]\nname = \"dana\"\nrole = \"admin\"\npassword = \"hunter2\"\n";
        let e = load_with(plain, &[]).unwrap_err();
        assert_eq!(positions(&e), vec![(4, 12)], "{e}");
        assert!(e.0[0].message.contains("crisiswatch hash-password"), "{e}");
        assert!(!e.0[0].message.contains("hunter2"), "the message does not repeat the password");

        let not_phc = "[[users]]\nname = \"dana\"\nrole = \"admin\"\npassword_hash = \"hunter2\"\n";
        let e = load_with(not_phc, &[]).unwrap_err();
        assert_eq!(positions(&e), vec![(4, 17)], "{e}");
        let from_env = "[[users]]\nname = \"dana\"\nrole = \"admin\"\npassword_hash_env = \"H\"\n";
        let e = load_with(from_env, &[("H", "plain")]).unwrap_err();
        assert_eq!(positions(&e), vec![(4, 21)], "{e}");
        assert!(load_with(from_env, &[("H", PHC)]).is_ok());
    }

    #[test]
    fn users_alone_allow_a_public_listen_address_and_links_take_a_key_and_ttl() {
        let text = "listen = \"0.0.0.0:8686\"\n[[users]]\nname = \"vic\"\nrole = \"viewer\"\ntoken_env = \"VIC\"\n\
                    [links]\nsecret_env = \"LK\"\nttl = \"24h\"\n";
        let c = load_with(text, &[("VIC", "v1"), ("LK", &"k".repeat(32))]).unwrap();
        assert_eq!(c.links.ttl, std::time::Duration::from_secs(86_400));
        assert_eq!(c.links.secret.as_deref(), Some("k".repeat(32).as_bytes()));
        assert!(!format!("{c:?}").contains("kkkk"), "the link key stays out of Debug");
        let e = load_with(text, &[("VIC", "v1"), ("LK", "short")]).unwrap_err();
        assert_eq!(positions(&e), vec![(7, 14)], "{e}");
    }

    #[test]
    fn slack_receivers_take_exactly_one_way_of_posting_each_error_at_its_value() {
        let r =
            |name: &str, fields: &str| format!("[[notify.receiver]]\nname = \"{name}\"\nkind = \"slack\"\n{fields}");
        let text = [
            "[notify]\n".to_string(),
            r("both", "webhook_url_env = \"W\"\nbot_token_env = \"T\"\n"), // lines 2-6
            r("neither", ""),                                                // 7-9
            r("no-channel", "bot_token_env = \"T\"\n"),                      // 10-13
            r("hook-extras", "webhook_url_env = \"W\"\nchannel = \"C1\"\n"), // 14-18
            r("bad-api", "bot_token_env = \"T\"\nchannel = \"C1\"\napi_url = \"ftp://x\"\n"), // 19-24
            "[[notify.receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"W\"\nchannel = \"C1\"\n".into(),
        ]
        .concat();
        let e = load_with(&text, &[("W", "x"), ("T", "y")]).unwrap_err();
        assert_eq!(positions(&e), vec![(6, 17), (9, 8), (13, 17), (18, 11), (24, 11), (30, 11)], "{e}");
        assert!(e.0[0].message.contains("either `webhook_url_env` or `bot_token_env`"), "{e}");
        assert!(e.0[2].message.contains("needs `channel`"), "{e}");
        let text = [
            "[notify]\n".to_string(),
            r("hook", "webhook_url_env = \"SLACK_HOOK\"\n"),
            r(
                "bot",
                "bot_token_env = \"SLACK_TOKEN\"\nchannel = \"C0123456789\"\nsigning_secret_env = \"SLACK_SIGNING\"\n",
            ),
        ]
        .concat();
        let e = load_with(&text, &[("SLACK_HOOK", "https://hooks.slack.com/services/T/B/hooksecret")]).unwrap_err();
        assert_eq!(positions(&e), vec![(9, 17), (11, 22)], "missing secrets, at the names: {e}");
        let vars = [
            ("SLACK_HOOK", "https://hooks.slack.com/services/T/B/hooksecret"),
            ("SLACK_TOKEN", "xoxb-tokensecret"),
            ("SLACK_SIGNING", "signingsecret"),
        ];
        let c = load_with(&text, &vars).unwrap();
        let debug = format!("{c:?}");
        assert!(["hooksecret", "tokensecret", "signingsecret"].iter().all(|s| !debug.contains(s)), "{debug}");
        match &c.notify.receivers[1] {
            crate::notify::config::Receiver::Slack {
                via: crate::notify::config::SlackVia::Bot { token, channel, api_url },
                signing_secret,
                ..
            } => {
                assert_eq!(
                    (token.0.as_slice(), channel.as_str(), api_url.as_str()),
                    (&b"xoxb-tokensecret"[..], "C0123456789", "https://slack.com/api")
                );
                assert_eq!(signing_secret.as_ref().map(|s| s.0.as_slice()), Some(&b"signingsecret"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn teams_receivers_need_url_env_holding_an_https_url_each_error_at_its_value() {
        let r =
            |name: &str, fields: &str| format!("[[notify.receiver]]\nname = \"{name}\"\nkind = \"teams\"\n{fields}");
        let text = [
            "[notify]\n".to_string(),
            r("no-url", ""),                                                  // lines 2-4
            r("extras", "url_env = \"TW\"\nchannel = \"C1\"\nurl = \"https://x\"\n"), // 5-10
            "[[notify.receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_env = \"W\"\nurl_env = \"TW\"\n".into(),
        ]
        .concat();
        let e = load_with(&text, &[("W", "x"), ("TW", "https://h/x")]).unwrap_err();
        let mut at = positions(&e);
        at.sort();
        assert_eq!(at, vec![(4, 8), (9, 11), (10, 7), (16, 11)], "{e}");
        let said = |s: &str| e.0.iter().any(|d| d.message.contains(s));
        assert!(said("receiver `no-url`: a teams receiver needs `url_env`"), "{e}");
        assert!(said("receiver `extras`: `channel` is not a field of a teams receiver"), "{e}");
        assert!(said("receiver `hook`: `url_env` is not a field of a webhook receiver"), "{e}");
        let text = [
            "[notify]\n".to_string(),
            r("comms", "url_env = \"CW_TEAMS_WEBHOOK\"\n"), // 2-5
            r("relay", "url_env = \"CW_TEAMS_RELAY\"\n"),   // 6-9
        ]
        .concat();
        let e = load_with(&text, &[("CW_TEAMS_RELAY", "http://127.0.0.1:8080/relay")]).unwrap_err();
        assert_eq!(positions(&e), vec![(5, 11)], "unset, at the name: {e}");
        assert!(e.0[0].message.contains("environment variable `CW_TEAMS_WEBHOOK` is not set"), "{e}");
        let plain_http = "http://teams.example.com/workflows/abc?sig=plainS3cr3t";
        let e = load_with(&text, &[("CW_TEAMS_WEBHOOK", plain_http), ("CW_TEAMS_RELAY", "ftp://h/x")]).unwrap_err();
        assert_eq!(positions(&e), vec![(5, 11), (9, 11)], "{e}");
        assert!(e.0[0].message.contains("does not hold an https:// URL"), "{e}");
        assert!(!e.to_string().contains("plainS3cr3t"), "the value is never shown: {e}");
        let url = "https://prod-1.westeurope.logic.azure.com/workflows/w1/triggers/manual/paths/invoke?sig=teamsS3cr3t";
        let c = load_with(&text, &[("CW_TEAMS_WEBHOOK", url), ("CW_TEAMS_RELAY", "http://[::1]:8080/relay")]).unwrap();
        assert!(!format!("{c:?}").contains("teamsS3cr3t"), "the URL stays out of Debug");
        match &c.notify.receivers[0] {
            crate::notify::config::Receiver::Teams { name, url: u } => {
                assert_eq!((name.as_str(), u.0.as_slice()), ("comms", url.as_bytes()));
            }
            other => panic!("{other:?}"),
        }
    }
}
