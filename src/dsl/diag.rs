//! Diagnostics for bad input: where (file:line:column), what, and what to write instead.
//!
//! Every loader and validator pushes into a [`Diagnostics`] list instead of returning at the
//! first problem, so one run reports every mistake of a fleet. Rendering (rustc-style, with the
//! source line and a caret) lives here and nowhere else.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A file's text plus the byte offsets where its lines start, to turn spans into line:column.
#[derive(Debug)]
pub struct SourceFile {
    /// Path as shown to the user: relative to the fleet root, with `/` separators.
    pub path: Arc<str>,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<Arc<str>>, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: u32) -> &str {
        let i = (line as usize).saturating_sub(1);
        let start = self.line_starts.get(i).copied().unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    /// A location for a byte span of this file.
    pub fn loc(&self, span: &std::ops::Range<usize>) -> Loc {
        let (line, column) = self.line_col(span.start);
        Loc {
            file: self.path.clone(),
            line,
            column,
        }
    }

    /// A diagnostic pointing at a byte span, carrying the source line for display.
    pub fn diag(
        &self,
        span: &std::ops::Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        let (line, column) = self.line_col(span.start);
        let text = self.line_text(line);
        let end = span.end.min(self.text.len());
        let width = self
            .text
            .get(span.start..end)
            .map_or(1, |s| s.lines().next().unwrap_or("").chars().count().max(1));
        Diagnostic {
            file: Some(self.path.to_string()),
            line: Some(line),
            column: Some(column),
            message: message.into(),
            hint,
            snippet: Some(Snippet {
                text: text.to_owned(),
                width: to_u32(width),
            }),
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where a value was written: the provenance of everything that comes from a tenant file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl Serialize for Loc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub at: Loc,
}

impl<T> Located<T> {
    pub fn new(value: T, at: Loc) -> Self {
        Self { value, at }
    }
}

/// The source line shown under a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    pub width: u32,
}

/// One problem in the user's input. `file`/`line` are absent only for problems that have no
/// place in a file (a missing `tenants/` folder, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    #[serde(serialize_with = "cut_text")]
    pub message: String,
    #[serde(serialize_with = "cut_hint")]
    pub hint: Option<String>,
    #[serde(skip)]
    pub snippet: Option<Snippet>,
}

/// Messages and hints quote values; one can be a 50 MB line. Shown at most this long.
const MESSAGE_LIMIT: usize = 1000;
/// The source line under a diagnostic: this many characters around the caret.
const SNIPPET_LIMIT: usize = 120;

fn cut_text<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::output::escape::cut_lines(v, MESSAGE_LIMIT))
}

fn cut_hint<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(h) => cut_text(h, s),
        None => s.serialize_none(),
    }
}

/// Text from a file or a value, as it may be shown: escaped, long lines cut.
fn shown(text: &str) -> String {
    use crate::output::escape::{cut_lines, terminal_lines};
    cut_lines(&terminal_lines(text), MESSAGE_LIMIT).into_owned()
}

impl Diagnostic {
    /// A problem with a whole file or with no file at all.
    pub fn general(file: Option<&str>, message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            file: file.map(str::to_owned),
            line: None,
            column: None,
            message: message.into(),
            hint,
            snippet: None,
        }
    }

    /// A problem at a known location whose source text is not at hand.
    pub fn at(loc: &Loc, message: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            file: Some(loc.file.to_string()),
            line: Some(loc.line),
            column: Some(loc.column),
            message: message.into(),
            hint,
            snippet: None,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", shown(&self.message))?;
        let gutter = self.line.map_or(1, |l| l.to_string().len());
        let pad = " ".repeat(gutter);
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(col)) => {
                writeln!(f, "{pad}--> {}:{line}:{col}", shown(file))?;
            }
            (Some(file), _, _) => writeln!(f, "{pad}--> {}", shown(file))?,
            _ => {}
        }
        if let (Some(snip), Some(line), Some(col)) = (&self.snippet, self.line, self.column) {
            let (text, lead, width) = snippet_shown(snip, col);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{line} | {text}")?;
            writeln!(f, "{pad} | {lead}{}", "^".repeat(width))?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "{pad} = hint: {}", shown(hint))?;
        }
        Ok(())
    }
}

/// The source line as shown: a window around the caret, control characters escaped (tabs
/// kept, for the caret to line up); with the caret's lead and width in that text.
fn snippet_shown(snip: &Snippet, col: u32) -> (String, String, usize) {
    use crate::output::escape::{terminal, window};
    let col = col.saturating_sub(1) as usize;
    let (text, at) = window(&snip.text, col, SNIPPET_LIMIT);
    let esc = |s: &str| -> String {
        s.split('\t')
            .map(|p| terminal(p).into_owned())
            .collect::<Vec<_>>()
            .join("\t")
    };
    let before: String = text.chars().take(at).collect();
    let marked: String = text.chars().skip(at).take(snip.width as usize).collect();
    let lead: String = esc(&before)
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = esc(&marked).chars().count().clamp(1, SNIPPET_LIMIT);
    (esc(&text), lead, width)
}

/// Every problem found in one run; reported together, then the run exits with code 2.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Stable order for output: by file, then line, then column, then message.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
        });
        self.0.dedup();
        self
    }
}

impl Diagnostics {
    /// Gives problems found across files (which know only file:line:column) the source line
    /// they point at, read back from disk; only runs on the error path.
    pub fn attach_snippets(&mut self, root: &std::path::Path) {
        let mut cache: std::collections::HashMap<String, Option<SourceFile>> =
            std::collections::HashMap::new();
        for d in &mut self.0 {
            let (Some(file), Some(line), Some(col), None) = (&d.file, d.line, d.column, &d.snippet)
            else {
                continue;
            };
            let src = cache.entry(file.clone()).or_insert_with(|| {
                crate::input::read(root, file, crate::input::Kind::TenantFile)
                    .ok()
                    .map(|t| SourceFile::new(file.as_str(), t))
            });
            if let Some(src) = src {
                let text = src.line_text(line).to_owned();
                let rest: String = text.chars().skip(col.saturating_sub(1) as usize).collect();
                let width = rest
                    .split_whitespace()
                    .next()
                    .map_or(1, |w| w.chars().count().max(1));
                d.snippet = Some(Snippet {
                    text,
                    width: to_u32(width),
                });
            }
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} found; nothing was changed",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Diagnostics {}

/// The closest of `candidates` to `word`, if it is close enough to be what the user meant.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("t.toml", "a = 1\nné = \"x\"\n".to_owned());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        // "né" is 3 bytes: the `=` is the 5th byte of the line but its 4th character.
        assert_eq!(f.line_col(10), (2, 4));
        assert_eq!(f.line_text(2), "né = \"x\"");
    }

    #[test]
    fn display_shows_location_source_line_caret_and_hint() {
        let f = SourceFile::new("tenants/acme.toml", "[tenant]\nregoin = \"x\"\n".to_owned());
        let d = f.diag(
            &(9..15),
            "unknown key `regoin`",
            Some("did you mean `region`?".into()),
        );
        let shown = d.to_string();
        assert!(shown.contains("--> tenants/acme.toml:2:1"), "{shown}");
        assert!(shown.contains("2 | regoin = \"x\""), "{shown}");
        assert!(shown.contains("  | ^^^^^^"), "{shown}");
        assert!(shown.contains("= hint: did you mean `region`?"), "{shown}");
    }

    #[test]
    fn did_you_mean_finds_close_names_only() {
        let keys = ["desired_count", "template", "cpu"];
        assert_eq!(did_you_mean("desired_cont", keys), Some("desired_count"));
        assert_eq!(did_you_mean("Template", keys), Some("template"));
        assert_eq!(did_you_mean("zebra", keys), None);
    }
}
