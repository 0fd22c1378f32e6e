//! The printer: stdout carries data (text or JSON), stderr carries progress and logs.
//!
//! Commands hand it one result type that implements both [`Report::text`] and `Serialize`;
//! the printer alone decides the format, colours and what `-q`/`-v` let through. A closed
//! stdout (`stamp render … | head`) is not an error.

use std::io::{self, Write};

use anstream::AutoStream;
use serde::Serialize;

use crate::cli::{ColorChoice, OutputFormat};

pub mod confirm;
pub mod escape;
pub mod table;

/// A command result: one type, two renderings.
pub trait Report: Serialize {
    /// The human rendering, written to stdout.
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;
}

#[derive(Debug, Clone)]
pub struct Printer {
    format: OutputFormat,
    color: anstream::ColorChoice,
    quiet: bool,
    verbose: u8,
    /// One live line per long-running item (a deploying service), only on an interactive
    /// terminal; elsewhere each status change is a plain stderr line, ready for CI logs.
    live: Option<std::sync::Arc<Live>>,
}

#[derive(Debug)]
struct Live {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::BTreeMap<String, indicatif::ProgressBar>>,
}

impl Printer {
    pub fn new(format: OutputFormat, color: ColorChoice, quiet: bool, verbose: u8) -> Self {
        let color = match color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        Self {
            format,
            color,
            quiet,
            verbose,
            live: None,
        }
    }

    /// Turns on live status lines when stderr is an interactive terminal (not CI, not `-q`).
    pub fn with_live_status(mut self) -> Self {
        use std::io::IsTerminal;
        if !self.quiet && io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            self.live = Some(std::sync::Arc::new(Live {
                multi: indicatif::MultiProgress::with_draw_target(
                    indicatif::ProgressDrawTarget::stderr(),
                ),
                bars: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            }));
        }
        self
    }

    /// The current state of a long-running item: a live line on a terminal, else one line.
    pub fn status(&self, key: &str, msg: impl std::fmt::Display) {
        match &self.live {
            Some(live) => live.bar(key).set_message(for_stderr(&msg)),
            None => self.info(format_args!("{key}: {msg}")),
        }
    }

    /// The final state of an item: its live line stops there, or one more plain line.
    pub fn status_done(&self, key: &str, msg: impl std::fmt::Display) {
        match &self.live {
            Some(live) => live.bar(key).finish_with_message(for_stderr(&msg)),
            None => self.info(format_args!("{key}: {msg}")),
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// Whether stdout gets ANSI styles (tables colour states only then).
    pub fn stdout_styled(&self) -> bool {
        match self.color {
            anstream::ColorChoice::Always | anstream::ColorChoice::AlwaysAnsi => true,
            anstream::ColorChoice::Never => false,
            anstream::ColorChoice::Auto => {
                AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
            }
        }
    }

    /// Writes a command's result to stdout in the chosen format.
    pub fn data<R: Report>(&self, report: &R) -> io::Result<()> {
        let mut out = AutoStream::new(io::stdout().lock(), self.color);
        let r = match self.format {
            OutputFormat::Text => {
                // Written whole, then escaped: a colour sequence may span several writes.
                let mut text = Vec::new();
                report.text(&mut text).and_then(|()| {
                    let text = String::from_utf8_lossy(&text);
                    out.write_all(escape::terminal_styled(&text).as_bytes())
                })
            }
            OutputFormat::Json => {
                let mut ser =
                    serde_json::Serializer::with_formatter(&mut out, escape::JsonFormatter::new());
                report
                    .serialize(&mut ser)
                    .map_err(io::Error::from)
                    .and_then(|()| writeln!(out))
            }
        };
        ignore_broken_pipe(r.and_then(|()| out.flush()))
    }

    /// Raw bytes to stdout (rendered task definitions).
    pub fn raw(&self, bytes: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        ignore_broken_pipe(out.write_all(bytes.as_bytes()).and_then(|()| out.flush()))
    }

    /// A progress or status line on stderr (suppressed by `-q`).
    pub fn info(&self, msg: impl std::fmt::Display) {
        if let Some(live) = &self.live {
            // Printed above the live lines so they are not torn.
            let _ = live.multi.println(for_stderr(&msg));
            return;
        }
        if !self.quiet {
            let mut err = AutoStream::new(io::stderr().lock(), self.color);
            let _ = writeln!(err, "{}", for_stderr(&msg));
        }
    }

    /// Detail shown with `-v`.
    pub fn debug(&self, msg: impl std::fmt::Display) {
        if self.verbose > 0 {
            self.info(msg);
        }
    }

    /// An error or warning on stderr: always shown.
    pub fn error(&self, msg: impl std::fmt::Display) {
        if let Some(live) = &self.live {
            let _ = live.multi.println(for_stderr(&msg));
            return;
        }
        let mut err = AutoStream::new(io::stderr().lock(), self.color);
        let _ = writeln!(err, "{}", for_stderr(&msg));
    }
}

impl Live {
    fn bar(&self, key: &str) -> indicatif::ProgressBar {
        let mut bars = self
            .bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        bars.entry(key.to_owned())
            .or_insert_with(|| {
                let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{spinner:.cyan} {prefix:<28} {msg}")
                {
                    bar.set_style(style);
                }
                bar.set_prefix(key.to_owned());
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            })
            .clone()
    }
}

/// Lines longer than this on stderr are cut in the middle (a 50 MB value stays one line).
const STDERR_LINE_LIMIT: usize = 2000;

/// A log or error message as it may reach a terminal: stamp writes no styling into these, so
/// every control character in them came from a value and is escaped; lines are cut.
pub fn for_stderr(msg: &dyn std::fmt::Display) -> String {
    let text = msg.to_string();
    escape::cut_lines(&escape::terminal_lines(&text), STDERR_LINE_LIMIT).into_owned()
}

/// `1 service`, `3 services`: a count and its noun, in the plural it needs.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn ignore_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// ANSI styles used across reports; stripped by the printer when colour is off.
pub mod style {
    use anstyle::{AnsiColor, Style};

    pub const OK: Style = AnsiColor::Green.on_default();
    pub const BAD: Style = AnsiColor::Red.on_default().bold();
    pub const WARN: Style = AnsiColor::Yellow.on_default();
    pub const DIM: Style = Style::new().dimmed();
    pub const BOLD: Style = Style::new().bold();
}
