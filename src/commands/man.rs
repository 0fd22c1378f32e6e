//! `stamp man`: man pages from the command-line definition (clap_mangen). Needs no fleet.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{Failure, Result};
use crate::output::Printer;

pub(super) fn run(printer: &Printer, args: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = &args.out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        return Ok(printer.raw(&String::from_utf8_lossy(&page))?);
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::usage(
            format!("cannot create `{}`: {e}", dir.display()),
            Some("name a folder you can write to, e.g. `--out-dir man/`".to_owned()),
        )
    })?;
    clap_mangen::generate_to(cmd, dir)?;
    let pages = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("stamp") && n.ends_with(".1"))
        .count();
    printer.info(format_args!("wrote {pages} man pages to {}", dir.display()));
    Ok(())
}
