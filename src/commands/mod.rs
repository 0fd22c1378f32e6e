//! One file per command, dispatched from one match. Each command gets resolved settings and
//! the printer, never raw clap structs beyond its own arguments.

use std::path::PathBuf;

use crate::aws::{Session, read_tenants};
use crate::cli::{Cli, Command};
use crate::dsl::{self, Diagnostics, Fleet, Service, Tenant, diag::did_you_mean};
use crate::error::{Failure, Result};
use crate::output::Printer;
use crate::resolve::Lookups;

mod access;
mod bootstrap;
mod check;
mod completions;
mod creds;
mod deploy;
mod down;
mod exec;
mod explain;
mod history;
mod infra;
mod login;
mod man;
mod out_dir;
mod params;
mod plan;
mod profiles;
mod render;
mod rollback;
mod run;
mod schedule;
mod schema;
mod status;
mod tenant_new;
mod up;
mod validate;
mod verify;
mod whoami;

/// Settings resolved once from global flags, shared by every command.
pub struct Ctx {
    pub printer: Printer,
    pub root: PathBuf,
    /// Selects base credentials only; changes no result.
    pub profile: Option<String>,
    /// The running command as clap names it (`["infra", "plan"]`): a hint names only flags
    /// this command has.
    pub command: Vec<String>,
}

impl Ctx {
    pub fn load_fleet(&self) -> Result<Fleet> {
        Ok(dsl::load(&self.root)?)
    }

    /// The fleet as `--instance ID` addresses it: every name stamp makes carries `-ID`.
    pub fn load_instance(&self, a: &crate::cli::InstanceArgs) -> Result<Fleet> {
        let mut fleet = self.load_fleet()?;
        if let Some(id) = &a.instance {
            dsl::instance::apply(&mut fleet, id)
                .map_err(|e| Failure::usage(e, Some(dsl::instance::HINT.to_owned())))?;
        }
        Ok(fleet)
    }

    /// Problems of tenants and their accounts, on stderr: each cause once, with the source
    /// line it points at, sorted. Nothing when there are none.
    pub fn report(&self, mut problems: Diagnostics) {
        if problems.is_empty() {
            return;
        }
        problems.attach_snippets(&self.root);
        for p in problems.sorted().0 {
            self.printer.error(p);
        }
    }

    /// `--LONG` if the running command has that flag: what a hint may suggest passing.
    pub fn flag(&self, long: &str) -> Option<String> {
        let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        for name in &self.command {
            cmd = cmd.find_subcommand(name)?.clone();
        }
        cmd.get_arguments()
            .any(|a| a.get_long() == Some(long))
            .then(|| format!("--{long}"))
    }

    /// The end of a read-only report: its problems on stderr, then the report on stdout; exit 1
    /// if there were problems (the report still shows everything that could be read).
    pub fn conclude<R: crate::output::Report>(
        &self,
        problems: Diagnostics,
        report: &R,
    ) -> Result<()> {
        let failed = !problems.is_empty();
        self.report(problems);
        self.printer.data(report)?;
        if failed {
            Err(Failure::Reported(1))
        } else {
            Ok(())
        }
    }

    /// The base session every command that reads or writes tenant accounts starts from.
    pub async fn session(&self) -> anyhow::Result<Session> {
        let session = Session::connect(self.profile.as_deref())
            .await
            .map_err(
                |e| match e.downcast::<crate::aws::session::NoBaseIdentity>() {
                    Ok(e) => anyhow::Error::new(crate::error::Hinted {
                        message: e.to_string(),
                        hint: self.credentials_hint(),
                    }),
                    Err(e) => e,
                },
            )?;
        self.printer.debug(format_args!(
            "base identity {} (session name {})",
            session.caller.arn, session.session_name
        ));
        Ok(session)
    }
}

impl Ctx {
    /// Where base credentials come from; `--offline` only for a command that has it.
    fn credentials_hint(&self) -> String {
        let mut hint = "configure AWS credentials: AWS_PROFILE or --profile NAME, an SSO login, or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE in CI".to_owned();
        if let Some(offline) = self.flag("offline") {
            hint.push_str(&format!("; or pass {offline} to use placeholders"));
        }
        hint
    }
}

/// The runtime for one command's AWS work; commands stay synchronous around it.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs `cli`; `command` is the subcommand path clap matched (`["infra", "plan"]`).
pub fn run(cli: Cli, command: Vec<String>) -> Result<()> {
    let g = &cli.global;
    let printer = Printer::new(g.output, g.color, g.quiet, g.verbose);
    // Commands about stamp itself need no fleet.
    match &cli.command {
        Command::Schema(a) => return schema::run(&printer, a),
        Command::Completions(a) => return completions::run(&printer, a),
        Command::Man(a) => return man::run(&printer, a),
        _ => {}
    }
    let cwd = std::env::current_dir()?;
    let root = dsl::find_root(g.root.as_deref(), &cwd)
        .map_err(|d| Failure::Input(dsl::Diagnostics(vec![d])))?;
    let ctx = Ctx {
        printer,
        root,
        profile: aws_args(&cli.command).and_then(|a| a.profile.clone()),
        command,
    };
    match cli.command {
        Command::Validate(a) => validate::run(&ctx, &a),
        Command::Render(a) => render::run(&ctx, &a),
        Command::Explain(a) => explain::run(&ctx, &a),
        Command::Infra(crate::cli::InfraCommand::Plan(a)) => infra::plan(&ctx, &a),
        Command::Infra(crate::cli::InfraCommand::Apply(a)) => infra::apply(&ctx, &a),
        Command::Plan(a) => plan::run(&ctx, &a),
        Command::Deploy(a) => deploy::run(&ctx, &a),
        Command::Rollback(a) => rollback::run(&ctx, &a),
        Command::Run(a) => run::run(&ctx, &a),
        Command::Status(a) => status::run(&ctx, &a),
        Command::History(a) => history::run(&ctx, &a),
        Command::Params(a) => params::run(&ctx, &a),
        Command::Verify(a) => verify::run(&ctx, &a),
        Command::Schedule(a) => schedule::run(&ctx, &a),
        Command::Login(a) => login::run(&ctx, &a),
        Command::Exec(a) => exec::run(&ctx, &a),
        Command::Creds(a) => creds::run(&ctx, &a),
        Command::Profiles(a) => profiles::run(&ctx, &a),
        Command::Whoami(a) => whoami::run(&ctx, &a),
        Command::Tenant(crate::cli::TenantCommand::New(a)) => tenant_new::run(&ctx, &a),
        Command::Bootstrap(a) => bootstrap::run(&ctx, &a),
        Command::Check(a) => check::run(&ctx, &a),
        Command::Up(a) => up::run(&ctx, &a),
        Command::Down(a) => down::run(&ctx, &a),
        Command::Schema(_) | Command::Completions(_) | Command::Man(_) => unreachable!("run above"),
    }
}

/// The AWS options of a command that reaches AWS.
fn aws_args(c: &Command) -> Option<&crate::cli::AwsArgs> {
    use crate::cli::InfraCommand;
    match c {
        Command::Validate(_)
        | Command::Schedule(_)
        | Command::Schema(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Tenant(_) => None,
        Command::Bootstrap(a) => Some(&a.aws),
        Command::Check(a) => Some(&a.aws),
        Command::Up(a) => Some(&a.aws),
        Command::Down(a) => Some(&a.aws),
        Command::Render(a) => Some(&a.aws),
        Command::Explain(a) => Some(&a.aws),
        Command::Infra(InfraCommand::Plan(a)) => Some(&a.select.aws),
        Command::Infra(InfraCommand::Apply(a)) => Some(&a.select.aws),
        Command::Plan(a) => Some(&a.aws),
        Command::Deploy(a) => Some(&a.aws),
        Command::Rollback(a) => Some(&a.aws),
        Command::Run(a) => Some(&a.aws),
        Command::Status(a) => Some(&a.aws),
        Command::History(a) => Some(&a.aws),
        Command::Params(a) => Some(&a.aws),
        Command::Verify(a) => Some(&a.aws),
        Command::Login(a) => Some(&a.aws),
        Command::Exec(a) => Some(&a.aws),
        Command::Creds(a) => Some(&a.aws),
        Command::Profiles(a) => Some(&a.aws),
        Command::Whoami(a) => Some(&a.aws),
    }
}

/// Tenants by name, in the order given; unknown names are a usage error with a suggestion.
pub fn select_tenants<'f>(fleet: &'f Fleet, names: &[String]) -> Result<Vec<&'f Tenant>> {
    if names.is_empty() {
        return Ok(fleet.tenants.iter().collect());
    }
    names.iter().map(|n| tenant(fleet, n)).collect()
}

pub fn tenant<'f>(fleet: &'f Fleet, name: &str) -> Result<&'f Tenant> {
    fleet
        .tenants
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            let hint = match did_you_mean(name, fleet.tenants.iter().map(|t| t.name.as_str())) {
                Some(m) => format!("did you mean `{m}`?"),
                None => {
                    "tenants are the file stems in tenants/; `stamp schedule` lists them".to_owned()
                }
            };
            Failure::usage(format!("unknown tenant `{name}`"), Some(hint))
        })
}

pub fn service<'t>(tenant: &'t Tenant, name: &str) -> Result<&'t Service> {
    tenant.service(name).ok_or_else(|| {
        let names: Vec<&str> = tenant.services.iter().map(|s| s.name.as_str()).collect();
        let hint = match did_you_mean(name, names.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("{} has the services: {}", tenant.name, names.join(", ")),
        };
        Failure::usage(
            format!("tenant `{}` has no service `{name}`", tenant.name),
            Some(hint),
        )
    })
}

/// `-s NAME` on a command over several tenants: a service of at least one of them, or a usage
/// error with a suggestion.
pub fn service_of_any(tenants: &[&Tenant], name: &str) -> Result<()> {
    if tenants.iter().any(|t| t.service(name).is_some()) {
        return Ok(());
    }
    match tenants.first() {
        Some(t) => service(t, name).map(|_| ()),
        None => Ok(()),
    }
}

/// Per tenant, the values its files reference: placeholders with `--offline`, otherwise read
/// from its account through the read-only role. The problems of tenants whose account could
/// not be read, or lacks what they reference, are reported on stderr (once, each with its
/// tenant and account) and those tenants left out; the returned flag says whether any was.
pub fn tenant_lookups<'f>(
    ctx: &Ctx,
    tenants: &[&'f Tenant],
    offline: bool,
    concurrency: usize,
) -> Result<(Vec<(&'f Tenant, Lookups)>, bool)> {
    if offline {
        return Ok((
            tenants.iter().map(|t| (*t, Lookups::offline())).collect(),
            false,
        ));
    }
    let rt = runtime()?;
    let results = rt.block_on(async {
        let session = ctx.session().await?;
        anyhow::Ok(read_tenants(&session, tenants, concurrency, false, false).await)
    })?;
    let mut ok = Vec::with_capacity(tenants.len());
    let mut problems = Diagnostics::default();
    for (t, r) in tenants.iter().zip(results) {
        match r {
            Ok(read) if read.missing.is_empty() => ok.push((*t, read.lookups)),
            Ok(read) => problems
                .0
                .extend(read.missing.iter().map(|m| m.diagnostic(t))),
            Err(e) => problems.push(e.diagnostic(t)),
        }
    }
    let failed = !problems.is_empty();
    ctx.report(problems);
    Ok((ok, failed))
}

/// The live side of a comparison, one rule for `plan` and `deploy`: the release is the one
/// stamp tagged, else the tag of the project's image in the running task definition (a
/// service deployed by hand or by the seed has no stamp tags).
pub fn live_service(
    image: &str,
    live: Option<(&crate::aws::LiveEcsService, &crate::aws::LiveTaskDefinition)>,
) -> crate::plan::LiveService {
    let Some((svc, td)) = live else {
        return crate::plan::LiveService::missing();
    };
    let prefix = format!("{image}:");
    let release = td.tags.get(crate::audit::RELEASE).cloned().or_else(|| {
        td.task_definition
            .container_definitions
            .iter()
            .find_map(|c| c.image.as_deref()?.strip_prefix(&prefix).map(str::to_owned))
    });
    crate::plan::LiveService {
        exists: true,
        task_definition: Some(td.task_definition.clone()),
        task_definition_arn: Some(td.arn.clone()),
        desired_count: Some(svc.desired_count),
        scaling: svc.scaling,
        release,
    }
}

#[cfg(test)]
mod tests {
    /// The type system keeps writes on the deploying client set; this keeps the read-only
    /// commands from ever asking for that set.
    #[test]
    fn read_only_commands_never_name_the_deploying_client_set() {
        for (file, src) in [
            ("status.rs", include_str!("status.rs")),
            ("status/html.rs", include_str!("status/html.rs")),
            ("plan.rs", include_str!("plan.rs")),
            ("history.rs", include_str!("history.rs")),
            ("params.rs", include_str!("params.rs")),
            ("render.rs", include_str!("render.rs")),
            ("explain.rs", include_str!("explain.rs")),
            ("schedule.rs", include_str!("schedule.rs")),
            ("login.rs", include_str!("login.rs")),
            ("validate.rs", include_str!("validate.rs")),
            ("check.rs", include_str!("check.rs")),
        ] {
            for forbidden in ["TenantDeployer", "aws::deploy", "deploy_role"] {
                assert!(
                    !src.contains(forbidden),
                    "src/commands/{file} names `{forbidden}`: read-only commands must not"
                );
            }
        }
    }
}
