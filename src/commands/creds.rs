//! `stamp creds T [--role inspect|deploy]`: a tenant's credentials as the `credential_process`
//! JSON document (version 1), alone on stdout, for the profiles `stamp profiles` writes.

use crate::cli::CredsArgs;
use crate::error::Result;

pub(super) fn run(ctx: &super::Ctx, args: &CredsArgs) -> Result<()> {
    let handed = super::access::take_for(ctx, &args.tenant, &args.session)?;
    // Whatever --output says: a credential_process prints exactly this document.
    ctx.printer
        .raw(&format!("{}\n", handed.credential_process()))?;
    Ok(())
}
