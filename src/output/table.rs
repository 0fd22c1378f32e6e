//! Plain tables for text output: aligned columns, no borders, nothing wraps when piped.

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};

/// A borderless table with a header row. `styled` comes from the printer: colours only on a
/// terminal (or with `--color always`), so piped output stays plain text.
pub fn new(header: &[&str], styled: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if styled {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(
        header
            .iter()
            .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
    );
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t
}

/// A cell for any text: control characters are escaped (values come from files and
/// accounts), the table's own colours are added around it.
pub fn cell(text: impl AsRef<str>) -> Cell {
    Cell::new(super::escape::terminal(text.as_ref()))
}

/// A row of plain cells.
pub fn row<S: AsRef<str>>(texts: impl IntoIterator<Item = S>) -> Vec<Cell> {
    texts.into_iter().map(cell).collect()
}

/// A cell coloured by meaning (good, bad, attention).
pub fn state(text: &str, tone: Tone) -> Cell {
    let c = cell(text);
    match tone {
        Tone::Good => c.fg(Color::Green),
        Tone::Bad => c.fg(Color::Red).add_attribute(Attribute::Bold),
        Tone::Attention => c.fg(Color::Yellow),
        Tone::Plain => c,
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Good,
    Bad,
    Attention,
    Plain,
}

/// The table as text, without the trailing spaces of the last column.
pub fn render(t: &Table) -> String {
    let mut s = String::new();
    for line in t.lines() {
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}
