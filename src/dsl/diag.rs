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
            width: to_u32(self.width(span)),
        }
    }

    /// How many characters of a span's first line a caret underlines (at least one).
    fn width(&self, span: &std::ops::Range<usize>) -> usize {
        let end = span.end.min(self.text.len());
        self.text
            .get(span.start..end)
            .map_or(1, |s| s.lines().next().unwrap_or("").chars().count().max(1))
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
        let width = to_u32(self.width(span));
        Diagnostic {
            caret: Box::new(Caret {
                focus: None,
                width: Some(width),
                snippet: Some(Snippet {
                    text: text.to_owned(),
                    width,
                }),
            }),
            ..Diagnostic::new(
                Some(self.path.to_string()),
                Some((line, column)),
                message.into(),
                hint,
            )
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
    /// Characters the written key or value spans on its line: what a caret underlines.
    pub width: u32,
}

impl Loc {
    /// The start of a file, for problems with a file as a whole that still want a line.
    pub fn top(file: Arc<str>) -> Self {
        Self {
            file,
            line: 1,
            column: 1,
            width: 1,
        }
    }
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

/// A tenant a problem stops, with its account when the problem was found in the account, and
/// what its own instance of the problem measured when that differs from tenant to tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Affected {
    pub tenant: String,
    pub account_id: Option<String>,
    /// `90176 bytes` for a task definition over ECS's size limit.
    pub detail: Option<String>,
}

impl fmt::Display for Affected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra: Vec<String> = self
            .account_id
            .iter()
            .map(|a| format!("account {a}"))
            .chain(self.detail.clone())
            .collect();
        if extra.is_empty() {
            f.write_str(&self.tenant)
        } else {
            write!(f, "{} ({})", self.tenant, extra.join(", "))
        }
    }
}

/// One problem, worded once: where (file, line, column), what, what to do, and which tenants it
/// stops. Every command reports problems of input and of tenant accounts through this type, so
/// text and JSON carry the same details. `file`/`line` are absent only for problems that have
/// no place in a file (a missing `tenants/` folder, an account that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    #[serde(serialize_with = "cut_text")]
    pub message: String,
    #[serde(serialize_with = "cut_hint")]
    pub hint: Option<String>,
    /// Every tenant the problem stops, sorted. One cause shared by many tenants (a template
    /// line, a value in `_defaults.toml`) is one diagnostic naming them all; empty for a
    /// problem of no tenant in particular (a project setting, an unreadable folder).
    pub tenants: Vec<Affected>,
    /// Where the caret goes: for people only, never in JSON.
    #[serde(skip)]
    caret: Box<Caret>,
}

/// How a diagnostic points into its source line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Caret {
    /// The text of the located line the problem is about (a time inside a window, a parameter
    /// name inside a value form): the caret goes under it rather than under the whole value.
    focus: Option<String>,
    /// How many characters the caret underlines, when the span is known.
    width: Option<u32>,
    /// The source line, once read.
    snippet: Option<Snippet>,
}

/// Messages and hints quote values; one can be a 50 MB line. Shown at most this long.
const MESSAGE_LIMIT: usize = 1000;
/// The source line under a diagnostic: this many characters around the caret.
const SNIPPET_LIMIT: usize = 240;

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
    /// The source line with the value under the caret shown as `"…"`: for a value that is a
    /// secret (a webhook URL), which must not reach a CI log by way of an error.
    pub fn masked(mut self) -> Self {
        if let (Some(snip), Some(col)) = (&mut self.caret.snippet, self.column) {
            let before: String = snip
                .text
                .chars()
                .take(col.saturating_sub(1) as usize)
                .collect();
            snip.text = format!("{before}\"…\"");
            snip.width = 3;
            self.caret.width = Some(3);
        }
        self
    }

    fn new(
        file: Option<String>,
        pos: Option<(u32, u32)>,
        message: String,
        hint: Option<String>,
    ) -> Self {
        Self {
            file,
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message,
            hint,
            tenants: Vec::new(),
            caret: Box::default(),
        }
    }

    /// A problem with a whole file or with no file at all.
    pub fn general(file: Option<&str>, message: impl Into<String>, hint: Option<String>) -> Self {
        Self::new(file.map(str::to_owned), None, message.into(), hint)
    }

    /// A problem at a known location whose source text is not at hand.
    pub fn at(loc: &Loc, message: impl Into<String>, hint: Option<String>) -> Self {
        let mut d = Self::new(
            Some(loc.file.to_string()),
            Some((loc.line, loc.column)),
            message.into(),
            hint,
        );
        d.caret.width = Some(loc.width);
        d
    }

    /// Underlines `text` where it is written at or after the location (if it is there).
    #[must_use]
    pub fn focus(mut self, text: impl Into<String>) -> Self {
        self.caret.focus = Some(text.into());
        self
    }

    /// The problem stops this tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.add_tenant(tenant);
        self
    }

    /// The problem stops this tenant (as [`Diagnostic::tenant`], in place).
    pub fn add_tenant(&mut self, tenant: &str) {
        self.tenants.push(Affected {
            tenant: tenant.to_owned(),
            account_id: None,
            detail: None,
        });
    }

    /// The problem stops this tenant, where it measured `detail`.
    #[must_use]
    pub fn tenant_detail(mut self, tenant: &str, detail: Option<String>) -> Self {
        self.tenants.push(Affected {
            tenant: tenant.to_owned(),
            account_id: None,
            detail,
        });
        self
    }

    /// The problem stops this tenant, and its account is part of it: found in the account,
    /// or a setting that names another.
    #[must_use]
    pub fn account(mut self, tenant: &str, account_id: &str) -> Self {
        self.tenants.push(Affected {
            tenant: tenant.to_owned(),
            account_id: Some(account_id.to_owned()),
            detail: None,
        });
        self
    }

    /// Same place, same words, same advice: one cause, whichever tenants it stops.
    fn same_cause(&self, other: &Self) -> bool {
        (
            &self.file,
            self.line,
            self.column,
            &self.message,
            &self.hint,
        ) == (
            &other.file,
            other.line,
            other.column,
            &other.message,
            &other.hint,
        )
    }

    /// `= affects …`, unless the location already says it (one tenant's own file).
    fn affects(&self) -> Option<String> {
        /// Enough names to recognise the set; the count says the rest.
        const SHOWN: usize = 5;
        let own_file = |a: &Affected| {
            a.account_id.is_none()
                && a.detail.is_none()
                && self.file.as_deref() == Some(&format!("tenants/{}.toml", a.tenant))
        };
        match self.tenants.as_slice() {
            [] => None,
            [one] if own_file(one) => None,
            [one] => Some(format!("affects tenant {one}")),
            many => {
                let names: Vec<String> = many.iter().take(SHOWN).map(ToString::to_string).collect();
                let more = match many.len().saturating_sub(SHOWN) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                Some(format!(
                    "affects {} tenants: {}{more}",
                    many.len(),
                    names.join(", ")
                ))
            }
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
        if let (Some(snip), Some(line), Some(col)) = (&self.caret.snippet, self.line, self.column) {
            let (text, lead, width) = snippet_shown(snip, col);
            writeln!(f, "{pad} |")?;
            writeln!(f, "{line} | {text}")?;
            writeln!(f, "{pad} | {lead}{}", "^".repeat(width))?;
        }
        if let Some(affects) = self.affects() {
            writeln!(f, "{pad} = {}", shown(&affects))?;
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

    /// Stable order for output (by file, line, column, message), each cause once: problems at
    /// the same place with the same words are one problem naming every tenant they stop.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.message, &a.hint)
                .cmp(&(&b.file, b.line, b.column, &b.message, &b.hint))
        });
        let mut out: Vec<Diagnostic> = Vec::with_capacity(self.0.len());
        for d in self.0 {
            match out.last_mut() {
                Some(last) if last.same_cause(&d) => last.tenants.extend(d.tenants),
                _ => out.push(d),
            }
        }
        for d in &mut out {
            d.tenants.sort();
            d.tenants.dedup();
        }
        Self(out)
    }

    /// Gives problems found across files (which know only file:line:column) the source line
    /// they point at, read back from disk; only runs on the error path. A problem's `focus`
    /// moves the caret onto that text.
    pub fn attach_snippets(&mut self, root: &std::path::Path) {
        let mut cache: std::collections::HashMap<String, Option<SourceFile>> =
            std::collections::HashMap::new();
        for d in &mut self.0 {
            let (Some(file), Some(line), Some(col), None) =
                (&d.file, d.line, d.column, &d.caret.snippet)
            else {
                continue;
            };
            let src = cache.entry(file.clone()).or_insert_with(|| {
                crate::input::read(root, file, crate::input::Kind::TenantFile)
                    .ok()
                    .map(|t| SourceFile::new(file.as_str(), t))
            });
            let Some(src) = src else {
                continue;
            };
            let text = src.line_text(line).to_owned();
            let skip = col.saturating_sub(1) as usize;
            let rest: String = text.chars().skip(skip).collect();
            let focused = d
                .caret
                .focus
                .as_deref()
                .filter(|f| !f.is_empty())
                .and_then(|f| {
                    let at = rest.find(f)?;
                    Some((skip + rest[..at].chars().count(), f.chars().count()))
                });
            let width = match (focused, d.caret.width) {
                (Some((at, width)), _) => {
                    d.column = Some(to_u32(at + 1));
                    width
                }
                (None, Some(w)) => w as usize,
                // Nothing known about the span: the word at the column.
                (None, None) => rest
                    .split_whitespace()
                    .next()
                    .map_or(1, |w| w.chars().count().max(1)),
            };
            d.caret.snippet = Some(Snippet {
                text,
                width: to_u32(width),
            });
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
    fn problems_at_one_place_with_one_wording_are_one_naming_every_tenant() {
        let f = SourceFile::new(
            "templates/w.json.j2",
            "{{ service.vars.queu }}\n".to_owned(),
        );
        let one = |t: &str| {
            f.diag(&(3..20), "`service.vars.queu` is undefined", None)
                .tenant(t)
        };
        let other = f.diag(&(0..2), "something else", None).tenant("acme");
        let d = Diagnostics(vec![
            one("umbrella"),
            other,
            one("acme"),
            one("globex"),
            one("acme"),
        ])
        .sorted();
        assert_eq!(d.len(), 2, "{d}");
        let names: Vec<&str> = d.0[1].tenants.iter().map(|a| a.tenant.as_str()).collect();
        assert_eq!(names, ["acme", "globex", "umbrella"]);
        assert!(
            d.to_string()
                .contains("= affects 3 tenants: acme, globex, umbrella"),
            "{d}"
        );
    }

    #[test]
    fn a_long_list_of_tenants_is_counted_not_spelt_out() {
        let mut d = Diagnostic::general(Some("templates/a.json.j2"), "broken", None);
        for i in 0..1000 {
            d.add_tenant(&format!("t{i:04}"));
        }
        assert!(
            d.to_string()
                .contains("= affects 1000 tenants: t0000, t0001, t0002, t0003, t0004 and 995 more"),
            "{d}"
        );
    }

    #[test]
    fn a_tenants_own_file_needs_no_affects_line_but_its_account_does() {
        let loc = Loc::top("tenants/acme.toml".into());
        let own = Diagnostic::at(&loc, "x", None).tenant("acme");
        assert!(!own.to_string().contains("affects"), "{own}");
        let account = Diagnostic::at(&loc, "x", None).account("acme", "111111111111");
        assert!(
            account
                .to_string()
                .contains("= affects tenant acme (account 111111111111)"),
            "{account}"
        );
    }

    #[test]
    fn a_focus_puts_the_caret_under_its_text_and_moves_the_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("tenants")).expect("mkdir");
        let text = "windows  = [\"Sat 22:00-26:00\"]\n";
        std::fs::write(dir.path().join("tenants/initech.toml"), text).expect("write");
        let src = SourceFile::new("tenants/initech.toml", text.to_owned());
        let loc = src.loc(&(12..29));
        let mut d = Diagnostics(vec![
            Diagnostic::at(&loc, "time `26:00` is out of range", None).focus("26:00"),
            Diagnostic::at(&loc, "the whole value", None),
        ]);
        d.attach_snippets(dir.path());
        let shown = d.to_string();
        assert_eq!(d.0[0].column, Some(24), "{shown}");
        assert!(
            shown.contains("\n  |                        ^^^^^\n"),
            "{shown}"
        );
        // Without a focus, the caret spans what was written: the whole quoted value.
        assert!(
            shown.contains("\n  |             ^^^^^^^^^^^^^^^^^\n"),
            "{shown}"
        );
    }

    #[test]
    fn did_you_mean_finds_close_names_only() {
        let keys = ["desired_count", "template", "cpu"];
        assert_eq!(did_you_mean("desired_cont", keys), Some("desired_count"));
        assert_eq!(did_you_mean("Template", keys), Some("template"));
        assert_eq!(did_you_mean("zebra", keys), None);
    }
}
