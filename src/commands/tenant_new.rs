//! `stamp tenant new NAME --account ID`: writes a commented `tenants/NAME.toml` that
//! validates, or nothing. A name or account already in the fleet is refused before writing;
//! a file the fleet would not accept is removed again, with the reasons.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::cli::TenantNewArgs;
use crate::dsl::{self, Fleet};
use crate::error::{Failure, Result};
use crate::output::Report;

#[derive(Serialize)]
struct Created {
    tenant: String,
    account_id: String,
    file: String,
    next_steps: Vec<String>,
}

impl Report for Created {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "wrote {} (tenant {}, account {})\n\nnext steps:",
            self.file, self.tenant, self.account_id
        )?;
        for (i, s) in self.next_steps.iter().enumerate() {
            writeln!(out, "  {}. {s}", i + 1)?;
        }
        Ok(())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &TenantNewArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    refuse_taken(&fleet, args)?;
    let rel = format!("{}/{}.toml", dsl::TENANTS_DIR, args.name);
    let path = ctx.root.join(&rel);
    write_new(&path, &(schema_line(&ctx.root) + &contents(&fleet, args)))?;
    let mut review = Vec::new();
    if let Err(e) = add_stack_parameters(&ctx.root, &path, &args.name, &mut review) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    // The fleet must accept it as written, or it goes again: a file that does not validate is
    // worse than none.
    let problems = match dsl::load(&ctx.root) {
        Err(e) => e,
        Ok(f) => crate::infra::check(&f),
    };
    if !problems.is_empty() {
        let _ = std::fs::remove_file(&path);
        ctx.report(problems);
        return Err(Failure::usage(
            format!("{rel} would not validate with these values, so it was not kept"),
            Some("fix the flags named above (or _defaults.toml) and run it again".to_owned()),
        ));
    }
    let t = &args.name;
    ctx.printer.data(&Created {
        tenant: t.clone(),
        account_id: args.account.clone(),
        file: rel,
        next_steps: review.into_iter().chain([
            format!("create the roles in the account: stamp bootstrap template {t} --trust <your CI role ARN>, or stamp bootstrap {t} --apply --profile <credentials for {}>", args.account),
            format!("check the account is ready: stamp check {t}"),
            format!("build its infrastructure: stamp infra apply {t}"),
            format!("deploy the application: stamp deploy {t}"),
        ]).collect(),
    })?;
    Ok(())
}

/// Stack parameters the templates require and the defaults do not give: written with the
/// tenant's name as their value and a comment to review it (the file must validate, and only
/// a person knows the right value), each also named in the next steps.
fn add_stack_parameters(
    root: &Path,
    path: &Path,
    name: &str,
    review: &mut Vec<String>,
) -> Result<()> {
    let Ok(fleet) = dsl::load(root) else {
        return Ok(()); // reported by the caller's validation
    };
    let Some(tenant) = fleet.tenants.iter().find(|t| t.name == name) else {
        return Ok(());
    };
    let mut text = String::new();
    let mut section = String::new();
    for (stack, param, template) in crate::infra::required_unset(root, tenant) {
        if section != stack {
            text.push_str(&format!("\n[infra.{stack}.parameters]\n"));
            section.clone_from(&stack);
        }
        text.push_str(&format!(
            "{param} = \"{name}\"   # REVIEW: templates/{template} requires it (no Default); stamp wrote the tenant's name\n"
        ));
        review.push(format!(
            "review `{param}` under [infra.{stack}.parameters] in {}/{name}.toml",
            dsl::TENANTS_DIR
        ));
    }
    if !text.is_empty() {
        let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
        f.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Exit 2 before writing: a bad name or account, a name or an account the fleet has.
fn refuse_taken(fleet: &Fleet, args: &TenantNewArgs) -> Result<()> {
    dsl::check_tenant_name(&args.name)
        .map_err(|why| Failure::usage(format!("tenant name `{}`: {why}", args.name), None))?;
    if args.account.len() != 12 || !args.account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Failure::usage(
            format!(
                "--account `{}` is not a 12-digit AWS account id",
                args.account
            ),
            Some("write the account id as AWS shows it, e.g. --account 555555555555".to_owned()),
        ));
    }
    if let Some(t) = fleet.tenants.iter().find(|t| t.name == args.name) {
        return Err(Failure::usage(
            format!(
                "tenant `{}` already exists ({}); nothing was written",
                t.name, t.file
            ),
            Some("choose another name, or edit that file".to_owned()),
        ));
    }
    if let Some(t) = fleet.tenants.iter().find(|t| t.account_id == args.account) {
        return Err(Failure::usage(
            format!(
                "account {} is already tenant `{}` ({}); nothing was written",
                args.account, t.name, t.file
            ),
            Some("one customer account is one tenant file".to_owned()),
        ));
    }
    if let Some(r) = &args.ring
        && !fleet.project.rings.contains(r)
    {
        return Err(Failure::usage(
            format!("--ring `{r}` is not one of the project's rings"),
            Some(format!("write one of: {}", fleet.project.rings.join(", "))),
        ));
    }
    Ok(())
}

/// Creates the file, never replacing one (a file may appear between the check and now).
fn write_new(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            Failure::usage(
                format!("cannot create {}: {e}; nothing was written", path.display()),
                None,
            )
        })?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// `#:schema ../schema/tenant.schema.json` when the fleet keeps the schema (`stamp schema`),
/// as its other tenant files start: editors then check the new file as it is typed.
fn schema_line(root: &Path) -> String {
    let name = crate::dsl::schema::Which::Tenant.file_name();
    if root.join("schema").join(name).is_file() {
        format!("#:schema ../schema/{name}\n")
    } else {
        String::new()
    }
}

/// The file: what was given as keys, what may be set later as comments.
fn contents(fleet: &Fleet, args: &TenantNewArgs) -> String {
    let t = &args.name;
    let mut s = format!(
        "# {t}: written by `stamp tenant new`. Every key of _defaults.toml applies unless set\n\
         # here; see the README, \"The tenant DSL\", for each key.\n\n\
         [tenant]\n\
         account_id = \"{}\"   # the customer's AWS account: one account is one tenant\n",
        args.account
    );
    match &args.region {
        Some(r) => s.push_str(&format!("region     = \"{r}\"\n")),
        None => s.push_str("# region   = \"eu-west-1\"       # default: _defaults.toml's\n"),
    }
    match &args.ring {
        Some(r) => s.push_str(&format!("ring       = \"{r}\"\n")),
        None => s.push_str(&format!(
            "# ring     = \"{}\"           # one of {}; default: _defaults.toml's, else the last\n",
            fleet.project.rings.first().map_or("canary", String::as_str),
            fleet.project.rings.join(", ")
        )),
    }
    s.push_str(
        "# release  = \"v1.2.3\"          # pin this tenant to a release\n\
         # external_id = \"…\"            # if the account's roles require one\n\n\
         [schedule]\n",
    );
    match &args.timezone {
        Some(tz) => s.push_str(&format!("timezone = \"{tz}\"\n")),
        None => {
            s.push_str("# timezone = \"Europe/Berlin\"   # IANA name; default: _defaults.toml's\n")
        }
    }
    s.push_str(&format!(
        "# windows = [\"Mon-Fri 10:00-16:00\"]   # replaces the defaults' deploy windows\n\n\
         # [env]                                # this tenant's variables, over the defaults'\n\
         # API_BASE     = {{ ssm = \"/{p}/{t}/api_base\" }}\n\
         # DATABASE_URL = {{ secret = \"/{p}/{t}/database_url\" }}\n",
        p = fleet.project.name
    ));
    s
}
