//! Whether a person can be asked to confirm a write, and if not, why not: one answer, worded
//! once, for every command that asks.

use std::io::IsTerminal;

/// Why no confirmation can be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoConfirm {
    /// `CI` is set: a CI system may run steps on a pseudo-terminal, but nobody answers there.
    Ci(String),
    /// Input comes from a pipe or a file.
    StdinNotATerminal,
    /// The question would go to a pipe or a file, unseen.
    StderrNotATerminal,
}

impl std::fmt::Display for NoConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoConfirm::Ci(value) => write!(
                f,
                "no confirmation can be asked: CI is set (CI={value}), so nobody is there to answer"
            ),
            NoConfirm::StdinNotATerminal => {
                f.write_str("no confirmation can be asked: stdin is not a terminal")
            }
            NoConfirm::StderrNotATerminal => f.write_str(
                "no confirmation can be asked: stderr, where the question goes, is not a terminal",
            ),
        }
    }
}

/// `Ok` when a person at a terminal can answer a y/N question on stderr.
pub fn can_confirm() -> Result<(), NoConfirm> {
    if let Some(ci) = std::env::var_os("CI") {
        return Err(NoConfirm::Ci(ci.to_string_lossy().into_owned()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(NoConfirm::StdinNotATerminal);
    }
    if !std::io::stderr().is_terminal() {
        return Err(NoConfirm::StderrNotATerminal);
    }
    Ok(())
}
