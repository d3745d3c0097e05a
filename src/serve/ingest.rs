//! Request bodies to validated ingest records: gzip decoding under a cap, NDJSON or a JSON
//! array by Content-Type, every item parsed and checked like `replay` does, each rejection
//! kept with its line (or array item) number, reason and raw bytes for the dead letters.
//!
//! A record is one mention as compact single-line JSON ending in `\n`: the ingest log's unit.

use crate::hash::fnv1a;
use crate::ingest::parse_line;
use crate::time::Millis;
use std::io::Read;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON object per line.
    Ndjson,
    /// A JSON array of objects (a single object is also accepted).
    JsonArray,
}

impl Framing {
    /// Framing for a Content-Type header value; `None` for unsupported types.
    pub fn from_content_type(ct: Option<&str>) -> Option<Framing> {
        let ct = ct.unwrap_or("application/x-ndjson");
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/json-lines"
            | "text/plain"
            | "" => Some(Framing::Ndjson),
            "application/json" => Some(Framing::JsonArray),
            _ => None,
        }
    }
}

/// One rejected item.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    /// 1-based line (NDJSON) or array item number (JSON array).
    pub line: usize,
    /// Why.
    pub reason: String,
    /// The item as received.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// A decoded, validated body.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Valid records back to back, each ending in `\n`.
    pub records: Vec<u8>,
    /// Per record, in order.
    pub index: Vec<Item>,
    /// Rejected items.
    pub rejected: Vec<Rejected>,
}

/// One valid record of a [`Decoded`] body.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// End offset in `records`.
    pub end: u32,
    /// 1-based line (or array item) number in the request.
    pub line: u32,
    /// Hash of its `id`.
    pub id: u64,
    /// Its `ts`.
    pub ts: Millis,
    /// Hash of its `brand` field, when it has one.
    pub brand: Option<u64>,
}

/// Why a whole body was refused.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than allowed after decoding (413).
    #[error("body is larger than {0} bytes after decoding")]
    TooLarge(usize),
    /// Bad gzip or bad JSON array framing (400).
    #[error("{0}")]
    Malformed(String),
}

/// Decodes gzip (when `gzip`) with a cap on the decoded size.
///
/// # Errors
/// `TooLarge` past the cap, `Malformed` for a broken gzip stream.
pub fn decode_body(body: &[u8], gzip: bool, cap: usize) -> Result<std::borrow::Cow<'_, [u8]>, BodyError> {
    if !gzip {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let mut out = Vec::with_capacity((body.len() * 4).min(cap));
    let mut dec = flate2::read::MultiGzDecoder::new(body).take(cap as u64 + 1);
    dec.read_to_end(&mut out).map_err(|e| BodyError::Malformed(format!("invalid gzip body: {e}")))?;
    if out.len() > cap {
        return Err(BodyError::TooLarge(cap));
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// What every item is checked against besides its own syntax.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest line.
    pub max_line: usize,
}

/// Splits and validates a decoded body.
///
/// # Errors
/// `Malformed` when a JSON array body is not an array of JSON values.
pub fn validate(body: &[u8], framing: Framing, limits: Limits) -> Result<Decoded, BodyError> {
    let mut d = Decoded::default();
    match framing {
        Framing::Ndjson => {
            for (i, line) in body.split(|&b| b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue; // blank lines (and the final newline) are framing, not items
                }
                check(&mut d, i + 1, line, limits);
            }
        }
        Framing::JsonArray => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'{') {
                // a single object, compacted only when it is JSON: taking the whitespace out
                // of anything else could join two tokens into one (`1\n2` → `12`) and accept
                // what was never a mention; otherwise it is rejected as sent
                match serde_json::from_slice::<&serde_json::value::RawValue>(body) {
                    Ok(item) => check(&mut d, 1, &compact(item.get().as_bytes()), limits),
                    Err(_) => check(&mut d, 1, body, limits),
                }
                return Ok(d);
            }
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body).map_err(|e| {
                BodyError::Malformed(format!(
                    "body is not a JSON array: {} at line {} column {}",
                    strip_position(&e.to_string()),
                    e.line(),
                    e.column()
                ))
            })?;
            for (i, item) in items.iter().enumerate() {
                check(&mut d, i + 1, &compact(item.get().as_bytes()), limits);
            }
        }
    }
    Ok(d)
}

fn strip_position(msg: &str) -> &str {
    msg.rsplit_once(" at line ").map_or(msg, |(m, _)| m)
}

/// How much of a rejected item is kept for the dead letters.
pub const KEEP_RAW: usize = 16 << 10;

/// A rejected item: its first [`KEEP_RAW`] bytes are kept, and the reason says when the rest
/// was cut off.
pub fn rejected(line: usize, mut reason: String, bytes: &[u8]) -> Rejected {
    if bytes.len() > KEEP_RAW {
        reason.push_str(&format!(" (the item is {} bytes; its first {} are kept)", bytes.len(), KEEP_RAW));
    }
    Rejected { line, reason, raw: bytes[..bytes.len().min(KEEP_RAW)].to_vec() }
}

fn check(d: &mut Decoded, line: usize, bytes: &[u8], limits: Limits) {
    match parse_line(bytes, limits.max_line) {
        Ok(m) => {
            let id = fnv1a(m.raw.id.as_bytes());
            let brand = m.raw.brand.as_deref().map(|b| fnv1a(b.as_bytes()));
            d.records.extend_from_slice(bytes);
            d.records.push(b'\n');
            d.index.push(Item { end: d.records.len() as u32, line: line as u32, id, ts: m.at, brand });
        }
        Err(r) => d.rejected.push(rejected(line, r.to_string(), bytes)),
    }
}

/// Removes whitespace outside strings, so that a pretty-printed array item becomes one line
/// (strings cannot hold raw newlines, so the result has none). Only for valid JSON, where
/// whitespace never separates the parts of one token.
fn compact(item: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !item.iter().any(|&b| b == b'\n' || b == b'\r') {
        return std::borrow::Cow::Borrowed(item);
    }
    let mut out = Vec::with_capacity(item.len());
    let (mut in_str, mut escaped) = (false, false);
    for &b in item {
        if in_str {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_str = b == b'"';
            out.push(b);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_line: 4096 };

    #[test]
    fn ndjson_items_are_checked_one_by_one() {
        let body = b"{\"id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"text\":\"x\"}\r\n\nnot json\n{\"id\":\"b\",\"ts\":\"yesterday\",\"text\":\"y\"}\n{\"id\":\"c\",\"ts\":\"2026-01-01T00:01:00Z\",\"text\":\"z\"}";
        let d = validate(body, Framing::Ndjson, LIMITS).unwrap();
        assert_eq!(d.index.len(), 2);
        let lines: Vec<usize> = d.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4]);
        assert!(d.rejected[1].reason.contains("ts"), "{}", d.rejected[1].reason);
        assert_eq!(d.rejected[0].raw, b"not json");
        assert_eq!(d.records.iter().filter(|&&b| b == b'\n').count(), 2);
        assert!(!d.records.contains(&b'\r'));
    }

    #[test]
    fn pretty_json_arrays_become_single_lines() {
        let body = br#"[
          {"id": "a", "ts": "2026-01-01T00:00:00Z",
           "text": "two  spaces \" and a quote"},
          {"id": 5, "ts": "2026-01-01T00:00:00Z", "text": "bad id"}
        ]"#;
        let d = validate(body, Framing::JsonArray, LIMITS).unwrap();
        assert_eq!(d.index.len(), 1);
        assert_eq!(
            std::str::from_utf8(&d.records).unwrap(),
            "{\"id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"text\":\"two  spaces \\\" and a quote\"}\n"
        );
        assert_eq!(d.rejected[0].line, 2);
        let e = validate(b"[{\"id\":1", Framing::JsonArray, LIMITS).unwrap_err();
        assert!(e.to_string().contains("line 1 column"), "{e}");
    }

    #[test]
    fn a_single_object_that_is_not_json_is_not_mended() {
        // compacting `1\n2` would give the valid `12` (found with the `ingest_body` check)
        let body = b"{\"id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"text\":\"x\",\"author_followers\":1\n2}";
        let d = validate(body, Framing::JsonArray, LIMITS).unwrap();
        assert!(d.records.is_empty());
        assert_eq!((d.rejected.len(), &d.rejected[0].raw[..]), (1, &body[..]));
        let pretty = b"{\n  \"id\": \"a\",\n  \"ts\": \"2026-01-01T00:00:00Z\",\n  \"text\": \"x\"\n}\n";
        let d = validate(pretty, Framing::JsonArray, LIMITS).unwrap();
        assert_eq!(d.records, b"{\"id\":\"a\",\"ts\":\"2026-01-01T00:00:00Z\",\"text\":\"x\"}\n");
    }

    #[test]
    fn long_items_are_kept_cut_and_gzip_is_capped() {
        let long =
            format!("{{\"id\":\"a\",\"ts\":\"2026-02-01T00:00:00Z\",\"text\":\"{}\"}}", "x".repeat(KEEP_RAW * 2));
        let d = validate(long.as_bytes(), Framing::Ndjson, Limits { max_line: KEEP_RAW }).unwrap();
        assert_eq!(d.rejected[0].raw.len(), KEEP_RAW, "a dead letter keeps a bounded prefix");
        assert!(d.rejected[0].reason.contains("first 16384 are kept"), "{}", d.rejected[0].reason);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &vec![b' '; 10_000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_body(&gz, true, 20_000).unwrap().len(), 10_000);
        assert!(matches!(decode_body(&gz, true, 9_999), Err(BodyError::TooLarge(_))));
        assert!(matches!(decode_body(b"plain", true, 100), Err(BodyError::Malformed(_))));
        assert_eq!(Framing::from_content_type(Some("application/json; charset=utf-8")), Some(Framing::JsonArray));
        assert_eq!(Framing::from_content_type(Some("image/png")), None);
    }
}
