//! stamp: deploys one containerised application into many customer AWS accounts.
//!
//! The pipeline is `dsl` (load, check) → `resolve` (precedence, provenance) → `render`
//! (task definitions); `commands` wire it to the command line through `output`.

pub mod audit;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod dsl;
pub mod error;
pub mod fleet;
pub mod http;
pub mod infra;
pub mod input;
pub mod output;
pub mod plan;
pub mod render;
pub mod resolve;
pub mod schedule;
pub mod vcs;

use std::process::ExitCode;

use clap::Parser;

/// Parses the process arguments, runs the command and returns the exit code.
pub fn run() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap's --help/--version are not errors; usage errors are exit code 2.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let shown = output::for_stderr(&f);
            if !shown.is_empty() {
                eprintln!("{shown}");
            }
            ExitCode::from(f.exit_code())
        }
    }
}
