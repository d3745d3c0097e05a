//! `crisiswatch tone`: the tone of a text, or of every line of a file, as JSON lines.
//!
//! One output line per input line, in order, so outputs stay aligned with inputs: a line
//! that cannot be scored (not UTF-8) gets `{"line": N, "error": "…"}` and the rest go on; the
//! exit status is then 1, with a count on stderr. A line the model cannot judge says why in
//! `reason` (no model for its language, or no language identified) instead of a bare null.

use crate::ingest::lang::{detect, Lang};
use crate::tone::MultilingualTone;
use serde::Serialize;
use std::io::{BufRead, Write};

/// What `tone` says of one text.
#[derive(Debug, Serialize, PartialEq)]
pub struct Judged {
    /// The language (given or identified), `null` when none was identified.
    pub lang: Option<&'static str>,
    /// Calibrated probability that the text is negative.
    pub p_negative: Option<f64>,
    /// `negative`, `neutral` or `positive`.
    pub label: Option<&'static str>,
    /// Why there is no judgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Judges `text` (in `lang` when given, else the identified language).
pub fn judge(model: &MultilingualTone, text: &str, lang: Option<&str>) -> Judged {
    let loaded = || model.languages().join(", ");
    if let Some(code) = lang.filter(|c| Lang::from_code(c).is_none()) {
        let reason = format!("`{code}` is not a language the tone model knows (loaded: {})", loaded());
        return Judged { lang: None, p_negative: None, label: None, reason: Some(reason) };
    }
    if let Some((l, p, label)) = model.judge(text, lang) {
        return Judged {
            lang: Some(l.code()),
            p_negative: Some((f64::from(p) * 1000.0).round() / 1000.0),
            label: Some(label.as_str()),
            reason: None,
        };
    }
    let (lang, reason) = match lang.and_then(Lang::from_code).or_else(|| detect(text)) {
        Some(l) => (Some(l.code()), format!("no tone model for `{}` (loaded: {})", l.code(), loaded())),
        None => (None, "no language identified (too short, or no letters of a known script); give --lang".into()),
    };
    Judged { lang, p_negative: None, label: None, reason: Some(reason) }
}

/// One output line for an input line that cannot be scored.
#[derive(Debug, Serialize)]
struct Refused<'a> {
    line: u64,
    error: &'a str,
}

/// Scores every line of `input` into `out`, one JSON line each; returns the number of lines
/// read and of those that could not be scored (each got an `error` line).
///
/// # Errors
/// Reading or writing failed.
pub fn lines(
    model: &MultilingualTone,
    lang: Option<&str>,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<(u64, u64)> {
    let (mut n, mut bad) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        n += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(text) => serde_json::to_writer(&mut *out, &judge(model, text, lang))?,
            Err(e) => {
                bad += 1;
                let error = format!("not UTF-8 (invalid byte at column {})", e.valid_up_to() + 1);
                serde_json::to_writer(&mut *out, &Refused { line: n, error: &error })?;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok((n, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_answered_and_a_bad_one_says_where() {
        let model = MultilingualTone::builtin();
        let input: &[u8] = b"ok\n\xff\n\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbb\xd0\xbe\xd0\xb6\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5\r\nthe app is down again, worst service\n";
        let mut out = Vec::new();
        let (n, bad) = lines(&model, None, input, &mut out).unwrap();
        assert_eq!((n, bad), (4, 1));
        let got: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(got.len(), 4, "one output line per input line");
        assert_eq!(got[1]["line"], 2);
        assert_eq!(got[1]["error"], "not UTF-8 (invalid byte at column 1)");
        assert_eq!(got[3]["lang"], "en");
        assert_eq!(got[3]["label"], "negative");
        assert!(got[3].get("reason").is_none());
        // no language identified, or an unknown code: said, not a bare null
        let j = judge(&model, "??", None);
        assert!(j.reason.unwrap().contains("no language identified"));
        let j = judge(&model, "hello", Some("xx"));
        assert!(j.reason.unwrap().contains("`xx` is not a language"));
    }
}
