//! `stamp schema [tenant|defaults]`: the JSON Schema of the DSL on stdout. Needs no fleet.

use crate::cli::{SchemaArgs, SchemaFile};
use crate::dsl::schema::{self, Which};
use crate::error::Result;
use crate::output::Printer;

pub(super) fn run(printer: &Printer, args: &SchemaArgs) -> Result<()> {
    let which = match args.file {
        SchemaFile::Tenant => Which::Tenant,
        SchemaFile::Defaults => Which::Defaults,
    };
    Ok(printer.raw(&schema::text(which))?)
}
