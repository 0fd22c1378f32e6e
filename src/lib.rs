//! stamp: deploys one containerised application into many customer AWS accounts.
//!
//! The pipeline is `dsl` (load, check) → `resolve` (precedence, provenance) → `render`
//! (task definitions); `commands` wire it to the command line through `output`.

pub mod audit;
pub mod aws;
pub mod bootstrap;
pub mod cli;
pub mod commands;
pub mod complete;
pub mod dsl;
pub mod duration;
pub mod error;
pub mod fleet;
pub mod http;
pub mod infra;
pub mod input;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod resolve;
pub mod rollout;
pub mod schedule;
pub mod vcs;

use std::process::ExitCode;

/// Counts what a template render allocates, so a runaway render ends in a clear error
/// (exit 2) instead of gigabytes or an abort (`render::budget`).
#[global_allocator]
static ALLOCATOR: render::budget::Counting = render::budget::Counting;

use clap::{CommandFactory, FromArgMatches};

/// Parses the process arguments, runs the command and returns the exit code.
pub fn run() -> ExitCode {
    // The shell asking for completions (STAMP_COMPLETE set): answer and stop.
    match complete::answer_if_asked() {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    }
    let parsed = cli::Cli::command()
        .try_get_matches()
        .and_then(|m| Ok((cli::Cli::from_arg_matches(&m)?, subcommand_path(&m))));
    let (cli, path) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            // clap's --help/--version are not errors; usage errors are exit code 2.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match commands::run(cli, path) {
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

/// `["infra", "plan"]` for `stamp infra plan …`: which command runs, as clap names it.
fn subcommand_path(m: &clap::ArgMatches) -> Vec<String> {
    let mut path = Vec::new();
    let mut at = m;
    while let Some((name, sub)) = at.subcommand() {
        path.push(name.to_owned());
        at = sub;
    }
    path
}
