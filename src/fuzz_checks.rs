//! The properties the fuzz targets check, one function per target taking the fuzzer's bytes
//! and panicking when a property fails. `fuzz/fuzz_targets/*.rs` (cargo fuzz, nightly) call
//! them, and so does `tests/fuzz_corpus.rs` (stable) with every file of
//! `fuzz/corpus/<target>/`, so the corpus is a regression suite in CI.
//!
//! Not part of the API: hidden from the docs; imports the stages it checks and is imported by
//! nothing.

use crate::diag::{Diagnostic, Diagnostics};
use crate::hash::fnv1a;
use crate::ingest::fastjson::parse_plain;
use crate::ingest::parse::{parse_line, parse_line_serde};
use crate::ingest::RawMention;
use crate::serve::config::secrets::Env;
use crate::serve::config::{load_str, Overrides};
use crate::serve::ingest::{decode_body, validate, BodyError, Framing, Limits};
use std::path::{Path, PathBuf};

/// The line cap of `mention_parse` (the service's default).
const MAX_LINE: usize = 1 << 20;

/// `mention_parse`: the fast path ([`parse_plain`]) and the serde_json path agree on every
/// input. Whenever the fast path reads a line, serde_json reads it too, with the same fields;
/// [`parse_line`] (fast path, serde_json for the rest) and [`parse_line_serde`] (serde_json
/// only) accept the same lines with the same mention and reject the others with the same
/// rejection.
pub fn mention_parse(data: &[u8]) {
    if let Some(fast) = parse_plain(data) {
        match serde_json::from_slice::<RawMention<'_>>(data) {
            Ok(slow) => assert!(fast == slow, "fields differ: fast {fast:?}, serde {slow:?} for {}", show(data)),
            Err(e) => panic!("the fast path read what serde_json refuses ({e}): {}", show(data)),
        }
    }
    let both = (parse_line(data, MAX_LINE), parse_line_serde(data, MAX_LINE));
    match &both {
        (Ok(a), Ok(b)) => {
            assert!(a.raw == b.raw && a.at == b.at, "mentions differ: {a:?} / {b:?} for {}", show(data))
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "rejections differ for {}", show(data)),
        (a, b) => panic!("accept/reject differ: parse_line {a:?}, parse_line_serde {b:?} for {}", show(data)),
    }
}

/// Separates the files of a `rules` input: the first part is `defaults.toml`, each further
/// part a brand file. A TOML comment, so every part and the whole stay TOML.
pub const RULES_FILE_SEPARATOR: &str = "\n#---\n";

/// `rules`: the rules loader never panics; it gives a rule set or diagnostics, and every
/// diagnostic names one of the files and lies inside its text. The input (UTF-8 only, as the
/// loader reads text) is loaded as a brand file with the built-in defaults, as
/// `defaults.toml` alone, and, when it holds [`RULES_FILE_SEPARATOR`], as `defaults.toml`
/// followed by brand files.
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let defaults = Path::new("defaults.toml");
    let builtin = crate::rules::BUILTIN_DEFAULTS;
    let brand = Path::new("brand.toml");
    check_rules(&[(defaults, builtin), (brand, text)]);
    check_rules(&[(defaults, text)]);
    if text.contains(RULES_FILE_SEPARATOR) {
        let parts: Vec<&str> = text.split(RULES_FILE_SEPARATOR).collect();
        let names: Vec<PathBuf> = (1..parts.len()).map(|i| PathBuf::from(format!("b{i}.toml"))).collect();
        let mut files = vec![(defaults, parts[0])];
        files.extend(names.iter().map(PathBuf::as_path).zip(parts[1..].iter().copied()));
        check_rules(&files);
    }
}

fn check_rules(files: &[(&Path, &str)]) {
    match crate::rules::load_texts(files[0], &files[1..]) {
        Ok(rs) => {
            let mut ids: Vec<&str> = rs.brands.iter().map(|b| b.id.as_str()).collect();
            assert!(ids.iter().all(|id| !id.is_empty()), "an empty brand id was accepted");
            ids.sort_unstable();
            assert!(ids.windows(2).all(|w| w[0] != w[1]), "a brand id was accepted twice: {ids:?}");
            for b in &rs.brands {
                let mut names: Vec<&str> = b.rules.iter().map(|r| r.name.as_str()).collect();
                names.sort_unstable();
                assert!(names.windows(2).all(|w| w[0] != w[1]), "brand `{}` has a rule twice: {names:?}", b.id);
            }
            let alpha = rs.alpha();
            assert!(alpha > 0.0 && alpha <= 0.01, "alpha {alpha}");
        }
        Err(d) => check_diagnostics(&d, files),
    }
}

/// A distinctive prefix of every secret the fake environment of `serve_config` hands out:
/// it must never show in a diagnostic or in the configuration's `Debug`.
const SECRET_MARK: &str = "fz-secret-";

/// A valid argon2id PHC string (the argon2 crate's test vector) for credentials named `HASH`.
const PHC: &str = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

/// The fake environment of `serve_config`: a variable's value depends on its name only
/// (unset, empty, short or long; a PHC string for names containing `HASH`).
fn fake_var(name: &str) -> Option<String> {
    if name.contains("HASH") {
        return Some(PHC.to_string());
    }
    let h = fnv1a(name.as_bytes());
    match h % 4 {
        0 => None,
        1 => Some(String::new()),
        2 => Some(format!("{SECRET_MARK}x")),
        _ => Some(format!("{SECRET_MARK}{h:032x}")),
    }
}

/// The fake filesystem of `serve_config`: a file's contents depend on its path only.
fn fake_file(path: &Path) -> std::io::Result<String> {
    let p = path.to_string_lossy();
    if p.contains("hash") {
        return Ok(format!("{PHC}\n"));
    }
    let h = fnv1a(p.as_bytes());
    match h % 3 {
        0 => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file (fuzz)")),
        1 => Ok("\n".to_string()),
        _ => Ok(format!("{SECRET_MARK}{h:032x}\nsecond line\n")),
    }
}

/// `serve_config`: the service config loader (raw → validate → secrets) never panics; it
/// gives a configuration or diagnostics inside the input, and no secret (the SMTP user name
/// is not one) shows in either. The
/// environment, the secret files and the rules directory are fixed (a fake environment,
/// `--rules rules`), so the result depends on the input only.
pub fn serve_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("crisiswatch.toml");
    // the SMTP user name is read like a secret but is not one (`Smtp::credentials` keeps it
    // as a plain `String`, shown in `Debug`): its variable gets an unmarked value
    let user_var = toml::from_str::<crate::serve::config::raw::FileConfig>(text)
        .ok()
        .and_then(|fc| fc.notify.smtp)
        .and_then(|smtp| smtp.into_inner().username_env)
        .map(toml::Spanned::into_inner);
    let var = |name: &str| match &user_var {
        Some(u) if u == name => Some("fz-user".to_string()),
        _ => fake_var(name),
    };
    let env = Env { var: &var, file: &fake_file };
    let o = Overrides { rules: Some("rules".into()), ..Overrides::default() };
    let may_leak = !text.contains(SECRET_MARK);
    match load_str(path, text, &o, &env) {
        Ok(cfg) => {
            let dbg = format!("{cfg:?}");
            assert!(!may_leak || !dbg.contains(SECRET_MARK), "a secret in the config's Debug: {dbg}");
        }
        Err(d) => {
            check_diagnostics(&d, &[(path, text)]);
            let shown = d.to_string();
            assert!(!may_leak || !shown.contains(SECRET_MARK), "a secret in a diagnostic: {shown}");
        }
    }
}

/// Every diagnostic names one of `files` and points inside its text: a line of the text, a
/// column within that line (or just past its end), and that line as the excerpt.
fn check_diagnostics(d: &Diagnostics, files: &[(&Path, &str)]) {
    assert!(!d.0.is_empty(), "an error without diagnostics");
    for diag in &d.0 {
        let Some(&(_, text)) = files.iter().find(|(p, _)| *p == diag.path) else {
            panic!("diagnostic names an unknown file: {diag:?}");
        };
        check_position(diag, text);
        assert!(!diag.message.trim().is_empty(), "empty message: {diag:?}");
        let _ = diag.to_string();
    }
    let _ = d.to_string();
}

fn check_position(d: &Diagnostic, text: &str) {
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(d.line >= 1 && d.line <= lines.len(), "line {} outside the {} lines: {d:?}", d.line, lines.len());
    let line = lines[d.line - 1];
    assert!(d.col >= 1 && d.col <= line.chars().count() + 1, "column {} outside line {:?}: {d:?}", d.col, line);
    let start: usize = lines[..d.line - 1].iter().map(|l| l.len() + 1).sum();
    let excerpt = text[start..].lines().next().unwrap_or("");
    assert!(
        d.excerpt.is_empty() || d.excerpt == excerpt,
        "excerpt {:?} is not line {}: {excerpt:?}",
        d.excerpt,
        d.line
    );
}

/// How the first byte of an `ingest_body` input configures the run; the rest is the body.
///
/// * bit 0: framing, NDJSON (0) or JSON array (1);
/// * bits 1–2: gzip: 0 none, 1 the body as a gzip stream as it is, 2 the body gzipped by the
///   check, 3 the body gzipped as two members;
/// * bits 3–4: decoded-size cap 64 B, 1 KiB, 64 KiB, 1 MiB;
/// * bits 5–6: line cap 64 B, 512 B, 64 KiB, 1 MiB;
/// * bit 7: latest accepted `ts`: none (0) or 2026-01-01T00:00:00Z (1).
///
/// Printable seeds: `P` is NDJSON with the 64 KiB caps, `Q` the same as a JSON array, `T`
/// and `U` the same gzipped.
#[derive(Debug, Clone, Copy)]
pub struct BodyOptions {
    /// The framing.
    pub framing: Framing,
    /// Gzip mode (0–3, above).
    pub gzip: u8,
    /// Cap on the decoded body.
    pub cap: usize,
    /// What every item is checked against.
    pub limits: Limits,
}

impl BodyOptions {
    /// The options of a config byte.
    pub fn from_byte(b: u8) -> Self {
        const CAPS: [usize; 4] = [64, 1 << 10, 1 << 16, 1 << 20];
        const LINES: [usize; 4] = [64, 512, 1 << 16, 1 << 20];
        BodyOptions {
            framing: if b & 1 == 0 { Framing::Ndjson } else { Framing::JsonArray },
            gzip: (b >> 1) & 3,
            cap: CAPS[usize::from((b >> 3) & 3)],
            limits: Limits { max_line: LINES[usize::from((b >> 5) & 3)] },
        }
    }
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, p).expect("writing to memory");
        out.extend(e.finish().expect("writing to memory"));
    }
    out
}

/// `ingest_body`: [`decode_body`] then [`validate`], as `POST /v1/mentions` does, never
/// panic, and what they return holds together:
///
/// * gzip: a body the check gzipped decodes to itself, or is `TooLarge` past the cap; any
///   decoded body is within the cap;
/// * every record is one line ending in `\n` that [`parse_line`] accepts again, with its
///   the index has one entry per record (its end, increasing line number, its id's and
///   brand's hashes, its `ts`);
/// * NDJSON: the records are exactly the non-blank lines `parse_line` accepts, unchanged and
///   in order, each indexed with its line number; every other non-blank line is rejected,
///   once, with its line number and (the first `KEEP_RAW` of) its bytes;
/// * JSON array: records plus rejections are the array's items, each rejection numbered
///   within them; a record means the same JSON as its item; a body that is not JSON gives
///   no record.
pub fn ingest_body(data: &[u8]) {
    let Some((&b, body)) = data.split_first() else { return };
    let o = BodyOptions::from_byte(b);
    let decoded = match o.gzip {
        0 => {
            let d = decode_body(body, false, o.cap).expect("no decoding without gzip");
            assert_eq!(&*d, body, "a plain body changed");
            d
        }
        1 => match decode_body(body, true, o.cap) {
            Ok(d) => d,
            Err(BodyError::TooLarge(_) | BodyError::Malformed(_)) => return,
        },
        mode => {
            let zipped =
                if mode == 2 { gzip(&[body]) } else { gzip(&[&body[..body.len() / 2], &body[body.len() / 2..]]) };
            match decode_body(&zipped, true, o.cap) {
                Ok(d) => {
                    assert_eq!(&*d, body, "gzip round trip changed the body");
                    std::borrow::Cow::Owned(d.into_owned())
                }
                Err(BodyError::TooLarge(_)) if body.len() > o.cap => return,
                Err(e) => panic!("a gzipped body of {} bytes under cap {} refused: {e}", body.len(), o.cap),
            }
        }
    };
    assert!(o.gzip == 0 || decoded.len() <= o.cap, "decoded {} bytes over the cap {}", decoded.len(), o.cap);
    let body = &*decoded;
    let d = match validate(body, o.framing, o.limits) {
        Ok(d) => d,
        Err(BodyError::Malformed(_)) if o.framing == Framing::JsonArray => return,
        Err(e) => panic!("{:?} body refused as a whole: {e}", o.framing),
    };
    let records = check_records(&d, o.limits);
    match o.framing {
        Framing::Ndjson => check_ndjson(body, &d, &records, o.limits),
        Framing::JsonArray => check_array(body, &d, &records),
    }
}

/// The records, each without its `\n`, after checking them and the index.
fn check_records(d: &crate::serve::ingest::Decoded, limits: Limits) -> Vec<&[u8]> {
    assert!(d.records.is_empty() || d.records.ends_with(b"\n"), "records do not end in a newline");
    let records: Vec<&[u8]> = d.records.split_inclusive(|&c| c == b'\n').map(|r| &r[..r.len() - 1]).collect();
    assert_eq!(records.len(), d.index.len(), "one index entry per record");
    let mut end = 0;
    let mut line = 0;
    for (r, item) in records.iter().zip(&d.index) {
        end += r.len() + 1;
        assert_eq!(item.end as usize, end, "index end of record {}", show(r));
        assert!(item.line > line, "line numbers increase: {} after {line}", item.line);
        line = item.line;
        let m =
            parse_line(r, limits.max_line).unwrap_or_else(|e| panic!("record {} is not accepted again: {e}", show(r)));
        assert_eq!(item.id, fnv1a(m.raw.id.as_bytes()), "id hash of {}", show(r));
        assert_eq!(item.ts, m.at, "ts of {}", show(r));
        assert_eq!(item.brand, m.raw.brand.as_deref().map(|b| fnv1a(b.as_bytes())), "brand hash of {}", show(r));
    }
    records
}

fn check_ndjson(body: &[u8], d: &crate::serve::ingest::Decoded, records: &[&[u8]], limits: Limits) {
    let line_count = body.split(|&c| c == b'\n').count();
    let (mut want_records, mut want_rejected) = (Vec::new(), Vec::new());
    for (i, line) in body.split(|&c| c == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(line, limits.max_line) {
            Ok(_) => want_records.push((i + 1, line)),
            Err(_) => want_rejected.push((i + 1, &line[..line.len().min(crate::serve::ingest::KEEP_RAW)])),
        }
    }
    let got_records: Vec<(usize, &[u8])> =
        d.index.iter().map(|it| it.line as usize).zip(records.iter().copied()).collect();
    assert_eq!(got_records, want_records, "records are not the accepted lines");
    let got: Vec<(usize, &[u8])> = d.rejected.iter().map(|r| (r.line, &r.raw[..])).collect();
    assert_eq!(got, want_rejected, "rejections are not the other lines");
    for r in &d.rejected {
        assert!(r.line >= 1 && r.line <= line_count, "rejected line {} of {line_count}", r.line);
        assert!(!r.reason.is_empty(), "a rejection without a reason");
    }
}

fn check_array(body: &[u8], d: &crate::serve::ingest::Decoded, records: &[&[u8]]) {
    let single = body.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
    let items: Vec<&serde_json::value::RawValue> = if single {
        match serde_json::from_slice::<&serde_json::value::RawValue>(body) {
            Ok(v) => vec![v],
            Err(_) => {
                assert!(records.is_empty(), "a body that is not JSON gave records: {}", show(body));
                assert_eq!(d.rejected.len(), 1, "a single object is one item");
                return;
            }
        }
    } else {
        serde_json::from_slice(body).expect("validate accepted the array")
    };
    assert_eq!(records.len() + d.rejected.len(), items.len(), "records + rejections != items");
    let mut prev = 0;
    for r in &d.rejected {
        assert!(r.line > prev && r.line <= items.len(), "rejected item {} of {}", r.line, items.len());
        prev = r.line;
        assert!(!r.reason.is_empty(), "a rejection without a reason");
    }
    let accepted = (1..=items.len()).filter(|i| !d.rejected.iter().any(|r| r.line == *i));
    for (rec, i) in records.iter().zip(accepted) {
        let item = items[i - 1].get();
        let (a, b) =
            (serde_json::from_slice::<serde_json::Value>(rec), serde_json::from_str::<serde_json::Value>(item));
        if let (Ok(a), Ok(b)) = (a, b) {
            assert_eq!(a, b, "record {} does not mean item {i} {item:?}", show(rec));
        }
    }
}

/// `feeds`: the parsers of what sources read. The first byte picks one, the rest is its
/// input: an RSS/Atom document, a server-sent-event stream (fed whole and in two pieces at a
/// point the input picks: the same events either way), a Jetstream message, a Mastodon
/// status, a Telegram update, a Hacker News hit. None panics; every item one makes has an
/// id, and its mention line is accepted by [`parse_line`] or refused only for its `ts`.
pub fn feeds(data: &[u8]) {
    use crate::serve::sources::{bluesky, hackernews, mastodon, rss, telegram, Item};
    const NOW: crate::time::Millis = 1_800_000_000_000;
    let Some((&pick, rest)) = data.split_first() else { return };
    let spec = crate::serve::config::sources::SourceSpec {
        name: "fuzz".into(),
        kind: crate::serve::config::sources::SourceKind::Rss,
        url: "http://127.0.0.1/".into(),
        interval: std::time::Duration::from_secs(60),
        brand: None,
        tag: None,
        local: false,
        max_item_bytes: 1 << 16,
        max_response_bytes: 1 << 20,
        alert_after: std::time::Duration::from_secs(60),
        token: None,
    };
    let line_ok = |item: &Item| {
        assert!(!item.id.is_empty(), "an item without an id from {}", show(data));
        let line = crate::serve::sources::mention_line(item, &spec);
        match parse_line(&line, MAX_LINE) {
            Ok(_) | Err(crate::ingest::Rejection::Timestamp(_)) => {}
            Err(e) => panic!("the mention line {} is refused ({e:?}); made from {}", show(&line), show(data)),
        }
    };
    match pick % 6 {
        0 => {
            if let Ok(entries) = rss::parse_feed(rest, NOW) {
                for item in entries.iter().flatten() {
                    assert!(item.ts <= NOW, "an entry from the future: {}", show(data));
                    line_ok(item);
                }
            }
        }
        1 => {
            let cap = 1 + rest.first().copied().unwrap_or(0) as usize * 16;
            let whole = mastodon::SseParser::new(cap).feed(rest);
            let cut = rest.get(1).copied().unwrap_or(0) as usize % (rest.len() + 1);
            let mut p = mastodon::SseParser::new(cap);
            let mut pieces = p.feed(&rest[..cut]);
            pieces.extend(p.feed(&rest[cut..]));
            assert_eq!(whole, pieces, "events depend on where the stream was cut ({cut}): {}", show(data));
        }
        2 => {
            if let Ok(e) = bluesky::parse_event(rest) {
                if let Some(item) = e.post {
                    assert!(item.id.starts_with("at://"), "{}", show(data));
                    line_ok(&item);
                }
            }
        }
        3 => {
            if let Ok((_, item)) = mastodon::parse_status(rest, NOW) {
                line_ok(&item);
            }
        }
        4 => {
            if let Ok(Some(item)) =
                serde_json::from_slice(rest).map_err(|_| ()).and_then(|v| telegram::update_item(&v).map_err(|_| ()))
            {
                line_ok(&item);
            }
        }
        _ => {
            if let Ok((item, _)) =
                serde_json::from_slice(rest).map_err(|_| String::new()).and_then(|v| hackernews::hit_item(&v))
            {
                line_ok(&item);
            }
        }
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    match s.char_indices().nth(300) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], b.len()),
        None => format!("{s:?}"),
    }
}
