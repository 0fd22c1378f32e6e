//! The printer: stdout carries data (text or JSON), stderr carries progress and logs.
//!
//! Commands hand it one result type that implements both [`Report::text`] and `Serialize`;
//! the printer alone decides the format, colours and what `-q`/`-v` let through. A closed
//! stdout (`stamp render … | head`) is not an error.

use std::io::{self, Write};

use anstream::AutoStream;
use serde::Serialize;

use crate::cli::{ColorChoice, OutputFormat};

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
            OutputFormat::Text => report.text(&mut out),
            OutputFormat::Json => serde_json::to_writer_pretty(&mut out, report)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out)),
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
        if !self.quiet {
            let mut err = AutoStream::new(io::stderr().lock(), self.color);
            let _ = writeln!(err, "{msg}");
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
        let mut err = AutoStream::new(io::stderr().lock(), self.color);
        let _ = writeln!(err, "{msg}");
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
