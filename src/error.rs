//! The one place that turns a failure into what the user reads and the process exit code.

use std::fmt;

use crate::dsl::Diagnostics;

/// How a command failed. Variants hold data; the wording lives in `Display`.
#[derive(Debug)]
pub enum Failure {
    /// Bad tenant files or templates: every problem, with file and line. Exit 2.
    Input(Diagnostics),
    /// A bad argument. Exit 2.
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// An operation that was attempted and did not succeed. Exit 1.
    Failed(anyhow::Error),
    /// Already reported in full on stdout/stderr (a validate or plan with problems); exit code only.
    Reported(u8),
}

impl Failure {
    pub fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Self::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) | Self::Usage { .. } => 2,
            Self::Failed(_) => 1,
            Self::Reported(code) => *code,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(d) => write!(f, "{d}"),
            Self::Usage { message, hint } => {
                write!(f, "error: {message}")?;
                if let Some(h) = hint {
                    write!(f, "\n  = hint: {h}")?;
                }
                Ok(())
            }
            Self::Failed(e) => match e.downcast_ref::<Hinted>() {
                Some(h) => write!(f, "error: {}\n  = hint: {}", h.message, h.hint),
                None => write!(f, "error: {e:#}"),
            },
            Self::Reported(_) => Ok(()),
        }
    }
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Self {
        Self::Input(d)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self::Failed(e.into())
    }
}

/// A failure and what to do about it, carried through `anyhow` to the one place that prints
/// it, where the hint gets its own line.
#[derive(Debug, thiserror::Error)]
#[error("{message}; hint: {hint}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// The message a panic carried, if it is text: what a worker's report says when it died.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}
