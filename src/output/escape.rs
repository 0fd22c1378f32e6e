//! Text from files, accounts and arguments made safe to show on a terminal, and cut to size.
//!
//! A value can hold control characters (`account_id = "\u001b[2J"` cleared the screen of
//! whoever ran `validate`), and a line of a tenant file can be 50 MB long. Everything a person
//! reads goes through [`terminal`] (or [`terminal_lines`] for text whose line breaks are
//! stamp's own): control characters (C0, DEL, C1) and the bidirectional overrides that make
//! text read differently from what it is become visible escapes such as `\u{1b}`; stamp's own
//! styling is added around the escaped text, never inside it.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written as `\u{..}`, newlines and tabs included.
pub fn terminal(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like [`terminal`], but line breaks stay line breaks (messages stamp writes on several
/// lines); a carriage return does not, so no line can be overwritten.
pub fn terminal_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let keep = |c: char| keep_newlines && c == '\n';
    if !s.chars().any(|c| unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text stamp wrote for stdout, its own colours included: every control character is escaped
/// as [`terminal_lines`] does, except tabs and the colour sequences (`ESC [ digits m`) that
/// stamp's styles write. A net under the escaping of each value at its print site, for the
/// site that forgets: whatever slips through can colour text, never clear the screen, move
/// the cursor, set the title or rewrite a line.
pub fn terminal_styled(s: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !unsafe_char(c) || c == '\n' || c == '\t' {
            continue;
        }
        if c == '\u{1b}'
            && let Some(len) = colour_sequence(&s[i..])
        {
            while chars.peek().is_some_and(|(j, _)| *j < i + len) {
                chars.next();
            }
            continue;
        }
        out.push_str(&s[copied..i]);
        out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        copied = i + c.len_utf8();
    }
    if copied == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// The length of the SGR sequence `ESC [ (digits|;)* m` at the start of `s`, if it is one.
fn colour_sequence(s: &str) -> Option<usize> {
    let rest = s.strip_prefix("\u{1b}[")?;
    let params = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (rest.as_bytes().get(params) == Some(&b'm')).then_some(2 + params + 1)
}

/// A value shown on a terminal: `format!("{}", Shown(s))` escapes it.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&terminal(self.0))
    }
}

/// At most `max` characters of each line of `s`: a longer line keeps its start and end with
/// `…[N characters cut]…` between them, so a 50 MB line costs a few hundred bytes.
pub fn cut_lines(s: &str, max: usize) -> Cow<'_, str> {
    if s.lines().all(|l| l.len() <= max) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(|l| cut(l, max)).collect();
    Cow::Owned(lines.join("\n"))
}

/// One line cut in the middle to at most `max` characters plus the marker.
pub fn cut(line: &str, max: usize) -> Cow<'_, str> {
    if line.len() <= max {
        return Cow::Borrowed(line);
    }
    let total = line.chars().count();
    if total <= max {
        return Cow::Borrowed(line);
    }
    let head = max * 2 / 3;
    let tail = max - head;
    let start: String = line.chars().take(head).collect();
    let end: String = line.chars().skip(total - tail).collect();
    Cow::Owned(format!(
        "{start}…[{} characters cut]…{end}",
        total - head - tail
    ))
}

/// A window of at most `max` characters of `line` around character `col` (0-based), with a
/// `…` where it was cut: the text, and where `col` falls in it.
pub fn window(line: &str, col: usize, max: usize) -> (String, usize) {
    let total = line.chars().count();
    if total <= max {
        return (line.to_owned(), col);
    }
    let start = col.saturating_sub(max / 3).min(total.saturating_sub(max));
    let mut text: String = line.chars().skip(start).take(max).collect();
    let mut at = col - start.min(col);
    if start > 0 {
        text.insert(0, '…');
        at += 1;
    }
    if start + max < total {
        text.push('…');
    }
    (text, at)
}

/// JSON output for people and programs alike: serde_json escapes C0 controls already; this
/// also escapes DEL, the C1 controls and the bidirectional overrides (JSON allows them raw).
pub struct JsonFormatter(serde_json::ser::PrettyFormatter<'static>);

impl JsonFormatter {
    pub fn new() -> Self {
        Self(serde_json::ser::PrettyFormatter::new())
    }
}

impl Default for JsonFormatter {
    fn default() -> Self {
        Self::new()
    }
}

impl serde_json::ser::Formatter for JsonFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some((i, c)) = rest.char_indices().find(|(_, c)| unsafe_char(*c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(terminal("plain"), Cow::Borrowed("plain"));
        assert_eq!(terminal("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(
            terminal("a\nb\tc\r\u{7f}\u{9b}"),
            "a\\u{a}b\\u{9}c\\u{d}\\u{7f}\\u{9b}"
        );
        assert_eq!(terminal("\u{202e}txt"), "\\u{202e}txt");
        assert_eq!(
            terminal_lines("a\nb\r\u{1b}]0;x\u{7}"),
            "a\nb\\u{d}\\u{1b}]0;x\\u{7}"
        );
        assert_eq!(Shown("é\u{0}").to_string(), "é\\u{0}");
    }

    #[test]
    fn styled_output_keeps_its_colours_and_loses_every_other_control() {
        assert_eq!(
            terminal_styled("plain\n\tline"),
            Cow::Borrowed("plain\n\tline")
        );
        assert_eq!(
            terminal_styled("\u{1b}[1macme\u{1b}[0m \u{1b}[38;5;2mok\u{1b}[m"),
            "\u{1b}[1macme\u{1b}[0m \u{1b}[38;5;2mok\u{1b}[m"
        );
        assert_eq!(
            terminal_styled("a\u{1b}[2Jb\r\u{9b}2J\u{1b}]0;t\u{7}\u{202e}x\u{1b}"),
            "a\\u{1b}[2Jb\\u{d}\\u{9b}2J\\u{1b}]0;t\\u{7}\\u{202e}x\\u{1b}"
        );
    }

    #[test]
    fn long_lines_are_cut_in_the_middle_with_a_marker() {
        let long = format!("start{}end", "x".repeat(1000));
        let c = cut(&long, 30);
        assert!(c.starts_with("startxxxxx") && c.ends_with("xxxend"), "{c}");
        assert!(c.contains("…[978 characters cut]…"), "{c}");
        assert_eq!(cut("short", 30), "short");
        assert_eq!(cut_lines(&format!("a\n{long}"), 30).lines().count(), 2);
        let (w, at) = window(&long, 500, 40);
        assert_eq!(w.chars().count(), 42);
        assert!(w.starts_with('…') && w.ends_with('…'));
        assert_eq!(at, 500 - (500 - 40 / 3) + 1);
        assert_eq!(window("short", 2, 40), ("short".to_owned(), 2));
    }

    #[test]
    fn json_escapes_what_serde_leaves_raw() {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, JsonFormatter::new());
        serde::Serialize::serialize(&["a\u{1b}\u{7f}\u{9b}\u{202e}z"], &mut ser).expect("ser");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text, "[\n  \"a\\u001b\\u007f\\u009b\\u202ez\"\n]");
        let back: Vec<String> = serde_json::from_str(&text).expect("json");
        assert_eq!(back, ["a\u{1b}\u{7f}\u{9b}\u{202e}z"]);
    }
}
