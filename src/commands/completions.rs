//! `stamp completions SHELL`: the shell's registration script on stdout. Needs no fleet; the
//! names it completes are read when the shell asks (`crate::complete`).

use crate::cli::{CompletionsArgs, Shell};
use crate::error::Result;
use crate::output::Printer;

pub(super) fn run(printer: &Printer, args: &CompletionsArgs) -> Result<()> {
    let shell = match args.shell {
        Shell::Bash => "bash",
        Shell::Zsh => "zsh",
        Shell::Fish => "fish",
        Shell::Powershell => "powershell",
        Shell::Elvish => "elvish",
    };
    let mut script = Vec::new();
    crate::complete::registration(shell, &mut script)?;
    Ok(printer.raw(&String::from_utf8_lossy(&script))?)
}
