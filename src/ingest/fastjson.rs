//! A fast path for parsing the common mention line: one flat JSON object whose strings
//! have no escapes. It validates everything it reads (JSON grammar of every value, skipped
//! ones included, UTF-8 of every string, integer ranges) and returns `None` whenever a line
//! is anything else (escapes, duplicate fields, a wrong type, odd nesting), so the caller
//! falls back to serde_json, which then accepts the line or reports the precise error. The
//! fast path may therefore be stricter than serde_json but never more lenient; the tests
//! check that on valid lines and on many corrupted ones.

use super::mention::{RawMention, Str};
use std::borrow::Cow;

const MAX_DEPTH: u32 = 64;

struct Cursor<'a> {
    /// The whole line, validated as UTF-8 once: string values are slices of it.
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes, borrowed; `None` on escapes, control characters or bad UTF-8.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = &self.b[start..];
        // control characters were ruled out for the whole line in `parse_plain`; most values
        // are short, where a plain scan beats the SIMD search's setup
        let len = find_quote_or_backslash(rest)?;
        if rest[len] != b'"' {
            return None; // an escape: leave it to serde_json
        }
        self.i = start + len + 1;
        // both ends sit next to an ASCII quote, so they are character boundaries
        self.s.get(start..start + len)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A JSON number's text (grammar checked).
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        self.s.get(start..self.i)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// Skips any JSON value, checking its grammar.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    if self.eat(b',').is_none() {
                        return self.eat(b'}');
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_value(depth + 1)?;
                    self.ws();
                    if self.eat(b',').is_none() {
                        return self.eat(b']');
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    /// Skips a string, allowing simple escapes (not `\u`, whose surrogate rules serde_json
    /// enforces; such lines take the slow path).
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => match self.peek()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => {}
            }
        }
        Some(())
    }

    fn opt_string(&mut self) -> Option<Option<Str<'a>>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        Some(Some(Str(Cow::Borrowed(self.plain_string()?))))
    }

    fn opt_u64(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let t = self.number()?;
        // serde_json rejects floats and negatives for u64 fields: leave those to it
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok().map(Some)
    }

    fn opt_f64(&mut self) -> Option<Option<f64>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let v: f64 = self.number()?.parse().ok()?;
        v.is_finite().then_some(Some(v))
    }
}

/// Position of the first `"` or `\\`, eight bytes at a time (SWAR: most values are short,
/// where this beats a SIMD search's setup cost).
fn find_quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const SLASH: u64 = LO * b'\\' as u64;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let (q, s) = (x ^ QUOTE, x ^ SLASH);
        // a zero byte in q or s marks a match; the lowest flagged byte is exact
        let m = (q.wrapping_sub(LO) & !q | s.wrapping_sub(LO) & !s) & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'"' || c == b'\\').map(|p| i + p)
}

/// Parses a plain mention line, or returns `None` to send it to serde_json.
pub fn parse_plain(line: &[u8]) -> Option<RawMention<'_>> {
    // a control character is only legal as whitespace between tokens, which plain lines do
    // not use: one vectorised pass here spares a check in every string
    if line.iter().fold(false, |acc, &c| acc | (c < 0x20)) {
        return None;
    }
    let text = simdutf8::basic::from_utf8(line).ok()?;
    let mut c = Cursor { s: text, b: line, i: 0 };
    let (mut id, mut ts, mut text) = (None, None, None);
    let mut m = RawMention {
        id: Cow::Borrowed(""),
        ts: Cow::Borrowed(""),
        text: Cow::Borrowed(""),
        brand: None,
        lang: None,
        source: None,
        author: None,
        author_followers: None,
        url: None,
        sentiment: None,
        shares: None,
        reply_to: None,
        shared_of: None,
    };
    // which optional fields were seen, to refuse duplicates as serde_json does
    let mut seen: u16 = 0;
    c.ws();
    c.eat(b'{')?;
    c.ws();
    if c.peek()? == b'}' {
        return None;
    }
    loop {
        c.ws();
        let key = c.plain_string()?;
        c.ws();
        c.eat(b':')?;
        c.ws();
        let bit = |n: u16, seen: &mut u16| -> Option<()> {
            if *seen & (1 << n) != 0 {
                return None;
            }
            *seen |= 1 << n;
            Some(())
        };
        match key {
            "id" => {
                bit(0, &mut seen)?;
                id = Some(c.plain_string()?);
            }
            "ts" => {
                bit(1, &mut seen)?;
                ts = Some(c.plain_string()?);
            }
            "text" => {
                bit(2, &mut seen)?;
                text = Some(c.plain_string()?);
            }
            "brand" => {
                bit(3, &mut seen)?;
                m.brand = c.opt_string()?;
            }
            "lang" => {
                bit(4, &mut seen)?;
                m.lang = c.opt_string()?;
            }
            "source" => {
                bit(5, &mut seen)?;
                m.source = c.opt_string()?;
            }
            "author" => {
                bit(6, &mut seen)?;
                m.author = c.opt_string()?;
            }
            "author_followers" => {
                bit(7, &mut seen)?;
                m.author_followers = c.opt_u64()?;
            }
            "url" => {
                bit(8, &mut seen)?;
                m.url = c.opt_string()?;
            }
            "sentiment" => {
                bit(9, &mut seen)?;
                m.sentiment = c.opt_f64()?;
            }
            "shares" => {
                bit(10, &mut seen)?;
                m.shares = c.opt_u64()?;
            }
            "reply_to" => {
                bit(11, &mut seen)?;
                m.reply_to = c.opt_string()?;
            }
            "shared_of" => {
                bit(12, &mut seen)?;
                m.shared_of = c.opt_string()?;
            }
            _ => c.skip_value(1)?,
        }
        c.ws();
        if c.eat(b',').is_none() {
            c.eat(b'}')?;
            break;
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    m.id = Cow::Borrowed(id?);
    m.ts = Cow::Borrowed(ts?);
    m.text = Cow::Borrowed(text?);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::super::mention::RawMention;
    use super::*;

    fn serde(line: &[u8]) -> Option<RawMention<'_>> {
        serde_json::from_slice(line).ok()
    }

    /// Whenever the fast path accepts a line, serde_json accepts it too, with equal fields.
    fn check(line: &[u8]) {
        if let Some(fast) = parse_plain(line) {
            let slow = serde(line).unwrap_or_else(|| {
                panic!("fast path accepted what serde rejects: {:?}", String::from_utf8_lossy(line))
            });
            assert!(fast == slow, "{:?}", String::from_utf8_lossy(line));
        }
    }

    const GOOD: &[&str] = &[
        r#"{"id":"tw:1","ts":"2026-01-05T10:00:00Z","text":"Acme is down","brand":"acme","author_followers":999,"sentiment":-0.8}"#,
        r#" { "id" : "x" , "ts":"2026-01-05T10:00:00Z", "text":"שלום עולם 🙂", "lang":null, "extra":{"a":[1,2.5e3,true,false,null,{"b":"c\"d"}]}, "shares":0 } "#,
        r#"{"text":"","ts":"2026-01-05T10:00:00Z","id":"y","shared_of":"x","reply_to":null,"url":"https://e.com/a?b=c","sentiment":1}"#,
        r#"{"id":"z","ts":"t","text":"a","sentiment":-1.0E-2,"likes":12,"comments":[]}"#,
        // more digits than an f64 holds: both paths round correctly (serde_json's
        // `float_roundtrip`), found by the `mention_parse` fuzz target
        r#"{"id":"","ts":"t","text":"a","sentiment":-0.6666666666666666668,"hars":3}"#,
    ];

    #[test]
    fn quote_search_matches_a_plain_scan() {
        let mut x = 7u64;
        for len in 0..48 {
            for _ in 0..300 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                        [b'a', b'"', b'\\', b'#', b']', 0x80, 0xa2, 0xdc, 0xff, b'!', 0x21, 0x5d]
                            [(x >> 60) as usize % 12]
                    })
                    .collect();
                let want = bytes.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(super::find_quote_or_backslash(&bytes), want, "{bytes:?}");
            }
        }
    }

    #[test]
    fn agrees_with_serde_on_valid_lines() {
        for line in GOOD {
            let fast = parse_plain(line.as_bytes()).unwrap_or_else(|| panic!("fast path refused {line}"));
            assert!(fast == serde(line.as_bytes()).unwrap(), "{line}");
        }
    }

    #[test]
    fn never_more_lenient_than_serde() {
        let tricky: &[&[u8]] = &[
            br#"{"id":"a","ts":"t","text":"x","id":"b"}"#,
            br#"{"id":"a","ts":"t","text":"x",}"#,
            br#"{"id":"a","ts":"t","text":"x"} x"#,
            br#"{"id":"a","ts":"t","text":"x","author_followers":-1}"#,
            br#"{"id":"a","ts":"t","text":"x","author_followers":1.5}"#,
            br#"{"id":"a","ts":"t","text":"x","author_followers":99999999999999999999999}"#,
            br#"{"id":"a","ts":"t","text":"x","sentiment":01}"#,
            br#"{"id":"a","ts":"t","text":"x","sentiment":1.}"#,
            br#"{"id":"a","ts":"t","text":"x","sentiment":"1"}"#,
            br#"{"id":"a","ts":"t","text":null}"#,
            br#"{"id":"a","ts":"t"}"#,
            br#"{"id":"a","ts":"t","text":"x","z":[1,]}"#,
            br#"{"id":"a","ts":"t","text":"x","z":tru}"#,
            br#"{"id":"a","ts":"t","text":"x","z":"\x"}"#,
            b"{\"id\":\"a\",\"ts\":\"t\",\"text\":\"\xff\"}",
            b"{\"id\":\"a\",\"ts\":\"t\",\"text\":\"a\tb\"}",
            br#"{"id":"a","ts":"t","text":"x\"y"}"#,
            br#"{}"#,
            br#"[]"#,
        ];
        for line in tricky {
            check(line);
        }
        // every single-byte corruption of the valid lines
        for line in GOOD {
            let b = line.as_bytes();
            for i in 0..b.len() {
                for rep in [b'"', b'{', b'}', b',', b':', b'1', b'\\', b'x', b' ', 0xC3, b'-', b'.', b'e'] {
                    let mut m = b.to_vec();
                    m[i] = rep;
                    check(&m);
                }
                let mut m = b.to_vec();
                m.remove(i);
                check(&m);
            }
        }
    }
}

#[cfg(test)]
mod coverage {
    /// The simulator's lines all take the fast path.
    #[test]
    fn simulated_lines_take_the_fast_path() {
        let mut out = Vec::new();
        let opts = crate::cmd::simulate::SimOptions { days: 1, brands: 3, ..Default::default() };
        crate::cmd::simulate::simulate(&opts, &mut out).unwrap();
        let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let fast = lines.iter().filter(|l| super::parse_plain(l).is_some()).count();
        assert_eq!(
            fast,
            lines.len(),
            "{:?}",
            lines.iter().find(|l| super::parse_plain(l).is_none()).map(|l| String::from_utf8_lossy(l))
        );
    }
}
