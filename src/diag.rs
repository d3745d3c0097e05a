//! Configuration diagnostics: an error with the file, 1-based line and column (in
//! characters) and a reason, rendered rustc-style. Every config loader collects all of its
//! diagnostics before reporting, so one `check` run shows every problem.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// What is wrong, lowercase, identifiers in backticks.
    pub message: String,
    /// The offending source line, for the excerpt.
    pub excerpt: String,
}

impl Diagnostic {
    /// A diagnostic at byte offset range `span` of `text`.
    pub fn at(path: &Path, text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        let start = span.map_or(0, |s| s.start.min(text.len()));
        let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[..start].matches('\n').count() + 1;
        let col = text[line_start..start].chars().count() + 1;
        let excerpt = text[line_start..].lines().next().unwrap_or("").to_string();
        Diagnostic { path: path.to_path_buf(), line, col, message: message.into(), excerpt }
    }

    /// A diagnostic about a whole file (unreadable, missing).
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic { path: path.to_path_buf(), line: 1, col: 1, message: message.into(), excerpt: String::new() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        write!(f, "  --> {}:{}:{}", self.path.display(), self.line, self.col)?;
        if !self.excerpt.is_empty() {
            let n = self.line.to_string();
            let pad = " ".repeat(n.len());
            write!(f, "\n{pad} |\n{n} | {}\n{pad} | {}^", self.excerpt, " ".repeat(self.col - 1))?;
        }
        Ok(())
    }
}

/// Where the diagnostics point: the file and its text.
pub struct Source<'a> {
    /// The file.
    pub path: &'a Path,
    /// Its text (spans are byte offsets into it).
    pub text: &'a str,
}

impl Source<'_> {
    /// A diagnostic at `span`.
    pub fn at(&self, span: Range<usize>, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.path, self.text, Some(span), msg)
    }

    /// An optional value parsed by `parse`, or `default`; a value that does not parse is
    /// reported at its position as `{label}: {error}` and counts as `default`.
    pub fn parsed<T, E: fmt::Display>(
        &self,
        errs: &mut Vec<Diagnostic>,
        v: &Option<toml::Spanned<String>>,
        label: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> T {
        match v {
            None => default,
            Some(s) => parse(s.get_ref()).unwrap_or_else(|e| {
                errs.push(self.at(s.span(), format!("{label}: {e}")));
                default
            }),
        }
    }
}

/// All diagnostics of one load, as an error.
#[derive(Debug, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        write!(f, "{} error(s)", self.0.len())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_character_column() {
        let text = "a = 1\nname = \"אקמה\" x\n";
        let off = text.find('x').unwrap();
        let d = Diagnostic::at(Path::new("r.toml"), text, Some(off..off + 1), "bad");
        assert_eq!((d.line, d.col), (2, 15));
        assert!(d.to_string().contains("--> r.toml:2:15"));
    }
}
