//! `crisiswatch check`: the shipped rules are valid; broken rules are reported all at once,
//! each with file, line and column, and exit status 2.

mod support;

use support::{run, stderr};

#[test]
fn shipped_rules_are_valid() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let o = run(&["check", "--rules", rules]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok (5 brands"));
}

#[test]
fn every_error_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("defaults.toml"),
        "[engine]\nhold = \"soon\"\nfalse_alarms_per_week = -1.0\n\n[[rule]]\nname = \"v\"\n[rule.volume]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("acme.toml"), "[brand]\nid = \"acme\"\nname = \"Acme\"\nkeywrds = [\"acme\"]\n")
        .unwrap();
    std::fs::write(dir.path().join("globex.toml"), "[brand]\nid = \"globex\"\nname = \"Globex\"\n\n[brand.keywords]\nenglish = [\"globex\"]\n\n[[rule]]\nname = \"both\"\n[rule.volume]\n[rule.negative]\n").unwrap();
    std::fs::write(dir.path().join("broken.toml"), "[brand\nid = 1\n").unwrap();
    let o = run(&["check", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let d = dir.path().display();
    for want in [
        format!("{d}/defaults.toml:2:8"),
        format!("{d}/defaults.toml:3:25"),
        format!("{d}/acme.toml:4:1"),
        format!("{d}/globex.toml:6:1"),
        format!("{d}/globex.toml:9:8"),
        format!("{d}/broken.toml:1:7"),
    ] {
        assert!(err.contains(&want), "missing `{want}` in:\n{err}");
    }
    assert!(err.contains("unknown field `keywrds`"), "{err}");
    assert!(err.contains("exactly one detector table"), "{err}");
    assert!(err.contains("6 error(s)"), "{err}");
}

#[test]
fn the_readme_rule_example_is_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let rules = readme.find("## Rules").expect("a Rules section");
    let start = rules + readme[rules..].find("```toml\n").expect("a toml example in Rules") + "```toml\n".len();
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), &readme[start..start + len]).unwrap();
    let o = run(&["check", "--rules", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn playbooks_and_service_config_are_checked_too() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/crisiswatch.example.toml");
    let o = run(&[
        "check",
        "--rules",
        &format!("{root}/rules"),
        "--playbooks",
        &format!("{root}/alerts/playbooks"),
        "--config",
        &example,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("(8 playbooks)"));

    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("playbooks");
    std::fs::create_dir(&books).unwrap();
    std::fs::write(
        books.join("outage.toml"),
        "category = \"outage\"\ntitle = \"t\"\nguidance = \"g\"\nkeywords = {}\nresponse = []\nextra = 1\n",
    )
    .unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "listen = \"nowhere\"\n").unwrap();
    let o = run(&[
        "check",
        "--rules",
        &format!("{root}/rules"),
        "--playbooks",
        books.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:6:1", books.join("outage.toml").display())), "{err}");
    assert!(err.contains("unknown field `extra`"), "{err}");
    assert!(err.contains(&format!("{}:1:10", cfg.display())) && err.contains("nowhere"), "{err}");
}

/// The first TOML block of the README's section `heading`, written to a file in a new
/// temporary directory (kept alive by the returned handle).
fn readme_toml(heading: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let sec = readme.find(heading).unwrap_or_else(|| panic!("a section `{heading}`"));
    let start = sec + readme[sec..].find("```toml\n").unwrap() + "```toml\n".len();
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, &readme[start..start + len]).unwrap();
    (dir, cfg)
}

#[test]
fn the_readme_notify_example_is_valid() {
    let (_dir, cfg) = readme_toml("## Notifications and escalation");
    let root = env!("CARGO_MANIFEST_DIR");
    let o = std::process::Command::new(support::bin())
        .args(["check", "--rules", &format!("{root}/rules"), "--playbooks", &format!("{root}/alerts/playbooks")])
        .args(["--config", cfg.to_str().unwrap()])
        .env("CW_SMTP_USER", "u")
        .env("CW_SMTP_PASSWORD", "p")
        .env("CW_CRM_WEBHOOK_KEY", "k")
        .env("CW_TELEGRAM_TOKEN", "t")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // and without the secrets in the environment, it says which is missing
    let o = std::process::Command::new(support::bin())
        .args(["check", "--rules", &format!("{root}/rules"), "--playbooks", &format!("{root}/alerts/playbooks")])
        .args(["--config", cfg.to_str().unwrap()])
        .env_remove("CW_CRM_WEBHOOK_KEY")
        .env("CW_TELEGRAM_TOKEN", "t")
        .env("CW_SMTP_USER", "u")
        .env("CW_SMTP_PASSWORD", "p")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("CW_CRM_WEBHOOK_KEY"), "{}", stderr(&o));
}

#[test]
fn source_tables_are_checked_with_positions() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[[source]]\nname = \"news\"\nkind = \"rss\"\nurl = \"ftp://x/feed\"\n\
         [[source]]\nname = \"news\"\nkind = \"twitter\"\n\
         [[source]]\nname = \"m\"\nkind = \"mastodon\"\ninterval = \"1m\"\n\
         [[source]]\nname = \"tg\"\nkind = \"telegram\"\nmax_item_bytes = \"lots\"\n",
    )
    .unwrap();
    let o = run(&["check", "--rules", &format!("{root}/rules"), "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let at = |line: usize, col: usize| format!("{}:{line}:{col}", cfg.display());
    assert!(err.contains(&at(4, 7)) && err.contains("must start with http:// or https://"), "{err}");
    assert!(err.contains(&at(6, 8)) && err.contains("`news` is already used"), "{err}");
    assert!(err.contains(&at(7, 8)) && err.contains("unknown kind `twitter`"), "{err}");
    assert!(err.contains("kind `mastodon` needs a `url`"), "{err}");
    assert!(err.contains(&at(15, 18)) && err.contains("max_item_bytes"), "{err}");
    assert!(err.contains("kind `telegram` needs the bot's token"), "{err}");
}

#[test]
fn the_readme_sources_example_is_valid() {
    let (_dir, cfg) = readme_toml("### Sources");
    let root = env!("CARGO_MANIFEST_DIR");
    let check = |token: Option<&str>| {
        let mut c = std::process::Command::new(support::bin());
        c.args(["check", "--rules", &format!("{root}/rules"), "--config", cfg.to_str().unwrap()]);
        match token {
            Some(t) => c.env("CW_SOURCE_BOT_TOKEN", t),
            None => c.env_remove("CW_SOURCE_BOT_TOKEN"),
        };
        c.output().unwrap()
    };
    let o = check(Some("123:abc"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = check(None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("CW_SOURCE_BOT_TOKEN"), "{}", stderr(&o));
}

#[test]
fn public_url_is_required_when_listening_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let receiver = "[[notify.receiver]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/cw\"\nsecret_env = \"CW_K\"\n\
                    [[notify.team]]\nname = \"pr\"\nreceivers = [\"hook\"]\n\
                    [[notify.route]]\nbrands = [\"acme\"]\nladder = [{ teams = [\"pr\"] }]\n";
    let check = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        std::process::Command::new(support::bin())
            .args(["check", "--config", cfg.to_str().unwrap()])
            .env("CW_K", "k")
            .env("CRISISWATCH_API_TOKENS", "t0123456789")
            .output()
            .unwrap()
    };
    let o = check(&format!("listen = \"0.0.0.0:8686\"\n{receiver}"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("`public_url` is required when the service listens on 0.0.0.0:8686"), "{}", stderr(&o));
    let o = check(&format!("listen = \"0.0.0.0:8686\"\n[notify]\npublic_url = \"https://cw.example.com\"\n{receiver}"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = check(&format!("listen = \"127.0.0.1:8686\"\n{receiver}"));
    assert!(o.status.success(), "loopback: the default link base works: {}", stderr(&o));
}

#[test]
fn teams_receivers_are_checked_with_positions() {
    let (dir, cfg) = readme_toml("### Microsoft Teams");
    let check = |path: &std::path::Path, url: Option<&str>| {
        let mut c = std::process::Command::new(support::bin());
        c.args(["check", "--config", path.to_str().unwrap()]);
        match url {
            Some(u) => c.env("CW_TEAMS_WEBHOOK", u),
            None => c.env_remove("CW_TEAMS_WEBHOOK"),
        };
        c.output().unwrap()
    };
    let secret = "teamsCheckS3cr3tSig";
    let url = format!(
        "https://prod-12.westeurope.logic.azure.com:443/workflows/0123/triggers/manual/paths/invoke?api-version=2016-06-01&sig={secret}"
    );
    let o = check(&cfg, Some(&url));
    assert!(o.status.success(), "the README's example: {}", stderr(&o));
    let at = |line: usize, col: usize| format!("{}:{line}:{col}", cfg.display());
    let o = check(&cfg, None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&at(4, 11)) && stderr(&o).contains("`CW_TEAMS_WEBHOOK` is not set"), "{}", stderr(&o));
    // or from the file `CW_TEAMS_WEBHOOK_FILE` names; an unreadable one is said, by path
    let file = dir.path().join("teams-url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let with_file = |f: &std::path::Path| {
        let mut c = std::process::Command::new(support::bin());
        c.args(["check", "--config", cfg.to_str().unwrap()]).env_remove("CW_TEAMS_WEBHOOK");
        c.env("CW_TEAMS_WEBHOOK_FILE", f).output().unwrap()
    };
    let o = with_file(&file);
    assert!(o.status.success(), "the secret from a file: {}", stderr(&o));
    let o = with_file(&dir.path().join("missing"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&at(4, 11)) && stderr(&o).contains("cannot be read"), "{}", stderr(&o));
    let o = check(&cfg, Some(&url.replace("https://", "http://")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&at(4, 11)) && stderr(&o).contains("does not hold an https:// URL"), "{}", stderr(&o));
    assert!(!stderr(&o).contains(secret), "the URL is never shown: {}", stderr(&o));
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[[notify.receiver]]\nname = \"t\"\nkind = \"teams\"\nurl_envv = \"CW_TEAMS_WEBHOOK\"\n")
        .unwrap();
    let o = check(&other, Some(&url));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:4:1", other.display())) && err.contains("unknown field `url_envv`"), "{err}");
    std::fs::write(&other, "[[notify.receiver]]\nname = \"t\"\nkind = \"teams\"\nchat_id = 5\n").unwrap();
    let o = check(&other, Some(&url));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:3:8", other.display())) && err.contains("needs `url_env`"), "{err}");
    assert!(err.contains(&format!("{}:4:11", other.display())) && err.contains("`chat_id` is not a field"), "{err}");
}
